// Reference LayerNorm and RMSNorm: plain float64 arithmetic, written to be obviously right.
// Statistics are two-pass with one refinement of the mean (exact for constant rows, stable
// for a large mean offset); the backward uses the centered formulas of DESIGN.md §1.
import type { FloatArray } from '../../api/types.js';

/** 1/sqrt(var + eps), 0 when var + eps is 0; NaN propagates. */
export function rstdOf(variance: number, eps: number): number {
  const v = (variance < 0 ? 0 : variance) + eps;
  return v === 0 ? 0 : 1 / Math.sqrt(v);
}

/** Mean and biased variance of x[start, start + n), two-pass with a refined mean. */
export function moments(x: FloatArray, start: number, n: number, stride = 1): { mean: number; variance: number } {
  let sum = 0;
  for (let i = 0; i < n; i++) sum += x[start + i * stride];
  const mean0 = sum / n;
  let s1 = 0;
  let s2 = 0;
  for (let i = 0; i < n; i++) {
    const d = x[start + i * stride] - mean0;
    s1 += d;
    s2 += d * d;
  }
  return { mean: mean0 + s1 / n, variance: (s2 - (s1 * s1) / n) / n };
}

function meanOfSquares(x: FloatArray, start: number, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += x[start + i] * x[start + i];
  return s / n;
}

function rowNormForward(centered: boolean, x: FloatArray, rows: number, cols: number, weight: FloatArray | null,
  bias: FloatArray | null, eps: number, y: FloatArray, mean: FloatArray | null, rstd: FloatArray): void {
  for (let r = 0; r < rows; r++) {
    const start = r * cols;
    let mu = 0;
    let rs: number;
    if (centered) {
      const m = moments(x, start, cols);
      mu = m.mean;
      rs = rstdOf(m.variance, eps);
      mean![r] = mu;
    } else {
      rs = rstdOf(meanOfSquares(x, start, cols), eps);
    }
    rstd[r] = rs;
    for (let j = 0; j < cols; j++) {
      let v = (x[start + j] - mu) * rs;
      if (weight) v *= weight[j];
      if (bias) v += bias[j];
      y[start + j] = v;
    }
  }
}

function rowNormBackward(centered: boolean, dy: FloatArray, x: FloatArray, mean: FloatArray | null, rstd: FloatArray,
  rows: number, cols: number, weight: FloatArray | null, dx: FloatArray, dweight: FloatArray | null,
  dbias: FloatArray | null): void {
  const dw = new Float64Array(dweight ? cols : 0);
  const db = new Float64Array(dbias ? cols : 0);
  for (let r = 0; r < rows; r++) {
    const start = r * cols;
    const mu = centered ? mean![r] : 0;
    const rs = rstd[r];
    let sumG = 0;
    let sumGx = 0;
    for (let j = 0; j < cols; j++) {
      const xhat = (x[start + j] - mu) * rs;
      const g = weight ? dy[start + j] * weight[j] : dy[start + j];
      sumG += g;
      sumGx += g * xhat;
      if (dweight) dw[j] += dy[start + j] * xhat;
      if (dbias) db[j] += dy[start + j];
    }
    const meanG = centered ? sumG / cols : 0;
    const meanGx = sumGx / cols;
    for (let j = 0; j < cols; j++) {
      const xhat = (x[start + j] - mu) * rs;
      const g = weight ? dy[start + j] * weight[j] : dy[start + j];
      dx[start + j] = rs * (g - meanG - xhat * meanGx);
    }
  }
  if (dweight) dweight.set(dw);
  if (dbias) dbias.set(db);
}

export const rowNormKernels = {
  layerNormForward: (x: FloatArray, rows: number, cols: number, weight: FloatArray | null, bias: FloatArray | null,
    eps: number, y: FloatArray, mean: FloatArray, rstd: FloatArray) =>
    rowNormForward(true, x, rows, cols, weight, bias, eps, y, mean, rstd),
  rmsNormForward: (x: FloatArray, rows: number, cols: number, weight: FloatArray | null, _bias: null, eps: number,
    y: FloatArray, _mean: null, rstd: FloatArray) => rowNormForward(false, x, rows, cols, weight, null, eps, y, null, rstd),
  layerNormBackward: (dy: FloatArray, x: FloatArray, mean: FloatArray, rstd: FloatArray, rows: number, cols: number,
    weight: FloatArray | null, dx: FloatArray, dweight: FloatArray | null, dbias: FloatArray | null) =>
    rowNormBackward(true, dy, x, mean, rstd, rows, cols, weight, dx, dweight, dbias),
  rmsNormBackward: (dy: FloatArray, x: FloatArray, _mean: null, rstd: FloatArray, rows: number, cols: number,
    weight: FloatArray | null, dx: FloatArray, dweight: FloatArray | null, _dbias: null) =>
    rowNormBackward(false, dy, x, null, rstd, rows, cols, weight, dx, dweight, null),
};
