// The low-level interface every backend implements: validated, resolved arguments in a fixed
// positional order (the native addon exposes exactly these functions, so the native backend
// calls straight into C++ with no wrapper). Optional arrays are null; outputs are preallocated.
import type { FloatArray } from '../api/types.js';

type Arr = FloatArray;
type Opt = FloatArray | null;

export interface Kernels {
  layerNormForward(x: Arr, rows: number, cols: number, weight: Opt, bias: Opt, eps: number, y: Arr, mean: Arr, rstd: Arr): void;
  layerNormBackward(dy: Arr, x: Arr, mean: Arr, rstd: Arr, rows: number, cols: number, weight: Opt,
    dx: Arr, dweight: Opt, dbias: Opt): void;
  rmsNormForward(x: Arr, rows: number, cols: number, weight: Opt, bias: null, eps: number, y: Arr, mean: null, rstd: Arr): void;
  rmsNormBackward(dy: Arr, x: Arr, mean: null, rstd: Arr, rows: number, cols: number, weight: Opt,
    dx: Arr, dweight: Opt, dbias: null): void;
  // BatchNorm: (n, c, s, channelsLast) describe the tensor as N × C × S in its layout.
  batchNormForward(x: Arr, n: number, c: number, s: number, channelsLast: boolean, weight: Opt, bias: Opt,
    runningMean: Opt, runningVar: Opt, momentum: number, eps: number, training: boolean, y: Arr, mean: Arr, rstd: Arr): void;
  batchNormBackward(dy: Arr, x: Arr, mean: Arr, rstd: Arr, n: number, c: number, s: number, channelsLast: boolean,
    weight: Opt, training: boolean, dx: Arr, dweight: Opt, dbias: Opt): void;
  batchNormStats(x: Arr, n: number, c: number, s: number, channelsLast: boolean, mean: Float64Array, m2: Float64Array): void;
  batchNormApply(x: Arr, n: number, c: number, s: number, channelsLast: boolean, mean: Arr, rstd: Arr, weight: Opt,
    bias: Opt, y: Arr): void;
  batchNormBackwardReduce(dy: Arr, x: Arr, mean: Arr, n: number, c: number, s: number, channelsLast: boolean,
    sumDy: Float64Array, sumDyXmu: Float64Array): void;
  batchNormBackwardApply(dy: Arr, x: Arr, mean: Arr, rstd: Arr, n: number, c: number, s: number, channelsLast: boolean,
    weight: Opt, sumDy: Float64Array, sumDyXmu: Float64Array, count: number, dx: Arr): void;
  // GroupNorm, and InstanceNorm as groups = C with optional running statistics; mean/rstd: N × groups.
  groupNormForward(x: Arr, n: number, c: number, s: number, channelsLast: boolean, groups: number, weight: Opt, bias: Opt,
    runningMean: Opt, runningVar: Opt, momentum: number, eps: number, useInputStats: boolean, y: Arr, mean: Arr, rstd: Arr): void;
  groupNormBackward(dy: Arr, x: Arr, mean: Arr, rstd: Arr, n: number, c: number, s: number, channelsLast: boolean,
    groups: number, weight: Opt, useInputStats: boolean, dx: Arr, dweight: Opt, dbias: Opt): void;
}

/** A backend: its kernels plus the runtime settings the facade exposes. */
export interface Backend {
  name: 'native' | 'reference';
  kernels: Kernels;
  asyncKernels: AsyncKernels;
  isa(): string;
  setNumThreads(n: number): void;
  getNumThreads(): number;
}

/** The Promise form of every kernel (`<name>Async`), computed off the JavaScript thread. */
export type AsyncKernels = {
  [K in keyof Kernels as `${K & string}Async`]: (...args: Parameters<Kernels[K]>) => Promise<void>;
};

/** Promise forms of synchronous kernels, each run on a later turn of the event loop. */
export function deferredKernels(kernels: Kernels): AsyncKernels {
  const result: Record<string, unknown> = {};
  for (const name of Object.keys(kernels) as (keyof Kernels)[]) {
    const kernel = kernels[name] as (...args: unknown[]) => void;
    result[`${name}Async`] = (...args: unknown[]) =>
      new Promise<void>((resolve, reject) => setImmediate(() => {
        try {
          kernel(...args);
          resolve();
        } catch (e) {
          reject(e);
        }
      }));
  }
  return result as AsyncKernels;
}
