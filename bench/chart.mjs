// The benchmark chart: a speedup dot plot, one panel per op, rendered to SVG from the results
// JSON with no browser. Each scenario is a line; its markers are fastnorm's speedup over the
// fastest peer at the same thread count (1T and all threads with reused `out` buffers, and the
// allocating default call at all threads), on a log axis with 1× and 1.5× marked. Without peer
// rows in the run, the markers are the speedups over the plain-JS loop instead.
//   node bench/chart.mjs [results.json] [out.svg]   (default: results/latest.json → latest.svg)
// Checked instead: vega (+ vega-lite) renders SVG headless but brings ~30 packages; Observable
// Plot needs a DOM (jsdom) in Node. A dot plot of a few dozen lines is a small string template.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const OPS = ['layerNorm', 'rmsNorm', 'groupNorm', 'instanceNorm', 'batchNorm'];
// Left column, right column: about the same number of lines in each.
const COLUMNS = [['layerNorm', 'rmsNorm', 'instanceNorm'], ['groupNorm', 'batchNorm']];
const SERIES = [
  { key: '1T out', label: '1 thread, out buffers', color: '#1f77b4', shape: 'circle', pick: (rows, t) => rows.find((r) => r.kind === 'native' && r.mode === 'out' && r.threads === 1) },
  { key: 'nT out', label: 'all threads, out buffers', color: '#d62728', shape: 'diamond', pick: (rows, t) => rows.find((r) => r.kind === 'native' && r.mode === 'out' && r.threads === t) },
  { key: 'nT alloc', label: 'all threads, allocating call', color: '#d62728', shape: 'ring', pick: (rows, t) => rows.find((r) => r.kind === 'native' && r.mode === 'alloc' && r.threads === t) },
];

const LINE = 17; // px per scenario line
const LABEL_W = 250; // scenario label column
const PLOT_W = 270;
const PEER_W = 110; // fastest-peer column
const PANEL_W = LABEL_W + PLOT_W + PEER_W;
const GAP = 30;
const HEAD = 24; // panel title
const AXIS = 22; // tick labels under a panel

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (v) => (v >= 10 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : v.toFixed(2));

function baseOp(op) {
  return op.split(' ')[0];
}

/** Scenarios of the results in table order, with their rows. */
function scenarios(results) {
  const map = new Map();
  for (const r of results.rows) {
    const key = `${r.op}|${r.dir}|${r.shape.join(',')}`;
    if (!map.has(key)) map.set(key, { op: r.op, dir: r.dir, shape: r.shape, rows: [] });
    map.get(key).rows.push(r);
  }
  return [...map.values()];
}

function marker(shape, x, y, color) {
  if (shape === 'circle') return `<circle cx="${x}" cy="${y}" r="4.5" fill="${color}"/>`;
  if (shape === 'diamond')
    return `<path d="M${x} ${y - 5.5}L${x + 5.5} ${y}L${x} ${y + 5.5}L${x - 5.5} ${y}Z" fill="${color}"/>`;
  return `<circle cx="${x}" cy="${y}" r="4" fill="white" stroke="${color}" stroke-width="1.8"/>`;
}

