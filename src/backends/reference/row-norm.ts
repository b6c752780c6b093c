// Reference LayerNorm and RMSNorm: plain float64 arithmetic, written to be obviously right.
// Statistics are two-pass with one refinement of the mean (exact for constant rows, stable
// for a large mean offset); the backward uses the centered formulas of DESIGN.md §1.
import type { ArgsOf } from '../../api/bind.js';
import type { Kernels } from '../../api/op-table.js';
import type { Activation, FloatArray } from '../../api/types.js';
import { activateInPlace, gateGradient } from './activation.js';
import { withHalf } from './half-kernels.js';
import { moments, rstdOf } from './numerics.js';

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
      const m = moments(cols, (visit) => { for (let j = 0; j < cols; j++) visit(x[start + j]); });
      mu = m.mean;
      rs = rstdOf(m.m2 / cols, eps);
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

/** g = dy·act'(z) per element, z = (x − mean)·rstd·w + b (w, b per column; absent: 1, 0), in float64. */
function gatedRows(activation: Activation, dy: FloatArray, x: FloatArray, mean: FloatArray, rstd: FloatArray, rows: number,
  cols: number, weight: FloatArray | null, bias: FloatArray | null): Float64Array {
  const g = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < cols; j++) {
      const i = r * cols + j;
      const z = (x[i] - mean[r]) * rstd[r] * (weight ? weight[j] : 1) + (bias ? bias[j] : 0);
      g[i] = gateGradient(activation, z, dy[i]);
    }
  }
  return g;
}

/** The scale of a layer in float64: weight + weightOffset (the weight itself when the offset is 0). */
function scaleOf(weight: FloatArray | null, weightOffset: number): FloatArray | null {
  if (!weight || weightOffset === 0) return weight;
  return Float64Array.from(weight, (w) => w + weightOffset);
}

/**
 * sum = (x + residual) + residualBias per column: the add-norm's residual stream, each add rounded
 * to sum's dtype as PyTorch's `x + residual + bias` of float32 tensors rounds it.
 */
function addResidual(x: FloatArray, residual: FloatArray, residualBias: FloatArray | null, cols: number, sum: FloatArray): void {
  for (let i = 0; i < sum.length; i++) sum[i] = x[i] + residual[i];
  if (residualBias) for (let i = 0; i < sum.length; i++) sum[i] += residualBias[i % cols];
}

/** The add-norm backward from the plain one: dx (of sum) + dSum, and dresidualBias = Σ over rows of that dx. */
function addNormBackward(centered: boolean, a: ArgsOf<'addLayerNormBackward'> | ArgsOf<'addRmsNormBackward'>, mean: FloatArray | null,
  dbias: FloatArray | null): void {
  const dSum = a.dSum ? a.dSum.slice() : null; // dx may be dSum itself
  rowNormBackward(centered, a.dy, a.sum, mean, a.rstd, a.rows, a.cols, scaleOf(a.weight, a.weightOffset), a.dx, a.dweight, dbias);
  if (dSum) for (let i = 0; i < a.dx.length; i++) a.dx[i] += dSum[i];
  if (a.dresidualBias) {
    const drb = new Float64Array(a.cols);
    for (let i = 0; i < a.dx.length; i++) drb[i % a.cols] += a.dx[i];
    a.dresidualBias.set(drb);
  }
}

export const rowNormKernels: Pick<Kernels, 'layerNormForward' | 'layerNormBackward' | 'rmsNormForward' | 'rmsNormBackward' |
  'addLayerNormForward' | 'addLayerNormBackward' | 'addRmsNormForward' | 'addRmsNormBackward'> = {
  layerNormForward: withHalf('layerNormForward', (a) => {
    rowNormForward(true, a.x, a.rows, a.cols, scaleOf(a.weight, a.weightOffset), a.bias, a.eps, a.y, a.mean, a.rstd);
    activateInPlace(a.activation, a.y);
  }),
  rmsNormForward: withHalf('rmsNormForward', (a) =>
    rowNormForward(false, a.x, a.rows, a.cols, scaleOf(a.weight, a.weightOffset), null, a.eps, a.y, null, a.rstd)),
  // A fused activation: the plain backward of g = dy·act'(z), z = x̂·w + b in float64.
  layerNormBackward: withHalf('layerNormBackward', (a) => {
    const scale = scaleOf(a.weight, a.weightOffset);
    const g = a.activation === 'none' ? a.dy : gatedRows(a.activation, a.dy, a.x, a.mean, a.rstd, a.rows, a.cols, scale, a.bias);
    rowNormBackward(true, g, a.x, a.mean, a.rstd, a.rows, a.cols, scale, a.dx, a.dweight, a.dbias);
  }),
  rmsNormBackward: withHalf('rmsNormBackward', (a) =>
    rowNormBackward(false, a.dy, a.x, null, a.rstd, a.rows, a.cols, scaleOf(a.weight, a.weightOffset), a.dx, a.dweight, null)),
  // The add-norms compose the plain ones: the residual stream first, then the norm of it.
  addLayerNormForward: withHalf('addLayerNormForward', (a, asStored) => {
    addResidual(a.x, a.residual, a.residualBias, a.cols, a.sum);
    asStored(a.sum);
    rowNormForward(true, a.sum, a.rows, a.cols, scaleOf(a.weight, a.weightOffset), a.bias, a.eps, a.y, a.mean, a.rstd);
  }),
  addRmsNormForward: withHalf('addRmsNormForward', (a, asStored) => {
    addResidual(a.x, a.residual, a.residualBias, a.cols, a.sum);
    asStored(a.sum);
    rowNormForward(false, a.sum, a.rows, a.cols, scaleOf(a.weight, a.weightOffset), null, a.eps, a.y, null, a.rstd);
  }),
  addLayerNormBackward: withHalf('addLayerNormBackward', (a) => addNormBackward(true, a, a.mean, a.dbias)),
  addRmsNormBackward: withHalf('addRmsNormBackward', (a) => addNormBackward(false, a, null, null)),
};
