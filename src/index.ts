// fastnorm: SIMD normalization kernels for Node.js (see README.md and API.md).
export {
  layerNorm, layerNormBackward, rmsNorm, rmsNormBackward,
  batchNorm, batchNormBackward, batchNormStats, batchNormGatherStats, batchNormElemt, batchNormBackwardReduce,
  batchNormBackwardElemt,
  groupNorm, groupNormBackward, instanceNorm, instanceNormBackward,
  setNumThreads, getNumThreads, info,
} from './api/facade.js';
export * as reference from './reference.js';
export * as promises from './promises.js';
export type * from './api/types.js';
