// BatchNorm scenarios: training forward (with running statistics, as a training step calls it),
// training backward and eval forward on float32 image-shaped tensors, in both layouts (the NHWC
// shapes are the NCHW ones with channels last). The scenario fields are described in
// ../harness.mjs.
//
// `bytes` counts the op's DRAM passes (DESIGN.md §4), not just each tensor once, so that
// "% copy" measures how close each pass runs to copy bandwidth — the targets are on that:
//   training forward  stats pass + apply pass   2 reads + 1 write of the tensor
//   eval forward      apply pass                1 read  + 1 write
//   training backward sums pass (dy, x) + dx pass (dy, x)   4 reads + 1 write
// plus the per-channel vectors (weight, bias, statistics), which are negligible here.
import { channelInputs, halfChannelInputs, inLayout } from '../data.mjs';
import * as js from '../js-loops/batch-norm.mjs';

const F32 = 4;
const SEED = 21; // the inputs' seed (float32 and half rows alike)
const EPS = 1e-5; // the API defaults, passed explicitly so the JS loop uses the same
const MOMENTUM = 0.1;

// NCHW shapes: ResNet-50 stages ([32,64,56,56], [8,256,14,14]), a small batch, and C = 3
// (the first layer of an image model: parallelism must come from N·HW, not channels).
const SHAPES = [[32, 64, 56, 56], [8, 256, 14, 14], [2, 64, 56, 56], [64, 3, 224, 224]];
const LAYOUTS = ['NCHW', 'NHWC'];

// DESIGN.md §6 / issue 3 targets, on every shape, both layouts, 1 and all threads (out buffers).
const COPY_TARGET = { 'train fwd': 0.85, 'eval fwd': 0.85, 'train bwd': 0.70 };
const JS_SPEEDUP_SHAPE = '32,64,56,56';

// The table's op column names the layout when it is channels-last.
function opLabel(layout) {
  return layout === 'NHWC' ? 'batchNorm NHWC' : 'batchNorm';
}

// Inputs are built once per (shape, layout) and shared by the scenarios of that shape.
function shapeInputs(nchw, layout) {
  return channelInputs(nchw, layout, SEED);
}

function targetsFor(dir, nchw) {
  const t = { copyFraction: COPY_TARGET[dir] };
  if (nchw.join() === JS_SPEEDUP_SHAPE) t.jsSpeedup = 20;
  return t;
}

// Training forward. The running statistics are part of `out` (fresh copies per contender, so
// the JS-loop check compares their update too); the allocating call updates the shared ones.
function trainForward(nchw, layout) {
  const dir = 'train fwd';
  const [, c] = nchw;
  const size = nchw.reduce((p, d) => p * d, 1);
  return {
    op: opLabel(layout), dir, shape: inLayout(nchw, layout),
    peer: { op: 'batchNorm', dir, nchw, layout, eps: EPS, momentum: MOMENTUM },
    // stats pass + apply pass over x, y written; weight, bias, running stats read; mean, rstd,
    // running stats written
    bytes: F32 * (3 * size + 8 * c),
    targets: targetsFor(dir, nchw),
    setup: () => shapeInputs(nchw, layout),
    newOut: (s) => ({
      y: new Float32Array(s.size), mean: new Float32Array(s.c), rstd: new Float32Array(s.c),
      runningMean: s.runningMean.slice(), runningVar: s.runningVar.slice(),
    }),
    call: (api, s, out) => api.batchNorm(s.x, {
      weight: s.weight, bias: s.bias, eps: EPS, momentum: MOMENTUM, layout,
      runningMean: out ? out.runningMean : s.runningMean, runningVar: out ? out.runningVar : s.runningVar,
      out: out && { y: out.y, mean: out.mean, rstd: out.rstd },
    }),
    jsLoop: (s, o) => js.batchNormTrain(s.x.data, s.n, s.c, s.s, s.channelsLast, s.weight, s.bias, o.runningMean, o.runningVar,
      MOMENTUM, EPS, o.y, o.mean, o.rstd),
  };
}

function evalForward(nchw, layout) {
  const dir = 'eval fwd';
  const [, c] = nchw;
  const size = nchw.reduce((p, d) => p * d, 1);
  return {
    op: opLabel(layout), dir, shape: inLayout(nchw, layout),
    peer: { op: 'batchNorm', dir, nchw, layout, eps: EPS, momentum: MOMENTUM },
    // x read, y written; weight, bias, running stats read; mean, rstd written
    bytes: F32 * (2 * size + 6 * c),
    targets: targetsFor(dir, nchw),
    setup: () => shapeInputs(nchw, layout),
    newOut: (s) => ({ y: new Float32Array(s.size), mean: new Float32Array(s.c), rstd: new Float32Array(s.c) }),
    call: (api, s, out) => api.batchNorm(s.x, {
      weight: s.weight, bias: s.bias, eps: EPS, layout, training: false, runningMean: s.runningMean, runningVar: s.runningVar, out,
    }),
    jsLoop: (s, o) => js.batchNormEval(s.x.data, s.n, s.c, s.s, s.channelsLast, s.weight, s.bias, s.runningMean, s.runningVar, EPS,
      o.y, o.mean, o.rstd),
  };
}

