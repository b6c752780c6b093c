// The plain-JavaScript contender for LayerNorm and RMSNorm over rows of a row-major
// [rows, cols] array: the straightforward code a user would write, with float64 (JS number)
// arithmetic and a two-pass mean/variance. It writes into caller-provided arrays, the fastest
// plain-JS variant, so speedups over it are conservative.

export function layerNorm(x, rows, cols, weight, bias, eps, y, mean, rstd) {
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    let sum = 0;
    for (let j = 0; j < cols; j++) sum += x[base + j];
    const mu = sum / cols;
    let sq = 0;
    for (let j = 0; j < cols; j++) {
      const d = x[base + j] - mu;
      sq += d * d;
    }
    const rs = 1 / Math.sqrt(sq / cols + eps);
    for (let j = 0; j < cols; j++) y[base + j] = (x[base + j] - mu) * rs * weight[j] + bias[j];
    mean[r] = mu;
    rstd[r] = rs;
  }
}

// Backward with the standard formula (x̂ = (x − μ)·rstd, g = dy·w):
// dx = rstd · (g − mean(g) − x̂ · mean(g·x̂)), dw = Σ dy·x̂, db = Σ dy over rows.
export function layerNormBackward(dy, x, mean, rstd, rows, cols, weight, dx, dweight, dbias) {
  const dw = new Float64Array(cols);
  const db = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    const mu = mean[r];
    const rs = rstd[r];
    let sumG = 0;
    let sumGX = 0;
    for (let j = 0; j < cols; j++) {
      const xh = (x[base + j] - mu) * rs;
      const g = dy[base + j] * weight[j];
      sumG += g;
      sumGX += g * xh;
      dw[j] += dy[base + j] * xh;
      db[j] += dy[base + j];
    }
    const meanG = sumG / cols;
    const meanGX = sumGX / cols;
    for (let j = 0; j < cols; j++) {
      const xh = (x[base + j] - mu) * rs;
      dx[base + j] = rs * (dy[base + j] * weight[j] - meanG - xh * meanGX);
    }
  }
  dweight.set(dw);
  dbias.set(db);
}

export function rmsNorm(x, rows, cols, weight, eps, y, rstd) {
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    let sq = 0;
    for (let j = 0; j < cols; j++) sq += x[base + j] * x[base + j];
    const rs = 1 / Math.sqrt(sq / cols + eps);
    for (let j = 0; j < cols; j++) y[base + j] = x[base + j] * rs * weight[j];
    rstd[r] = rs;
  }
}

// RMSNorm backward (x̂ = x·rstd): dx = rstd · (g − x̂ · mean(g·x̂)), dw = Σ dy·x̂.
export function rmsNormBackward(dy, x, rstd, rows, cols, weight, dx, dweight) {
  const dw = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    const rs = rstd[r];
    let sumGX = 0;
    for (let j = 0; j < cols; j++) {
      const xh = x[base + j] * rs;
      sumGX += dy[base + j] * weight[j] * xh;
      dw[j] += dy[base + j] * xh;
    }
    const meanGX = sumGX / cols;
    for (let j = 0; j < cols; j++) dx[base + j] = rs * (dy[base + j] * weight[j] - x[base + j] * rs * meanGX);
  }
  dweight.set(dw);
}
