// The benchmark harness: runs every contender on every scenario, measures the memory-copy
// bandwidth each row is compared with, and formats the one table (console and Markdown).
// Nothing here knows about a particular op; scenarios and contenders are plain data.
//
// A scenario (see scenarios/row-norm.mjs):
//   op, dir, shape      what the row says ('layerNorm', 'forward', [8192, 768])
//   bytes               minimum bytes: each input read once + each output written once
//   setup(lib)          builds the inputs once (lib = { fastnorm, addon })
//   call(api, inputs, out?)  one call of `api` (fastnorm or fastnorm.reference); out omitted:
//                       outputs allocated by the call, the default API
//   newOut(inputs)      fresh caller-provided output buffers { name: typedArray }
//   jsLoop(inputs, out) the plain-JavaScript contender, writing into `out`
//   tolerance?          for checking jsLoop against the library (default 1e-4, relative)
//   targets?            { copyFraction, jsSpeedup, callMicros } read by targets.mjs
//   peer?               what the peers (peers/) need to build the same case: { op, dir, eps,
//                       shape (row ops) | nchw + layout (+ groups, momentum) (channel ops) }
//   only?(contender)    runs the scenario only with the contenders it accepts (default: all)
//   baselineName?       what the baseline contender is, for target labels (default 'JS loop')
// bytes 0: no bandwidth figure (whole-model rows); GB/s and % copy print as '-'.

const now = process.hrtime.bigint;

export const BUDGETS = {
  // warm: warm-up time; min: timed time per row; sample: time one sample (an inner batch of
  // calls) aims for, so µs-sized calls are batched and timer overhead vanishes.
  full: { warmSec: 0.03, minSec: 0.12, sampleSec: 0.001, minSamples: 5, maxSamples: 1000, maxInner: 10000 },
  quick: { warmSec: 0.01, minSec: 0.04, sampleSec: 0.0005, minSamples: 3, maxSamples: 1000, maxInner: 10000 },
};

export function scenarioLabel(s) {
  return `${s.op} ${s.dir} [${s.shape.join(',')}]`;
}

function median(sorted) {
  const m = sorted.length >> 1;
  return sorted.length % 2 ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2;
}

/**
 * Times every runner interleaved, round by round: one sample (an inner batch of calls) of each
 * runner per round, in an order that rotates every round, so machine drift and the load of this
 * shared machine hit every contender alike. A runner is { sample(inner) } returning seconds per
 * call (or a Promise of it: peers in another process or behind a promise API). Every runner
 * takes part in every round, so all of a scenario's samples span the same stretch of time; the
 * number of rounds spends about `minSec` per runner (at least `minSamples` rounds). Calls slower
 * than the whole budget (reference, JS loop, TF.js on big shapes) take 3 samples, in the first
 * rounds. Returns, per runner, the median seconds per call and the sorted samples.
 *
 * The warm-up (batches of 1, 1, 2, 4, ... calls, at least three) sizes each runner's inner batch
 * from its last batch (never the first call alone: it pays for JIT compilation, first-touch page
 * faults and waking thread pools). Runners sharing a `group` (the variants of one peer
 * contender) are only there to find the fastest: one whose warm-up was over VARIANT_MARGIN × the
 * group's best is not timed further (result { dropped: true, warmSeconds }).
 */
const VARIANT_MARGIN = 1.25;
const SLOW_SAMPLES = 3;

