// Reference BatchNorm: plain float64 arithmetic over each channel's N·S values (two-pass
// moments with a refined mean, centered backward formulas), in either layout; and the
// synchronized-BatchNorm building blocks.
import type { ArgsOf } from '../../api/bind.js';
import type { Kernels } from '../../api/op-table.js';
import { withHalf } from './half-kernels.js';
import type { Activation, FloatArray } from '../../api/types.js';
import { activateInPlace, gateGradient } from './activation.js';
import { moments, rstdOf } from './numerics.js';

type Opt = FloatArray | null;

/** Flat index of (n, c, s) in an (N, C, S) or (N, S, C) tensor. */
function indexer(c: number, s: number, channelsLast: boolean): (ni: number, ci: number, si: number) => number {
  return channelsLast ? (ni, ci, si) => (ni * s + si) * c + ci : (ni, ci, si) => (ni * c + ci) * s + si;
}

/** Calls f(flat index) for every value of channel ci. */
function eachInChannel(n: number, c: number, s: number, channelsLast: boolean, ci: number, f: (i: number) => void): void {
  const at = indexer(c, s, channelsLast);
  for (let ni = 0; ni < n; ni++) for (let si = 0; si < s; si++) f(at(ni, ci, si));
}

function channelMoments(x: FloatArray, n: number, c: number, s: number, channelsLast: boolean, ci: number) {
  return moments(n * s, (visit) => eachInChannel(n, c, s, channelsLast, ci, (i) => visit(x[i])));
}

function gradSums(dy: FloatArray, x: FloatArray, mu: number, n: number, c: number, s: number, channelsLast: boolean, ci: number) {
  let sumDy = 0;
  let sumDyXmu = 0;
  eachInChannel(n, c, s, channelsLast, ci, (i) => {
    sumDy += dy[i];
    sumDyXmu += dy[i] * (x[i] - mu);
  });
  return { sumDy, sumDyXmu };
}

function apply(x: FloatArray, n: number, c: number, s: number, channelsLast: boolean, mean: ArrayLike<number>,
  rstd: ArrayLike<number>, weight: Opt, bias: Opt, y: FloatArray): void {
  for (let ci = 0; ci < c; ci++) {
    const mu = mean[ci];
    const r = rstd[ci];
    const w = weight ? weight[ci] : 1;
    const b = bias ? bias[ci] : 0;
    eachInChannel(n, c, s, channelsLast, ci, (i) => { y[i] = (x[i] - mu) * r * w + b; });
  }
}

function trainingGrad(dy: FloatArray, x: FloatArray, mean: FloatArray, rstd: FloatArray, n: number, c: number, s: number,
  channelsLast: boolean, weight: Opt, sumDy: ArrayLike<number>, sumDyXmu: ArrayLike<number>, count: number, dx: FloatArray): void {
  for (let ci = 0; ci < c; ci++) {
    const mu = mean[ci];
    const r = rstd[ci];
    const w = weight ? weight[ci] : 1;
    const meanDy = sumDy[ci] / count;
    const k = (r * r * sumDyXmu[ci]) / count;
    eachInChannel(n, c, s, channelsLast, ci, (i) => { dx[i] = w * r * (dy[i] - meanDy - (x[i] - mu) * k); });
  }
}

/** g = dy·act'(z) per element, z = (x − mean)·rstd·w + b per channel (w, b absent: 1, 0), in float64. */
function gatedChannels(activation: Activation, dy: FloatArray, x: FloatArray, mean: FloatArray, rstd: FloatArray, n: number, c: number,
  s: number, channelsLast: boolean, weight: Opt, bias: Opt): Float64Array {
  const g = new Float64Array(dy.length);
  for (let ci = 0; ci < c; ci++) {
    const mu = mean[ci];
    const r = rstd[ci];
    const w = weight ? weight[ci] : 1;
    const b = bias ? bias[ci] : 0;
    eachInChannel(n, c, s, channelsLast, ci, (i) => { g[i] = gateGradient(activation, (x[i] - mu) * r * w + b, dy[i]); });
  }
  return g;
}

type BatchNormKernels = 'batchNormForward' | 'batchNormBackward' | 'batchNormStats' | 'batchNormGatherStats' | 'batchNormElemt'
  | 'batchNormBackwardReduce' | 'batchNormBackwardElemt';

/** dweight = Σdy·(x − μ)·rstd and dbias = Σdy per channel (either may be null: not requested). */
function paramGrads(c: number, sumDy: ArrayLike<number>, sumDyXmu: ArrayLike<number>, rstd: FloatArray, dweight: Opt, dbias: Opt): void {
  for (let ci = 0; ci < c; ci++) {
    if (dbias) dbias[ci] = sumDy[ci];
    if (dweight) dweight[ci] = sumDyXmu[ci] * rstd[ci];
  }
}

