// What a backend gives the API: its kernels (sync and Promise forms, op-table.ts's `Kernels`)
// and the runtime settings the entry points expose.
import type { HalfConversions } from './half.js';
import type { AsyncKernels, Kernels } from './op-table.js';

export interface Backend {
  name: 'native' | 'reference';
  kernels: Kernels;
  asyncKernels: AsyncKernels;
  /** Float32/float64 ⇄ float16/bfloat16 on checked arrays of equal length. */
  conversions: HalfConversions;
  isa(): string;
  setNumThreads(n: number): void;
  getNumThreads(): number;
}
