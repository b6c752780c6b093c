// Runs the native test files against a given addon build (e.g. the cmake-js one):
//   node scripts/test-with-addon.mjs <path/to/fastnorm.node> [vitest args...]
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

const [addon, ...rest] = process.argv.slice(2);
if (!addon || !existsSync(addon)) {
  console.error(`usage: node scripts/test-with-addon.mjs <path/to/fastnorm.node>; not found: ${addon}`);
  process.exit(2);
}
const files = rest.length > 0 ? rest : ['test/fixtures.test.ts', 'test/row-norm.test.ts', 'test/determinism.test.ts', 'test/validation.test.ts',
  'test/outputs.test.ts', 'test/op-table.test.ts', 'test/half.test.ts'];
const env = { ...process.env, FASTNORM_ADDON_PATH: resolve(addon) };
const result = spawnSync(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', ...files], { stdio: 'inherit', env });
process.exit(result.status ?? 1);
