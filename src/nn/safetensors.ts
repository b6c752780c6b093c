// safetensors files, the format PyTorch checkpoints are shared in: an 8-byte little-endian
// header length N, N bytes of JSON `{ name: { dtype, shape, data_offsets: [begin, end] },
// "__metadata__": { string: string } }` (padded with spaces), then the tensors' raw little-endian
// bytes, `data_offsets` counted from the end of the header.
//
// Reading trusts nothing: the header length is checked against the file size and a limit before
// anything is allocated, and every tensor's offsets must fit its dtype and shape and tile the
// data section exactly — no overlap, no hole, nothing after the last tensor (the format's rule,
// which keeps polyglot files out). A file is read piecewise (the header, then each tensor into
// its own aligned array), never as a whole.
//
// No npm package fits (checked: `safetensors` 0.0.1 is a single unmaintained release that
// neither validates the header nor writes; @huggingface/hub only parses remote headers), so this
// is written for the job from the format's specification.
import { closeSync, fstatSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { endianness } from 'node:os';
import { checkOptions, describe, formatShape } from './check.js';
import { DTYPES, type DType, type TypedTensor } from './dtypes.js';
import { checkTypedTensor, orThrow } from './tensor.js';

/** Headers above this size are refused before anything is allocated (the reference implementation's limit). */
export const MAX_HEADER_BYTES = 100_000_000;

/**
 * A malformed safetensors file: `byteOffset` is where in the file the problem is, `key` the
 * tensor if one is at fault. A RangeError.
 * @example
 * try {
 *   loadSafetensors('model.safetensors');
 * } catch (e) {
 *   if (e instanceof SafetensorsError) console.error(`bad file at byte ${e.byteOffset} (${e.key ?? 'header'}): ${e.message}`);
 * }
 */
export class SafetensorsError extends RangeError {
  readonly byteOffset: number;
  readonly key: string | null;

  constructor(message: string, byteOffset: number, key: string | null = null) {
    super(message);
    this.name = 'SafetensorsError';
    this.byteOffset = byteOffset;
    this.key = key;
  }
}

/** Element size of every dtype the format defines, to tell a dtype we do not load from one that does not exist. */
const FORMAT_DTYPE_BYTES: Readonly<Record<string, number>> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, F8_E8M0: 1, I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4, I64: 8, U64: 8, F64: 8, C64: 8,
};

const BY_CODE: Readonly<Record<string, DType>> = Object.fromEntries(
  (Object.keys(DTYPES) as DType[]).map((d) => [DTYPES[d].safetensors, d]));

const SUPPORTED = Object.keys(BY_CODE).join(', ');

/** One tensor's header entry. */
export interface SafetensorsEntry {
  /** The format's dtype name: 'F32', 'BF16', ... */
  dtype: string;
  shape: number[];
  /** [begin, end) in bytes, from the start of the data section. */
  dataOffsets: [number, number];
}

/** What readSafetensorsHeader returns. */
export interface SafetensorsHeader {
  /** `__metadata__` (string → string), or null when the file has none. */
  metadata: Record<string, string> | null;
  /** The tensors' entries, in the header's order. */
  tensors: Record<string, SafetensorsEntry>;
  /** The file offset of the data section: 8 + the header length. */
  dataStart: number;
}

/** Bytes to read from: a file descriptor or a buffer. */
interface Source {
  size: number;
  /** Reads `into.length` bytes at `offset` (the caller has checked they exist). */
  read(offset: number, into: Uint8Array): void;
  close(): void;
}

