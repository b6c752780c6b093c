// Instructions per call of every op on a few representative shapes, counted by valgrind's
// callgrind: unlike a timing, the count does not depend on what else the machine is doing, so
// two versions of the library can be compared on a shared machine. Each case runs in its own
// process under callgrind at 1 thread, its calls writing into caller-provided `out` buffers:
// `warm` calls, then n timed ones between two calls of getNumThreads(), where callgrind dumps its
// counters (--dump-before on the addon's getNumThreads): the middle dump divided by n is the
// cost of one steady-state call (JavaScript, binding and kernel), without startup and JIT
// warm-up. The public API only, so it runs against any version:
//
//   node scripts/instruction-counts.mjs [--root <checkout>] [--filter <text>] [--json <file>]
//
// --root: the package directory to measure (default: this one; it must be built).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const option = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const root = resolve(option('--root', join(dirname(fileURLToPath(import.meta.url)), '..')));
const filter = option('--filter', '');
const jsonFile = option('--json', null);

// [label, n calls, source of `setup` (returns the state) and `call(state)`]; x data is cheap
// and varied, the same in every version.
const FILL = 'const fill = (C, n, k = 1) => { const a = new C(n); for (let i = 0; i < n; i++) a[i] = ((i * 2654435761 + k) % 4093) / 1000 - 2; return a; };';
const row = (op, rows, cols, n) => [`${op} [${rows}, ${cols}]`, n, `
  const s = { x: { data: fill(Float32Array, ${rows * cols}), shape: [${rows}, ${cols}] }, dy: { data: fill(Float32Array, ${rows * cols}, 7), shape: [${rows}, ${cols}] },
    w: fill(Float32Array, ${cols}, 3), b: fill(Float32Array, ${cols}, 5) };
  s.saved = f.layerNorm(s.x, ${cols});
  s.out = ${op.endsWith('Backward') ? `{ dx: new Float32Array(${rows * cols}), dweight: new Float32Array(${cols}) ${op.startsWith('layer') ? `, dbias: new Float32Array(${cols})` : ''} }`
    : `{ y: new Float32Array(${rows * cols}), rstd: new Float32Array(${rows}) ${op.startsWith('layer') ? `, mean: new Float32Array(${rows})` : ''} }`};
  const call = () => ${{
    layerNorm: `f.layerNorm(s.x, ${cols}, { weight: s.w, bias: s.b, out: s.out })`,
    layerNormBackward: `f.layerNormBackward(s.dy, s.x, s.saved, ${cols}, { weight: s.w, out: s.out })`,
    rmsNorm: `f.rmsNorm(s.x, ${cols}, { weight: s.w, out: s.out })`,
    rmsNormBackward: `f.rmsNormBackward(s.dy, s.x, s.saved, ${cols}, { weight: s.w, out: s.out })`,
  }[op]};`];

/** A channel op on (N, C, *spatial) given NCHW, laid out in `layout`. */
const channel = (label, nchw, layout, n, callSource) => {
  const [N, C, ...sp] = nchw;
  const shape = layout === 'NCHW' ? nchw : [N, ...sp, C];
  const size = nchw.reduce((p, d) => p * d, 1);
  return [`${label} ${layout} [${shape.join(', ')}]`, n, `
  const layout = '${layout}';
  const s = { x: { data: fill(Float32Array, ${size}), shape: [${shape}] }, dy: { data: fill(Float32Array, ${size}, 7), shape: [${shape}] },
    w: fill(Float32Array, ${C}, 3), b: fill(Float32Array, ${C}, 5), rm: fill(Float32Array, ${C}, 9), rv: fill(Float32Array, ${C}, 11).map(Math.abs),
    y: new Float32Array(${size}), mean: new Float32Array(${N * C}), rstd: new Float32Array(${N * C}), dw: new Float32Array(${C}), db: new Float32Array(${C}) };
  s.bn = f.batchNorm(s.x, { layout });
  s.sums = { ...f.batchNormBackwardReduce(s.dy, s.x, s.bn, { layout }), count: ${N * sp.reduce((p, d) => p * d, 1)} };
  s.parts = [0, 1, 2, 3].map(() => f.batchNormStats(s.x, { layout }));
  const call = () => ${callSource};`];
};

