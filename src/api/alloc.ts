// Output allocation. A fresh ArrayBuffer costs ~3-4 µs on Node 20 whatever its size (above 64
// bytes), more than a whole [1, 768] layerNorm, so small outputs are carved out of a shared
// slab, as Buffer.allocUnsafe's pool does. Views are never reused, so their memory is zeroed
// and private; the trade-off (documented in README) is that a small result keeps its 64 KiB
// slab alive while it is referenced.
//
// Large outputs get their own buffer, not zeroed: V8's zero-filled allocation of a multi-MiB
// array costs a memset of it, or (fresh pages) a page fault per 4 KiB inside the kernel, more
// than the normalization itself (bench/ANALYSIS.md §6). This is safe because every kernel, on
// both backends, writes every element of every output it is given on every path that returns
// (test/outputs.test.ts checks it with poisoned buffers, ill-conditioned and non-finite data
// included); a call that throws drops its outputs before the caller can see them. Node's
// --zero-fill-buffers makes allocUnsafeSlow zero the memory anyway.
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

const BLOCK_BYTES = 1 << 20; // outputs from this size up may come from recycled native blocks

/** An ArrayBuffer of `bytes` bytes, not zeroed, or undefined to allocate it here instead. */
export type BlockSource = (bytes: number) => ArrayBuffer | undefined;
let blockSource: BlockSource | null = null;

/** Where large outputs come from (backends/default.ts installs the addon's block cache); null: allocUnsafeSlow. */
export function setBlockSource(source: BlockSource | null): void {
  blockSource = source;
}

/**
 * A typed array of `length` values in its own ArrayBuffer, its memory not zeroed: only for a
 * result that will be written in full before anyone can read it (no zeroing pass, and recycled
 * heap memory comes back without page faults).
 */
export function uninitialized<A extends FloatArray>(ctor: FloatArrayConstructor, length: number): A {
  const size = length * ctor.BYTES_PER_ELEMENT;
  if (size >= BLOCK_BYTES && blockSource !== null) {
    const block = blockSource(size);
    if (block !== undefined) return new ctor(block, 0, length) as A;
  }
  const bytes = Buffer.allocUnsafeSlow(size);
  return new ctor(bytes.buffer, bytes.byteOffset, length) as A;
}

/** An output of a kernel call (bind.ts): small ones from the zeroed slab, large ones uninitialized. */
export function allocate<A extends FloatArray>(ctor: FloatArrayConstructor, length: number): A {
  const bytes = length * ctor.BYTES_PER_ELEMENT;
  if (bytes > SMALL_BYTES) return uninitialized<A>(ctor, length);
  if (used + bytes > SLAB_BYTES || slab.byteLength === 0) {
    slab = newSlab();
    used = 0;
  }
  const view = new ctor(slab, used, length) as A;
  used += (bytes + ALIGN - 1) & ~(ALIGN - 1);
  return view;
}
