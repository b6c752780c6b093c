// LayerNorm and RMSNorm scenarios: forward and backward on float32 [rows, cols] shapes,
// normalizing over the last dim. The scenario fields are described in ../harness.mjs.
import { seededArray } from '../data.mjs';
import * as js from '../js-loops/row-norm.mjs';

const SHAPES = [[8192, 768], [2048, 4096], [64, 768], [1, 768]];
// DESIGN.md §6, measured with caller-provided out buffers on the large (DRAM-bound) shapes.
const LARGE = new Set(['8192,768', '2048,4096']);
const F32 = 4;
const LN_EPS = 1e-5; // the API defaults, passed explicitly so the JS loop uses the same
const RMS_EPS = 1e-6;

// Inputs are built once per shape and shared by the four scenarios of that shape.
const inputsByShape = new Map();
function shapeInputs([rows, cols]) {
  const key = `${rows},${cols}`;
  let inputs = inputsByShape.get(key);
  if (!inputs) {
    const n = rows * cols;
    const shape = [rows, cols];
    inputs = {
      rows, cols,
      x: { data: seededArray(Float32Array, n, 1, -1.5, 2.5), shape }, // non-zero mean on purpose
      dy: { data: seededArray(Float32Array, n, 2), shape },
      weight: seededArray(Float32Array, cols, 3, 0.5, 1.5),
      bias: seededArray(Float32Array, cols, 4, -0.5, 0.5),
    };
    inputsByShape.set(key, inputs);
  }
  return inputs;
}

function targetsFor(dir, [rows, cols]) {
  const key = `${rows},${cols}`;
  const t = {};
  if (LARGE.has(key)) t.copyFraction = dir === 'forward' ? 0.85 : 0.70;
  if (key === '8192,768') t.jsSpeedup = 20;
  return t;
}

function layerNormForward(shape) {
  const [rows, cols] = shape;
  return {
    op: 'layerNorm', dir: 'forward', shape,
    peer: { op: 'layerNorm', dir: 'forward', shape, eps: LN_EPS },
    // x read, y written; weight and bias read; mean and rstd written.
    bytes: F32 * (2 * rows * cols + 2 * cols + 2 * rows),
    targets: { ...targetsFor('forward', shape), ...(rows === 1 && cols === 768 ? { callMicros: 2 } : {}) },
    setup: () => shapeInputs(shape),
    newOut: (s) => ({ y: new Float32Array(s.rows * s.cols), mean: new Float32Array(s.rows), rstd: new Float32Array(s.rows) }),
    call: (api, s, out) => api.layerNorm(s.x, s.cols, { weight: s.weight, bias: s.bias, eps: LN_EPS, out }),
    jsLoop: (s, o) => js.layerNorm(s.x.data, s.rows, s.cols, s.weight, s.bias, LN_EPS, o.y, o.mean, o.rstd),
  };
}

function layerNormBackward(shape) {
  const [rows, cols] = shape;
  return {
    op: 'layerNorm', dir: 'backward', shape,
    peer: { op: 'layerNorm', dir: 'backward', shape, eps: LN_EPS },
    // dy and x read, dx written; mean, rstd, weight read; dweight and dbias written.
    bytes: F32 * (3 * rows * cols + 2 * rows + 3 * cols),
    targets: targetsFor('backward', shape),
    setup: (lib) => {
      const s = shapeInputs(shape);
      const { mean, rstd } = lib.fastnorm.layerNorm(s.x, s.cols, { weight: s.weight, bias: s.bias, eps: LN_EPS });
      return { ...s, saved: { mean, rstd } };
    },
    newOut: (s) => ({ dx: new Float32Array(s.rows * s.cols), dweight: new Float32Array(s.cols), dbias: new Float32Array(s.cols) }),
    call: (api, s, out) => api.layerNormBackward(s.dy, s.x, s.saved, s.cols, { weight: s.weight, out }),
    jsLoop: (s, o) => js.layerNormBackward(s.dy.data, s.x.data, s.saved.mean, s.saved.rstd, s.rows, s.cols, s.weight,
      o.dx, o.dweight, o.dbias),
  };
}

function rmsNormForward(shape) {
  const [rows, cols] = shape;
  return {
    op: 'rmsNorm', dir: 'forward', shape,
    peer: { op: 'rmsNorm', dir: 'forward', shape, eps: RMS_EPS },
    // x read, y written; weight read; rstd written.
    bytes: F32 * (2 * rows * cols + cols + rows),
    targets: targetsFor('forward', shape),
    setup: () => shapeInputs(shape),
    newOut: (s) => ({ y: new Float32Array(s.rows * s.cols), rstd: new Float32Array(s.rows) }),
    call: (api, s, out) => api.rmsNorm(s.x, s.cols, { weight: s.weight, eps: RMS_EPS, out }),
    jsLoop: (s, o) => js.rmsNorm(s.x.data, s.rows, s.cols, s.weight, RMS_EPS, o.y, o.rstd),
  };
}

