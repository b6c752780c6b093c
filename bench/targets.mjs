// The performance targets of DESIGN.md §6, checked against the rows of one run. Per-scenario
// targets are declared by the scenarios themselves (`targets`), so new ops bring their own.
import { fixed3, formatTime, scenarioLabel } from './harness.mjs';

function rowsOf(rows, s) {
  return rows.filter((r) => r.op === s.op && r.dir === s.dir && r.shape.join() === s.shape.join());
}

export function evaluateTargets(rows, scenarios, allThreads) {
  const lines = [];
  for (const s of scenarios) {
    const mine = rowsOf(rows, s);
    if (mine.length === 0) continue;
    const t = s.targets ?? {};
    const label = scenarioLabel(s);
    if (t.copyFraction !== undefined) {
      // Caller-provided out buffers, at every measured thread count.
      const native = mine.filter((r) => r.kind === 'native' && r.mode === 'out');
      if (native.length)
        lines.push({
          target: `${label} out: ≥ ${Math.round(100 * t.copyFraction)}% of copy`,
          measured: native.map((r) => `${r.threads}T ${Math.round(100 * r.copyFraction)}%`).join(', '),
          met: native.every((r) => r.copyFraction >= t.copyFraction),
        });
    }
    if (t.callMicros !== undefined) {
      // The default API call: allocating, default (all) threads.
      const r = mine.find((x) => x.kind === 'native' && x.mode === 'alloc' && x.threads === allThreads);
      if (r)
        lines.push({
          target: `${label} allocating call: ≤ ${t.callMicros} µs`,
          measured: `${formatTime(r.seconds)} (${r.contender})`,
          met: r.seconds * 1e6 <= t.callMicros,
        });
    }
    if (t.jsSpeedup !== undefined) {
      // The best native configuration, named in the measured column.
      const native = mine.filter((r) => r.kind === 'native' && r.speedupVsJs !== null);
      if (native.length) {
        const best = native.reduce((a, b) => (b.speedupVsJs > a.speedupVsJs ? b : a));
        lines.push({
          target: `${label}: ≥ ${t.jsSpeedup}× the JS loop`,
          measured: `${fixed3(best.speedupVsJs)}× (${best.contender})`,
          met: best.speedupVsJs >= t.jsSpeedup,
        });
      }
    }
  }
  // Native is never slower than the reference backend: the worst native/reference time ratio.
  let worst = null;
  for (const s of scenarios) {
    const mine = rowsOf(rows, s);
    const ref = mine.find((r) => r.kind === 'reference');
    if (!ref) continue;
    for (const r of mine.filter((x) => x.kind === 'native')) {
      const ratio = r.seconds / ref.seconds;
      if (!worst || ratio > worst.ratio) worst = { ratio, where: `${scenarioLabel(s)} ${r.contender}` };
    }
  }
  if (worst)
    lines.push({
      target: 'native never slower than reference (every row)',
      measured: `worst ${fixed3(worst.ratio)}× ref time: ${worst.where}`,
      met: worst.ratio <= 1,
    });
  return lines;
}
