// fastnorm/reference: the pure-TypeScript backend with the same functions as 'fastnorm'.
import { createOps } from './api/ops.js';
import type { Info } from './api/types.js';
import { packageVersion } from './backends/package-root.js';
import { createReferenceBackend } from './backends/reference/index.js';

const backend = createReferenceBackend();

export const { layerNorm, layerNormBackward, rmsNorm, rmsNormBackward } = createOps(backend.kernels);

/** Accepted for API compatibility; the reference backend always runs on the calling thread. */
export function setNumThreads(n: number): void {
  if (typeof n !== 'number') throw new TypeError(`n must be a number, got ${typeof n}`);
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`n must be an integer >= 1, got ${n}`);
  backend.setNumThreads(n);
}

export function getNumThreads(): number {
  return backend.getNumThreads();
}

export function info(): Info {
  return { backend: 'reference', isa: 'none', threads: 1, version: packageVersion };
}
