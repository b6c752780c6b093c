// What the diagnose scripts share: the built package (dist/cjs, as `npm run build:ts` leaves it),
// its native addon (for the test hooks: _setStreamingBytes, _copy, the kernels) and the
// `--name value` options of the command line.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const dist = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'cjs');

/** A module of the built package by its path under dist/cjs, e.g. fromDist('promises.js'). */
export const fromDist = (path) => require(join(dist, path));
export const fastnorm = fromDist('index.js');
/** The loaded native addon itself. */
export const nativeAddon = () => fromDist(join('backends', 'native.js')).loadAddon().addon;

const argv = process.argv.slice(2);
/** The word after `name` on the command line, or `dflt` when `name` is absent. */
export const option = (name, dflt) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : dflt);
/** Whether `name` is on the command line. */
export const flag = (name) => argv.includes(name);
