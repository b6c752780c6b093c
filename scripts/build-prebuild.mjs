// npm run build:prebuild [-- --arch arm64]: the prebuilt N-API binary that the package ships,
// prebuilds/<platform>-<arch>/fastnorm.<libc>.node, made by prebuildify (--napi: one binary
// for every Node version with N-API 8; --strip; --tag-libc: glibc, so musl systems compile
// instead). It holds every ISA path of its architecture (dispatch picks one at run time).
// It is compiled in a temporary copy of the sources, so the local build/ is left alone.
// --arch arm64 on an x64 Linux host cross-compiles with Debian's g++-aarch64-linux-gnu.
//
// --from <addon.node>: no compile; the given host build (node-gyp's build/Release/fastnorm.node,
// which is what prebuildify's `node-gyp rebuild --release` makes from the same binding.gyp) is
// stripped into the prebuild's place. CI uses it so that the binary it ships is the one its test
// suite ran against, and so that it compiles the sources once less.
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { arch as hostArch, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const archIndex = argv.indexOf('--arch');
const arch = archIndex >= 0 ? argv[archIndex + 1] : hostArch();
const fromIndex = argv.indexOf('--from');

if (fromIndex >= 0) {
  const addon = argv[fromIndex + 1];
  if (!addon || !existsSync(addon) || arch !== hostArch()) {
    console.error(`build-prebuild --from: needs an existing host (${hostArch()}) build; got ${addon ?? 'nothing'}${arch !== hostArch() ? ` for ${arch}` : ''}`);
    process.exit(2);
  }
  // prebuildify's --tag-libc: glibc unless the runtime reports none (musl)
  const libc = process.platform === 'linux' && !process.report.getReport().header.glibcVersionRuntime ? 'musl' : 'glibc';
  const dir = join(root, 'prebuilds', `${process.platform}-${arch}`);
  const target = join(dir, process.platform === 'linux' ? `fastnorm.${libc}.node` : 'fastnorm.node');
  mkdirSync(dir, { recursive: true });
  copyFileSync(addon, target);
  if (process.platform === 'linux') {
    const strip = spawnSync('strip', ['--strip-all', target], { stdio: 'inherit' });
    if (strip.status !== 0) process.exit(strip.status ?? 1);
  }
  console.log(`build-prebuild: ${addon} stripped into ${target}`);
  process.exit(0);
}

const CROSS = { arm64: 'aarch64-linux-gnu' };
const env = { ...process.env, JOBS: process.env.JOBS ?? 'max' };
// --target: this Node's headers (prebuildify would otherwise name the newest Node it knows; an
// N-API build runs on every version either way). Outside npm run, node-gyp is npm's own copy.
const args = ['--napi', '--strip', '--tag-libc', '--arch', arch, '--target', process.versions.node];
const npmNodeGyp = process.env.npm_config_node_gyp ?? join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules',
  'node-gyp', 'bin', 'node-gyp.js');
if (existsSync(npmNodeGyp)) env.PREBUILD_NODE_GYP = npmNodeGyp;
// The running Node's own headers when no nodedir is configured, so node-gyp needs no download
const nodePrefix = join(dirname(process.execPath), '..');
if (!env.npm_config_nodedir && existsSync(join(nodePrefix, 'include', 'node', 'node_api.h'))) env.npm_config_nodedir = nodePrefix;
if (arch !== hostArch()) {
  const triple = CROSS[arch];
  if (process.platform !== 'linux' || hostArch() !== 'x64' || !triple) {
    console.error(`build-prebuild: cross-compiling for ${arch} is set up only on linux-x64 hosts, for ${Object.keys(CROSS).join(', ')}`);
    process.exit(2);
  }
  Object.assign(env, { CC: `${triple}-gcc`, CXX: `${triple}-g++`, LINK: `${triple}-g++`, AR: `${triple}-ar` });
  args.push('--strip-bin', `${triple}-strip`);
}

const work = mkdtempSync(join(tmpdir(), 'fastnorm-prebuild-'));
try {
  for (const entry of ['package.json', 'binding.gyp', 'native']) cpSync(join(root, entry), join(work, entry), { recursive: true });
  symlinkSync(join(root, 'node_modules'), join(work, 'node_modules'), 'dir');
  const prebuildify = join(dirname(require.resolve('prebuildify/package.json')), 'bin.js');
  const result = spawnSync(process.execPath, [prebuildify, ...args, '--cwd', work, '--out', root], { stdio: 'inherit', env });
  if (result.status !== 0) process.exit(result.status ?? 1);
  console.log(`build-prebuild: prebuilds/${process.platform}-${arch}/ written`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
