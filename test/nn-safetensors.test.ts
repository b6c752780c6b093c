// safetensors files: files written by the Python `safetensors` package (PyTorch's tooling) load
// with the right values; our files round-trip; every kind of malformed file is a SafetensorsError
// naming the byte offset (and the tensor); the half-precision decoders are exact on all 65,536
// bit patterns, checked against an independent formula and against torch's own conversion.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as nn from '../src/nn';
import { decodeHalf } from '../src/nn/dtypes';
import { swapBytes } from '../src/nn/safetensors';
import { REPO_ROOT, makeRng } from './helpers';

const FIXTURES = path.join(REPO_ROOT, 'test', 'fixtures', 'safetensors');
const TORCH_FILE = path.join(FIXTURES, 'torch-dtypes.safetensors');
const dir = mkdtempSync(path.join(tmpdir(), 'fastnorm-safetensors-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A file from a header (object or raw JSON text) and data bytes, with an optional header-length override. */
function file(header: object | string, data: Uint8Array | number = 0, lengthOverride?: bigint): Uint8Array {
  const text = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const bytes = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + text.length + bytes.length);
  new DataView(out.buffer).setBigUint64(0, lengthOverride ?? BigInt(text.length), true);
  out.set(text, 8);
  out.set(bytes, 8 + text.length);
  return out;
}

/** The SafetensorsError that loading `bytes` throws, from a buffer and from a file (they must agree). */
function loadError(bytes: Uint8Array, opts?: nn.LoadSafetensorsOptions): nn.SafetensorsError {
  const fromBuffer = catchError(() => nn.loadSafetensors(bytes, opts));
  const p = path.join(dir, `bad-${Math.random().toString(36).slice(2)}.safetensors`);
  writeFileSync(p, bytes);
  const fromFile = catchError(() => nn.loadSafetensors(p, opts));
  expect(fromFile.message).toBe(fromBuffer.message);
  expect(fromBuffer).toBeInstanceOf(nn.SafetensorsError);
  expect(fromBuffer).toBeInstanceOf(RangeError);
  return fromBuffer as nn.SafetensorsError;
}

function catchError(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

function bits32(values: Float32Array): number[] {
  return [...new Uint32Array(values.buffer, values.byteOffset, values.length)];
}

describe('files written by PyTorch tooling (the safetensors package)', () => {
  const header = nn.readSafetensorsHeader(TORCH_FILE);
  const t = nn.loadSafetensors(TORCH_FILE);

  it('the header: metadata, dtypes, shapes, offsets; the data section 8-byte aligned', () => {
    expect(header.metadata).toMatchObject({ format: 'pt', writer: expect.stringMatching(/^safetensors \d/) });
    expect(header.tensors.f16).toMatchObject({ dtype: 'F16', shape: [2, 6] });
    expect(header.tensors.scalar).toMatchObject({ dtype: 'F32', shape: [] });
    expect(header.tensors.empty.dataOffsets[0]).toBe(header.tensors.empty.dataOffsets[1]);
    expect(header.dataStart % 8).toBe(0);
  });

  it('every dtype with its array type, shape and values (special values, -0, NaN, Inf, subnormals)', () => {
    expect(Object.keys(t).sort()).toEqual(Object.keys(header.tensors).sort());
    const special = [0, -0, 1, -2.5, 65504, 6.103515625e-05, 5.960464477539063e-08, 1e-40, Infinity, -Infinity, NaN, 3.0e38];
    expect(t.f64).toMatchObject({ dtype: 'float64', shape: [3, 4] });
    expect([...(t.f64.data as Float64Array)]).toEqual(special);
    expect(Object.is(t.f64.data[1], -0)).toBe(true);
    expect([...(t.f32.data as Float32Array)]).toEqual(special.map(Math.fround));
    expect(t.i64).toEqual({ data: BigInt64Array.of(0n, -1n, 2n ** 62n, -(2n ** 63n), 2n ** 53n + 1n), shape: [5], dtype: 'int64' });
    expect(t.scalar).toEqual({ data: Float32Array.of(1.5), shape: [], dtype: 'float32' });
    expect(t.empty).toEqual({ data: new Float32Array(0), shape: [0, 3], dtype: 'float32' });
    expect(t.f16.data).toBeInstanceOf(Uint16Array);
    expect(t.f16.dtype).toBe('float16');
    expect(t.bf16.dtype).toBe('bfloat16');
  });

  it("float16 and bfloat16 decode exactly to torch's own float32 conversion", () => {
    for (const name of ['f16', 'bf16'] as const) {
      const decoded = new Float32Array(t[name].data.length);
      decodeHalf(t[name].data as Uint16Array, t[name].dtype as 'float16', decoded);
      const torch = t[`decoded.${name}`].data as Float32Array;
      decoded.forEach((v, i) => {
        if (Number.isNaN(torch[i])) expect(v, `${name}[${i}]`).toBeNaN();
        else expect(bits32(decoded)[i], `${name}[${i}] = ${torch[i]}`).toBe(bits32(torch)[i]);
      });
    }
  });

  it('loads into a module: the dotted name as a prefix', () => {
    const ln = new nn.LayerNorm(7, { elementwiseAffine: true, bias: false });
    ln.loadStateDict(t, { prefix: 'layer.norm.', strict: false });
    expect([...ln.weight!.data]).toEqual([...(t['layer.norm.weight'].data as Float32Array)]);
  });
});

describe('half-precision decoding over all 65,536 bit patterns', () => {
  /** The value of a bit pattern by the format's definition, in float64 (independent of the bit tricks). */
  function byDefinition(h: number, exponentBits: number, mantissaBits: number): number {
    const bias = 2 ** (exponentBits - 1) - 1;
    const sign = h >> (exponentBits + mantissaBits) ? -1 : 1;
    const e = (h >> mantissaBits) & (2 ** exponentBits - 1);
    const m = h & (2 ** mantissaBits - 1);
    if (e === 2 ** exponentBits - 1) return m ? NaN : sign * Infinity;
    if (e === 0) return sign * m * 2 ** (1 - bias - mantissaBits);
    return sign * (1 + m / 2 ** mantissaBits) * 2 ** (e - bias);
  }

  const all = new Uint16Array(65536).map((_, i) => i);
  const expected = JSON.parse(readFileSync(path.join(FIXTURES, 'half-decode.json'), 'utf8'));

  /** The float32 bits of a half NaN: its sign and payload, quiet. */
  const quietNaNBits = (h: number, mantissaBits: number) =>
    ((h >> 15 ? 0x80000000 : 0) | 0x7fc00000 | ((h & (2 ** mantissaBits - 1)) << (23 - mantissaBits))) >>> 0;

  for (const [dtype, exponentBits, mantissaBits] of [['float16', 5, 10], ['bfloat16', 8, 7]] as const) {
    it(`${dtype}: every pattern equals its definition (±0, subnormals, Inf and NaN included)`, () => {
      const out32 = new Float32Array(65536);
      const out64 = new Float64Array(65536);
      decodeHalf(all, dtype, out32);
      decodeHalf(all, dtype, out64);
      for (let h = 0; h < 65536; h++) {
        const v = byDefinition(h, exponentBits, mantissaBits);
        if (Number.isNaN(v)) {
          expect(out32[h], `0x${h.toString(16)}`).toBeNaN();
          expect(out64[h]).toBeNaN();
          // the payload and the sign stay (the bits are written, not a JS number); quiet
          expect(new Uint32Array(out32.buffer)[h]).toBe(quietNaNBits(h, mantissaBits));
        } else if (!Object.is(out32[h], v) || !Object.is(out64[h], v)) {
          expect.fail(`0x${h.toString(16)}: decoded ${out32[h]} / ${out64[h]}, defined ${v}`);
        }
      }
    });

    it(`${dtype}: the decode hashes as torch's .to(torch.float32) (fixture from torch ${expected.generator.torch})`, () => {
      const out = new Float32Array(65536);
      decodeHalf(all, dtype, out);
      const u = new Uint32Array(out.buffer);
      let nans = 0;
      for (let i = 0; i < u.length; i++) {
        if (Number.isNaN(out[i])) {
          u[i] = (u[i] & 0x80000000) | 0x7fc00000;
          nans++;
        }
      }
      expect(nans).toBe(expected[dtype].nans);
      expect(createHash('sha256').update(new Uint8Array(out.buffer)).digest('hex')).toBe(expected[dtype].sha256);
    });
  }
});

describe('our files round-trip', () => {
  const tensors = {
    'a.weight': { data: Float32Array.of(1, -2, 3.5, NaN), shape: [2, 2] },
    'a.double': { data: Float64Array.of(Math.PI, -0, 1e-300), shape: [3] },
    half: { data: Uint16Array.of(0x3c00, 0x7e00, 0x0001), shape: [3], dtype: 'float16' as const },
    brain: { data: Uint16Array.of(0x3f80, 0xff80), shape: [1, 2], dtype: 'bfloat16' as const },
    count: { data: BigInt64Array.of(-5n, 2n ** 60n), shape: [2] },
    zero_d: { data: Float32Array.of(7), shape: [] },
    empty: { data: new Float64Array(0), shape: [0, 4] },
    odd: { data: Uint16Array.of(1, 2, 3), shape: [3], dtype: 'float16' as const },
  };

  it('serializeSafetensors → loadSafetensors: the same tensors, dtypes and metadata', () => {
    const bytes = nn.serializeSafetensors(tensors, { format: 'pt', 'any key': 'any value' });
    const loaded = nn.loadSafetensors(bytes);
    expect(Object.keys(loaded).sort()).toEqual(Object.keys(tensors).sort());
    for (const [k, v] of Object.entries(tensors)) {
      expect(loaded[k].shape, k).toEqual(v.shape);
      expect(loaded[k].data, k).toEqual(v.data);
      expect(loaded[k].data.buffer, `${k} is not a view of the input`).not.toBe(bytes.buffer);
    }
    expect(loaded.half.dtype).toBe('float16');
    expect(loaded.count.dtype).toBe('int64');
    const header = nn.readSafetensorsHeader(bytes);
    expect(header.metadata).toEqual({ format: 'pt', 'any key': 'any value' });
    expect(header.dataStart % 8).toBe(0);
    // largest elements first: every tensor starts at a multiple of its element size
    for (const e of Object.values(header.tensors)) expect(e.dataOffsets[0] % { F64: 8, I64: 8, F32: 4, F16: 2, BF16: 2 }[e.dtype as 'F64']!).toBe(0);
  });

  it('saveSafetensors writes the same bytes, and leaves no temporary file behind', async () => {
    const p = path.join(dir, 'roundtrip.safetensors');
    nn.saveSafetensors(p, tensors);
    expect(new Uint8Array(readFileSync(p))).toEqual(nn.serializeSafetensors(tensors));
    expect(nn.loadSafetensors(p).brain.data).toEqual(tensors.brain.data);
    const { readdirSync } = await import('node:fs');
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(nn.readSafetensorsHeader(p).metadata).toBeNull();
  });

  it('loadSafetensors from an ArrayBuffer, a Buffer and a Uint8Array view at an offset', () => {
    const bytes = nn.serializeSafetensors({ w: { data: Float32Array.of(1, 2, 3), shape: [3] } });
    const padded = new Uint8Array(bytes.length + 3);
    padded.set(bytes, 3);
    for (const src of [bytes.slice().buffer, Buffer.from(bytes), padded.subarray(3)])
      expect(nn.loadSafetensors(src as Uint8Array).w.data).toEqual(Float32Array.of(1, 2, 3));
  });

  it('filter loads only the tensors it accepts', () => {
    const bytes = nn.serializeSafetensors(tensors);
    expect(Object.keys(nn.loadSafetensors(bytes, { filter: (n) => n.startsWith('a.') })).sort()).toEqual(['a.double', 'a.weight']);
    expect(() => nn.loadSafetensors(bytes, { filter: 'a.' as never })).toThrow(/^opts\.filter must be a function/);
  });

  it("a tensor named '__proto__' is an ordinary entry", () => {
    const bytes = file('{"__proto__":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', new Uint8Array(Float32Array.of(2).buffer));
    const t = nn.loadSafetensors(new Uint8Array(bytes));
    expect(Object.getPrototypeOf(t)).toBe(Object.prototype);
    expect(Object.keys(t)).toEqual(['__proto__']);
  });

  it('what cannot be written is a TypeError/RangeError naming the tensor', () => {
    expect(() => nn.serializeSafetensors(null as never)).toThrow(/^tensors must be an object/);
    expect(() => nn.serializeSafetensors({ h: { data: new Uint16Array(2), shape: [2] } })).toThrow(/tensors\['h'\]\.dtype is required for a Uint16Array/);
    expect(() => nn.serializeSafetensors({ h: { data: new Float32Array(2), shape: [3] } })).toThrow(/tensors\['h'\]\.data has 2 elements but its shape \[3\] needs 3/);
    expect(() => nn.serializeSafetensors({ h: { data: new Int32Array(2), shape: [2] } as never })).toThrow(TypeError);
    expect(() => nn.serializeSafetensors({ __metadata__: { data: new Float32Array(1), shape: [1] } })).toThrow(/"__metadata__" is not allowed/);
    expect(() => nn.serializeSafetensors({ '': { data: new Float32Array(1), shape: [1] } })).toThrow(RangeError);
    expect(() => nn.serializeSafetensors({}, { n: 1 as never })).toThrow(/^metadata\['n'\] must be a string/);
    expect(() => nn.saveSafetensors('', {})).toThrow(/^path must be a non-empty string/);
  });

  it('swapBytes reverses each element (the big-endian host path)', () => {
    const b = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);
    swapBytes(b, 4);
    expect([...b]).toEqual([4, 3, 2, 1, 8, 7, 6, 5]);
    swapBytes(b, 2);
    expect([...b]).toEqual([3, 4, 1, 2, 7, 8, 5, 6]);
  });
});

describe('malformed files: a SafetensorsError naming the byte offset and the tensor', () => {
  const entry = (dtype: string, shape: number[], offsets: number[]) => ({ dtype, shape, data_offsets: offsets });
  const good = () => ({ a: entry('F32', [2], [0, 8]), b: entry('F16', [2], [8, 12]) });

  it('shorter than the 8-byte header length', () => {
    for (const n of [0, 7]) {
      const e = loadError(new Uint8Array(n));
      expect(e.message).toBe(`the file has ${n} bytes, fewer than the 8-byte header length at byte 0 (truncated?)`);
      expect(e.byteOffset).toBe(0);
    }
  });

  it('a header of gigabytes (or 2^64 - 1 bytes) is refused before anything is allocated', () => {
    for (const n of [2n ** 40n, 2n ** 64n - 1n, BigInt(nn.MAX_HEADER_BYTES) + 1n]) {
      const e = loadError(file('{}', 0, n));
      expect(e.message).toMatch(/^the header length at byte 0 is \d+, above the 100000000-byte limit/);
      expect(e.byteOffset).toBe(0);
    }
  });

  it('a header length past the end of the file', () => {
    const e = loadError(file('{}', 0, 1000n));
    expect(e.message).toBe('the header length at byte 0 is 1000, past the end of the file (10 bytes): truncated or corrupt');
  });

  it('truncated data: the tensor that runs past the end is named', () => {
    const bytes = file(good(), 12);
    const e = loadError(bytes.subarray(0, bytes.length - 3));
    expect(e.key).toBe('b');
    expect(e.message).toMatch(/^tensor 'b': data_offsets \[8, 12\] \(file bytes \d+\.\.\d+\) run past the end of the file/);
  });

  it('overlapping tensors', () => {
    const e = loadError(file({ a: entry('F32', [2], [0, 8]), b: entry('F32', [2], [4, 12]) }, 12));
    expect(e.key).toBe('b');
    expect(e.message).toMatch(/^tensor 'b' \(file bytes (\d+)\.\.\d+\) overlaps tensor 'a', which ends at file byte \d+/);
    const headerBytes = 8 + JSON.stringify({ a: entry('F32', [2], [0, 8]), b: entry('F32', [2], [4, 12]) }).length;
    expect(e.byteOffset).toBe(headerBytes + 4);
  });

  it('a hole between tensors, bytes after the last one', () => {
    const hole = loadError(file({ a: entry('F32', [1], [0, 4]), b: entry('F32', [1], [8, 12]) }, 12));
    expect(hole.message).toMatch(/^file bytes \d+\.\.\d+ belong to no tensor \(a hole before tensor 'b'\)/);
    const trailing = loadError(file(good(), 16));
    expect(trailing.message).toMatch(/^file bytes \d+\.\.\d+ after the last tensor belong to no tensor/);
  });

  it('an unknown dtype is always an error; a known one fastnorm does not load, unless filtered out', () => {
    const unknown = loadError(file({ a: entry('F33', [1], [0, 4]) }, 4), { filter: () => false });
    expect(unknown.message).toBe('tensor \'a\': unknown dtype "F33"');
    expect(unknown.key).toBe('a');
    const bytes = file({ ids: entry('I32', [2], [0, 8]), w: entry('F32', [1], [8, 12]) }, 12);
    expect(loadError(bytes).message).toMatch(/^tensor 'ids' has dtype I32, which fastnorm does not load \(F64, F32, F16, BF16, I64\); skip it with opts\.filter/);
    expect(Object.keys(nn.loadSafetensors(bytes, { filter: (n) => n !== 'ids' }))).toEqual(['w']);
  });

  it.each([
    ['not UTF-8', () => file('{"a":"\xff"}'.replace('\xff', '\u00ff')).map((b, i, a) => (i === a.length - 2 ? 0xff : b)), /^the header \(bytes 8\.\.\d+\) is not valid UTF-8/],
    ['not JSON', () => file('{"a": '), /^the header \(bytes 8\.\.14\) is not valid JSON/],
    ['not an object', () => file('[1, 2]'), /^the header \(bytes 8\.\.14\) must be a JSON object, got an Array/],
    ['an entry that is not an object', () => file({ a: 3 }), /^tensor 'a': its header entry must be an object/],
    ['a negative dimension', () => file({ a: entry('F32', [-1], [0, 0]) }), /^tensor 'a': shape must be an array of non-negative integers, got \[-1\]/],
    ['a fractional dimension', () => file({ a: entry('F32', [1.5], [0, 6]) }, 6), /^tensor 'a': shape must be/],
    ['three offsets', () => file({ a: entry('F32', [1], [0, 4, 8]) }, 8), /^tensor 'a': data_offsets must be \[begin, end\]/],
    ['offsets as strings', () => file({ a: { dtype: 'F32', shape: [1], data_offsets: ['0', '4'] } }, 4), /^tensor 'a': data_offsets must be/],
    ['offsets beyond 2^53', () => file('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,9007199254740993]}}', 4), /^tensor 'a': data_offsets must be/],
    ['end before begin', () => file({ a: entry('F32', [0], [4, 0]) }, 4), /^tensor 'a': data_offsets \[4, 0\] end before they begin/],
    ['a size that does not fit dtype × shape', () => file({ a: entry('F32', [3], [0, 8]) }, 8), /^tensor 'a': data_offsets \[0, 8\] hold 8 bytes but F32 \[3\] needs 12/],
    ['a shape too large', () => file({ a: entry('F64', [2 ** 26, 2 ** 26, 2 ** 26], [0, 8]) }, 8), /^tensor 'a': shape \[67108864, 67108864, 67108864\] is too large/],
    ['metadata that is not strings', () => file({ __metadata__: { a: 1 } }), /^__metadata__\['a'\] must be a string, got number 1/],
    ['metadata that is a list', () => file({ __metadata__: ['a'] }), /^__metadata__ must be an object of strings/],
    ['a dtype that is not a string', () => file({ a: { dtype: 4, shape: [1], data_offsets: [0, 4] } }, 4), /^tensor 'a': unknown dtype number 4/],
  ] as const)('%s', (_name, make, message) => {
    expect(loadError(make() as Uint8Array).message).toMatch(message);
  });

  it('readSafetensorsHeader validates the same way, and the source must be a path or bytes', () => {
    expect(() => nn.readSafetensorsHeader(file(good(), 16))).toThrow(nn.SafetensorsError);
    expect(() => nn.loadSafetensors(42 as never)).toThrow(/^source must be a file path, a Uint8Array\/Buffer or an ArrayBuffer, got number 42/);
    expect(() => nn.loadSafetensors(path.join(dir, 'no-such-file'))).toThrow(/ENOENT/);
  });
});

describe('fuzzed files never crash and never throw anything but a clear error', () => {
  it('2,000 mutations of a valid file (flipped bytes, cuts, rewritten lengths) load or throw a SafetensorsError', () => {
    const rng = makeRng(99);
    const valid = nn.serializeSafetensors({
      w: { data: Float32Array.of(1, 2, 3), shape: [3] }, h: { data: Uint16Array.of(1, 2), shape: [2], dtype: 'bfloat16' },
      n: { data: BigInt64Array.of(3n), shape: [] },
    }, { k: 'v' });
    for (let i = 0; i < 2000; i++) {
      const bytes = valid.slice();
      const kind = i % 4;
      if (kind === 0) for (let k = 0; k < 1 + (i % 5); k++) bytes[Math.floor(rng.uniform() * bytes.length)] = Math.floor(rng.uniform() * 256);
      else if (kind === 1) new DataView(bytes.buffer).setUint32(0, Math.floor(rng.uniform() * 400), true);
      else if (kind === 2) bytes[8 + Math.floor(rng.uniform() * 60)] = '0123456789[]{},:"'.charCodeAt(Math.floor(rng.uniform() * 17));
      const input = kind === 3 ? bytes.subarray(0, Math.floor(rng.uniform() * bytes.length)) : bytes;
      try {
        const t = nn.loadSafetensors(input);
        for (const v of Object.values(t)) expect(v.data.length).toBe(v.shape.reduce((p, d) => p * d, 1));
      } catch (e) {
        if (!(e instanceof nn.SafetensorsError)) expect.fail(`mutation ${i} threw ${String(e)}`);
      }
    }
  });
});
