// Runs the native test files against a given addon build (e.g. the cmake-js one):
//   node scripts/test-with-addon.mjs <path/to/fastnorm.node> [vitest args...]
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';

const [addon, ...rest] = process.argv.slice(2);
if (!addon || !existsSync(addon)) {
  console.error(`usage: node scripts/test-with-addon.mjs <path/to/fastnorm.node>; not found: ${addon}`);
  process.exit(2);
}
// By default the files that tell a build's configuration apart (what a second build path can get
// wrong: an ISA's flags or defines, a missing source, the binding's table): every ISA path bitwise
// equal at every thread count, the PyTorch vectors, the half conversions (F16C) and half row norms,
// the entry points' memory checks and the op table. The rest of the suite checks the same sources in step 1 of CI.
const determinism = readdirSync('test').filter((f) => /^determinism.*\.test\.ts$/.test(f)).map((f) => `test/${f}`);
const files = rest.length > 0 ? rest : ['test/fixtures.test.ts', ...determinism, 'test/validation.test.ts',
  'test/op-table.test.ts', 'test/half.test.ts', 'test/half-rownorm.test.ts'];
const env = { ...process.env, FASTNORM_ADDON_PATH: resolve(addon) };
const result = spawnSync(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', ...files], { stdio: 'inherit', env });
process.exit(result.status ?? 1);
