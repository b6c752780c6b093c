// Every benchmark scenario, in table order. A new op adds its own file here.
import { scenarios as rowNorm } from './row-norm.mjs';

export const scenarios = [...rowNorm];
