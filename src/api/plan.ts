import type { Kernels } from '../backends/kernels.js';

/** A validated call: the kernel to run, its positional arguments, and what the op returns. */
export interface Plan<R = unknown> {
  kernel: keyof Kernels;
  args: unknown[];
  result: R;
}

export function plan<R>(kernel: keyof Kernels, args: unknown[], result: R): Plan<R> {
  return { kernel, args, result };
}