export function renderChart(results) {
  const all = scenarios(results);
  const threads = Math.max(...results.rows.map((r) => r.threads ?? 1));
  const withPeers = results.rows.some((r) => r.kind === 'peer');
  const speedup = (r) => (r ? (withPeers ? r.speedupVsPeer : r.speedupVsJs) : null);
  const values = all.flatMap((s) => SERIES.map((k) => speedup(k.pick(s.rows, threads)))).filter((v) => v > 0);
  const lo = 2 ** Math.floor(Math.log2(Math.min(0.5, ...values)));
  const hi = 2 ** Math.ceil(Math.log2(Math.max(2, ...values)));
  const xOf = (v) => LABEL_W + (PLOT_W * (Math.log2(v) - Math.log2(lo))) / (Math.log2(hi) - Math.log2(lo));
  const ticks = [];
  for (let v = lo; v <= hi; v *= 2) ticks.push(v);
  const labelEvery = Math.ceil(32 / (PLOT_W / (ticks.length - 1))); // tick labels ≥ 32 px apart

  const m = results.machine;
  const title = withPeers
    ? `fastnorm speedup over the fastest peer at the same thread count (right: which peer)`
    : 'fastnorm speedup over the plain-JavaScript loop (no peer in this run)';
  const subtitle = `${m.cpu}, ${m.cores} cores, ${m.fastnorm.isa}, node ${m.node}, ${m.date.slice(0, 10)}, ` +
    `${results.mode} run, load average ${m.loadavgStart[0].toFixed(1)}–${(m.loadavgEnd ?? m.loadavgStart)[0].toFixed(1)}. ` +
    'Log axis; > 1× = fastnorm faster.';

  const out = [];
  let height = 0;
  COLUMNS.forEach((ops, col) => {
    const x0 = col * (PANEL_W + GAP) + 10;
    let y = 70;
    for (const op of ops) {
      const lines = all.filter((s) => baseOp(s.op) === op);
      if (lines.length === 0) continue;
      const h = lines.length * LINE;
      out.push(`<g transform="translate(${x0},${y})">`);
      out.push(`<text x="0" y="14" font-size="14" font-weight="bold">${esc(op)}</text>`);
      const top = HEAD;
      // grid: ticks, 1× and 1.5×
      ticks.forEach((t) => {
        out.push(`<line x1="${xOf(t)}" y1="${top}" x2="${xOf(t)}" y2="${top + h}" stroke="#e4e4e4"/>`);
        if (Math.log2(t) % labelEvery === 0)
          out.push(`<text x="${xOf(t)}" y="${top + h + 14}" font-size="10" text-anchor="middle" fill="#555">${fmt(t)}×</text>`);
      });
      out.push(`<line x1="${xOf(1)}" y1="${top - 4}" x2="${xOf(1)}" y2="${top + h}" stroke="#333" stroke-width="1.2"/>`);
      if (withPeers)
        out.push(`<line x1="${xOf(1.5)}" y1="${top - 4}" x2="${xOf(1.5)}" y2="${top + h}" stroke="#2ca02c" stroke-dasharray="4 3"/>` +
          `<text x="${xOf(1.5) + 3}" y="${top - 5}" font-size="9" fill="#2ca02c">1.5×</text>`);
      lines.forEach((s, i) => {
        const cy = top + i * LINE + LINE / 2;
        if (i % 2) out.push(`<rect x="0" y="${cy - LINE / 2}" width="${PANEL_W}" height="${LINE}" fill="#000" fill-opacity="0.03"/>`);
        const layout = s.op.includes('NHWC') ? 'NHWC ' : '';
        out.push(`<text x="${LABEL_W - 8}" y="${cy + 4}" font-size="11" text-anchor="end">${esc(`${layout}${s.dir} [${s.shape.join(',')}]`)}</text>`);
        const peers = new Set();
        for (const k of SERIES) {
          const r = k.pick(s.rows, threads);
          const v = speedup(r);
          if (!(v > 0)) continue;
          if (withPeers && r.fastestPeerName) peers.add(r.fastestPeerName);
          const cx = Math.min(Math.max(xOf(v), LABEL_W), LABEL_W + PLOT_W);
          out.push(`<g>${marker(k.shape, Math.round(cx * 10) / 10, cy, k.color)}<title>${esc(`${s.op} ${s.dir} [${s.shape.join(',')}] ${k.label}: ${fmt(v)}× ` +
            (withPeers ? `${r.fastestPeer}` : 'the JS loop'))}</title></g>`);
        }
        if (withPeers)
          out.push(`<text x="${LABEL_W + PLOT_W + 8}" y="${cy + 4}" font-size="10" fill="#555">${esc([...peers].join(', ') || 'no peer')}</text>`);
      });
      out.push('</g>');
      y += HEAD + h + AXIS + 16;
    }
    height = Math.max(height, y);
  });

  // legend
  const legendY = height + 4;
  const legend = SERIES.map((k, i) => {
    const x = 20 + i * 230;
    const label = k.key === '1T out' ? k.label : k.label.replace('all threads', `${threads} threads`);
    return `${marker(k.shape, x, legendY, k.color)}<text x="${x + 10}" y="${legendY + 4}" font-size="11">${esc(label)}</text>`;
  }).join('');
  const width = COLUMNS.length * (PANEL_W + GAP) + 10;
  const total = legendY + 20;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${total}" viewBox="0 0 ${width} ${total}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="24" font-size="16" font-weight="bold">${esc(title)}</text>`,
    `<text x="10" y="44" font-size="11" fill="#444">${esc(subtitle)}</text>`,
    ...out,
    legend,
    '</svg>',
    '',
  ].join('\n');
}

export { OPS };

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const resultsDir = join(dirname(fileURLToPath(import.meta.url)), 'results');
  const input = process.argv[2] ?? join(resultsDir, 'latest.json');
  const output = process.argv[3] ?? input.replace(/\.json$/, '.svg');
  writeFileSync(output, renderChart(JSON.parse(readFileSync(input, 'utf8'))));
  console.log(`wrote ${output}`);
}
