// Norm + activation scenarios (issue 10): BatchNorm and GroupNorm with a fused ReLU or SiLU on
// the CNN shapes of batch-norm.mjs and group-norm.mjs, forward. The baseline of these rows is
// the unfused fastnorm sequence a user would otherwise write: the same norm into an out buffer,
// then a JavaScript loop applying the activation over y. The plain norm's own rows (same shape,
// same inputs, in batch-norm.mjs / group-norm.mjs) give the "without activation" figure.
//
// `bytes` counts the fused op's DRAM passes, as the plain norm's rows do: BatchNorm training
// forward 2 reads + 1 write, GroupNorm forward 1 read + 1 write (its units are normalized from
// cache). The unfused sequence adds a read and a write of y.
import { channelInputs, inLayout, seededArray } from '../data.mjs';

const F32 = 4;
const EPS = 1e-5;
const MOMENTUM = 0.1;

const JS_ACTIVATIONS = {
  relu: (y) => { for (let i = 0; i < y.length; i++) if (y[i] < 0) y[i] = 0; },
  silu: (y) => { for (let i = 0; i < y.length; i++) y[i] = y[i] / (1 + Math.exp(-y[i])); },
};

// [op, NCHW shape, groups (GroupNorm), layouts]
const CASES = [
  ['batchNorm', [32, 64, 56, 56], 0, ['NCHW', 'NHWC']],
  ['batchNorm', [8, 256, 14, 14], 0, ['NCHW']],
  ['batchNorm', [2, 64, 56, 56], 0, ['NCHW']],
  ['batchNorm', [64, 3, 224, 224], 0, ['NCHW']],
  ['groupNorm', [8, 64, 56, 56], 32, ['NCHW', 'NHWC']],
  ['groupNorm', [2, 320, 64, 64], 32, ['NCHW', 'NHWC']],
];

function fusedForward([op, nchw, groups], layout, activation) {
  const shape = inLayout(nchw, layout);
  const [n, c] = nchw;
  const size = shape.reduce((p, d) => p * d, 1);
  const stats = op === 'batchNorm' ? c : n * groups;
  // The norm's call, with or without the activation; BatchNorm in training with fresh running stats per out.
  const norm = (api, s, out, act) => (op === 'batchNorm'
    ? api.batchNorm(s.x, {
      weight: s.weight, bias: s.bias, eps: EPS, momentum: MOMENTUM, layout, activation: act,
      runningMean: out ? out.runningMean : s.runningMean.slice(), runningVar: out ? out.runningVar : s.runningVar.slice(),
      out: out && { y: out.y, mean: out.mean, rstd: out.rstd },
    })
    : api.groupNorm(s.x, groups, { weight: s.weight, bias: s.bias, eps: EPS, layout, activation: act, out: out && { y: out.y, mean: out.mean, rstd: out.rstd } }));
  return {
    op: `${op}${layout === 'NHWC' ? ' NHWC' : ''} + ${activation}`, dir: op === 'batchNorm' ? 'train fwd' : 'forward', shape,
    bytes: F32 * ((op === 'batchNorm' ? 3 : 2) * size + 4 * c + 2 * stats),
    baselineName: 'norm + JS loop',
    setup: (lib) => ({ ...channelInputs(nchw, layout, op === 'batchNorm' ? 21 : 11), fastnorm: lib.fastnorm }),
    newOut: (s) => ({
      y: new Float32Array(size), mean: new Float32Array(stats), rstd: new Float32Array(stats),
      runningMean: s.runningMean.slice(), runningVar: s.runningVar.slice(),
    }),
    call: (api, s, out) => norm(api, s, out, activation),
    // the unfused fastnorm sequence: the plain norm, then the activation over y in JavaScript
    jsLoop: (s, o) => {
      norm(s.fastnorm, s, o, undefined);
      JS_ACTIVATIONS[activation](o.y);
    },
  };
}

