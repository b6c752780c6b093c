// fastnorm/promises: the same operations, each returning a Promise and computed on the libuv
// thread pool, so a server's event loop keeps running while a large tensor is normalized.
import { backend } from './api/facade.js';
import { createAsyncOps } from './api/ops.js';

export const {
  layerNorm, layerNormBackward, rmsNorm, rmsNormBackward,
  batchNorm, batchNormBackward, batchNormStats, batchNormElemt, batchNormBackwardReduce, batchNormBackwardElemt,
  groupNorm, groupNormBackward, instanceNorm, instanceNormBackward,
} = createAsyncOps(backend.asyncKernels);
export { batchNormGatherStats } from './api/batch-norm.js';
export { setNumThreads, getNumThreads, info } from './api/facade.js';
export type * from './api/types.js';
