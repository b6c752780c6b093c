// Runs the test suite against the sanitizer build (npm run build:asan: AddressSanitizer +
// UndefinedBehaviorSanitizer, build-asan/Release/fastnorm.node); any finding aborts the process
// that made it, which fails its test file. `node scripts/test-asan.mjs [test files...]`.
//
// Node itself is not instrumented, so the ASan runtime must be loaded before anything else
// (LD_PRELOAD, inherited by every child process and worker the tests start), and leak detection
// is off: Node does not free everything at exit. Left out by default: test/soak.test.ts (ASan's
// quarantine of freed memory grows RSS by design), test/server.test.ts (about serving requests
// while normalizing, not a memory check), and the files whose subject is a layer written in
// TypeScript over the same native entry points the op files already drive with every shape,
// dtype and edge case (fastnorm/nn, fastnorm/tfjs, the examples, the package's loading, the
// benchmark's machinery): under ASan they cost CI minutes and check no native code the others
// do not.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';

const ADDON = 'build-asan/Release/fastnorm.node';
const SKIPPED = ['test/soak.test.ts', 'test/server.test.ts'];
const TYPESCRIPT_LAYERS = /^test\/(nn-|tfjs-|package\.|bench\.|.*example)/;

if (!existsSync(ADDON)) {
  console.error(`${ADDON} not found: run npm run build:asan first`);
  process.exit(2);
}
const runtime = execFileSync('gcc', ['-print-file-name=libasan.so'], { encoding: 'utf8' }).trim();
if (!existsSync(runtime)) {
  console.error(`the ASan runtime was not found (gcc -print-file-name=libasan.so: ${runtime})`);
  process.exit(2);
}
const requested = process.argv.slice(2);
const files = requested.length > 0 ? requested
  : readdirSync('test').filter((f) => f.endsWith('.test.ts')).map((f) => `test/${f}`).filter((f) => !SKIPPED.includes(f) && !TYPESCRIPT_LAYERS.test(f));
// Left out by name (vitest -t, a negative lookahead on the full name): the tests that drive only
// the reference backend (TypeScript, no native memory to check: a third of the run), and the
// activations' accuracy sweeps (~1M values per ISA path through one flat buffer: arithmetic,
// whose memory paths the output and determinism files take with activations on every shape).
// FASTNORM_TEST_SANITIZED: test/helpers.ts's isaThreadConfigs runs fewer thread counts on the
// paths after the best one.
const LEFT_OUT = ['\\(outputs may be allocated uninitialized\\) reference$', 'out buffers reference: ', '^activation accuracy, every ISA path'];
const PATTERN = `^(?!.*(?:${LEFT_OUT.join('|')}))`;
const env = {
  ...process.env,
  FASTNORM_TEST_SANITIZED: '1',
  LD_PRELOAD: runtime,
  ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=1',
  UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1',
};
// ASan makes the tests several times slower (more on a loaded machine): a longer per-test limit
const result = spawnSync(process.execPath, ['scripts/test-with-addon.mjs', resolve(ADDON), ...files, '--testTimeout=120000',
  '--hookTimeout=120000', '-t', PATTERN], { stdio: 'inherit', env });
process.exit(result.status ?? 1);