const bnOut = '{ y: s.y, mean: s.mean.subarray(0, s.w.length), rstd: s.rstd.subarray(0, s.w.length) }';
const gradOut = '{ dx: s.y, dweight: s.dw, dbias: s.db }';
const CASES = [
  row('layerNorm', 1, 768, 3000), row('layerNorm', 64, 768, 200), row('layerNorm', 512, 4096, 4), row('layerNorm', 2, 40000, 20),
  row('layerNormBackward', 1, 768, 3000), row('layerNormBackward', 64, 768, 200), row('layerNormBackward', 512, 4096, 4),
  row('rmsNorm', 1, 768, 3000), row('rmsNorm', 512, 4096, 4), row('rmsNormBackward', 1, 768, 3000), row('rmsNormBackward', 512, 4096, 4),
  ...['NCHW', 'NHWC'].flatMap((layout) => [
    channel('batchNorm train', [8, 256, 14, 14], layout, 5, `f.batchNorm(s.x, { weight: s.w, bias: s.b, runningMean: s.rm, runningVar: s.rv, layout, out: ${bnOut} })`),
    channel('batchNorm train', [16, 3, 64, 64], layout, 5, `f.batchNorm(s.x, { weight: s.w, bias: s.b, layout, out: ${bnOut} })`),
    channel('batchNorm eval', [8, 256, 14, 14], layout, 5, `f.batchNorm(s.x, { weight: s.w, bias: s.b, runningMean: s.rm, runningVar: s.rv, training: false, layout, out: ${bnOut} })`),
    channel('batchNorm train', [2, 3, 5], layout, 3000, `f.batchNorm(s.x, { weight: s.w, bias: s.b, layout, out: ${bnOut} })`),
    channel('batchNormBackward', [8, 256, 14, 14], layout, 5, `f.batchNormBackward(s.dy, s.x, s.bn, { weight: s.w, layout, out: ${gradOut} })`),
    channel('batchNormBackward eval', [8, 256, 14, 14], layout, 5, `f.batchNormBackward(s.dy, s.x, s.bn, { weight: s.w, training: false, layout, out: ${gradOut} })`),
    channel('batchNormStats', [8, 64, 14, 14], layout, 10, 'f.batchNormStats(s.x, { layout })'),
    channel('batchNormElemt', [8, 64, 14, 14], layout, 10, 'f.batchNormElemt(s.x, s.bn, { weight: s.w, bias: s.b, layout, out: { y: s.y } })'),
    channel('batchNormBackwardReduce', [8, 64, 14, 14], layout, 10, 'f.batchNormBackwardReduce(s.dy, s.x, s.bn, { layout })'),
    channel('batchNormBackwardElemt', [8, 64, 14, 14], layout, 10, `f.batchNormBackwardElemt(s.dy, s.x, s.bn, s.sums, { weight: s.w, layout, out: ${gradOut} })`),
    channel('groupNorm G=32', [2, 64, 32, 32], layout, 10, `f.groupNorm(s.x, 32, { weight: s.w, bias: s.b, layout, out: { y: s.y, mean: s.mean.subarray(0, 64), rstd: s.rstd.subarray(0, 64) } })`),
    channel('groupNormBackward G=32', [2, 64, 32, 32], layout, 10, `f.groupNormBackward(s.dy, s.x, f.groupNorm(s.x, 32, { layout }), 32, { weight: s.w, layout, out: ${gradOut} })`),
    channel('instanceNorm running', [2, 64, 32, 32], layout, 10, `f.instanceNorm(s.x, { weight: s.w, bias: s.b, runningMean: s.rm, runningVar: s.rv, layout, out: { y: s.y, mean: s.mean, rstd: s.rstd } })`),
    channel('instanceNormBackward', [2, 64, 32, 32], layout, 10, `f.instanceNormBackward(s.dy, s.x, s.bn0 ??= f.instanceNorm(s.x, { layout }), { weight: s.w, layout, out: ${gradOut} })`),
    channel('groupNorm G=4', [2, 8, 5, 7], layout, 3000, `f.groupNorm(s.x, 4, { weight: s.w, bias: s.b, layout, out: { y: s.y, mean: s.mean.subarray(0, 8), rstd: s.rstd.subarray(0, 8) } })`),
  ]),
  channel('batchNormGatherStats 4 parts', [8, 64, 2], 'NCHW', 3000, 'f.batchNormGatherStats(s.parts, { runningMean: s.rm, runningVar: s.rv })'),
];

const WARM = 20;

/** Instructions of `calls` calls after the warm-up. */
function instructions(setupSource, calls) {
  const dir = mkdtempSync(join(tmpdir(), 'fastnorm-callgrind-'));
  try {
    const script = join(dir, 'case.js');
    writeFileSync(script, `const f = require(${JSON.stringify(root)}); f.setNumThreads(1); ${FILL}\n${setupSource}
      for (let i = 0; i < ${WARM}; i++) call();
      f.getNumThreads();
      for (let i = 0; i < ${calls}; i++) call();
      f.getNumThreads();\n`);
    const out = join(dir, 'callgrind.out');
    execFileSync('valgrind', ['--tool=callgrind', '--smc-check=all-non-file', `--callgrind-out-file=${out}`, '--dump-before=*getNumThreads*',
      process.execPath, '--single-threaded', script], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, FASTNORM_THREADS: '1' } });
    // dumps: out.1 (start to the first getNumThreads), out.2 (the timed calls), out (the rest)
    const totals = readFileSync(`${out}.2`, 'utf8').split('\n').find((l) => l.startsWith('summary:') || l.startsWith('totals:'));
    return Number(totals.split(/\s+/)[1]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const results = [];
for (const [label, n, setup] of CASES) {
  if (filter && !label.includes(filter)) continue;
  const perCall = instructions(setup, n) / n;
  results.push({ label, perCall });
  console.log(`${label.padEnd(52)} ${Math.round(perCall).toString().padStart(12)} instructions/call`);
}
if (jsonFile) writeFileSync(jsonFile, `${JSON.stringify({ root, results }, null, 2)}\n`);
