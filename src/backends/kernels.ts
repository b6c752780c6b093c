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
}

/** A backend: its kernels plus the runtime settings the facade exposes. */
export interface Backend {
  name: 'native' | 'reference';
  kernels: Kernels;
  isa(): string;
  setNumThreads(n: number): void;
  getNumThreads(): number;
}
