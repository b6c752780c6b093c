// The reference backend: pure TypeScript, float64 arithmetic, no native code; the oracle the
// native kernels are tested against, and the fallback when the addon cannot be loaded.
import { deferredKernels, type Backend, type Kernels } from '../kernels.js';
import { batchNormKernels } from './batch-norm.js';
import { groupNormKernels } from './group-norm.js';
import { rowNormKernels } from './row-norm.js';

export const referenceKernels: Kernels = { ...rowNormKernels, ...batchNormKernels, ...groupNormKernels };

export function createReferenceBackend(): Backend {
  let threads = 1;
  return {
    name: 'reference',
    kernels: referenceKernels,
    asyncKernels: deferredKernels(referenceKernels),
    isa: () => 'none',
    setNumThreads: (n) => { threads = n; },
    getNumThreads: () => threads,
  };
}
