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

/** Times `fns` in interleaved samples: one batch of fns[0], then one of fns[1], ... so all see the
 * same machine load (this machine is shared; a copy measured a minute earlier is not comparable).
 * fns[0] drives the budget. Returns, per function, the median seconds per call and the sorted
 * per-call samples. The warm-up also JIT-compiles JS contenders, faults in output pages and
 * wakes the thread pool. */
export function measure(fns, budget) {
  const inners = fns.map((fn) => {
    // Warm up in batches of 1, 1, 2, 4, ... calls; the last batch estimates the cost of one call
    // (never the first call alone: it pays for JIT compilation and first-touch page faults).
    let batch = 1;
    let spent = 0;
    for (let round = 1; ; round++) {
      const t0 = now();
      for (let i = 0; i < batch; i++) fn();
      const dt = Number(now() - t0);
      spent += dt;
      if (round >= 2 && spent >= budget.warmSec * 1e9) {
        const perCallNs = dt / batch;
        return { perCallNs, inner: Math.max(1, Math.min(budget.maxInner, Math.round((budget.sampleSec * 1e9) / perCallNs))) };
      }
      if (round >= 2) batch *= 2;
    }
  });
  // Calls slower than the whole budget (reference, JS loop on big shapes) stop at 3 samples.
  const minSamples = inners[0].perCallNs * budget.minSamples > 2 * budget.minSec * 1e9 ? 3 : budget.minSamples;
  const perCall = fns.map(() => []);
  let total = 0;
  while ((total < budget.minSec * 1e9 || perCall[0].length < minSamples) && perCall[0].length < budget.maxSamples) {
    for (let k = 0; k < fns.length; k++) {
      const fn = fns[k];
      const inner = inners[k].inner;
      const t0 = now();
      for (let i = 0; i < inner; i++) fn();
      const dt = Number(now() - t0);
      perCall[k].push(dt / inner / 1e9);
      if (k === 0) total += dt;
    }
  }
  return perCall.map((samples, k) => {
    samples.sort((a, b) => a - b);
    return { seconds: median(samples), minSeconds: samples[0], samples, inner: inners[k].inner };
  });
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

/** Throws unless the plain-JS contender computes what the library computes. */
export function checkJsLoop(s, inputs, lib) {
  const expected = s.newOut(inputs);
  s.call(lib.fastnorm, inputs, expected);
  const actual = s.newOut(inputs);
  s.jsLoop(inputs, actual);
  const tol = s.tolerance ?? 1e-4;
  for (const key of Object.keys(expected)) {
    const e = expected[key];
    const a = actual[key];
    let scale = 0;
    let err = 0;
    for (let i = 0; i < e.length; i++) {
      scale = Math.max(scale, Math.abs(e[i]));
      const d = Math.abs(a[i] - e[i]);
      if (!(d <= err)) err = d; // NaN-safe: a NaN difference becomes the error
    }
    if (!(err <= tol * (1 + scale)))
      throw new Error(`${scenarioLabel(s)}: JS loop disagrees with fastnorm on ${key}: max |diff| ${err} (scale ${scale})`);
  }
}

/** Runs every contender on every scenario; returns one row per (scenario, contender). */
export function runBench({ scenarios, contenders, lib, budget, setThreads, copyMeter, gc = () => {}, progress = () => {} }) {
  const rows = [];
  for (const s of scenarios) {
    const label = scenarioLabel(s);
    const inputs = s.setup(lib);
    checkJsLoop(s, inputs, lib);
    const copy = copyMeter.forBytes(s.bytes);
    const scenarioRows = [];
    for (const c of contenders) {
      const fn = c.prepare(s, inputs);
      setThreads(c.threads); // the contender and its copy yardstick run at the same thread count
      gc(); // each row starts without the previous row's garbage (allocating rows make plenty)
      const [m, cm] = measure([fn, copy.call], budget);
      copyMeter.record(s.bytes, c.threads, copy.bytesMoved, cm.samples);
      const gbps = s.bytes / m.seconds / 1e9;
      const copyGbps = copy.bytesMoved / cm.seconds / 1e9;
      const row = {
        op: s.op, dir: s.dir, shape: s.shape, contender: c.name, kind: c.kind, mode: c.mode, threads: c.threads,
        bytes: s.bytes, seconds: m.seconds, minSeconds: m.minSeconds, samples: m.samples.length, callsPerSample: m.inner,
        gbps, copyGbps, copyFraction: gbps / copyGbps, speedupVsJs: null, baseline: Boolean(c.baseline),
      };
      scenarioRows.push(row);
      progress(`${label.padEnd(30)} ${c.name.padEnd(16)} ${formatTime(m.seconds).padStart(9)}  ` +
        `${gbps.toFixed(1).padStart(6)} GB/s  copy ${copyGbps.toFixed(1).padStart(6)} GB/s`);
    }
    const base = scenarioRows.find((r) => r.baseline);
    for (const r of scenarioRows) {
      if (base) r.speedupVsJs = base.seconds / r.seconds;
      delete r.baseline;
    }
    rows.push(...scenarioRows);
  }
  return rows;
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
  { title: 'contender', value: (r) => r.contender },
  { title: 'time/call', value: (r) => formatTime(r.seconds), right: true },
  { title: 'GB/s', value: (r) => fixed3(r.gbps), right: true },
  { title: 'copy GB/s', value: (r) => `${fixed3(r.copyGbps)} (${r.threads}T)`, right: true },
  { title: '% copy', value: (r) => `${Math.round(100 * r.copyFraction)}%`, right: true },
  { title: 'vs JS', value: (r) => (r.speedupVsJs === null ? '-' : `${fixed3(r.speedupVsJs)}×`), right: true },
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