function openSource(source: unknown): Source {
  if (typeof source === 'string') {
    const fd = openSync(source, 'r');
    try {
      const size = fstatSync(fd).size;
      return {
        size,
        read(offset, into) {
          for (let done = 0; done < into.length;) {
            const n = readSync(fd, into, done, into.length - done, offset + done);
            if (n === 0) throw new SafetensorsError(`the file ended at byte ${offset + done} while reading (it shrank?)`, offset + done);
            done += n;
          }
        },
        close: () => closeSync(fd),
      };
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }
  let bytes: Uint8Array;
  if (source instanceof ArrayBuffer) bytes = new Uint8Array(source);
  else if (ArrayBuffer.isView(source)) bytes = new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
  else throw new TypeError(`source must be a file path, a Uint8Array/Buffer or an ArrayBuffer, got ${describe(source)}`);
  return { size: bytes.length, read: (offset, into) => into.set(bytes.subarray(offset, offset + into.length)), close() {} };
}

function isSafeCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function parseEntry(name: string, v: unknown, dataStart: number, dataBytes: number): SafetensorsEntry {
  const fail = (what: string) => new SafetensorsError(`tensor '${name}': ${what}`, dataStart, name);
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw fail(`its header entry must be an object, got ${describe(v)}`);
  const { dtype, shape, data_offsets: offsets } = v as Record<string, unknown>;
  if (typeof dtype !== 'string' || !Object.prototype.hasOwnProperty.call(FORMAT_DTYPE_BYTES, dtype))
    throw fail(`unknown dtype ${typeof dtype === 'string' ? JSON.stringify(dtype) : describe(dtype)}`);
  if (!Array.isArray(shape) || !shape.every(isSafeCount)) throw fail(`shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isSafeCount))
    throw fail(`data_offsets must be [begin, end], two non-negative integers, got ${JSON.stringify(offsets)}`);
  const [begin, end] = offsets as [number, number];
  const numel = (shape as number[]).reduce((p, d) => p * d, 1);
  const bytes = numel * FORMAT_DTYPE_BYTES[dtype];
  if (!Number.isSafeInteger(bytes)) throw fail(`shape ${formatShape(shape as number[])} is too large`);
  if (end < begin) throw new SafetensorsError(`tensor '${name}': data_offsets [${begin}, ${end}] end before they begin`, dataStart + begin, name);
  if (end > dataBytes)
    throw new SafetensorsError(`tensor '${name}': data_offsets [${begin}, ${end}] (file bytes ${dataStart + begin}..${dataStart + end}) ` +
      `run past the end of the file (${dataStart + dataBytes} bytes): truncated or corrupt`, dataStart + Math.min(begin, dataBytes), name);
  if (end - begin !== bytes)
    throw new SafetensorsError(`tensor '${name}': data_offsets [${begin}, ${end}] hold ${end - begin} bytes but ${dtype} ` +
      `${formatShape(shape as number[])} needs ${bytes}`, dataStart + begin, name);
  return { dtype, shape: (shape as number[]).slice(), dataOffsets: [begin, end] };
}

function parseMetadata(v: unknown, at: number): Record<string, string> | null {
  if (v === null) return null;
  if (typeof v !== 'object' || Array.isArray(v)) throw new SafetensorsError(`__metadata__ must be an object of strings, got ${describe(v)}`, at);
  const metadata: Record<string, string> = {};
  for (const [k, value] of Object.entries(v as object)) {
    if (typeof value !== 'string') throw new SafetensorsError(`__metadata__['${k}'] must be a string, got ${describe(value)}`, at);
    defineEntry(metadata, k, value);
  }
  return metadata;
}

/** obj[key] = value as an own property, whatever the key ('__proto__' included). */
function defineEntry<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/** The data section must be tiled by the tensors: sorted by offset, each starts where the previous ended. */
function checkTiling(tensors: Record<string, SafetensorsEntry>, dataStart: number, dataBytes: number): void {
  const sorted = Object.entries(tensors).sort(([, a], [, b]) => a.dataOffsets[0] - b.dataOffsets[0] || a.dataOffsets[1] - b.dataOffsets[1]);
  let expected = 0;
  let previous: string | null = null;
  for (const [name, { dataOffsets: [begin, end] }] of sorted) {
    if (begin < expected)
      throw new SafetensorsError(`tensor '${name}' (file bytes ${dataStart + begin}..${dataStart + end}) overlaps tensor ` +
        `'${previous}', which ends at file byte ${dataStart + expected}`, dataStart + begin, name);
    if (begin > expected)
      throw new SafetensorsError(`file bytes ${dataStart + expected}..${dataStart + begin} belong to no tensor (a hole before ` +
        `tensor '${name}')`, dataStart + expected, name);
    expected = end;
    previous = name;
  }
  if (expected !== dataBytes)
    throw new SafetensorsError(`file bytes ${dataStart + expected}..${dataStart + dataBytes} after the last tensor belong to no tensor`,
      dataStart + expected);
}

function parseHeader(src: Source): SafetensorsHeader {
  if (src.size < 8)
    throw new SafetensorsError(`the file has ${src.size} bytes, fewer than the 8-byte header length at byte 0 (truncated?)`, 0);
  const lengthBytes = new Uint8Array(8);
  src.read(0, lengthBytes);
  const length = new DataView(lengthBytes.buffer).getBigUint64(0, true);
  if (length > BigInt(MAX_HEADER_BYTES))
    throw new SafetensorsError(`the header length at byte 0 is ${length}, above the ${MAX_HEADER_BYTES}-byte limit ` +
      '(not a safetensors file, or a corrupt one)', 0);
  const n = Number(length);
  if (8 + n > src.size)
    throw new SafetensorsError(`the header length at byte 0 is ${n}, past the end of the file (${src.size} bytes): truncated or corrupt`, 0);
  const headerBytes = new Uint8Array(n);
  src.read(8, headerBytes);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(headerBytes);
  } catch {
    throw new SafetensorsError(`the header (bytes 8..${8 + n}) is not valid UTF-8`, 8);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new SafetensorsError(`the header (bytes 8..${8 + n}) is not valid JSON: ${(e as Error).message}`, 8);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new SafetensorsError(`the header (bytes 8..${8 + n}) must be a JSON object, got ${describe(json)}`, 8);
  const dataStart = 8 + n;
  const dataBytes = src.size - dataStart;
  let metadata: Record<string, string> | null = null;
  const tensors: Record<string, SafetensorsEntry> = {};
  for (const [name, v] of Object.entries(json)) {
    if (name === '__metadata__') metadata = parseMetadata(v, 8);
    else defineEntry(tensors, name, parseEntry(name, v, dataStart, dataBytes));
  }
  checkTiling(tensors, dataStart, dataBytes);
  return { metadata, tensors, dataStart };
}

const LITTLE_ENDIAN = endianness() === 'LE';

/** Reverses the bytes of each `size`-byte element in place (little-endian file ⇄ big-endian host). */
export function swapBytes(bytes: Uint8Array, size: number): void {
  for (let i = 0; i + size <= bytes.length; i += size) {
    for (let a = i, b = i + size - 1; a < b; a++, b--) {
      const t = bytes[a];
      bytes[a] = bytes[b];
      bytes[b] = t;
    }
  }
}

/**
 * The header of a safetensors file (a path) or buffer, fully validated, without reading the
 * tensors: their dtypes, shapes and offsets, and the metadata.
 * @example
 * const { metadata, tensors } = readSafetensorsHeader('model.safetensors');
 * console.log(tensors['encoder.norm.weight']);   // { dtype: 'F32', shape: [768], dataOffsets: [0, 3072] }
 */
export function readSafetensorsHeader(source: string | Uint8Array | ArrayBuffer): SafetensorsHeader {
  const src = openSource(source);
  try {
    return parseHeader(src);
  } finally {
    src.close();
  }
}

export interface LoadSafetensorsOptions {
  /** Load only the tensors whose name it accepts (the whole header is validated all the same). */
  filter?: (name: string) => boolean;
}

/**
 * The tensors of a safetensors file (a path) or buffer, by name: `{ data, shape, dtype }` with
 * dtype 'float64' (Float64Array), 'float32' (Float32Array), 'float16' / 'bfloat16' (their bit
 * patterns in a Uint16Array) or 'int64' (BigInt64Array). Each tensor gets its own array (never a
 * view of a buffer you passed). A malformed file throws a SafetensorsError naming the byte offset
 * and the tensor; a tensor of another dtype (I32, U8, BOOL, F8, ...) throws unless `filter` skips it.
 * @example
 * import { loadSafetensors, LayerNorm } from 'fastnorm/nn';
 * const sd = loadSafetensors('model.safetensors');
 * const ln = new LayerNorm(768);
 * ln.loadStateDict(sd, { prefix: 'encoder.norm.' });
 * const norms = loadSafetensors('model.safetensors', { filter: (name) => name.includes('norm') });
 */
export function loadSafetensors(source: string | Uint8Array | ArrayBuffer, opts?: LoadSafetensorsOptions): Record<string, TypedTensor> {
  const o = checkOptions<LoadSafetensorsOptions>('opts', opts, ['filter']);
  if (o.filter !== undefined && typeof o.filter !== 'function') throw new TypeError(`opts.filter must be a function, got ${describe(o.filter)}`);
  const src = openSource(source);
  try {
    const header = parseHeader(src);
    const tensors: Record<string, TypedTensor> = {};
    for (const [name, entry] of Object.entries(header.tensors)) {
      if (o.filter && !o.filter(name)) continue;
      const dtype = BY_CODE[entry.dtype];
      if (dtype === undefined)
        throw new SafetensorsError(`tensor '${name}' has dtype ${entry.dtype}, which fastnorm does not load (${SUPPORTED}); ` +
          'skip it with opts.filter', header.dataStart + entry.dataOffsets[0], name);
      const info = DTYPES[dtype];
      const data = new info.array(entry.shape.reduce((p, d) => p * d, 1));
      const bytes = new Uint8Array(data.buffer);
      src.read(header.dataStart + entry.dataOffsets[0], bytes);
      if (!LITTLE_ENDIAN) swapBytes(bytes, info.bytes);
      defineEntry(tensors, name, { data, shape: entry.shape, dtype });
    }
    return tensors;
  } finally {
    src.close();
  }
}

interface Layout {
  header: Uint8Array;
  /** The tensors' bytes in file order, little-endian. */
  parts: Uint8Array[];
  size: number;
}

/** The header and the order of the tensors' bytes: largest elements first (so every tensor is aligned), then by name. */
function layOut(tensors: unknown, metadata: unknown): Layout {
  if (typeof tensors !== 'object' || tensors === null || Array.isArray(tensors))
    throw new TypeError(`tensors must be an object of tensors by name, got ${describe(tensors)}`);
  const header: Record<string, unknown> = {};
  if (metadata !== undefined && metadata !== null) {
    if (typeof metadata !== 'object' || Array.isArray(metadata)) throw new TypeError(`metadata must be an object of strings, got ${describe(metadata)}`);
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new TypeError(`metadata['${k}'] must be a string, got ${describe(v)}`);
    }
    header.__metadata__ = metadata;
  }
  const checked = Object.entries(tensors).map(([name, v]) => {
    if (name === '' || name === '__metadata__') throw new RangeError(`tensors: the name ${JSON.stringify(name)} is not allowed`);
    return [name, orThrow(checkTypedTensor(`tensors['${name}']`, v))] as const;
  });
  checked.sort(([a, ta], [b, tb]) => DTYPES[tb.dtype].bytes - DTYPES[ta.dtype].bytes || (a < b ? -1 : a > b ? 1 : 0));
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of checked) {
    let bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    if (!LITTLE_ENDIAN) {
      bytes = bytes.slice();
      swapBytes(bytes, DTYPES[t.dtype].bytes);
    }
    defineEntry(header, name, { dtype: DTYPES[t.dtype].safetensors, shape: t.shape.slice(), data_offsets: [offset, offset + bytes.length] });
    parts.push(bytes);
    offset += bytes.length;
  }
  let json = JSON.stringify(header);
  const encoder = new TextEncoder();
  // pad with spaces so that the data section starts 8-byte aligned
  const jsonBytes = encoder.encode(json).length;
  json += ' '.repeat((8 - ((8 + jsonBytes) % 8)) % 8);
  const text = encoder.encode(json);
  const head = new Uint8Array(8 + text.length);
  new DataView(head.buffer).setBigUint64(0, BigInt(text.length), true);
  head.set(text, 8);
  return { header: head, parts, size: head.length + offset };
}

/**
 * A safetensors file's bytes for `tensors` (by name: `{ data, shape, dtype? }`, dtype required
 * for a Uint16Array: 'float16' or 'bfloat16') and optional string metadata.
 * @example
 * const bytes = serializeSafetensors(ln.stateDict(), { format: 'pt' });
 * loadSafetensors(bytes);   // the same tensors
 */
export function serializeSafetensors(tensors: Record<string, TypedTensor | { data: TypedTensor['data']; shape: readonly number[] }>,
  metadata?: Record<string, string>): Uint8Array {
  const { header, parts, size } = layOut(tensors, metadata);
  const out = new Uint8Array(size);
  out.set(header, 0);
  let offset = header.length;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

let tempCounter = 0;

/**
 * Writes `tensors` (and optional string metadata) as a safetensors file at `path`, through a
 * temporary file renamed into place, so a crash never leaves a half-written checkpoint.
 * @example
 * import { saveSafetensors } from 'fastnorm/nn';
 * saveSafetensors('bn.safetensors', bn.stateDict(), { format: 'pt' });
 */
export function saveSafetensors(path: string, tensors: Record<string, TypedTensor | { data: TypedTensor['data']; shape: readonly number[] }>,
  metadata?: Record<string, string>): void {
  if (typeof path !== 'string' || path === '') throw new TypeError(`path must be a non-empty string, got ${describe(path)}`);
  const { header, parts } = layOut(tensors, metadata);
  const temp = `${path}.${process.pid}.${tempCounter++}.tmp`;
  const fd = openSync(temp, 'w');
  try {
    try {
      for (const bytes of [header, ...parts]) {
        for (let done = 0; done < bytes.length;) done += writeSync(fd, bytes, done, bytes.length - done);
      }
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
  } catch (e) {
    rmSync(temp, { force: true });
    throw e;
  }
}
