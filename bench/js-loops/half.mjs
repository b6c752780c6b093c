// Plain-JavaScript half-precision conversions: what a user writes without fastnorm (bit
// manipulation through a Uint32Array view of the floats), the baseline of the conversion rows.

export function toBFloat16(src, dst) {
  const u = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < u.length; i++) {
    const b = u[i];
    dst[i] = (b & 0x7fffffff) > 0x7f800000 ? (b >>> 16) | 0x40 : (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
  }
}

export function fromBFloat16(src, dst) {
  const u = new Uint32Array(dst.buffer, dst.byteOffset, dst.length);
  for (let i = 0; i < src.length; i++) u[i] = src[i] << 16;
}

export function toFloat16(src, dst) {
  const u = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < u.length; i++) {
    const b = u[i];
    const sign = (b >>> 16) & 0x8000;
    const a = b & 0x7fffffff;
    if (a > 0x7f800000) dst[i] = sign | 0x7e00 | ((a & 0x7fffff) >>> 13);
    else if (a >= 0x477ff000) dst[i] = sign | 0x7c00;
    else if (a >= 0x38800000) {
      const r = a - 0x38000000;
      dst[i] = sign | ((r + 0xfff + ((r >>> 13) & 1)) >>> 13);
    } else if (a < 0x33000000) dst[i] = sign; // below half the least subnormal (or its tie)
    else {
      const e = a >>> 23, m = (a & 0x7fffff) | 0x800000, s = 126 - e;
      const q = m >>> s, rest = m & ((1 << s) - 1), half = 1 << (s - 1);
      dst[i] = sign | (q + (rest > half || (rest === half && (q & 1)) ? 1 : 0));
    }
  }
}

export function fromFloat16(src, dst) {
  for (let i = 0; i < src.length; i++) {
    const h = src[i];
    const e = (h >>> 10) & 0x1f, f = h & 0x3ff;
    const v = e === 0 ? f * 2 ** -24 : e === 0x1f ? (f ? NaN : Infinity) : (1024 + f) * 2 ** (e - 25);
    dst[i] = h & 0x8000 ? -v : v;
  }
}
