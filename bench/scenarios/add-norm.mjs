// Residual add + norm scenarios (addLayerNorm, addRmsNorm; forward and backward) on the row
// ops' float32 [rows, cols] shapes. Their baseline is the unfused fastnorm sequence a user would
// otherwise write: a JS add loop making the stream, then the plain norm into reused buffers (the
// backward: the plain backward, then a JS loop adding dSum). The plain norms' rows (row-norm.mjs)
// are the same shapes. The scenario fields are described in ../harness.mjs.
import { seededArray } from '../data.mjs';

const SHAPES = [[8192, 768], [2048, 4096], [64, 768], [1, 768]];
const LARGE = new Set(['8192,768', '2048,4096']);
const F32 = 4;
const EPS = { addLayerNorm: 1e-5, addRmsNorm: 1e-6 };
const BASELINE = 'unfused sequence (JS add loop + fastnorm norm)';

const inputsByShape = new Map();
function shapeInputs(lib, [rows, cols]) {
  const key = `${rows},${cols}`;
  let inputs = inputsByShape.get(key);
  if (!inputs) {
    const n = rows * cols;
    const shape = [rows, cols];
    inputs = {
      fastnorm: lib.fastnorm, rows, cols,
      x: { data: seededArray(Float32Array, n, 11, -1.5, 2.5), shape },
      residual: { data: seededArray(Float32Array, n, 12, -3, 3), shape },
      dy: { data: seededArray(Float32Array, n, 13), shape },
      dSum: { data: seededArray(Float32Array, n, 14), shape },
      weight: seededArray(Float32Array, cols, 15, 0.5, 1.5),
      bias: seededArray(Float32Array, cols, 16, -0.5, 0.5),
    };
    inputsByShape.set(key, inputs);
  }
  return inputs;
}

function targetsFor(dir, [rows, cols]) {
  const key = `${rows},${cols}`;
  const t = {};
  if (LARGE.has(key)) {
    t.copyFraction = dir === 'forward' ? 0.85 : 0.70;
    t.jsSpeedup = 1.3;
  }
  if (key === '1,768' && dir === 'forward') t.callMicros = 2.5;
  return t;
}

/** The stream a user's loop computes: sum = x + residual. */
function addLoop(x, residual, sum) {
  for (let i = 0; i < sum.length; i++) sum[i] = x[i] + residual[i];
}

function forward(op, shape) {
  const [rows, cols] = shape;
  const centered = op === 'addLayerNorm';
  const norm = centered ? 'layerNorm' : 'rmsNorm';
  return {
    op, dir: 'forward', shape, baselineName: BASELINE,
    // x and residual read, y and sum written (2 reads + 2 writes); parameters and statistics.
    bytes: F32 * (4 * rows * cols + (centered ? 2 : 1) * (cols + rows)),
    targets: targetsFor('forward', shape),
    setup: (lib) => shapeInputs(lib, shape),
    newOut: (s) => ({ y: new Float32Array(s.rows * s.cols), sum: new Float32Array(s.rows * s.cols),
      ...(centered ? { mean: new Float32Array(s.rows) } : {}), rstd: new Float32Array(s.rows) }),
    call: (api, s, out) => api[op](s.x, s.residual, s.cols, { weight: s.weight, ...(centered ? { bias: s.bias } : {}), eps: EPS[op], out }),
    jsLoop: (s, o) => {
      addLoop(s.x.data, s.residual.data, o.sum);
      const { sum, ...rest } = o;
      s.fastnorm[norm]({ data: sum, shape }, s.cols, { weight: s.weight, ...(centered ? { bias: s.bias } : {}), eps: EPS[op], out: rest });
    },
  };
}

