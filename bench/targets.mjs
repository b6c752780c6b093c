// The performance targets of DESIGN.md §6, issue 10 (a fused activation against the plain norm),
// issue 11 (half precision against float32) and issue 13 (against PyTorch), checked against the
// rows of one run. Per-scenario targets are declared by the scenarios themselves (`targets`), so
// new ops bring their own.
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
          target: `${label}: ≥ ${t.jsSpeedup}× the ${s.baselineName ?? 'JS loop'}`,
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
  return [...lines, ...halfTargets(rows, scenarios), ...activationTargets(rows, scenarios), ...peerTargets(rows, scenarios, allThreads)];
}

// Each native `out` row of scenario s beside the row of `twinOp` with the same direction, shape
// and thread count: time of the twin / time of the row (above 1: the row is faster).
function overTwin(rows, s, twinOp) {
  const nativeOut = (r) => r.kind === 'native' && r.mode === 'out';
  const twins = rowsOf(rows, { op: twinOp, dir: s.dir, shape: s.shape }).filter(nativeOut);
  return rowsOf(rows, s).filter(nativeOut).flatMap((r) => {
    const twin = twins.find((t) => t.threads === r.threads);
    return twin ? [{ threads: r.threads, speedup: twin.seconds / r.seconds, copy: r.copyFraction }] : [];
  });
}
const isBackward = (dir) => dir === 'backward' || dir.endsWith('bwd');

// One target line (lineOf(s, overTwin results)) per scenario whose op carries `tag`, against the
// scenario of the op without it.
function twinTargets(rows, scenarios, tag, lineOf) {
  const lines = [];
  for (const s of scenarios) {
    if (!tag.test(s.op)) continue;
    const results = overTwin(rows, s, s.op.replace(tag, ''));
    if (results.length) lines.push(lineOf(s, results));
  }
  return lines;
}

// Issue 11's targets for the half-precision rows: a scenario labelled '<op> f16' or '<op> bf16'
// beside the float32 scenario of the same op, direction and shape; reused `out` buffers at every
// thread count. Forward (forward, train fwd, eval fwd): ≥ 1.7× faster than float32 and ≥ 85% of
// copy over the bytes moved; backward: ≥ 1.5× faster than float32.
const HALF_TAG = / (f16|bf16)$/;
const HALF_FORWARD_SPEEDUP = 1.7;
const HALF_BACKWARD_SPEEDUP = 1.5;
const HALF_COPY = 0.85;

export function halfTargets(rows, scenarios) {
  return twinTargets(rows, scenarios, HALF_TAG, (s, results) => {
    const backward = isBackward(s.dir);
    const bar = backward ? HALF_BACKWARD_SPEEDUP : HALF_FORWARD_SPEEDUP;
    return {
      target: `${scenarioLabel(s)} out: ≥ ${bar}× the float32 op${backward ? '' : `, ≥ ${Math.round(100 * HALF_COPY)}% of copy`}`,
      measured: results.map((r) => `${r.threads}T ${fixed3(r.speedup)}×${backward ? '' : ` ${Math.round(100 * r.copy)}%`}`).join(', '),
      met: results.every((r) => r.speedup >= bar && (backward || r.copy >= HALF_COPY)),
    };
  });
}

// Issue 10's target for a norm with a fused activation ('<op> + silu' and the like): within 1.1×
// the time of the same norm without it, forward and backward, at every thread count.
const ACTIVATION_TAG = / \+ (relu|silu|gelu|gelu-tanh)$/;
const ACTIVATION_OVER_PLAIN = 1.1;

export function activationTargets(rows, scenarios) {
  return twinTargets(rows, scenarios, ACTIVATION_TAG, (s, results) => ({
    target: `${scenarioLabel(s)} out: ≤ ${ACTIVATION_OVER_PLAIN}× the norm without activation`,
    measured: results.map((r) => `${r.threads}T ${fixed3(1 / r.speedup)}×`).join(', '),
    met: results.every((r) => 1 / r.speedup <= ACTIVATION_OVER_PLAIN),
  }));
}

// Issue 13's targets against PyTorch, when the run has PyTorch rows: on the large (DRAM-sized)
// cases, reused `out` buffers, at every thread count, ≥ 1.5× the fastest PyTorch path — or,
// where PyTorch itself runs above 60% of the copy bandwidth, ≥ 90% of it; the allocating call
// at most 1.3× the out call there; every [64,768] row faster than PyTorch.
const PEER_SPEEDUP = 1.5;
const ROOFLINE_PEER = 0.6;
const ROOFLINE_BAR = 0.9;
const ALLOC_OVER_OUT = 1.3;

function peerTargets(rows, scenarios, allThreads) {
  const lines = [];
  const torchAt = (mine, threads) => mine.find((r) => r.peer === 'pytorch' && r.threads === threads);
  for (const s of scenarios) {
    const mine = rowsOf(rows, s);
    if (!mine.some((r) => r.peer === 'pytorch')) continue;
    const label = scenarioLabel(s);
    const large = s.targets?.copyFraction !== undefined;
    const small = s.shape.join() === '64,768';
    if (large || small) {
      const results = [];
      for (const r of mine.filter((x) => x.kind === 'native' && x.mode === 'out')) {
        const torch = torchAt(mine, r.threads);
        if (!torch) continue;
        const speedup = torch.seconds / r.seconds;
        const roofline = large && torch.copyFraction > ROOFLINE_PEER;
        const met = small ? speedup > 1 : roofline ? r.copyFraction >= ROOFLINE_BAR : speedup >= PEER_SPEEDUP;
        results.push({
          met,
          text: `${r.threads}T ${fixed3(speedup)}×${roofline ? ` (PyTorch at ${Math.round(100 * torch.copyFraction)}% of copy: ` +
            `fastnorm ${Math.round(100 * r.copyFraction)}% of copy, bar ${Math.round(100 * ROOFLINE_BAR)}%)` : ''}`,
        });
      }
      if (results.length)
        lines.push({
          target: small ? `${label} out: faster than PyTorch` : `${label} out: ≥ ${PEER_SPEEDUP}× PyTorch (or ≥ 90% of copy)`,
          measured: results.map((x) => x.text).join(', '),
          met: results.every((x) => x.met),
        });
    }
    if (large) {
      const alloc = mine.find((r) => r.kind === 'native' && r.mode === 'alloc' && r.threads === allThreads);
      const out = mine.find((r) => r.kind === 'native' && r.mode === 'out' && r.threads === allThreads);
      if (alloc && out)
        lines.push({
          target: `${label} allocating call: ≤ ${ALLOC_OVER_OUT}× the out call (${allThreads}T)`,
          measured: `${fixed3(alloc.seconds / out.seconds)}× (${formatTime(alloc.seconds)} vs ${formatTime(out.seconds)})`,
          met: alloc.seconds <= ALLOC_OVER_OUT * out.seconds,
        });
    }
  }
  return lines;
}