export const batchNormKernels: Pick<Kernels, BatchNormKernels> = {
  batchNormForward: withHalf('batchNormForward', ({ x, n, c, s, channelsLast, weight, bias, runningMean, runningVar, momentum, eps,
    training, activation, y, mean, rstd }: ArgsOf<'batchNormForward'>): void => {
    const count = n * s;
    // y from the float64 statistics, not from mean/rstd rounded to a float32 output: a float32
    // mean of 1e4 + N(0, 1) data is off by up to 5e-4 σ, which y would inherit
    const mean64 = new Float64Array(c);
    const rstd64 = new Float64Array(c);
    for (let ci = 0; ci < c; ci++) {
      if (training) {
        const m = channelMoments(x, n, c, s, channelsLast, ci);
        mean64[ci] = m.mean;
        rstd64[ci] = rstdOf(m.m2 / count, eps);
        if (runningMean && runningVar) {
          runningMean[ci] = (1 - momentum) * runningMean[ci] + momentum * m.mean;
          runningVar[ci] = (1 - momentum) * runningVar[ci] + momentum * (m.m2 / (count - 1));
        }
      } else {
        mean64[ci] = runningMean![ci];
        rstd64[ci] = rstdOf(runningVar![ci], eps);
      }
    }
    mean.set(mean64);
    rstd.set(rstd64);
    apply(x, n, c, s, channelsLast, mean64, rstd64, weight, bias, y);
    activateInPlace(activation, y);
  }),

  // A fused activation: the plain backward of g = dy·act'(z), z = x̂·w + b in float64.
  batchNormBackward: withHalf('batchNormBackward', ({ dy: dyIn, x, mean, rstd, n, c, s, channelsLast, weight, bias, training, activation,
    dx, dweight, dbias }: ArgsOf<'batchNormBackward'>): void => {
    const dy = activation === 'none' ? dyIn : gatedChannels(activation, dyIn, x, mean, rstd, n, c, s, channelsLast, weight, bias);
    const sumDy = new Float64Array(c);
    const sumDyXmu = new Float64Array(c);
    for (let ci = 0; ci < c; ci++) {
      const g = gradSums(dy, x, mean[ci], n, c, s, channelsLast, ci);
      sumDy[ci] = g.sumDy;
      sumDyXmu[ci] = g.sumDyXmu;
    }
    paramGrads(c, sumDy, sumDyXmu, rstd, dweight, dbias);
    if (training) {
      trainingGrad(dy, x, mean, rstd, n, c, s, channelsLast, weight, sumDy, sumDyXmu, n * s, dx);
      return;
    }
    for (let ci = 0; ci < c; ci++) {
      const k = rstd[ci] * (weight ? weight[ci] : 1);
      eachInChannel(n, c, s, channelsLast, ci, (i) => { dx[i] = dy[i] * k; });
    }
  }),

  batchNormStats: withHalf('batchNormStats', ({ x, n, c, s, channelsLast, mean, m2 }: ArgsOf<'batchNormStats'>): void => {
    for (let ci = 0; ci < c; ci++) {
      const m = n * s === 0 ? { mean: 0, m2: 0 } : channelMoments(x, n, c, s, channelsLast, ci);
      mean[ci] = m.mean;
      m2[ci] = m.m2;
    }
  }),

  // Chan et al.'s merge of the parts' (count, mean, M2) in part order, exact in float64.
  batchNormGatherStats({ counts, means, m2s, parts, c, eps, momentum, runningMean, runningVar, mean, rstd }:
    ArgsOf<'batchNormGatherStats'>): void {
    let count = 0;
    const mu = new Float64Array(c);
    const m2 = new Float64Array(c);
    for (let p = 0; p < parts; p++) {
      const np = counts[p];
      if (np === 0) continue;
      const total = count + np;
      for (let j = 0; j < c; j++) {
        if (count === 0) {
          mu[j] = means[p * c + j];
          m2[j] = m2s[p * c + j];
          continue;
        }
        const delta = means[p * c + j] - mu[j];
        mu[j] += delta * (np / total);
        m2[j] += m2s[p * c + j] + delta * delta * ((count * np) / total);
      }
      count = total;
    }
    for (let j = 0; j < c; j++) {
      mean[j] = mu[j];
      rstd[j] = rstdOf(m2[j] / count, eps);
      if (runningMean && runningVar) {
        runningMean[j] = (1 - momentum) * runningMean[j] + momentum * mu[j];
        runningVar[j] = (1 - momentum) * runningVar[j] + momentum * (m2[j] / (count - 1));
      }
    }
  },

  batchNormElemt: withHalf('batchNormElemt', ({ x, n, c, s, channelsLast, mean, rstd, weight, bias, y }: ArgsOf<'batchNormElemt'>): void => {
    apply(x, n, c, s, channelsLast, mean, rstd, weight, bias, y);
  }),

  batchNormBackwardReduce: withHalf('batchNormBackwardReduce', ({ dy, x, mean, n, c, s, channelsLast, sumDy, sumDyXmu }:
    ArgsOf<'batchNormBackwardReduce'>): void => {
    for (let ci = 0; ci < c; ci++) {
      const g = gradSums(dy, x, mean[ci], n, c, s, channelsLast, ci);
      sumDy[ci] = g.sumDy;
      sumDyXmu[ci] = g.sumDyXmu;
    }
  }),

  batchNormBackwardElemt: withHalf('batchNormBackwardElemt', ({ dy, x, mean, rstd, n, c, s, channelsLast, weight, sumDy, sumDyXmu, count,
    dx, dweight, dbias }: ArgsOf<'batchNormBackwardElemt'>): void => {
    paramGrads(c, sumDy, sumDyXmu, rstd, dweight, dbias);
    trainingGrad(dy, x, mean, rstd, n, c, s, channelsLast, weight, sumDy, sumDyXmu, count, dx);
  }),
};
