// Half-precision data on the reference backend: a kernel's float16/bfloat16 arrays decoded to
// float64, the float64 kernel run, its outputs rounded once.
import type { ArgsOf } from '../../api/bind.js';
import { referenceConversions } from '../../api/half.js';
import { KERNELS, type KernelName } from '../../api/kernel-schema.js';
import type { FloatArray } from '../../api/types.js';

/**
 * A kernel that also takes half-precision data (halfFormat float16/bfloat16): its Uint16Array
 * data and parameters decoded to float64 (exact), the float64 kernel run on them, and each
 * Uint16Array output rounded once from float64 (an array updated in place, running statistics, is
 * decoded and then rounded back). Float32Array statistics and parameters are
 * used as they are (the kernel rounds into them once). In place (out.y = x) works: inputs are
 * decoded before anything is written back. The kernel's `asStored` rounds a decoded data array in
 * place to what the data's storage holds (the half format; nothing to do for float32/float64
 * arrays, which round as they are written): an add-norm normalizes its sum as stored.
 */
export function withHalf<K extends KernelName>(name: K, kernel: (a: ArgsOf<K>, asStored: (v: FloatArray) => void) => void):
  (a: ArgsOf<K>) => void {
  const arrays = KERNELS[name].fields.filter((f) => 'dtype' in f && (f.dtype === 'data' || f.dtype === 'param'));
  return (a) => {
    const format = (a as { halfFormat?: string }).halfFormat;
    if (format === undefined || format === 'none') return kernel(a, () => {});
    const widen = format === 'float16' ? referenceConversions.fromFloat16 : referenceConversions.fromBFloat16;
    const narrow = format === 'float16' ? referenceConversions.toFloat16 : referenceConversions.toBFloat16;
    const asStored = (v: FloatArray) => {
      const bits = new Uint16Array(v.length);
      narrow(v, bits);
      widen(bits, v);
    };
    const wide: Record<string, unknown> = { ...a };
    const back: Array<[Float64Array, Uint16Array]> = [];
    for (const f of arrays) {
      const v = (a as Record<string, unknown>)[f.name];
      if (!(v instanceof Uint16Array)) continue;
      const w = new Float64Array(v.length);
      if (f.role !== 'out') widen(v, w);
      if (f.role !== 'in') back.push([w, v]);
      wide[f.name] = w;
    }
    kernel(wide as ArgsOf<K>, asStored);
    for (const [w, v] of back) narrow(w, v);
  };
}

