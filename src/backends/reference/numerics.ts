// The reference backend's arithmetic, in float64, written to be obviously right: statistics in
// two passes with one refinement of the mean (exact for a constant set, stable for a large mean
// offset), and the rstd rule of every op.

/** 1/sqrt(var + eps), 0 when var + eps is 0; NaN propagates. */
export function rstdOf(variance: number, eps: number): number {
  const v = (variance < 0 ? 0 : variance) + eps;
  return v === 0 ? 0 : 1 / Math.sqrt(v);
}

/** Mean and M2 = Σ(x − mean)² of `count` values, which `each(visit)` visits in order (twice). */
export function moments(count: number, each: (visit: (value: number) => void) => void): { mean: number; m2: number } {
  let sum = 0;
  each((v) => { sum += v; });
  const mean0 = sum / count;
  let s1 = 0;
  let s2 = 0;
  each((v) => {
    const d = v - mean0;
    s1 += d;
    s2 += d * d;
  });
  return { mean: mean0 + s1 / count, m2: s2 - (s1 * s1) / count };
}
