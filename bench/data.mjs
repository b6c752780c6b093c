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