export async function measure(runners, budget) {
  const state = [];
  for (const r of runners) {
    let batch = 1;
    let spent = 0;
    for (let round = 1; ; round++) {
      const perCall = await r.sample(batch);
      spent += perCall * batch;
      if (round >= 3 && spent >= budget.warmSec) {
        const inner = Math.max(1, Math.min(budget.maxInner, Math.round(budget.sampleSec / perCall)));
        const slow = perCall * budget.minSamples > 2 * budget.minSec;
        state.push({ r, inner, slow, samples: [], warmSeconds: perCall, dropped: false });
        break;
      }
      if (round >= 2) batch *= 2;
    }
  }
  const bestWarm = new Map();
  for (const st of state)
    if (st.r.group !== undefined) bestWarm.set(st.r.group, Math.min(bestWarm.get(st.r.group) ?? Infinity, st.warmSeconds));
  for (const st of state)
    if (st.r.group !== undefined && st.warmSeconds > VARIANT_MARGIN * bestWarm.get(st.r.group)) st.dropped = true;
  const timed = state.filter((st) => !st.dropped);
  const regular = timed.filter((st) => !st.slow);
  const roundSeconds = regular.reduce((t, st) => t + st.inner * st.warmSeconds, 0);
  const rounds = Math.min(budget.maxSamples, Math.max(budget.minSamples, SLOW_SAMPLES,
    Math.ceil((regular.length * budget.minSec) / Math.max(roundSeconds, 1e-9))));
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < timed.length; k++) {
      const st = timed[(k + round) % timed.length];
      if (st.slow && st.samples.length >= SLOW_SAMPLES) continue;
      st.samples.push(await st.r.sample(st.inner));
    }
  }
  return state.map(({ samples, inner, dropped, warmSeconds }) => {
    if (dropped) return { dropped, warmSeconds };
    samples.sort((a, b) => a - b);
    return { seconds: median(samples), minSeconds: samples[0], samples, inner, warmSeconds };
  });
}

/** A runner timing `inner` back-to-back calls of the synchronous `fn` at `threads`. */
function syncRunner(fn, threads, setThreads) {
  return {
    sample(inner) {
      setThreads(threads);
      const t0 = now();
      for (let i = 0; i < inner; i++) fn();
      return Number(now() - t0) / 1e9 / inner;
    },
  };
}

/** The memory-copy yardstick: `copy(dst, src)` (the addon's multithreaded memcpy) on two
 * buffers of bytes/2 each, so it reads and writes `bytes` in total. Every sample is kept per
 * (bytes, threads) for the per-size summary. */
export function createCopyMeter(copy) {
  const pooled = new Map();
  return {
    /** A zero-argument copy call moving `bytes`, and the number of bytes it really moves. */
    forBytes(bytes) {
      const length = Math.max(1, Math.round(bytes / 8));
      const src = new Float32Array(length).fill(1); // touched now: no page faults while timing
      const dst = new Float32Array(length).fill(0);
      return { call: () => copy(dst, src), bytesMoved: 2 * length * Float32Array.BYTES_PER_ELEMENT };
    },
    record(bytes, threads, bytesMoved, samples) {
      const key = `${bytes}|${threads}`;
      const entry = pooled.get(key) ?? { bytes, threads, bytesMoved, samples: [] };
      entry.samples.push(...samples);
      pooled.set(key, entry);
    },
    /** Per (bytes, threads): median over every copy sample of the run. */
    summary() {
      return [...pooled.values()].map(({ bytes, threads, bytesMoved, samples }) => {
        const seconds = median([...samples].sort((a, b) => a - b));
        return { bytes, threads, bytesMoved, seconds, gbps: bytesMoved / seconds / 1e9, samples: samples.length };
      });
    },
  };
}

/** The worst disagreement of `actual` with `expected` on the outputs both have, as text, or
 * null when every one is within tol·(1 + max |expected|). */
export function compareOutputs(expected, actual, tol) {
  const names = Object.keys(actual).filter((k) => k in expected);
  if (names.length === 0) return `no output to compare (got ${Object.keys(actual).join(', ')})`;
  for (const key of names) {
    const e = expected[key];
    const a = actual[key];
    if (a.length !== e.length) return `${key} has ${a.length} values, expected ${e.length}`;
    let scale = 0;
    let err = 0;
    for (let i = 0; i < e.length; i++) {
      scale = Math.max(scale, Math.abs(e[i]));
      const d = Math.abs(a[i] - e[i]);
      if (Number.isNaN(d)) {
        err = NaN; // a NaN anywhere is the error, whatever follows it
        break;
      }
      if (d > err) err = d;
    }
    if (!(err <= tol * (1 + scale))) return `${key}: max |diff| ${err.toPrecision(3)} (scale ${scale.toPrecision(3)})`;
  }
  return null;
}

