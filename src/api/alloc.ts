// Output allocation. A fresh ArrayBuffer costs ~3-4 µs on Node 20 whatever its size (above 64
// bytes), more than a whole [1, 768] layerNorm, so small outputs are carved out of a shared
// slab, as Buffer.allocUnsafe's pool does. Views are never reused, so their memory is zeroed
// and private; the trade-off (documented in README) is that a small result keeps its 64 KiB
// slab alive while it is referenced. Large outputs get their own buffer.
//
// A slab is marked untransferable, as Node marks its Buffer pool: transferring a small result's
// buffer to another thread (postMessage, structuredClone) then copies it instead of detaching
// the whole slab, which would empty every other result carved from it. Should a slab still get
// detached (some other way), the next allocation starts a new one.
import { markAsUntransferable } from 'node:worker_threads';
import type { FloatArray } from './types.js';
import type { FloatArrayConstructor } from './validate.js';

const SLAB_BYTES = 64 * 1024;
const SMALL_BYTES = 4 * 1024; // outputs up to this size come from the slab
const ALIGN = 64; // cache-line aligned views: whole-vector loads never straddle two lines

function newSlab(): ArrayBuffer {
  const buffer = new ArrayBuffer(SLAB_BYTES);
  markAsUntransferable(buffer);
  return buffer;
}

let slab = newSlab();
let used = 0;

export function allocate<A extends FloatArray>(ctor: FloatArrayConstructor, length: number): A {
  const bytes = length * ctor.BYTES_PER_ELEMENT;
  if (bytes > SMALL_BYTES) return new ctor(length) as A;
  if (used + bytes > SLAB_BYTES || slab.byteLength === 0) {
    slab = newSlab();
    used = 0;
  }
  const view = new ctor(slab, used, length) as A;
  used += (bytes + ALIGN - 1) & ~(ALIGN - 1);
  return view;
}
