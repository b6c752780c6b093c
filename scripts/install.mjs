// npm's install step. node-gyp-build uses the prebuilt binary when one loads here, else compiles
// the shipped sources with node-gyp. When neither works (no prebuild for this platform and no
// compiler, as on slim server images) the install still succeeds: fastnorm then runs on its
// reference backend, which says so with a warning when it loads. A source build the user forced
// (npm_config_build_from_source=true, or npm install --build-from-source) must work or fail; so
// must `npm install` in a git clone of the repository, which always compiles the sources (an
// existing build/ that still loads must not hide changed C++ sources from the tests).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const gitClone = existsSync(join(root, '.git'));
const forced = gitClone || process.env.npm_config_build_from_source === 'true';
// JOBS: node-gyp compiles on every core (its default is one job)
const env = { JOBS: 'max', ...process.env, ...(forced ? { npm_config_build_from_source: 'true' } : {}) };
const result = spawnSync(process.execPath, [require.resolve('node-gyp-build/bin.js')], { stdio: 'inherit', env });
if (result.status === 0) process.exit(0);
if (forced) process.exit(result.status ?? 1);
console.warn(
  'fastnorm: no prebuilt binary fits this platform and the native addon could not be compiled ' +
  '(a C++17 compiler, make and python3 are needed); installed anyway: fastnorm will run on its ' +
  'pure-TypeScript reference backend (correct, but 10-50x slower). Install a compiler and run ' +
  '`npm rebuild fastnorm` to get the native backend.');