// Peers compute in float32 with their own summation order: agreement to 1e-3 of the output's
// scale says they compute the same op (a wrong variance or layout is off by far more).
const PEER_TOLERANCE = 1e-3;

/** fastnorm's own outputs for a scenario (reused out buffers), what JS loop and peers must match. */
function expectedOutputs(s, inputs, lib) {
  const expected = s.newOut(inputs);
  s.call(lib.fastnorm, inputs, expected);
  return expected;
}

/** Throws unless the plain-JS contender computes what the library computes. */
export function checkJsLoop(s, inputs, expected) {
  const actual = s.newOut(inputs);
  s.jsLoop(inputs, actual);
  const bad = compareOutputs(expected, actual, s.tolerance ?? 1e-4);
  if (bad) throw new Error(`${scenarioLabel(s)}: JS loop disagrees with fastnorm on ${bad}`);
}

/**
 * Runs every contender on every scenario, all of a scenario's contenders (and their copy
 * yardsticks, one per thread count) interleaved in one measurement; returns one row per
 * (scenario, contender). Peer contenders contribute one row each: their fastest variant, with
 * every variant's median kept in `variants`. `note(text)` receives the peers' per-scenario notes.
 */
export async function runBench({
  scenarios, contenders, lib, budget, setThreads, copyMeter, gc = () => {}, progress = () => {}, note = () => {},
  releasePeers = async () => {}, onlyWithPeers = false,
}) {
  const rows = [];
  const compare = (expected, actual) => compareOutputs(expected, actual, PEER_TOLERANCE);
  for (const s of scenarios) {
    const label = scenarioLabel(s);
    const inputs = s.setup(lib);
    const expected = expectedOutputs(s, inputs, lib);
    if (contenders.some((c) => c.kind === 'js' && (!s.only || s.only(c)))) checkJsLoop(s, inputs, expected);
    const entries = []; // { c, variants: [{ impl, mode, runner }] }
    for (const c of contenders) {
      if (s.only && !s.only(c)) continue;
      if (c.kind === 'peer') {
        const p = await c.prepare(s, inputs, expected, compare);
        if (!p) continue;
        for (const text of p.notes ?? []) note(`${label}: ${text}`);
        if (p.variants.length)
          entries.push({ c, variants: p.variants.map((v) => ({ ...v, runner: { sample: v.sample, group: c.name } })) });
      } else {
        entries.push({ c, variants: [{ runner: syncRunner(c.prepare(s, inputs), c.threads, setThreads) }] });
      }
    }
    if (onlyWithPeers && !entries.some((e) => e.c.kind === 'peer')) {
      await releasePeers();
      continue;
    }
    const threadCounts = [...new Set(entries.map((e) => e.c.threads))];
    const copy = copyMeter.forBytes(s.bytes);
    const copies = threadCounts.map((t) => ({ threads: t, runner: syncRunner(copy.call, t, setThreads) }));
    const runners = [...entries.flatMap((e) => e.variants.map((v) => v.runner)), ...copies.map((c) => c.runner)];
    gc(); // the scenario starts without the previous one's garbage (allocating rows make plenty)
    const index = new Map(runners.map((r, i) => [r, i]));
    const measured = await measure(runners, budget);
    const resultOf = (runner) => measured[index.get(runner)];
    const copyGbpsAt = new Map();
    for (const c of copies) {
      const m = resultOf(c.runner);
      copyMeter.record(s.bytes, c.threads, copy.bytesMoved, m.samples);
      copyGbpsAt.set(c.threads, copy.bytesMoved / m.seconds / 1e9);
    }
    const scenarioRows = [];
    for (const { c, variants } of entries) {
      const all = variants.map((v) => ({ ...v, m: resultOf(v.runner) }));
      const timed = all.filter((v) => !v.m.dropped);
      const best = timed.reduce((a, b) => (b.m.seconds < a.m.seconds ? b : a));
      const m = best.m;
      const gbps = s.bytes / m.seconds / 1e9;
      const copyGbps = copyGbpsAt.get(c.threads);
      const row = {
        op: s.op, dir: s.dir, shape: s.shape, contender: c.name, kind: c.kind, mode: best.mode ?? c.mode, threads: c.threads,
        bytes: s.bytes, seconds: m.seconds, minSeconds: m.minSeconds, samples: m.samples.length, callsPerSample: m.inner,
        gbps, copyGbps, copyFraction: gbps / copyGbps, speedupVsJs: null, speedupVsPeer: null, fastestPeer: null,
      };
      if (c.kind === 'peer') {
        Object.assign(row, { peer: c.peer, impl: best.impl, singleThreaded: Boolean(c.singleThreaded) });
        row.variants = all.map((v) => (v.m.dropped
          ? { impl: v.fullImpl ?? v.impl, mode: v.mode, dropped: true, warmSeconds: v.m.warmSeconds }
          : { impl: v.fullImpl ?? v.impl, mode: v.mode, seconds: v.m.seconds, samples: v.m.samples.length, warmSeconds: v.m.warmSeconds }));
      }
      if (c.baseline) row.baseline = true;
      scenarioRows.push(row);
      progress(`${label.padEnd(30)} ${contenderLabel(row).padEnd(24)} ${formatTime(m.seconds).padStart(9)}  ` +
        `${gbps.toFixed(1).padStart(6)} GB/s  copy ${copyGbps.toFixed(1).padStart(6)} GB/s`);
    }
    addSpeedups(scenarioRows);
    rows.push(...scenarioRows);
    await releasePeers();
  }
  return rows;
}

