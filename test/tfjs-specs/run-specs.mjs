// Runs TF.js's own normalization specs (shipped in @tensorflow/tfjs-core/dist as ES modules)
// under jasmine on TF.js's cpu backend, optionally with fastnorm's kernels registered, and
// prints one JSON summary line on stdout (progress on stderr). No network: the specs, tfjs-core
// and tfjs-backend-cpu are bundled from node_modules with rolldown into one CommonJS file, so
// they share one tfjs-core instance, as tfjs-core's own test build does.
//
//   node test/tfjs-specs/run-specs.mjs [--fastnorm] [--implementation default|reference|perturbed]
//
// --implementation perturbed runs the kernels on fastnorm's reference backend with outputs off
// by 1e-2 — a wrong kernel — so the test can show that these specs catch one.
//
// Summary: { specs, passed, failed, pending, failures, fusedBatchNormCalls, counters }, where
// fusedBatchNormCalls counts every FusedBatchNorm the engine ran (any kernel) and counters are
// fastnorm/tfjs's (how many of those fastnorm computed).
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rolldown } from 'rolldown';

/** The spec files of tfjs-core's dist that test normalization ops. */
export const SPEC_FILES = ['ops/batchnorm_test.js', 'ops/moments_test.js', 'ops/local_response_normalization_test.js'];

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const require = createRequire(import.meta.url);
const args = process.argv.slice(2);
const withFastnorm = args.includes('--fastnorm');
const implementation = args.includes('--implementation') ? args[args.indexOf('--implementation') + 1] : 'default';

// Inside node_modules so the generated modules resolve the packages; one directory per process.
const cacheDir = join(root, 'node_modules', '.cache', 'fastnorm-tfjs-specs', String(process.pid));
mkdirSync(cacheDir, { recursive: true });
// The test environment tfjs-core's jasmine_util expects: gradients and chained ops registered,
// the cpu backend imported, one registered test environment (what tfjs-backend-cpu's own spec
// setup declares). Spec modules are imported after it (ES modules evaluate in import order).
writeFileSync(join(cacheDir, 'environment.js'), [
  "import '@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops';",
  "import '@tensorflow/tfjs-core/dist/register_all_gradients';",
  "import '@tensorflow/tfjs-backend-cpu';",
  "import * as tf from '@tensorflow/tfjs-core';",
  "import { setTestEnvs } from '@tensorflow/tfjs-core/dist/jasmine_util';",
  "setTestEnvs([{ name: 'cpu', backendName: 'cpu', isDataSync: true }]);",
  'globalThis.__tfjsUnderTest = tf;',
  'globalThis.__beforeSpecs?.(tf);',
].join('\n'));
writeFileSync(join(cacheDir, 'specs.js'), [
  "import './environment.js';",
  ...SPEC_FILES.map((f) => `import '@tensorflow/tfjs-core/dist/${f.replace(/\.js$/, '')}';`),
].join('\n'));

const bundle = await rolldown({
  input: join(cacheDir, 'specs.js'),
  platform: 'node',
  // tfjs-core's ES-module build (package.json "module"), not its prebuilt CommonJS bundle, so the
  // specs' relative imports ('../index', '../jasmine_util') and the backend's
  // '@tensorflow/tfjs-core' are the same modules.
  resolve: { mainFields: ['module', 'main'] },
  treeshake: false,
  logLevel: 'silent',
  external: (id) => /^(node-fetch|seedrandom|long)(\/|$)/.test(id) || id.startsWith('node:'),
  plugins: [{
    name: 'jasmine-core-path',
    // jasmine_util requires jasmine-core's browser build by path; leave it to Node's require.
    resolveId: (id) => (id === 'jasmine-core/lib/jasmine-core/jasmine.js' ? { id, external: true } : null),
  }],
});
const bundlePath = join(cacheDir, 'specs.cjs');
await bundle.write({ file: bundlePath, format: 'cjs' });
await bundle.close();

let engineCalls = 0;
let counters = null;
globalThis.__beforeSpecs = (tf) => {
  // Count every FusedBatchNorm the engine runs, whichever kernel then computes it.
  const engine = tf.engine();
  const runKernel = engine.runKernel.bind(engine);
  engine.runKernel = (name, inputs, attrs) => {
    if (name === 'FusedBatchNorm') engineCalls++;
    return runKernel(name, inputs, attrs);
  };
  if (!withFastnorm) return;
  const dist = join(root, 'dist', 'cjs');
  const { registerKernels } = require(join(dist, 'tfjs', 'fused-batch-norm.js'));
  const { setImplementation } = require(join(dist, 'tfjs', 'implementation.js'));
  counters = require(join(dist, 'tfjs', 'counters.js'));
  const reference = require(join(dist, 'reference.js'));
  if (implementation === 'reference') setImplementation(reference);
  if (implementation === 'perturbed') {
    setImplementation({
      ...reference,
      batchNormElemt: (...a) => {
        const r = reference.batchNormElemt(...a);
        for (let i = 0; i < r.y.data.length; i++) r.y.data[i] += 1e-2;
        return r;
      },
    });
  }
  registerKernels(tf);
};

const Jasmine = require('jasmine');
const runner = new Jasmine({ projectBaseDir: root });
runner.exitOnCompletion = false;
runner.randomizeTests(false);
runner.clearReporters();
const results = { specs: 0, passed: 0, failed: 0, pending: 0, failures: [] };
runner.addReporter({
  specDone(r) {
    results.specs++;
    if (r.status === 'passed') results.passed++;
    else if (r.status === 'failed') {
      results.failed++;
      results.failures.push(`${r.fullName}: ${r.failedExpectations.map((e) => e.message).join('; ')}`);
    } else results.pending++;
  },
});
runner.addSpecFile(bundlePath);
const done = await runner.execute();
rmSync(cacheDir, { recursive: true, force: true });
const summary = {
  withFastnorm, implementation, overallStatus: done.overallStatus, ...results, fusedBatchNormCalls: engineCalls,
  counters: counters ? counters.getCounters() : null,
};
console.error(`TF.js specs (${SPEC_FILES.join(', ')}) ${withFastnorm ? `with fastnorm kernels (${implementation})` : 'without fastnorm'}: ` +
  `${results.specs} specs, ${results.passed} passed, ${results.failed} failed, ${results.pending} pending; ` +
  `${engineCalls} FusedBatchNorm calls${counters ? `, ${summary.counters.fusedBatchNorm.fastnorm} by fastnorm` : ''}`);
console.log(JSON.stringify(summary));
