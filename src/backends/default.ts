// The backend chosen at load, behind the default entry points (fastnorm, fastnorm/promises):
// native unless FASTNORM_BACKEND=reference or the addon cannot be loaded (then a warning says
// why and info().backend reports 'reference'). FASTNORM_THREADS sets its thread count.
import { setBlockSource } from '../api/alloc.js';
import type { Backend } from '../api/backend.js';
import { createRuntime } from '../api/runtime.js';
import { MAX_THREADS } from '../api/validate.js';
import { createNativeBackend, loadAddon, type NativeAddon } from './native.js';
import { createReferenceBackend } from './reference/index.js';

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
  // Recycled native blocks hold earlier outputs' values: not when the user asked for zero-filled buffers.
  const zeroFill = process.execArgv.includes('--zero-fill-buffers') || (process.env.NODE_OPTIONS ?? '').includes('--zero-fill-buffers');
  if (!zeroFill) setBlockSource((bytes) => loaded.addon._allocateOutput(bytes));
  return { backend: createNativeBackend(loaded.addon), addon: loaded.addon };
}

const selected = selectBackend();
export const backend: Backend = selected.backend;
/** The loaded addon (null on the reference backend), for tests and the bench. */
export const nativeAddon: NativeAddon | null = selected.addon;

export const { setNumThreads, getNumThreads, info } = createRuntime(backend);

const threadsFromEnv = process.env.FASTNORM_THREADS;
if (threadsFromEnv !== undefined && threadsFromEnv !== '') {
  const n = Number(threadsFromEnv);
  if (Number.isInteger(n) && n >= 1 && n <= MAX_THREADS) backend.setNumThreads(n);
  else process.emitWarning(`FASTNORM_THREADS=${threadsFromEnv} is not an integer from 1 to ${MAX_THREADS}; ignored`, 'FastnormWarning');
}
