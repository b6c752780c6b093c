// Half-precision conversion scenarios: float32 ⇄ float16/bfloat16 on a DRAM-sized array. Bytes
// are the 4 + 2 read and written per value, so "% copy" compares with a memcpy of those bytes.
// The scenario fields are described in ../harness.mjs.
import { seededArray } from '../data.mjs';
import * as js from '../js-loops/half.mjs';

const SHAPE = [1 << 23];
const BYTES = 6 * SHAPE[0];
const TARGETS = { copyFraction: 0.85 };

let cached = null;
function inputs({ fastnorm }) {
  if (!cached) {
    const x = seededArray(Float32Array, SHAPE[0], 21, -3, 3);
    cached = { x, f16: fastnorm.toFloat16(x), bf16: fastnorm.toBFloat16(x) };
  }
  return cached;
}

function narrowing(op) {
  return {
    op, dir: 'convert', shape: SHAPE, bytes: BYTES, targets: TARGETS,
    setup: inputs,
    newOut: (s) => ({ bits: new Uint16Array(s.x.length) }),
    call: (api, s, out) => api[op](s.x, out?.bits),
    jsLoop: (s, o) => js[op](s.x, o.bits),
    tolerance: 0,
  };
}

function widening(op, source) {
  return {
    op, dir: 'convert', shape: SHAPE, bytes: BYTES, targets: TARGETS,
    setup: inputs,
    newOut: (s) => ({ values: new Float32Array(s.x.length) }),
    call: (api, s, out) => api[op](s[source], out?.values),
    jsLoop: (s, o) => js[op](s[source], o.values),
    tolerance: 0,
  };
}

export const scenarios = [
  narrowing('toFloat16'), widening('fromFloat16', 'f16'), narrowing('toBFloat16'), widening('fromBFloat16', 'bf16'),
];
