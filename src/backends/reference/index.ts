// The reference backend: pure TypeScript, float64 arithmetic, no native code; the oracle the
// native kernels are tested against, and the fallback when the addon cannot be loaded.
import { deferredKernels, type Backend, type Kernels } from '../kernels.js';
import { batchNormKernels } from './batch-norm.js';
import { rowNormKernels } from './row-norm.js';

export const referenceKernels: Kernels = { ...rowNormKernels, ...batchNormKernels };

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
