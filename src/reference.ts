// fastnorm/reference: the pure-TypeScript backend with the same functions as 'fastnorm'.
import { createOps } from './api/ops.js';
import type { Info } from './api/types.js';
import { checkThreadCount } from './api/validate.js';
import { packageVersion } from './backends/package-root.js';
import { createReferenceBackend } from './backends/reference/index.js';

const backend = createReferenceBackend();

export const {
  layerNorm, layerNormBackward, rmsNorm, rmsNormBackward,
  batchNorm, batchNormBackward, batchNormStats, batchNormElemt, batchNormBackwardReduce, batchNormBackwardElemt,
} = createOps(backend.kernels);
export { batchNormGatherStats } from './api/batch-norm.js';

/** Accepted for API compatibility; the reference backend always runs on the calling thread. */
export function setNumThreads(n: number): void {
  backend.setNumThreads(checkThreadCount(n));
}

export function getNumThreads(): number {
  return backend.getNumThreads();
}

export function info(): Info {
  return { backend: 'reference', isa: backend.isa(), threads: backend.getNumThreads(), version: packageVersion };
}
