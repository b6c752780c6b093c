// The small network of the study, written plainly: Conv1d, ReLU, global average pooling, Linear,
// softmax cross-entropy and SGD with momentum, over { data: Float32Array, shape } tensors. The
// normalization layers between them come from fastnorm/nn.

/** mulberry32: a seeded PRNG with uniform numbers in [0, 1), and normal ones (Box-Muller). */
export function rng(seed) {
  let a = seed >>> 0;
  const uniform = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
  return { uniform, normal };
}

/** A parameter as fastnorm/nn's: values and an accumulated gradient. */
function parameter(n, init) {
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = init();
  return { data, grad: null };
}

function accumulate(p, g) {
  if (p.grad === null) p.grad = new Float32Array(p.data.length);
  for (let i = 0; i < g.length; i++) p.grad[i] += g[i];
}

/** torch.nn.Conv1d with stride 1 and 'same' zero padding (odd kernel), PyTorch's default uniform init. */
export class Conv1d {
  constructor(inChannels, outChannels, kernel, random) {
    const bound = 1 / Math.sqrt(inChannels * kernel);
    const init = () => (2 * random.uniform() - 1) * bound;
    Object.assign(this, { inChannels, outChannels, kernel });
    this.weight = parameter(outChannels * inChannels * kernel, init);
    this.bias = parameter(outChannels, init);
  }

  forward(x) {
    const [n, ci, l] = x.shape;
    const { outChannels: co, kernel: k } = this;
    const pad = (k - 1) / 2;
    const w = this.weight.data;
    const xd = x.data;
    const y = new Float32Array(n * co * l);
    for (let b = 0; b < n; b++) {
      for (let o = 0; o < co; o++) {
        const yBase = (b * co + o) * l;
        y.fill(this.bias.data[o], yBase, yBase + l);
        for (let i = 0; i < ci; i++) {
          const xBase = (b * ci + i) * l;
          for (let j = 0; j < k; j++) {
            // y[t] += w · x[t + j - pad] where the input exists (zero padding elsewhere)
            const wv = w[(o * ci + i) * k + j];
            const shift = j - pad;
            const t0 = shift < 0 ? -shift : 0;
            const t1 = shift > 0 ? l - shift : l;
            for (let t = t0; t < t1; t++) y[yBase + t] += wv * xd[xBase + t + shift];
          }
        }
      }
    }
    this.x = x;
    return { data: y, shape: [n, co, l] };
  }

  backward(dy) {
    const [n, ci, l] = this.x.shape;
    const { outChannels: co, kernel: k } = this;
    const pad = (k - 1) / 2;
    const w = this.weight.data;
    const xd = this.x.data;
    const g = dy.data;
    const dw = new Float32Array(w.length);
    const db = new Float32Array(co);
    const dx = new Float32Array(xd.length);
    for (let b = 0; b < n; b++) {
      for (let o = 0; o < co; o++) {
        const gBase = (b * co + o) * l;
        let sum = 0;
        for (let t = 0; t < l; t++) sum += g[gBase + t];
        db[o] += sum;
        for (let i = 0; i < ci; i++) {
          const xBase = (b * ci + i) * l;
          for (let j = 0; j < k; j++) {
            const shift = j - pad;
            const wv = w[(o * ci + i) * k + j];
            const t0 = shift < 0 ? -shift : 0;
            const t1 = shift > 0 ? l - shift : l;
            let s = 0;
            for (let t = t0; t < t1; t++) {
              s += g[gBase + t] * xd[xBase + t + shift];
              dx[xBase + t + shift] += wv * g[gBase + t];
            }
            dw[(o * ci + i) * k + j] += s;
          }
        }
      }
    }
    accumulate(this.weight, dw);
    accumulate(this.bias, db);
    return { data: dx, shape: this.x.shape };
  }

  *parameters() {
    yield this.weight;
    yield this.bias;
  }
}

/** torch.nn.Linear on [N, in]. */
export class Linear {
  constructor(inFeatures, outFeatures, random) {
    const bound = 1 / Math.sqrt(inFeatures);
    const init = () => (2 * random.uniform() - 1) * bound;
    Object.assign(this, { inFeatures, outFeatures });
    this.weight = parameter(outFeatures * inFeatures, init);
    this.bias = parameter(outFeatures, init);
  }

