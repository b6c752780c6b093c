// Reference GroupNorm and InstanceNorm (groups = C): plain float64 arithmetic over each
// (sample, group) set of C/G channels × S positions, in either layout; two-pass moments with a
// refined mean, the centered backward of DESIGN.md §1, and PyTorch's running-statistics rule.
import type { ArgsOf } from '../../api/bind.js';
import type { Kernels } from '../../api/op-table.js';
import type { Activation, FloatArray } from '../../api/types.js';
import { activateInPlace, gateGradient } from './activation.js';
import { withHalf } from './half-kernels.js';
import { moments, rstdOf } from './numerics.js';

type Opt = FloatArray | null;

/** The flat indices of group g of sample ni, channel by channel. */
function groupIndices(n: number, c: number, s: number, channelsLast: boolean, groups: number, ni: number, g: number): number[] {
  const cg = c / groups;
  const indices: number[] = [];
  for (let ci = g * cg; ci < (g + 1) * cg; ci++) {
    for (let si = 0; si < s; si++) indices.push(channelsLast ? (ni * s + si) * c + ci : (ni * c + ci) * s + si);
  }
  return indices;
}

function groupMoments(x: FloatArray, indices: number[]): { mean: number; m2: number } {
  return moments(indices.length, (visit) => { for (const i of indices) visit(x[i]); });
}

function forward(x: FloatArray, n: number, c: number, s: number, channelsLast: boolean, groups: number, weight: Opt, bias: Opt,
  runningMean: Opt, runningVar: Opt, momentum: number, eps: number, useInputStats: boolean, y: FloatArray, mean: FloatArray,
  rstd: FloatArray): void {
  const cg = groups > 0 ? c / groups : 0;
  const batchMean = new Float64Array(c); // Σ over samples of each channel's mean and unbiased variance
  const batchVar = new Float64Array(c);
  for (let ni = 0; ni < n; ni++) {
    for (let g = 0; g < groups; g++) {
      const indices = groupIndices(n, c, s, channelsLast, groups, ni, g);
      let mu: number;
      let r: number;
      if (useInputStats) {
        const m = groupMoments(x, indices);
        mu = m.mean;
        r = rstdOf(m.m2 / indices.length, eps);
        if (cg === 1) {
          batchMean[g] += m.mean;
          batchVar[g] += m.m2 / (indices.length - 1);
        }
      } else {
        mu = runningMean![g];
        r = rstdOf(runningVar![g], eps);
      }
      mean[ni * groups + g] = mu;
      rstd[ni * groups + g] = r;
      for (const i of indices) {
        const ci = channelsLast ? i % c : Math.floor(i / s) % c;
        y[i] = (x[i] - mu) * r * (weight ? weight[ci] : 1) + (bias ? bias[ci] : 0);
      }
    }
  }
  if (useInputStats && runningMean && runningVar && n > 0) {
    for (let ci = 0; ci < c; ci++) {
      runningMean[ci] = (1 - momentum) * runningMean[ci] + momentum * (batchMean[ci] / n);
      runningVar[ci] = (1 - momentum) * runningVar[ci] + momentum * (batchVar[ci] / n);
    }
  }
}

function backward(dy: FloatArray, x: FloatArray, mean: FloatArray, rstd: FloatArray, n: number, c: number, s: number,
  channelsLast: boolean, groups: number, weight: Opt, useInputStats: boolean, dx: FloatArray, dweight: Opt, dbias: Opt): void {
  const dw = new Float64Array(c);
  const db = new Float64Array(c);
  const channelOf = (i: number) => (channelsLast ? i % c : Math.floor(i / s) % c);
  for (let ni = 0; ni < n; ni++) {
    for (let g = 0; g < groups; g++) {
      const indices = groupIndices(n, c, s, channelsLast, groups, ni, g);
      const mu = mean[ni * groups + g];
      const r = rstd[ni * groups + g];
      let sumG = 0;
      let sumGx = 0;
      for (const i of indices) {
        const ci = channelOf(i);
        const xhat = (x[i] - mu) * r;
        const gi = dy[i] * (weight ? weight[ci] : 1);
        sumG += gi;
        sumGx += gi * xhat;
        dw[ci] += dy[i] * xhat;
        db[ci] += dy[i];
      }
      const meanG = sumG / indices.length;
      const meanGx = sumGx / indices.length;
      for (const i of indices) {
        const gi = dy[i] * (weight ? weight[channelOf(i)] : 1);
        // with running statistics the normalization is a constant affine map: dx = g·rstd
        dx[i] = useInputStats ? r * (gi - meanG - (x[i] - mu) * r * meanGx) : r * gi;
      }
    }
  }
  if (dweight) dweight.set(dw);
  if (dbias) dbias.set(db);
}

/** g = dy·act'(z) per element, z = (x − mean)·rstd·w + b of its group and channel (w, b absent: 1, 0), in float64. */
function gated(activation: Activation | 'none', dy: FloatArray, x: FloatArray, mean: FloatArray, rstd: FloatArray, n: number, c: number,
  s: number, channelsLast: boolean, groups: number, weight: Opt, bias: Opt): FloatArray {
  if (activation === 'none') return dy;
  const g = new Float64Array(dy.length);
  for (let ni = 0; ni < n; ni++) {
    for (let gi = 0; gi < groups; gi++) {
      const mu = mean[ni * groups + gi];
      const r = rstd[ni * groups + gi];
      for (const i of groupIndices(n, c, s, channelsLast, groups, ni, gi)) {
        const ci = channelsLast ? i % c : Math.floor(i / s) % c;
        g[i] = gateGradient(activation, (x[i] - mu) * r * (weight ? weight[ci] : 1) + (bias ? bias[ci] : 0), dy[i]);
      }
    }
  }
  return g;
}

// A fused activation: the plain backward of g = dy·act'(z), z = x̂·w + b in float64.
export const groupNormKernels: Pick<Kernels, 'groupNormForward' | 'groupNormBackward' | 'instanceNormForward' | 'instanceNormBackward'> = {
  groupNormForward: withHalf('groupNormForward', (a) => {
    forward(a.x, a.n, a.c, a.s, a.channelsLast, a.groups, a.weight, a.bias, null, null, 0, a.eps, true, a.y, a.mean, a.rstd);
    activateInPlace(a.activation, a.y);
  }),
  instanceNormForward: withHalf('instanceNormForward', (a) => {
    forward(a.x, a.n, a.c, a.s, a.channelsLast, a.c, a.weight, a.bias, a.runningMean, a.runningVar, a.momentum, a.eps, a.useInputStats,
      a.y, a.mean, a.rstd);
    activateInPlace(a.activation, a.y);
  }),
  groupNormBackward: withHalf('groupNormBackward', (a) => backward(
    gated(a.activation, a.dy, a.x, a.mean, a.rstd, a.n, a.c, a.s, a.channelsLast, a.groups, a.weight, a.bias),
    a.x, a.mean, a.rstd, a.n, a.c, a.s, a.channelsLast, a.groups, a.weight, true, a.dx, a.dweight, a.dbias)),
  instanceNormBackward: withHalf('instanceNormBackward', (a) => backward(
    gated(a.activation, a.dy, a.x, a.mean, a.rstd, a.n, a.c, a.s, a.channelsLast, a.c, a.weight, a.bias),
    a.x, a.mean, a.rstd, a.n, a.c, a.s, a.channelsLast, a.c, a.weight, a.useInputStats, a.dx, a.dweight, a.dbias)),
};
