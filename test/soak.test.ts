// Soak (issue 5): 10^5 mixed small calls, every op, sync and promise, allocating and with reused
// `out` buffers, must not grow memory. After a warm-up, memory is sampled after a full garbage
// collection at every 25 000 calls; from the first sample to the last, RSS may grow by at most
// RSS_BOUND and the ArrayBuffer/external memory (what the calls allocate, and what a worker that
// kept its references would leak) by at most EXTERNAL_BOUND. A leak of one small output per call
// would be ~30 MiB of ArrayBuffers here, a leaked reference per promise call megabytes of heap.
import { describe, expect, it } from 'vitest';
import * as fastnorm from '../src/index';
import * as promises from '../src/promises';
import { DTYPES, forceGc, makeRng } from './helpers';
import { OP_CASES, OP_NAMES, typedArraysIn, withOptions, type OpFlags } from './op-cases';

type AnyOp = (...args: unknown[]) => unknown;
const sync = fastnorm as unknown as Record<string, AnyOp>;
const async = promises as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
const OPS = OP_NAMES;
const caseOf = (name: string) => OP_CASES[name as (typeof OP_NAMES)[number]];

const CALLS = 100_000;
const SAMPLE_EVERY = 25_000;
const WARMUP = 10_000;
const CONCURRENT = 64; // promise calls in flight at once
const MiB = 1024 * 1024;
const RSS_BOUND = 32 * MiB;
const EXTERNAL_BOUND = 4 * MiB;

interface Prepared {
  name: string;
  args: unknown[];
  /** the same arguments with every output in caller-provided `out` buffers */
  argsWithOut: unknown[];
}

/** A fixed set of small valid calls (server-sized: up to a few rows of up to 768 values), reused round-robin. */
function prepareCalls(): Prepared[] {
  const rng = makeRng(17);
  const calls: Prepared[] = [];
  for (let k = 0; k < 256; k++) {
    const name = OPS[k % OPS.length];
    const op = caseOf(name);
    const flags: OpFlags = { weight: rng.uniform() < 0.5, bias: rng.uniform() < 0.5, running: rng.uniform() < 0.5, alt: rng.uniform() < 0.5, eval: false };
    const input = { seed: k, dtype: DTYPES[k % 2], dims: [1 + (k % 3), 2 + (k % 4), [3, 16, 64, 768][k % 4]] as const, flags };
    const args = op.args(input);
    try {
      sync[name](...args);
    } catch {
      continue; // e.g. BatchNorm training with one value per channel
    }
    const argsWithOut = op.args(input);
    const result = sync[name](...op.args(input)) as Record<string, unknown>;
    const out = Object.fromEntries(typedArraysIn(result).map(([path, a]) => [path.split('.')[0], a.slice()])
      .filter(([key]) => op.outKeys.includes(key as string)));
    if (op.outKeys.length > 0) withOptions(argsWithOut, { out });
    calls.push({ name, args, argsWithOut });
  }
  return calls;
}

/** Runs `count` calls: alternately a batch of sync calls and a batch of concurrent promise calls. */
async function runCalls(calls: Prepared[], start: number, count: number): Promise<void> {
  for (let k = start; k < start + count; k += CONCURRENT) {
    const batch = Array.from({ length: Math.min(CONCURRENT, start + count - k) }, (_, j) => calls[(k + j) % calls.length]);
    const withOut = (k / CONCURRENT) % 4 >= 2;
    if ((k / CONCURRENT) % 2 === 0) {
      for (const c of batch) sync[c.name](...(withOut ? c.argsWithOut : c.args));
    } else {
      // (an op the table marks promise: 'sync' returns its result directly: Promise.all takes it as it is)
      await Promise.all(batch.map((c) => async[c.name](...(withOut ? c.argsWithOut : c.args))));
    }
  }
}

function memory() {
  forceGc();
  forceGc();
  const m = process.memoryUsage();
  return { rss: m.rss, external: m.external, arrayBuffers: m.arrayBuffers, heapUsed: m.heapUsed };
}

const mib = (bytes: number) => `${(bytes / MiB).toFixed(2)} MiB`;

describe('soak', () => {
  it(`${CALLS} mixed small calls (every op, sync and promise, allocating and into out buffers): memory stays flat`, async () => {
    const calls = prepareCalls();
    expect(new Set(calls.map((c) => c.name)).size).toBe(OPS.length);
    await runCalls(calls, 0, WARMUP);
    const samples = [memory()];
    for (let done = 0; done < CALLS; done += SAMPLE_EVERY) {
      await runCalls(calls, WARMUP + done, SAMPLE_EVERY);
      samples.push(memory());
    }
    const first = samples[0];
    const last = samples[samples.length - 1];
    console.log(`soak, ${CALLS} calls after ${WARMUP} warm-up calls, sampled after GC every ${SAMPLE_EVERY}:\n` + samples.map((s, i) =>
      `  ${String(i * SAMPLE_EVERY).padStart(6)} calls: rss ${mib(s.rss)}, external ${mib(s.external)}, arrayBuffers ${mib(s.arrayBuffers)}, heapUsed ${mib(s.heapUsed)}`).join('\n') +
      `\n  growth: rss ${mib(last.rss - first.rss)} (bound ${mib(RSS_BOUND)}), external ${mib(last.external - first.external)}, ` +
      `arrayBuffers ${mib(last.arrayBuffers - first.arrayBuffers)} (bound ${mib(EXTERNAL_BOUND)})`);
    expect(last.rss - first.rss).toBeLessThan(RSS_BOUND);
    expect(last.external - first.external).toBeLessThan(EXTERNAL_BOUND);
    expect(last.arrayBuffers - first.arrayBuffers).toBeLessThan(EXTERNAL_BOUND);
    expect(last.heapUsed - first.heapUsed).toBeLessThan(EXTERNAL_BOUND);
  }, 60_000);
});
