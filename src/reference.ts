// fastnorm/reference: the pure-TypeScript backend with the same functions as 'fastnorm'.
import { createOps } from './api/ops.js';
import { createRuntime } from './api/runtime.js';
import { createReferenceBackend } from './backends/reference/index.js';

const backend = createReferenceBackend();

export const {
  layerNorm, layerNormBackward, rmsNorm, rmsNormBackward,
  batchNorm, batchNormBackward, batchNormStats, batchNormElemt, batchNormBackwardReduce, batchNormBackwardElemt,
  groupNorm, groupNormBackward, instanceNorm, instanceNormBackward,
} = createOps(backend.kernels);
export { batchNormGatherStats } from './api/batch-norm.js';

export const { setNumThreads, getNumThreads, info } = createRuntime(backend);
