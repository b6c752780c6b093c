// Which fastnorm the TF.js kernels and layers compute with, and on which TF.js backends.
import * as fastnorm from '../index.js';

/** The fastnorm functions the TF.js integration calls: `fastnorm` itself or `fastnorm/reference`. */
export type FastnormApi = Pick<typeof fastnorm,
  'batchNormElemt' | 'batchNormBackward' | 'batchNormBackwardReduce' | 'batchNormStats' | 'layerNorm' |
  'layerNormBackward' | 'groupNorm' | 'groupNormBackward'>;

let api: FastnormApi = fastnorm;

/** The fastnorm functions in use (see setImplementation). */
export function impl(): FastnormApi {
  return api;
}

/**
 * Chooses the fastnorm the TF.js kernels and layers compute with: `fastnorm` (the default: the
 * native addon, or the reference backend where it cannot load) or `fastnorm/reference`, the
 * pure-TypeScript backend — e.g. to cross-check a model's results. Returns the previous one.
 * @example
 * import * as fastnorm from 'fastnorm';
 * import { setImplementation } from 'fastnorm/tfjs';
 * const previous = setImplementation(fastnorm.reference);
 * const checked = model.predict(x);
 * setImplementation(previous);
 */
export function setImplementation(next: FastnormApi): FastnormApi {
  for (const name of ['batchNormElemt', 'batchNormBackward', 'batchNormBackwardReduce', 'batchNormStats', 'layerNorm',
    'layerNormBackward', 'groupNorm', 'groupNormBackward'] as const) {
    if (typeof next?.[name] !== 'function')
      throw new TypeError(`implementation must be fastnorm or fastnorm/reference (it has no ${name} function)`);
  }
  const previous = api;
  api = next;
  return previous;
}

// TF.js backends whose tensors live in JavaScript typed arrays that fastnorm can read and write
// ('cpu', and any other registerKernels names). Others (webgl, wasm, tensorflow) keep TF.js's code.
const backendUses = new Map<string, number>([['cpu', 1]]);

export function isFastnormBackend(name: string): boolean {
  return (backendUses.get(name) ?? 0) > 0;
}

/** Counts a registerKernels of `name`; the returned function undoes it. */
export function addFastnormBackend(name: string): () => void {
  backendUses.set(name, (backendUses.get(name) ?? 0) + 1);
  return () => backendUses.set(name, (backendUses.get(name) ?? 1) - 1);
}
