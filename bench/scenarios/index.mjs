// Every benchmark scenario, in table order. A new op adds its own file here.
import { scenarios as activation } from './activation.mjs';
import { scenarios as addNorm } from './add-norm.mjs';
import { scenarios as groupNorm } from './group-norm.mjs';
import { scenarios as half } from './half.mjs';
import { scenarios as batchNorm } from './batch-norm.mjs';
import { scenarios as nn } from './nn.mjs';
import { scenarios as rowNorm } from './row-norm.mjs';
import { scenarios as tfjs } from './tfjs.mjs';

export const scenarios = [...rowNorm, ...addNorm, ...groupNorm, ...batchNorm, ...activation, ...nn, ...tfjs, ...half];