/** The fastest peer row a row at `threads` threads is compared with: peers at the same thread
 * count, and single-threaded peers (TF.js cpu) at every thread count, since one thread is all
 * they can use. */
export function fastestPeer(scenarioRows, threads) {
  const peers = scenarioRows.filter((p) => p.kind === 'peer' && (p.threads === threads || p.singleThreaded));
  return peers.length ? peers.reduce((a, b) => (b.seconds < a.seconds ? b : a)) : null;
}

function addSpeedups(scenarioRows) {
  const base = scenarioRows.find((r) => r.baseline);
  for (const r of scenarioRows) {
    if (base) r.speedupVsJs = base.seconds / r.seconds;
    delete r.baseline;
    if (r.kind !== 'native') continue;
    const peer = fastestPeer(scenarioRows, r.threads);
    if (peer) {
      r.speedupVsPeer = peer.seconds / r.seconds;
      r.fastestPeer = contenderLabel(peer);
      r.fastestPeerName = peer.peer;
    }
  }
}

/** A row's contender with, for peers, the variant that was fastest: "pytorch 2T (aten)". */
export function contenderLabel(r) {
  return r.impl ? `${r.contender} (${r.impl})` : r.contender;
}

// ---- formatting -------------------------------------------------------------------------

function fixed3(v) {
  // Three significant digits without exponents: 1.23, 12.3, 123.
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

export function formatTime(seconds) {
  if (seconds < 1e-3) return `${fixed3(seconds * 1e6)} µs`;
  if (seconds < 1) return `${fixed3(seconds * 1e3)} ms`;
  return `${fixed3(seconds)} s`;
}

const COLUMNS = [
  { title: 'op', value: (r) => r.op, group: true },
  { title: 'dir', value: (r) => (r.dir === 'forward' ? 'fwd' : r.dir === 'backward' ? 'bwd' : r.dir), group: true },
  { title: 'shape', value: (r) => `[${r.shape.join(',')}]`, group: true },
  { title: 'contender', value: (r) => contenderLabel(r) },
  { title: 'time/call', value: (r) => formatTime(r.seconds), right: true },
  { title: 'GB/s', value: (r) => (r.bytes ? fixed3(r.gbps) : '-'), right: true },
  { title: 'copy GB/s', value: (r) => (r.bytes ? `${fixed3(r.copyGbps)} (${r.threads}T)` : '-'), right: true },
  { title: '% copy', value: (r) => (r.bytes ? `${Math.round(100 * r.copyFraction)}%` : '-'), right: true },
  { title: 'vs JS', value: (r) => (r.speedupVsJs === null ? '-' : `${fixed3(r.speedupVsJs)}×`), right: true },
  { title: 'vs peer', value: (r) => (r.speedupVsPeer === null ? '-' : `${fixed3(r.speedupVsPeer)}× ${r.fastestPeerName}`) },
];

function sameScenario(a, b) {
  return b && a.op === b.op && a.dir === b.dir && a.shape.join() === b.shape.join();
}

/** The table for a terminal: a scenario's op/dir/shape printed on its first row only. */
export function consoleTable(rows) {
  const cells = rows.map((r, i) =>
    COLUMNS.map((c) => (c.group && sameScenario(r, rows[i - 1]) ? '' : c.value(r))));
  const widths = COLUMNS.map((c, j) => Math.max(c.title.length, ...cells.map((row) => row[j].length)));
  const line = (vals) => vals.map((v, j) => (COLUMNS[j].right ? v.padStart(widths[j]) : v.padEnd(widths[j]))).join('  ');
  const out = [line(COLUMNS.map((c) => c.title)), widths.map((w) => '-'.repeat(w)).join('  ')];
  cells.forEach((vals, i) => {
    if (i > 0 && !sameScenario(rows[i], rows[i - 1])) out.push('');
    out.push(line(vals).trimEnd());
  });
  return out.join('\n');
}

/** The same table in GitHub Markdown (every cell filled, so it sorts and parses). */
export function markdownTable(rows) {
  const head = `| ${COLUMNS.map((c) => c.title).join(' | ')} |`;
  const rule = `| ${COLUMNS.map((c) => (c.right ? '---:' : '---')).join(' | ')} |`;
  return [head, rule, ...rows.map((r) => `| ${COLUMNS.map((c) => c.value(r)).join(' | ')} |`)].join('\n');
}

export function formatBytes(bytes) {
  if (bytes >= 1 << 20) return `${(bytes / (1 << 20)).toFixed(1)} MiB`;
  if (bytes >= 1 << 10) return `${(bytes / (1 << 10)).toFixed(1)} KiB`;
  return `${bytes} B`;
}

/** Copy bandwidth per byte size (rows) and thread count (columns). */
export function copyTable(copies, threadCounts) {
  const sizes = [...new Set(copies.map((c) => c.bytes))].sort((a, b) => b - a);
  const cell = (bytes, t) => {
    const c = copies.find((x) => x.bytes === bytes && x.threads === t);
    return c ? `${fixed3(c.gbps)} GB/s` : '-';
  };
  const head = ['bytes (op)', ...threadCounts.map((t) => `${t}T`)];
  const body = sizes.map((b) => [formatBytes(b), ...threadCounts.map((t) => cell(b, t))]);
  const widths = head.map((h, j) => Math.max(h.length, ...body.map((r) => r[j].length)));
  return [head, ...body].map((r) => r.map((v, j) => (j ? v.padStart(widths[j]) : v.padEnd(widths[j]))).join('  ')).join('\n');
}

export function targetsText(targets) {
  if (targets.length === 0) return '(no targets apply to the selected scenarios)';
  const w = Math.max(...targets.map((t) => t.target.length));
  const m = Math.max(...targets.map((t) => t.measured.length));
  return targets.map((t) => `${t.target.padEnd(w)}  ${t.measured.padEnd(m)}  ${t.met ? 'MET' : 'NOT MET'}`).join('\n');
}

export function targetsMarkdown(targets) {
  return ['| target | measured | |', '| --- | --- | --- |',
    ...targets.map((t) => `| ${t.target} | ${t.measured} | ${t.met ? 'MET' : '**NOT MET**'} |`)].join('\n');
}

export { fixed3 };