function backward(op, shape) {
  const [rows, cols] = shape;
  const centered = op === 'addLayerNorm';
  const norm = centered ? 'layerNorm' : 'rmsNorm';
  return {
    op, dir: 'backward', shape, baselineName: BASELINE,
    // dy, sum and dSum read, dx written (3 reads + 1 write); statistics and weight read, parameter gradients written.
    bytes: F32 * (4 * rows * cols + (centered ? 2 : 1) * rows + (centered ? 3 : 2) * cols),
    targets: targetsFor('backward', shape),
    setup: (lib) => {
      const s = shapeInputs(lib, shape);
      const f = lib.fastnorm[op](s.x, s.residual, s.cols, { weight: s.weight, eps: EPS[op] });
      return { ...s, sum: f.sum, saved: centered ? { mean: f.mean, rstd: f.rstd } : { rstd: f.rstd } };
    },
    newOut: (s) => ({ dx: new Float32Array(s.rows * s.cols), dweight: new Float32Array(s.cols),
      ...(centered ? { dbias: new Float32Array(s.cols) } : {}) }),
    call: (api, s, out) => api[`${op}Backward`](s.dy, s.sum, s.saved, s.cols, { weight: s.weight, dSum: s.dSum, out }),
    jsLoop: (s, o) => {
      s.fastnorm[`${norm}Backward`](s.dy, s.sum, s.saved, s.cols, { weight: s.weight, out: o });
      const dx = o.dx;
      const dSum = s.dSum.data;
      for (let i = 0; i < dx.length; i++) dx[i] += dSum[i];
    },
  };
}

// Half precision (float16 or bfloat16 x, residual, dy, dSum, y, sum, dx and parameters; float32
// statistics) beside the float32 rows on the large shape: bytes are those moved, 2 per half value.
// Native rows only (the reference and the JS loop are float32 contenders).
const F16 = 2;
const HALF_TAGS = { float16: 'f16', bfloat16: 'bf16' };
const halfInputsByKey = new Map();
function halfShapeInputs(lib, shape, dtype) {
  const key = `${shape},${dtype}`;
  let inputs = halfInputsByKey.get(key);
  if (!inputs) {
    const s = shapeInputs(lib, shape);
    const round = dtype === 'float16' ? lib.fastnorm.toFloat16 : lib.fastnorm.toBFloat16;
    const half = (t) => ({ data: round(t.data), shape: t.shape, dtype });
    inputs = { rows: s.rows, cols: s.cols, x: half(s.x), residual: half(s.residual), dy: half(s.dy), dSum: half(s.dSum),
      weight: round(s.weight), bias: round(s.bias) };
    halfInputsByKey.set(key, inputs);
  }
  return inputs;
}

function halfRows(op, shape, dtype) {
  const [rows, cols] = shape;
  const n = rows * cols;
  const centered = op === 'addLayerNorm';
  const base = { shape, only: (c) => c.kind === 'native' };
  const name = `${op} ${HALF_TAGS[dtype]}`;
  return [
    { ...base, op: name, dir: 'forward', bytes: F16 * (4 * n + (centered ? 2 : 1) * cols) + F32 * (centered ? 2 : 1) * rows,
      setup: (lib) => halfShapeInputs(lib, shape, dtype),
      newOut: (s) => ({ y: new Uint16Array(n), sum: new Uint16Array(n), ...(centered ? { mean: new Float32Array(s.rows) } : {}),
        rstd: new Float32Array(s.rows) }),
      call: (api, s, out) => api[op](s.x, s.residual, s.cols, { weight: s.weight, ...(centered ? { bias: s.bias } : {}), eps: EPS[op], out }) },
    { ...base, op: name, dir: 'backward', bytes: F16 * (4 * n + (centered ? 3 : 2) * cols) + F32 * (centered ? 2 : 1) * rows,
      setup: (lib) => {
        const s = halfShapeInputs(lib, shape, dtype);
        const f = lib.fastnorm[op](s.x, s.residual, s.cols, { weight: s.weight, eps: EPS[op] });
        return { ...s, sum: f.sum, saved: centered ? { mean: f.mean, rstd: f.rstd } : { rstd: f.rstd } };
      },
      newOut: (s) => ({ dx: new Uint16Array(n), dweight: new Uint16Array(s.cols), ...(centered ? { dbias: new Uint16Array(s.cols) } : {}) }),
      call: (api, s, out) => api[`${op}Backward`](s.dy, s.sum, s.saved, s.cols, { weight: s.weight, dSum: s.dSum, out }) },
  ];
}

export const scenarios = ['addLayerNorm', 'addRmsNorm'].flatMap((op) => [
  ...[forward, backward].flatMap((make) => SHAPES.map((shape) => make(op, shape))),
  ...['bfloat16', 'float16'].flatMap((dtype) => halfRows(op, [8192, 768], dtype)),
]);
