// The default API: the operations bound to the backend chosen at load. Native unless
// FASTNORM_BACKEND=reference or the addon cannot be loaded (then a warning says why and
// info().backend reports 'reference').
import { createNativeBackend, loadAddon, type NativeAddon } from '../backends/native.js';
import type { Backend } from '../backends/kernels.js';
import { createReferenceBackend } from '../backends/reference/index.js';
import { createOps } from './ops.js';
import { createRuntime } from './runtime.js';
import { MAX_THREADS } from './validate.js';

function selectBackend(): { backend: Backend; addon: NativeAddon | null } {
  const requested = process.env.FASTNORM_BACKEND;
  if (requested === 'reference') return { backend: createReferenceBackend(), addon: null };
  if (requested !== undefined && requested !== '' && requested !== 'native')
    process.emitWarning(`FASTNORM_BACKEND=${requested} is not 'native' or 'reference'; using native`, 'FastnormWarning');
  const loaded = loadAddon();
  if ('error' in loaded) {
    process.emitWarning(`${loaded.error}; using the reference backend`, 'FastnormWarning');
    return { backend: createReferenceBackend(), addon: null };
  }
  const warning = loaded.addon.info().warning;
  if (warning) process.emitWarning(warning, 'FastnormWarning');
  return { backend: createNativeBackend(loaded.addon), addon: loaded.addon };
}

const selected = selectBackend();
export const backend: Backend = selected.backend;
/** The loaded addon (null on the reference backend), for tests and the bench. */
export const nativeAddon: NativeAddon | null = selected.addon;

export const {
  layerNorm, layerNormBackward, rmsNorm, rmsNormBackward,
  batchNorm, batchNormBackward, batchNormStats, batchNormElemt, batchNormBackwardReduce, batchNormBackwardElemt,
  groupNorm, groupNormBackward, instanceNorm, instanceNormBackward,
} = createOps(backend.kernels);
export { batchNormGatherStats } from './batch-norm.js';

export const { setNumThreads, getNumThreads, info } = createRuntime(backend);

const threadsFromEnv = process.env.FASTNORM_THREADS;
if (threadsFromEnv !== undefined && threadsFromEnv !== '') {
  const n = Number(threadsFromEnv);
  if (Number.isInteger(n) && n >= 1 && n <= MAX_THREADS) backend.setNumThreads(n);
  else process.emitWarning(`FASTNORM_THREADS=${threadsFromEnv} is not an integer from 1 to ${MAX_THREADS}; ignored`, 'FastnormWarning');
}
