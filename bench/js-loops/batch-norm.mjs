// The plain-JavaScript contender for BatchNorm over (N, C, S) ('NCHW') or (N, S, C) ('NHWC')
// float arrays: the straightforward code a user would write, with float64 (JS number)
// arithmetic, a two-pass mean/variance per channel, and the running-statistic update of PyTorch
// (unbiased variance). NCHW walks each channel's planes; NHWC walks the rows once per pass with
// per-channel accumulators (the cache-friendly way to write it). Outputs go into caller-provided
// arrays, the fastest plain-JS variant, so speedups over it are conservative.

/** Training forward: batch statistics, running-stat update, y = (x − μ)·rstd·w + b. */
export function batchNormTrain(x, n, c, s, channelsLast, weight, bias, runningMean, runningVar, momentum, eps, y, mean, rstd) {
  const count = n * s;
  const sum = new Float64Array(c);
  const sq = new Float64Array(c);
  if (!channelsLast) {
    for (let ch = 0; ch < c; ch++) {
      let acc = 0;
      for (let i = 0; i < n; i++) {
        const base = (i * c + ch) * s;
        for (let j = 0; j < s; j++) acc += x[base + j];
      }
      sum[ch] = acc;
      const mu = acc / count;
      let acc2 = 0;
      for (let i = 0; i < n; i++) {
        const base = (i * c + ch) * s;
        for (let j = 0; j < s; j++) {
          const d = x[base + j] - mu;
          acc2 += d * d;
        }
      }
      sq[ch] = acc2;
    }
  } else {
    const rows = n * s;
    for (let r = 0; r < rows; r++) {
      const base = r * c;
      for (let ch = 0; ch < c; ch++) sum[ch] += x[base + ch];
    }
    for (let ch = 0; ch < c; ch++) mean[ch] = sum[ch] / count;
    for (let r = 0; r < rows; r++) {
      const base = r * c;
      for (let ch = 0; ch < c; ch++) {
        const d = x[base + ch] - mean[ch];
        sq[ch] += d * d;
      }
    }
  }
  for (let ch = 0; ch < c; ch++) {
    const mu = sum[ch] / count;
    mean[ch] = mu;
    rstd[ch] = 1 / Math.sqrt(sq[ch] / count + eps);
    runningMean[ch] = (1 - momentum) * runningMean[ch] + momentum * mu;
    runningVar[ch] = (1 - momentum) * runningVar[ch] + momentum * (sq[ch] / (count - 1));
  }
  applyAffine(x, n, c, s, channelsLast, mean, rstd, weight, bias, y);
}

/** Eval forward: y = (x − running mean) / sqrt(running var + eps)·w + b. */
export function batchNormEval(x, n, c, s, channelsLast, weight, bias, runningMean, runningVar, eps, y, mean, rstd) {
  for (let ch = 0; ch < c; ch++) {
    mean[ch] = runningMean[ch];
    rstd[ch] = 1 / Math.sqrt(runningVar[ch] + eps);
  }
  applyAffine(x, n, c, s, channelsLast, mean, rstd, weight, bias, y);
}

function applyAffine(x, n, c, s, channelsLast, mean, rstd, weight, bias, y) {
  if (!channelsLast) {
    for (let i = 0; i < n; i++) {
      for (let ch = 0; ch < c; ch++) {
        const base = (i * c + ch) * s;
        const mu = mean[ch];
        const k = rstd[ch] * weight[ch];
        const b = bias[ch];
        for (let j = 0; j < s; j++) y[base + j] = (x[base + j] - mu) * k + b;
      }
    }
    return;
  }
  const rows = n * s;
  for (let r = 0; r < rows; r++) {
    const base = r * c;
    for (let ch = 0; ch < c; ch++) y[base + ch] = (x[base + ch] - mean[ch]) * rstd[ch] * weight[ch] + bias[ch];
  }
}

/**
 * Training backward with the centered formula (x̂ = (x − μ)·rstd, M = N·S):
 * dx = w·rstd·(dy − Σdy/M − x̂·Σ(dy·x̂)/M), dweight = Σ dy·x̂, dbias = Σ dy per channel.
 */
export function batchNormBackward(dy, x, mean, rstd, n, c, s, channelsLast, weight, dx, dweight, dbias) {
  const count = n * s;
  const sumDy = new Float64Array(c);
  const sumDyXmu = new Float64Array(c);
  if (!channelsLast) {
    for (let ch = 0; ch < c; ch++) {
      const mu = mean[ch];
      let a = 0;
      let b = 0;
      for (let i = 0; i < n; i++) {
        const base = (i * c + ch) * s;
        for (let j = 0; j < s; j++) {
          a += dy[base + j];
          b += dy[base + j] * (x[base + j] - mu);
        }
      }
      sumDy[ch] = a;
      sumDyXmu[ch] = b;
    }
  } else {
    const rows = n * s;
    for (let r = 0; r < rows; r++) {
      const base = r * c;
      for (let ch = 0; ch < c; ch++) {
        sumDy[ch] += dy[base + ch];
        sumDyXmu[ch] += dy[base + ch] * (x[base + ch] - mean[ch]);
      }
    }
  }
  const meanDy = new Float64Array(c);
  const k = new Float64Array(c);
  const scale = new Float64Array(c);
  for (let ch = 0; ch < c; ch++) {
    dbias[ch] = sumDy[ch];
    dweight[ch] = sumDyXmu[ch] * rstd[ch];
    meanDy[ch] = sumDy[ch] / count;
    k[ch] = (rstd[ch] * rstd[ch] * sumDyXmu[ch]) / count;
    scale[ch] = weight[ch] * rstd[ch];
  }
  if (!channelsLast) {
    for (let i = 0; i < n; i++) {
      for (let ch = 0; ch < c; ch++) {
        const base = (i * c + ch) * s;
        const mu = mean[ch];
        for (let j = 0; j < s; j++) dx[base + j] = scale[ch] * (dy[base + j] - meanDy[ch] - (x[base + j] - mu) * k[ch]);
      }
    }
    return;
  }
  const rows = n * s;
  for (let r = 0; r < rows; r++) {
    const base = r * c;
    for (let ch = 0; ch < c; ch++) dx[base + ch] = scale[ch] * (dy[base + ch] - meanDy[ch] - (x[base + ch] - mean[ch]) * k[ch]);
  }
}
