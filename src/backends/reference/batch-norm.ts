// Reference BatchNorm: plain float64 arithmetic over each channel's N·S values (two-pass
// moments with a refined mean, centered backward formulas), in either layout.
import type { FloatArray } from '../../api/types.js';
import { rstdOf } from './row-norm.js';

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
  const count = n * s;
  let sum = 0;
  eachInChannel(n, c, s, channelsLast, ci, (i) => { sum += x[i]; });
  const mean0 = sum / count;
  let s1 = 0;
  let s2 = 0;
  eachInChannel(n, c, s, channelsLast, ci, (i) => {
    const d = x[i] - mean0;
    s1 += d;
    s2 += d * d;
  });
  return { mean: mean0 + s1 / count, m2: s2 - (s1 * s1) / count };
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

export const batchNormKernels = {
  batchNormForward(x: FloatArray, n: number, c: number, s: number, channelsLast: boolean, weight: Opt, bias: Opt,
    runningMean: Opt, runningVar: Opt, momentum: number, eps: number, training: boolean, y: FloatArray, mean: FloatArray,
    rstd: FloatArray): void {
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
  },

  batchNormBackward(dy: FloatArray, x: FloatArray, mean: FloatArray, rstd: FloatArray, n: number, c: number, s: number,
    channelsLast: boolean, weight: Opt, training: boolean, dx: FloatArray, dweight: Opt, dbias: Opt): void {
    const sumDy = new Float64Array(c);
    const sumDyXmu = new Float64Array(c);
    for (let ci = 0; ci < c; ci++) {
      const g = gradSums(dy, x, mean[ci], n, c, s, channelsLast, ci);
      sumDy[ci] = g.sumDy;
      sumDyXmu[ci] = g.sumDyXmu;
      if (dbias) dbias[ci] = g.sumDy;
      if (dweight) dweight[ci] = g.sumDyXmu * rstd[ci];
    }
    if (training) {
      trainingGrad(dy, x, mean, rstd, n, c, s, channelsLast, weight, sumDy, sumDyXmu, n * s, dx);
      return;
    }
    for (let ci = 0; ci < c; ci++) {
      const k = rstd[ci] * (weight ? weight[ci] : 1);
      eachInChannel(n, c, s, channelsLast, ci, (i) => { dx[i] = dy[i] * k; });
    }
  },

  batchNormStats(x: FloatArray, n: number, c: number, s: number, channelsLast: boolean, mean: Float64Array, m2: Float64Array): void {
    for (let ci = 0; ci < c; ci++) {
      const m = n * s === 0 ? { mean: 0, m2: 0 } : channelMoments(x, n, c, s, channelsLast, ci);
      mean[ci] = m.mean;
      m2[ci] = m.m2;
    }
  },

  batchNormApply(x: FloatArray, n: number, c: number, s: number, channelsLast: boolean, mean: FloatArray, rstd: FloatArray,
    weight: Opt, bias: Opt, y: FloatArray): void {
    apply(x, n, c, s, channelsLast, mean, rstd, weight, bias, y);
  },

  batchNormBackwardReduce(dy: FloatArray, x: FloatArray, mean: FloatArray, n: number, c: number, s: number,
    channelsLast: boolean, sumDy: Float64Array, sumDyXmu: Float64Array): void {
    for (let ci = 0; ci < c; ci++) {
      const g = gradSums(dy, x, mean[ci], n, c, s, channelsLast, ci);
      sumDy[ci] = g.sumDy;
      sumDyXmu[ci] = g.sumDyXmu;
    }
  },

  batchNormBackwardApply(dy: FloatArray, x: FloatArray, mean: FloatArray, rstd: FloatArray, n: number, c: number, s: number,
    channelsLast: boolean, weight: Opt, sumDy: Float64Array, sumDyXmu: Float64Array, count: number, dx: FloatArray): void {
    trainingGrad(dy, x, mean, rstd, n, c, s, channelsLast, weight, sumDy, sumDyXmu, count, dx);
  },
};
