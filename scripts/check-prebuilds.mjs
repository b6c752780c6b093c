// npm publish guard (prepublishOnly): the tarball must carry a prebuilt binary for every platform
// we ship (linux-x64, linux-arm64), each newer than every native source, so that a stale or
// missing binary is never published. Make them with `npm run build:prebuild` and
// `npm run test:arm64` (which builds the arm64 one and tests it under emulation).
import { readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SHIPPED = ['linux-x64', 'linux-arm64'];

function newestSource(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const file = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(file) : statSync(file).mtimeMs);
  }
  return newest;
}
const sources = Math.max(newestSource(join(root, 'native')), statSync(join(root, 'binding.gyp')).mtimeMs);
const problems = [];
for (const platform of SHIPPED) {
  const file = join(root, 'prebuilds', platform, 'fastnorm.glibc.node');
  let mtime;
  try {
    mtime = statSync(file).mtimeMs;
  } catch {
    problems.push(`${file} is missing`);
    continue;
  }
  if (mtime < sources) problems.push(`${file} is older than the native sources`);
}
if (problems.length > 0) {
  console.error(`not publishing: ${problems.join('; ')} (npm run build:prebuild; npm run test:arm64)`);
  process.exit(1);
}
