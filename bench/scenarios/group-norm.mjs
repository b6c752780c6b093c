// GroupNorm and InstanceNorm scenarios: forward and backward on float32 image-shaped tensors, in
// both layouts (the NHWC shapes are the NCHW ones with channels last). The scenario fields are
// described in ../harness.mjs; every shape here is DRAM-sized, so every one carries the
// DESIGN.md §6 targets.
import { channelInputs, halfChannelInputs, inLayout } from '../data.mjs';
import * as js from '../js-loops/group-norm.mjs';

const F32 = 4;
const SEED = 11; // the inputs' seed (float32 and half rows alike)
const EPS = 1e-5; // the API default, passed explicitly so the JS loop uses the same

// [op, NCHW shape, groups (InstanceNorm: C)]
const CASES = [
  ['groupNorm', [8, 64, 56, 56], 32],
  ['groupNorm', [2, 320, 64, 64], 32],
  ['instanceNorm', [8, 64, 56, 56], 64],
  ['instanceNorm', [1, 3, 512, 512], 3],
];
const LAYOUTS = ['NCHW', 'NHWC'];

// The table's op column names the layout when it is channels-last.
function opLabel(op, layout) {
  return layout === 'NHWC' ? `${op} NHWC` : op;
}

// Inputs are built once per (shape, layout) and shared by the scenarios of that shape.
function shapeInputs(nchw, layout) {
  return channelInputs(nchw, layout, SEED);
}

const TARGETS = { forward: { copyFraction: 0.85, jsSpeedup: 20 }, backward: { copyFraction: 0.70, jsSpeedup: 20 } };

function forward([op, nchw, groups], layout) {
  const shape = inLayout(nchw, layout);
  const [n, c] = nchw;
  const size = shape.reduce((p, d) => p * d, 1);
  const call = op === 'groupNorm'
    ? (api, s, out) => api.groupNorm(s.x, groups, { weight: s.weight, bias: s.bias, eps: EPS, layout, out })
    : (api, s, out) => api.instanceNorm(s.x, { weight: s.weight, bias: s.bias, eps: EPS, layout, out });
  return {
    op: opLabel(op, layout), dir: 'forward', shape,
    peer: { op, dir: 'forward', nchw, layout, groups, eps: EPS },
    // x read, y written; weight and bias read; mean and rstd written.
    bytes: F32 * (2 * size + 2 * c + 2 * n * groups),
    targets: TARGETS.forward,
    setup: () => shapeInputs(nchw, layout),
    newOut: () => ({ y: new Float32Array(size), mean: new Float32Array(n * groups), rstd: new Float32Array(n * groups) }),
    call,
    jsLoop: (s, o) => js.groupNorm(s.x.data, s.n, s.c, s.s, s.channelsLast, groups, s.weight, s.bias, EPS, o.y, o.mean, o.rstd),
  };
}

function backward([op, nchw, groups], layout) {
  const shape = inLayout(nchw, layout);
  const [n, c] = nchw;
  const size = shape.reduce((p, d) => p * d, 1);
  const call = op === 'groupNorm'
    ? (api, s, out) => api.groupNormBackward(s.dy, s.x, s.saved, groups, { weight: s.weight, layout, out })
    : (api, s, out) => api.instanceNormBackward(s.dy, s.x, s.saved, { weight: s.weight, layout, out });
  return {
    op: opLabel(op, layout), dir: 'backward', shape,
    peer: { op, dir: 'backward', nchw, layout, groups, eps: EPS },
    // dy and x read, dx written; mean, rstd, weight read; dweight and dbias written.
    bytes: F32 * (3 * size + 2 * n * groups + 3 * c),
    targets: TARGETS.backward,
    setup: (lib) => {
      const s = shapeInputs(nchw, layout);
      const { mean, rstd } = lib.fastnorm.groupNorm(s.x, groups, { weight: s.weight, bias: s.bias, eps: EPS, layout });
      return { ...s, saved: { mean, rstd } };
    },
    newOut: () => ({ dx: new Float32Array(size), dweight: new Float32Array(c), dbias: new Float32Array(c) }),
    call,
    jsLoop: (s, o) => js.groupNormBackward(s.dy.data, s.x.data, s.saved.mean, s.saved.rstd, s.n, s.c, s.s, s.channelsLast, groups, s.weight,
      o.dx, o.dweight, o.dbias),
  };
}

// Half precision (float16 or bfloat16 x, dy, y, dx; float32 weight and bias, as autocast keeps
// them) beside the float32 rows on the UNet GroupNorm shape, both layouts: 2 bytes per tensor
// value. Native rows only (the reference and the JS loop are float32 contenders).
const F16 = 2;
const HALF_TAGS = { float16: 'f16', bfloat16: 'bf16' };
function halfRows([op, nchw, groups], layout, dtype) {
  const shape = inLayout(nchw, layout);
  const [n, c] = nchw;
  const size = shape.reduce((p, d) => p * d, 1);
  const base = { op: `${opLabel(op, layout)} ${HALF_TAGS[dtype]}`, shape, only: (k) => k.kind === 'native' };
  const setup = (lib) => halfChannelInputs(nchw, layout, SEED, dtype, lib.fastnorm);
  return [
    { ...base, dir: 'forward', bytes: F16 * 2 * size + F32 * (2 * c + 2 * n * groups), setup,
      newOut: () => ({ y: new Uint16Array(size), mean: new Float32Array(n * groups), rstd: new Float32Array(n * groups) }),
      call: (api, s, out) => api.groupNorm(s.x, groups, { weight: s.weight, bias: s.bias, eps: EPS, layout, out }) },
    { ...base, dir: 'backward', bytes: F16 * 3 * size + F32 * (2 * n * groups + 3 * c),
      setup: (lib) => {
        const s = setup(lib);
        const { mean, rstd } = lib.fastnorm.groupNorm(s.x, groups, { weight: s.weight, bias: s.bias, eps: EPS, layout });
        return { ...s, saved: { mean, rstd } };
      },
      newOut: () => ({ dx: new Uint16Array(size), dweight: new Float32Array(c), dbias: new Float32Array(c) }),
      call: (api, s, out) => api.groupNormBackward(s.dy, s.x, s.saved, groups, { weight: s.weight, layout, out }) },
  ];
}

export const scenarios = [
  ...CASES.flatMap((c) => LAYOUTS.flatMap((layout) => [forward(c, layout), backward(c, layout)])),
  ...LAYOUTS.flatMap((layout) => ['bfloat16', 'float16'].flatMap((dtype) => halfRows(CASES[1], layout, dtype))),
];