function trainBackward(nchw, layout) {
  const dir = 'train bwd';
  const [, c] = nchw;
  const size = nchw.reduce((p, d) => p * d, 1);
  return {
    op: opLabel(layout), dir, shape: inLayout(nchw, layout),
    peer: { op: 'batchNorm', dir, nchw, layout, eps: EPS, momentum: MOMENTUM },
    // sums pass (dy, x) + dx pass (dy, x), dx written; mean, rstd, weight read; dweight, dbias written
    bytes: F32 * (5 * size + 5 * c),
    targets: targetsFor(dir, nchw),
    setup: (lib) => {
      const s = shapeInputs(nchw, layout);
      const { mean, rstd } = lib.fastnorm.batchNorm(s.x, { weight: s.weight, bias: s.bias, eps: EPS, layout });
      return { ...s, saved: { mean, rstd } };
    },
    newOut: (s) => ({ dx: new Float32Array(s.size), dweight: new Float32Array(s.c), dbias: new Float32Array(s.c) }),
    call: (api, s, out) => api.batchNormBackward(s.dy, s.x, s.saved, { weight: s.weight, layout, out }),
    jsLoop: (s, o) => js.batchNormBackward(s.dy.data, s.x.data, s.saved.mean, s.saved.rstd, s.n, s.c, s.s, s.channelsLast, s.weight,
      o.dx, o.dweight, o.dbias),
  };
}

// Half precision (float16 or bfloat16 x, dy, y, dx; float32 weight, bias and running statistics,
// as PyTorch autocast keeps them) beside the float32 rows on the largest shape, both layouts: the
// same passes, 2 bytes per tensor value. Native rows only (the reference and the JS loop are
// float32 contenders).
const F16 = 2;
const HALF_TAGS = { float16: 'f16', bfloat16: 'bf16' };
function halfRows(nchw, layout, dtype) {
  const [, c] = nchw;
  const size = nchw.reduce((p, d) => p * d, 1);
  const base = { op: `${opLabel(layout)} ${HALF_TAGS[dtype]}`, shape: inLayout(nchw, layout), only: (k) => k.kind === 'native' };
  const setup = (lib) => halfChannelInputs(nchw, layout, SEED, dtype, lib.fastnorm);
  return [
    { ...base, dir: 'train fwd', bytes: F16 * 3 * size + F32 * 8 * c, setup,
      newOut: (s) => ({ y: new Uint16Array(s.size), mean: new Float32Array(s.c), rstd: new Float32Array(s.c),
        runningMean: s.runningMean.slice(), runningVar: s.runningVar.slice() }),
      call: (api, s, out) => api.batchNorm(s.x, { weight: s.weight, bias: s.bias, eps: EPS, momentum: MOMENTUM, layout,
        runningMean: out ? out.runningMean : s.runningMean.slice(), runningVar: out ? out.runningVar : s.runningVar.slice(),
        out: out && { y: out.y, mean: out.mean, rstd: out.rstd } }) },
    { ...base, dir: 'train bwd', bytes: F16 * 5 * size + F32 * 5 * c,
      setup: (lib) => {
        const s = setup(lib);
        const { mean, rstd } = lib.fastnorm.batchNorm(s.x, { weight: s.weight, bias: s.bias, eps: EPS, layout });
        return { ...s, saved: { mean, rstd } };
      },
      newOut: (s) => ({ dx: new Uint16Array(s.size), dweight: new Float32Array(s.c), dbias: new Float32Array(s.c) }),
      call: (api, s, out) => api.batchNormBackward(s.dy, s.x, s.saved, { weight: s.weight, layout, out }) },
    { ...base, dir: 'eval fwd', bytes: F16 * 2 * size + F32 * 6 * c, setup,
      newOut: (s) => ({ y: new Uint16Array(s.size), mean: new Float32Array(s.c), rstd: new Float32Array(s.c) }),
      call: (api, s, out) => api.batchNorm(s.x, { weight: s.weight, bias: s.bias, eps: EPS, layout, training: false,
        runningMean: s.runningMean, runningVar: s.runningVar, out }) },
  ];
}

export const scenarios = [
  ...LAYOUTS.flatMap((layout) => SHAPES.flatMap((nchw) => [trainForward, trainBackward, evalForward].map((make) => make(nchw, layout)))),
  ...LAYOUTS.flatMap((layout) => ['bfloat16', 'float16'].flatMap((dtype) => halfRows(SHAPES[0], layout, dtype))),
];