  forward(x) {
    const n = x.shape[0];
    const { inFeatures: fi, outFeatures: fo } = this;
    const y = new Float32Array(n * fo);
    for (let b = 0; b < n; b++) {
      for (let o = 0; o < fo; o++) {
        let s = this.bias.data[o];
        for (let i = 0; i < fi; i++) s += this.weight.data[o * fi + i] * x.data[b * fi + i];
        y[b * fo + o] = s;
      }
    }
    this.x = x;
    return { data: y, shape: [n, fo] };
  }

  backward(dy) {
    const n = dy.shape[0];
    const { inFeatures: fi, outFeatures: fo } = this;
    const dw = new Float32Array(fo * fi);
    const db = new Float32Array(fo);
    const dx = new Float32Array(n * fi);
    for (let b = 0; b < n; b++) {
      for (let o = 0; o < fo; o++) {
        const g = dy.data[b * fo + o];
        db[o] += g;
        for (let i = 0; i < fi; i++) {
          dw[o * fi + i] += g * this.x.data[b * fi + i];
          dx[b * fi + i] += g * this.weight.data[o * fi + i];
        }
      }
    }
    accumulate(this.weight, dw);
    accumulate(this.bias, db);
    return { data: dx, shape: this.x.shape };
  }

  *parameters() {
    yield this.weight;
    yield this.bias;
  }
}

export class ReLU {
  forward(x) {
    this.x = x;
    return { data: x.data.map((v) => (v > 0 ? v : 0)), shape: x.shape };
  }

  backward(dy) {
    return { data: dy.data.map((g, i) => (this.x.data[i] > 0 ? g : 0)), shape: dy.shape };
  }
}

/** Mean over the last axis: [N, C, L] → [N, C]. */
export class GlobalAveragePool {
  forward(x) {
    const [n, c, l] = x.shape;
    this.shape = x.shape;
    const y = new Float32Array(n * c);
    for (let r = 0; r < n * c; r++) {
      let s = 0;
      for (let t = 0; t < l; t++) s += x.data[r * l + t];
      y[r] = s / l;
    }
    return { data: y, shape: [n, c] };
  }

  backward(dy) {
    const [n, c, l] = this.shape;
    const dx = new Float32Array(n * c * l);
    for (let r = 0; r < n * c; r++) dx.fill(dy.data[r] / l, r * l, (r + 1) * l);
    return { data: dx, shape: this.shape };
  }
}

/** No normalization: the identity, with the modules' train/eval and parameters() interface. */
export class Identity {
  forward(x) {
    return x;
  }

  backward(dy) {
    return dy;
  }

  train() {
    return this;
  }

  *parameters() {}
}

/** Mean softmax cross-entropy of logits [N, K] against integer labels; the gradient with respect to the logits. */
export function crossEntropy(logits, labels) {
  const [n, k] = logits.shape;
  const grad = new Float32Array(n * k);
  let loss = 0;
  let correct = 0;
  for (let b = 0; b < n; b++) {
    const row = logits.data.subarray(b * k, (b + 1) * k);
    let max = -Infinity;
    let arg = 0;
    for (let j = 0; j < k; j++) if (row[j] > max) [max, arg] = [row[j], j];
    let sum = 0;
    for (let j = 0; j < k; j++) sum += Math.exp(row[j] - max);
    loss += Math.log(sum) + max - row[labels[b]];
    if (arg === labels[b]) correct++;
    for (let j = 0; j < k; j++) grad[b * k + j] = (Math.exp(row[j] - max) / sum - (j === labels[b] ? 1 : 0)) / n;
  }
  return { loss: loss / n, correct, grad: { data: grad, shape: [n, k] } };
}

/** SGD with momentum (PyTorch's form: v = μ·v + g; p -= lr·v), then the gradients are cleared. */
export class SGD {
  constructor(params, { lr, momentum }) {
    Object.assign(this, { params, lr, momentum });
    this.velocity = params.map((p) => new Float32Array(p.data.length));
  }

  step() {
    this.params.forEach((p, k) => {
      if (p.grad === null) return;
      const v = this.velocity[k];
      for (let i = 0; i < p.data.length; i++) {
        v[i] = this.momentum * v[i] + p.grad[i];
        p.data[i] -= this.lr * v[i];
      }
      p.grad = null;
    });
  }
}
