// The reference backend: pure TypeScript, float64 arithmetic, no native code; the oracle the
// native kernels are tested against, and the fallback when the addon cannot be loaded.
import type { Backend } from '../../api/backend.js';
import { referenceConversions } from '../../api/half.js';
import type { AsyncKernels, Kernels } from '../../api/op-table.js';
import { batchNormKernels } from './batch-norm.js';
import { groupNormKernels } from './group-norm.js';
import { rowNormKernels } from './row-norm.js';

export const referenceKernels: Kernels = { ...rowNormKernels, ...batchNormKernels, ...groupNormKernels };

/** Promise forms of synchronous kernels, each run on a later turn of the event loop. */
export function deferredKernels(kernels: Kernels): AsyncKernels {
  const result: Record<string, unknown> = {};
  for (const [name, kernel] of Object.entries(kernels) as Array<[string, (args: unknown) => void]>) {
    result[name] = (args: unknown) =>
      new Promise<void>((resolve, reject) => setImmediate(() => {
        try {
          kernel(args);
          resolve();
        } catch (e) {
          reject(e);
        }
      }));
  }
  return result as AsyncKernels;
}

export function createReferenceBackend(): Backend {
  let threads = 1;
  return {
    name: 'reference',
    kernels: referenceKernels,
    asyncKernels: deferredKernels(referenceKernels),
    conversions: referenceConversions,
    isa: () => 'none',
    setNumThreads: (n) => { threads = n; },
    getNumThreads: () => threads,
  };
}
