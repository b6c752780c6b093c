import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The fastnorm package directory (found upward from this file: works from src/ and dist/). */
export const packageRoot: string = (() => {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file) && JSON.parse(readFileSync(file, 'utf8')).name === 'fastnorm') return dir;
    if (dirname(dir) === dir) return join(__dirname, '..', '..');
  }
})();

export const packageVersion: string = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')).version;
