// The native backend: loads the addon (FASTNORM_ADDON_PATH, then prebuilds/, then the
// node-gyp build) and exposes its functions as the kernels, with no JavaScript in between.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { AsyncKernels, Backend, Kernels } from './kernels.js';
import { packageRoot } from './package-root.js';

/** The addon's own surface: the kernels plus runtime controls and test/bench hooks. */
export interface NativeAddon extends Kernels, AsyncKernels {
  info(): { isa: string; threads: number; cores: number; supportedIsas: string[]; warning?: string };
  setNumThreads(n: number): void;
  getNumThreads(): number;
  /** Test hook: switch this instance to another ISA path (falls back like FASTNORM_ISA). */
  _setIsa(isa: string): string;
  /** Bench hook: multithreaded memcpy, the bandwidth yardstick. */
  _copy(dst: ArrayBufferView, src: ArrayBufferView): void;
  /**
   * Test hook: the process-wide compute slots (see native/runtime/thread_pool.h): their number,
   * the most threads seen computing at once and how many calls waited for a slot, since the last
   * `_computeStats(true)`.
   */
  _computeStats(reset?: boolean): { limit: number; peakBusy: number; waits: number };
}

export function addonCandidates(): string[] {
  const explicit = process.env.FASTNORM_ADDON_PATH;
  if (explicit) return [explicit];
  return [
    join(packageRoot, 'prebuilds', `${process.platform}-${process.arch}`, 'fastnorm.node'),
    join(packageRoot, 'build', 'Release', 'fastnorm.node'),
  ];
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

export function createNativeBackend(addon: NativeAddon): Backend {
  return {
    name: 'native',
    kernels: addon,
    asyncKernels: addon,
    isa: () => addon.info().isa,
    setNumThreads: (n) => addon.setNumThreads(n),
    getNumThreads: () => addon.getNumThreads(),
  };
}
