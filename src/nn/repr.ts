// Python's spelling of the values in a module's repr, so that String(module) reads like PyTorch's.

/** A float as Python's repr writes it: 1e-05, 0.1, 1.0, 1e-16. */
export function pyFloat(v: number): string {
  if (!Number.isFinite(v)) return Number.isNaN(v) ? 'nan' : v > 0 ? 'inf' : '-inf';
  const [mantissa, exp] = v.toExponential().split('e');
  const e = Number(exp);
  if (e < -4 || e >= 16) return `${mantissa}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
  const s = String(v);
  return Number.isInteger(v) ? `${s}.0` : s;
}

export function pyBool(v: boolean): string {
  return v ? 'True' : 'False';
}

export function pyTuple(dims: readonly number[]): string {
  return `(${dims.join(', ')}${dims.length === 1 ? ',' : ''})`;
}
