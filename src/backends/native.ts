// The native backend: loads the addon (FASTNORM_ADDON_PATH, else the local build, then the
// prebuilt binary) and runs its kernels. The addon takes a kernel's arguments by position, in
// the order of its rows (native/kernels/kernel_list.h, mirrored by src/api/kernel-schema.ts):
// each kernel here passes its checked arguments in that order, and nothing else.
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Backend } from '../api/backend.js';
import { KERNELS, type KernelName } from '../api/kernel-schema.js';
import type { AsyncKernels, Kernels } from '../api/op-table.js';
import { packageRoot } from '../api/package-root.js';

type Positional = (...args: unknown[]) => unknown;

/** The addon's own surface: every kernel by position (sync and `<name>Async`), runtime controls, test and bench hooks. */
export type NativeAddon = { [K in KernelName]: Positional } & { [K in KernelName as `${K}Async`]: (...args: unknown[]) => Promise<void> } & {
  info(): { isa: string; threads: number; cores: number; supportedIsas: string[]; warning?: string };
  setNumThreads(n: number): void;
  getNumThreads(): number;
  /** Test hook: switch this instance to another ISA path (falls back like FASTNORM_ISA). */
  _setIsa(isa: string): string;
  /**
   * Bench and test hook: outputs of at least `bytes` bytes are written with streaming stores
   * (process-wide; Infinity: never; default 8 MiB); returns the previous setting. Same bits either way.
   */
  _setStreamingBytes(bytes: number): number;
  /** Bench hook: multithreaded memcpy, the bandwidth yardstick. */
  _copy(dst: ArrayBufferView, src: ArrayBufferView): void;
  /**
   * Test hook: the process-wide compute slots (see native/runtime/thread_pool.h): their number,
   * the most threads seen computing at once and how many calls waited for a slot, since the last
   * `_computeStats(true)`.
   */
  _computeStats(reset?: boolean): { limit: number; peakBusy: number; waits: number };
  /** Large outputs (src/api/alloc.ts): an ArrayBuffer of `bytes`, not zeroed, from recycled blocks; undefined past the cache's bounds. */
  _allocateOutput(bytes: number): ArrayBuffer | undefined;
  /** Test hook: the output-block cache's bytes out and idle, and its allocation counts since the last `_outputBlockStats(true)`. */
  _outputBlockStats(reset?: boolean): { live: number; idle: number; reused: number; fresh: number; refused: number };
  /** Test hook: every kernel's rows of kernel_list.h, { name: [{ name, role, dtype, ... }] }. */
  _kernelSchema(): Record<string, Array<Record<string, unknown>>>;
  /** Half-precision conversions (native/kernels/convert.cc): src rounded or widened into dst. */
  toFloat16(src: Float32Array | Float64Array, dst: Uint16Array): void;
  fromFloat16(src: Uint16Array, dst: Float32Array | Float64Array): void;
  toBFloat16(src: Float32Array | Float64Array, dst: Uint16Array): void;
  fromBFloat16(src: Uint16Array, dst: Float32Array | Float64Array): void;
};

/**
 * Where the addon is looked for, in order. FASTNORM_ADDON_PATH, when set, is the only candidate.
 * Else build/Release first: it exists only after a compile on this machine (`npm install` found
 * no fitting prebuild, a forced source build, `npm run build`), so a stale prebuild never hides a
 * fresh build. Then the prebuilt binary of this platform-arch that `npm run build:prebuild`
 * (prebuildify) made and the package ships.
 */
export function addonCandidates(): string[] {
  const explicit = process.env.FASTNORM_ADDON_PATH;
  if (explicit) return [explicit];
  return [join(packageRoot, 'build', 'Release', 'fastnorm.node'), ...prebuildCandidates()];
}

/**
 * The files of a prebuilds/<platform>-<arch>/ directory that fit this process, named by
 * prebuildify `<name>[.<tag>...].node`: N-API ones (no `abi<N>` tag: any Node version with
 * N-API 8) whose libc tag, if any, is `libc` (a glibc build cannot load on musl). The name it
 * would have when there is none, so the fallback warning says where it was looked for.
 */
export function prebuildCandidates(
  dir = join(packageRoot, 'prebuilds', `${process.platform}-${process.arch}`),
  libc: string | undefined = process.platform !== 'linux' ? undefined : isMusl() ? 'musl' : 'glibc',
): string[] {
  let files: string[];
  try {
    files = readdirSync(dir);
  } catch {
    files = [];
  }
  const fitting = files.filter((file) => {
    const tags = file.split('.');
    if (tags.pop() !== 'node' || tags.some((t) => /^abi\d+$/.test(t))) return false;
    const fileLibc = tags.find((t) => t === 'glibc' || t === 'musl');
    return fileLibc === undefined || fileLibc === libc;
  });
  return fitting.length > 0 ? fitting.sort().map((file) => join(dir, file)) : [join(dir, `fastnorm${libc ? `.${libc}` : ''}.node`)];
}

/** musl (Alpine) or glibc: decided as prebuildify tags the binary and node-gyp-build picks it. */
function isMusl(): boolean {
  return existsSync('/etc/alpine-release');
}

/** Loads the addon, or returns the reason it could not be loaded. */
export function loadAddon(): { addon: NativeAddon } | { error: string } {
  const load = createRequire(__filename);
  const tried: string[] = [];
  for (const file of addonCandidates()) {
    if (!existsSync(file)) {
      tried.push(`${file} (not found)`);
      continue;
    }
    try {
      return { addon: load(file) as NativeAddon };
    } catch (e) {
      tried.push(`${file} (${(e as Error).message})`);
    }
  }
  return { error: `fastnorm native addon could not be loaded: ${tried.join('; ')}` };
}

/**
 * The addon's kernel `method` called with a kernel's named arguments, in the order of its rows:
 * compiled once per kernel into a direct call `addon.<method>(a.x, a.rows, ...)`, so each
 * property read and the call itself see one shape (a loop over the names would read them by
 * computed key, at a call site shared by every kernel, and spread them with apply).
 */
function byPosition(addon: NativeAddon, method: string, names: readonly string[]): (args: unknown) => unknown {
  const q = JSON.stringify;
  const call = `return addon[${q(method)}](${names.map((n) => `a[${q(n)}]`).join(', ')});`;
  return new Function('addon', `return function ${method}(a) { ${call} };`)(addon) as (args: unknown) => unknown;
}

export function createNativeBackend(addon: NativeAddon): Backend {
  const kernels: Record<string, unknown> = {};
  const asyncKernels: Record<string, unknown> = {};
  for (const [name, schema] of Object.entries(KERNELS)) {
    const names = schema.fields.map((f) => f.name);
    kernels[name] = byPosition(addon, name, names);
    asyncKernels[name] = byPosition(addon, `${name}Async`, names);
  }
  return {
    name: 'native',
    kernels: kernels as Kernels,
    asyncKernels: asyncKernels as AsyncKernels,
    conversions: {
      toFloat16: (src, dst) => addon.toFloat16(src, dst),
      fromFloat16: (src, dst) => addon.fromFloat16(src, dst),
      toBFloat16: (src, dst) => addon.toBFloat16(src, dst),
      fromBFloat16: (src, dst) => addon.fromBFloat16(src, dst),
    },
    isa: () => addon.info().isa,
    setNumThreads: (n) => addon.setNumThreads(n),
    getNumThreads: () => addon.getNumThreads(),
  };
}
