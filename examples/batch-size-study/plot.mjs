// The study's SVG: test accuracy against batch size for each norm (eval mode), and BatchNorm's
// accuracy with running statistics (eval) against batch statistics (train mode).
const COLORS = { BatchNorm: '#d62728', GroupNorm: '#1f77b4', LayerNorm: '#2ca02c', InstanceNorm: '#9467bd', 'no norm': '#7f7f7f' };

function panel({ x0, y0, width, height, title, batches, series, yMin }) {
  const px = (b) => x0 + (Math.log2(b) - Math.log2(batches[0])) / (Math.log2(batches.at(-1)) - Math.log2(batches[0])) * width;
  const py = (a) => y0 + height - ((a - yMin) / (1 - yMin)) * height;
  const out = [`<text x="${x0 + width / 2}" y="${y0 - 14}" text-anchor="middle" font-size="14" font-weight="bold">${title}</text>`];
  out.push(`<rect x="${x0}" y="${y0}" width="${width}" height="${height}" fill="none" stroke="#333"/>`);
  for (let a = Math.ceil(yMin * 10) / 10; a <= 1.0001; a += 0.1) {
    out.push(`<line x1="${x0}" x2="${x0 + width}" y1="${py(a).toFixed(1)}" y2="${py(a).toFixed(1)}" stroke="#ddd"/>`,
      `<text x="${x0 - 6}" y="${(py(a) + 4).toFixed(1)}" text-anchor="end" font-size="11">${Math.round(a * 100)}%</text>`);
  }
  for (const b of batches) {
    out.push(`<line x1="${px(b).toFixed(1)}" x2="${px(b).toFixed(1)}" y1="${y0 + height}" y2="${y0 + height + 4}" stroke="#333"/>`,
      `<text x="${px(b).toFixed(1)}" y="${y0 + height + 17}" text-anchor="middle" font-size="11">${b}</text>`);
  }
  out.push(`<text x="${x0 + width / 2}" y="${y0 + height + 34}" text-anchor="middle" font-size="12">batch size</text>`,
    `<text x="${x0 - 42}" y="${y0 + height / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 ${x0 - 42} ${y0 + height / 2})">test accuracy</text>`);
  series.forEach((s, i) => {
    const points = s.points.map(([b, a]) => `${px(b).toFixed(1)},${py(Math.max(a, yMin)).toFixed(1)}`).join(' ');
    out.push(`<polyline points="${points}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    for (const [b, a] of s.points) out.push(`<circle cx="${px(b).toFixed(1)}" cy="${py(Math.max(a, yMin)).toFixed(1)}" r="3" fill="${s.color}"/>`);
    const ly = y0 + height - 12 - (series.length - 1 - i) * 16;
    out.push(`<line x1="${x0 + width - 150}" x2="${x0 + width - 128}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
      `<text x="${x0 + width - 122}" y="${ly + 4}" font-size="11">${s.label}</text>`);
  });
  return out.join('\n');
}

/** The SVG document for the study's results ({ norm, batch, evalAccuracy, trainModeAccuracy }[]). */
export function plotStudy(results, { subtitle }) {
  const batches = [...new Set(results.map((r) => r.batch))].sort((a, b) => a - b);
  const norms = [...new Set(results.map((r) => r.norm))];
  const pointsOf = (norm, key) => results.filter((r) => r.norm === norm).sort((a, b) => a.batch - b.batch).map((r) => [r.batch, r[key]]);
  const low = Math.min(...results.flatMap((r) => [r.evalAccuracy, r.trainModeAccuracy ?? 1]));
  const yMin = Math.max(0, Math.floor(low * 10) / 10 - 0.1);
  const left = panel({
    x0: 70, y0: 60, width: 400, height: 300, title: 'Accuracy vs batch size (eval mode)', batches, yMin,
    series: norms.map((n) => ({ label: n, color: COLORS[n] ?? '#000', points: pointsOf(n, 'evalAccuracy') })),
  });
  const bn = results.some((r) => r.trainModeAccuracy !== null);
  const right = bn ? panel({
    x0: 580, y0: 60, width: 400, height: 300, title: 'BatchNorm: running vs batch statistics', batches, yMin,
    series: [
      { label: 'eval (running stats)', color: COLORS.BatchNorm, points: pointsOf('BatchNorm', 'evalAccuracy') },
      { label: 'train mode (batch stats)', color: COLORS.BatchNorm, dashed: true, points: pointsOf('BatchNorm', 'trainModeAccuracy') },
    ],
  }) : '';
  return `<svg xmlns="http://www.w3.org/2000/svg" width="1020" height="440" viewBox="0 0 1020 440" font-family="sans-serif">
<rect width="1020" height="440" fill="white"/>
${left}
${right}
<text x="510" y="430" text-anchor="middle" font-size="11" fill="#555">${subtitle}</text>
</svg>
`;
}