// The fused backward (layerNormBackward's activation) beside the unfused sequence a user would
// write: z = layerNorm(x) again, g = dy·silu'(z) in a JS loop, then the plain backward on g (the
// harness checks that both give the same gradients). The fused call's DRAM traffic is the plain
// backward's: dy and x read, dx written (z is never stored). silu only: relu's gate can flip
// where z is within rounding of 0, and JS has no erf for gelu's derivative.
function fusedLayerNormBackward([rows, cols], activation) {
  const n = rows * cols;
  return {
    op: `layerNorm + ${activation}`, dir: 'backward', shape: [rows, cols],
    bytes: F32 * (3 * n + 2 * rows + 4 * cols),
    baselineName: 'unfused: layerNorm, JS silu\' loop, plain backward',
    setup: (lib) => {
      const x = { data: seededArray(Float32Array, n, 1, -1.5, 2.5), shape: [rows, cols] };
      const weight = seededArray(Float32Array, cols, 3, 0.5, 1.5), bias = seededArray(Float32Array, cols, 4, -0.5, 0.5);
      const { mean, rstd } = lib.fastnorm.layerNorm(x, cols, { weight, bias, eps: EPS });
      return { x, dy: { data: seededArray(Float32Array, n, 2), shape: [rows, cols] }, weight, bias, saved: { mean, rstd }, fastnorm: lib.fastnorm };
    },
    newOut: () => ({ dx: new Float32Array(n), dweight: new Float32Array(cols), dbias: new Float32Array(cols) }),
    call: (api, s, out) => api.layerNormBackward(s.dy, s.x, s.saved, cols, { weight: s.weight, bias: s.bias, activation, out }),
    jsLoop: (s, out) => {
      const z = s.fastnorm.layerNorm(s.x, cols, { weight: s.weight, bias: s.bias, eps: EPS }).y.data;
      const g = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const sig = 1 / (1 + Math.exp(-z[i]));
        g[i] = s.dy.data[i] * sig * (1 + z[i] * (1 - sig));
      }
      return s.fastnorm.layerNormBackward({ data: g, shape: [rows, cols] }, s.x, s.saved, cols, { weight: s.weight, out });
    },
  };
}

// The same for BatchNorm (training) and GroupNorm backward on the CNN shapes: the unfused
// sequence runs the norm again for z, the JS silu' loop, then the plain backward. DRAM passes as
// the plain backward's rows count them: BatchNorm 2 + 2 reads + 1 write, GroupNorm 2 reads + 1
// write (its units' dx from cache).
function fusedChannelBackward([op, nchw, groups], layout, activation) {
  const shape = inLayout(nchw, layout);
  const [n, c] = nchw;
  const size = shape.reduce((p, d) => p * d, 1);
  const stats = op === 'batchNorm' ? c : n * groups;
  const forward = (api, s) => (op === 'batchNorm'
    ? api.batchNorm(s.x, { weight: s.weight, bias: s.bias, eps: EPS, layout })
    : api.groupNorm(s.x, groups, { weight: s.weight, bias: s.bias, eps: EPS, layout }));
  const backward = (api, s, dy, opts) => (op === 'batchNorm'
    ? api.batchNormBackward(dy, s.x, s.saved, { weight: s.weight, layout, ...opts })
    : api.groupNormBackward(dy, s.x, s.saved, groups, { weight: s.weight, layout, ...opts }));
  return {
    op: `${op}${layout === 'NHWC' ? ' NHWC' : ''} + ${activation}`, dir: op === 'batchNorm' ? 'train bwd' : 'backward', shape,
    bytes: F32 * ((op === 'batchNorm' ? 5 : 3) * size + 4 * c + 2 * stats),
    baselineName: 'unfused: norm, JS silu\' loop, plain backward',
    setup: (lib) => {
      const s = { ...channelInputs(nchw, layout, op === 'batchNorm' ? 21 : 11), fastnorm: lib.fastnorm };
      const { mean, rstd } = forward(lib.fastnorm, s);
      return { ...s, saved: { mean, rstd } };
    },
    newOut: () => ({ dx: new Float32Array(size), dweight: new Float32Array(c), dbias: new Float32Array(c) }),
    call: (api, s, out) => backward(api, s, s.dy, { bias: s.bias, activation, out }),
    jsLoop: (s, out) => {
      const z = forward(s.fastnorm, s).y.data;
      const g = new Float32Array(size);
      for (let i = 0; i < size; i++) {
        const sig = 1 / (1 + Math.exp(-z[i]));
        g[i] = s.dy.data[i] * sig * (1 + z[i] * (1 - sig));
      }
      return backward(s.fastnorm, s, { data: g, shape }, { out });
    },
  };
}

export const scenarios = [
  ...CASES.flatMap((c) => c[3].flatMap((layout) => ['relu', 'silu'].map((a) => fusedForward(c, layout, a)))),
  fusedLayerNormBackward([8192, 768], 'silu'),
  ...CASES.flatMap((c) => c[3].map((layout) => fusedChannelBackward(c, layout, 'silu'))),
];