function rmsNormBackward(shape) {
  const [rows, cols] = shape;
  return {
    op: 'rmsNorm', dir: 'backward', shape,
    peer: { op: 'rmsNorm', dir: 'backward', shape, eps: RMS_EPS },
    // dy and x read, dx written; rstd and weight read; dweight written.
    bytes: F32 * (3 * rows * cols + rows + 2 * cols),
    targets: targetsFor('backward', shape),
    setup: (lib) => {
      const s = shapeInputs(shape);
      const { rstd } = lib.fastnorm.rmsNorm(s.x, s.cols, { weight: s.weight, eps: RMS_EPS });
      return { ...s, saved: { rstd } };
    },
    newOut: (s) => ({ dx: new Float32Array(s.rows * s.cols), dweight: new Float32Array(s.cols) }),
    call: (api, s, out) => api.rmsNormBackward(s.dy, s.x, s.saved, s.cols, { weight: s.weight, out }),
    jsLoop: (s, o) => js.rmsNormBackward(s.dy.data, s.x.data, s.saved.rstd, s.rows, s.cols, s.weight, o.dx, o.dweight),
  };
}

// Half precision (float16 or bfloat16 x, dy, y, dx, weight/bias and dweight/dbias; float32
// mean/rstd) beside the float32 rows, on the large shape: bytes are those moved, 2 per half
// value. Native rows only (the reference and the JS loop are float32 contenders).
const F16 = 2;
const halfInputsByShape = new Map();
const HALF_TAGS = { float16: 'f16', bfloat16: 'bf16' };
function halfShapeInputs([rows, cols], dtype, { fastnorm }) {
  const key = `${rows},${cols},${dtype}`;
  let inputs = halfInputsByShape.get(key);
  if (!inputs) {
    const s = shapeInputs([rows, cols]);
    const round = dtype === 'float16' ? fastnorm.toFloat16 : fastnorm.toBFloat16;
    const half = (t) => ({ data: round(t.data), shape: t.shape, dtype });
    inputs = { rows, cols, x: half(s.x), dy: half(s.dy), weight: round(s.weight), bias: round(s.bias) };
    halfInputsByShape.set(key, inputs);
  }
  return inputs;
}
const NATIVE_ONLY = (c) => c.kind === 'native';

function halfRows(shape, dtype) {
  const [rows, cols] = shape;
  const n = rows * cols;
  const base = { shape, only: NATIVE_ONLY };
  const tag = HALF_TAGS[dtype];
  return [
    { ...base, op: `layerNorm ${tag}`, dir: 'forward', bytes: F16 * (2 * n + 2 * cols) + F32 * 2 * rows,
      setup: (lib) => halfShapeInputs(shape, dtype, lib),
      newOut: (s) => ({ y: new Uint16Array(n), mean: new Float32Array(s.rows), rstd: new Float32Array(s.rows) }),
      call: (api, s, out) => api.layerNorm(s.x, s.cols, { weight: s.weight, bias: s.bias, eps: LN_EPS, out }) },
    { ...base, op: `layerNorm ${tag}`, dir: 'backward', bytes: F16 * (3 * n + 3 * cols) + F32 * 2 * rows,
      setup: (lib) => {
        const s = halfShapeInputs(shape, dtype, lib);
        const { mean, rstd } = lib.fastnorm.layerNorm(s.x, s.cols, { weight: s.weight, bias: s.bias, eps: LN_EPS });
        return { ...s, saved: { mean, rstd } };
      },
      newOut: (s) => ({ dx: new Uint16Array(n), dweight: new Uint16Array(s.cols), dbias: new Uint16Array(s.cols) }),
      call: (api, s, out) => api.layerNormBackward(s.dy, s.x, s.saved, s.cols, { weight: s.weight, out }) },
    { ...base, op: `rmsNorm ${tag}`, dir: 'forward', bytes: F16 * (2 * n + cols) + F32 * rows,
      setup: (lib) => halfShapeInputs(shape, dtype, lib),
      newOut: (s) => ({ y: new Uint16Array(n), rstd: new Float32Array(s.rows) }),
      call: (api, s, out) => api.rmsNorm(s.x, s.cols, { weight: s.weight, eps: RMS_EPS, out }) },
    { ...base, op: `rmsNorm ${tag}`, dir: 'backward', bytes: F16 * (3 * n + 2 * cols) + F32 * rows,
      setup: (lib) => {
        const s = halfShapeInputs(shape, dtype, lib);
        const { rstd } = lib.fastnorm.rmsNorm(s.x, s.cols, { weight: s.weight, eps: RMS_EPS });
        return { ...s, saved: { rstd } };
      },
      newOut: (s) => ({ dx: new Uint16Array(n), dweight: new Uint16Array(s.cols) }),
      call: (api, s, out) => api.rmsNormBackward(s.dy, s.x, s.saved, s.cols, { weight: s.weight, out }) },
  ];
}

export const scenarios = [
  ...[layerNormForward, layerNormBackward, rmsNormForward, rmsNormBackward].flatMap((make) => SHAPES.map(make)),
  ...halfRows([8192, 768], 'bfloat16'),
  ...halfRows([8192, 768], 'float16'),
];
