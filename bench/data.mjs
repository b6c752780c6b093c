// Seeded input data, so every run (and every machine) times the same numbers.

/** mulberry32: a tiny, fast 32-bit generator; quality is ample for benchmark inputs. */
function generator(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A typed array of `length` values uniform in [lo, hi). */
export function seededArray(Ctor, length, seed, lo = -1, hi = 1) {
  const next = generator(seed);
  const a = new Ctor(length);
  const span = hi - lo;
  for (let i = 0; i < length; i++) a[i] = lo + span * next();
  return a;
}

/** An (N, C, *spatial) shape in the given layout ('NHWC' puts C last). */
export function inLayout([n, c, ...spatial], layout) {
  return layout === 'NHWC' ? [n, ...spatial, c] : [n, c, ...spatial];
}

const channelInputsByKey = new Map();
/**
 * Seeded float32 inputs of a channel op for an NCHW shape in a layout: x (non-zero mean on
 * purpose), dy, weight, bias, runningMean, runningVar, and (n, c, s, size, channelsLast). Built
 * once per (shape, layout, seed) and shared by the scenarios of that shape.
 */
export function channelInputs(nchw, layout, seed) {
  const shape = inLayout(nchw, layout);
  const key = `${shape.join(',')}|${layout}|${seed}`;
  let inputs = channelInputsByKey.get(key);
  if (!inputs) {
    const [n, c] = nchw;
    const s = nchw.slice(2).reduce((p, d) => p * d, 1);
    const size = n * c * s;
    inputs = {
      n, c, s, size, layout, channelsLast: layout === 'NHWC',
      x: { data: seededArray(Float32Array, size, seed, -1.5, 2.5), shape },
      dy: { data: seededArray(Float32Array, size, seed + 1), shape },
      weight: seededArray(Float32Array, c, seed + 2, 0.5, 1.5),
      bias: seededArray(Float32Array, c, seed + 3, -0.5, 0.5),
      runningMean: seededArray(Float32Array, c, seed + 4, -0.1, 0.1),
      runningVar: seededArray(Float32Array, c, seed + 5, 0.9, 1.1),
    };
    channelInputsByKey.set(key, inputs);
  }
  return inputs;
}

// channelInputs with x and dy rounded to a half format (float16 or bfloat16 tensors; the
// parameters and running statistics stay float32, as autocast keeps them), built once per key.
const halfChannelInputsByKey = new Map();
export function halfChannelInputs(nchw, layout, seed, dtype, fastnorm) {
  const key = `${nchw},${layout},${seed},${dtype}`;
  let inputs = halfChannelInputsByKey.get(key);
  if (!inputs) {
    const s = channelInputs(nchw, layout, seed);
    const round = dtype === 'float16' ? fastnorm.toFloat16 : fastnorm.toBFloat16;
    const half = (t) => ({ data: round(t.data), shape: t.shape, dtype });
    inputs = { ...s, x: half(s.x), dy: half(s.dy) };
    halfChannelInputsByKey.set(key, inputs);
  }
  return inputs;
}
