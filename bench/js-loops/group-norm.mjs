// The plain-JavaScript contender for GroupNorm (InstanceNorm is groups = C) on an (N, C, S)
// 'NCHW' or (N, S, C) 'NHWC' array: the straightforward code a user would write, with float64
// (JS number) arithmetic, a two-pass mean/variance and loops in the layout's memory order. It
// writes into caller-provided arrays, the fastest plain-JS variant, so speedups over it are
// conservative.

export function groupNorm(x, n, c, s, nhwc, groups, weight, bias, eps, y, mean, rstd) {
  const cg = c / groups;
  const count = cg * s;
  for (let ni = 0; ni < n; ni++) {
    for (let g = 0; g < groups; g++) {
      const c0 = g * cg;
      let sum = 0;
      if (nhwc) {
        for (let si = 0; si < s; si++) for (let k = (ni * s + si) * c + c0, e = k + cg; k < e; k++) sum += x[k];
      } else {
        for (let k = (ni * c + c0) * s, e = k + count; k < e; k++) sum += x[k];
      }
      const mu = sum / count;
      let sq = 0;
      if (nhwc) {
        for (let si = 0; si < s; si++) {
          for (let k = (ni * s + si) * c + c0, e = k + cg; k < e; k++) {
            const d = x[k] - mu;
            sq += d * d;
          }
        }
      } else {
        for (let k = (ni * c + c0) * s, e = k + count; k < e; k++) {
          const d = x[k] - mu;
          sq += d * d;
        }
      }
      const rs = 1 / Math.sqrt(sq / count + eps);
      if (nhwc) {
        for (let si = 0; si < s; si++) {
          const base = (ni * s + si) * c;
          for (let ci = c0; ci < c0 + cg; ci++) y[base + ci] = (x[base + ci] - mu) * rs * weight[ci] + bias[ci];
        }
      } else {
        for (let ci = c0; ci < c0 + cg; ci++) {
          const base = (ni * c + ci) * s;
          const w = weight[ci];
          const b = bias[ci];
          for (let k = base; k < base + s; k++) y[k] = (x[k] - mu) * rs * w + b;
        }
      }
      mean[ni * groups + g] = mu;
      rstd[ni * groups + g] = rs;
    }
  }
}

// Backward with the standard formula (x̂ = (x − μ)·rstd, g = dy·w, means over the group):
// dx = rstd · (g − mean(g) − x̂ · mean(g·x̂)), dw = Σ dy·x̂, db = Σ dy per channel.
export function groupNormBackward(dy, x, mean, rstd, n, c, s, nhwc, groups, weight, dx, dweight, dbias) {
  const cg = c / groups;
  const count = cg * s;
  const dw = new Float64Array(c);
  const db = new Float64Array(c);
  // flat index of (sample ni, channel ci, position si)
  const at = nhwc ? (ni, ci, si) => (ni * s + si) * c + ci : (ni, ci, si) => (ni * c + ci) * s + si;
  for (let ni = 0; ni < n; ni++) {
    for (let g = 0; g < groups; g++) {
      const mu = mean[ni * groups + g];
      const rs = rstd[ni * groups + g];
      let sumG = 0;
      let sumGX = 0;
      for (let ci = g * cg; ci < (g + 1) * cg; ci++) {
        const w = weight[ci];
        let sdy = 0;
        let sdyx = 0;
        for (let si = 0; si < s; si++) {
          const k = at(ni, ci, si);
          const xh = (x[k] - mu) * rs;
          sdy += dy[k];
          sdyx += dy[k] * xh;
        }
        sumG += w * sdy;
        sumGX += w * sdyx;
        dw[ci] += sdyx;
        db[ci] += sdy;
      }
      const meanG = sumG / count;
      const meanGX = sumGX / count;
      for (let ci = g * cg; ci < (g + 1) * cg; ci++) {
        const w = weight[ci];
        for (let si = 0; si < s; si++) {
          const k = at(ni, ci, si);
          dx[k] = rs * (dy[k] * w - meanG - (x[k] - mu) * rs * meanGX);
        }
      }
    }
  }
  dweight.set(dw);
  dbias.set(db);
}
