// The PortModel of make_reference.py, ported: the same layers under the same names, the norm
// layers from fastnorm/nn, the three Linear layers and ReLU written plainly below. Loading the
// PyTorch checkpoint is one loadStateDict per layer, with the layer's name as the key prefix.
import {
  BatchNorm1d, BatchNorm2d, BatchNorm3d, GroupNorm, InstanceNorm1d, InstanceNorm2d, InstanceNorm3d, LayerNorm, RMSNorm,
} from 'fastnorm/nn';

const [C, H, W, CLASSES] = [4, 5, 6, 3];

/** torch.nn.Linear: y = x·Wᵀ + b for x of shape [N, in]; backward accumulates weight.grad / bias.grad. */
class Linear {
  constructor(inFeatures, outFeatures) {
    this.shape = [outFeatures, inFeatures];
    this.weight = { data: new Float32Array(outFeatures * inFeatures), shape: [outFeatures, inFeatures], grad: null };
    this.bias = { data: new Float32Array(outFeatures), shape: [outFeatures], grad: null };
  }

  loadStateDict(sd, { prefix }) {
    for (const name of ['weight', 'bias']) this[name].data.set(sd[prefix + name].data);
  }

  forward(x) {
    const [out, inp] = this.shape;
    const n = x.shape[0];
    const y = new Float32Array(n * out);
    for (let i = 0; i < n; i++) {
      for (let o = 0; o < out; o++) {
        let s = this.bias.data[o];
        for (let k = 0; k < inp; k++) s += x.data[i * inp + k] * this.weight.data[o * inp + k];
        y[i * out + o] = s;
      }
    }
    this.x = x;
    return { data: y, shape: [n, out] };
  }

  backward(dy) {
    const [out, inp] = this.shape;
    const n = dy.shape[0];
    const x = this.x.data;
    const dx = new Float32Array(n * inp);
    this.weight.grad ??= new Float32Array(out * inp);
    this.bias.grad ??= new Float32Array(out);
    for (let o = 0; o < out; o++) {
      let db = 0;
      for (let i = 0; i < n; i++) db += dy.data[i * out + o];
      this.bias.grad[o] += db;
      for (let k = 0; k < inp; k++) {
        let dw = 0;
        for (let i = 0; i < n; i++) dw += dy.data[i * out + o] * x[i * inp + k];
        this.weight.grad[o * inp + k] += dw;
      }
    }
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < inp; k++) {
        let s = 0;
        for (let o = 0; o < out; o++) s += dy.data[i * out + o] * this.weight.data[o * inp + k];
        dx[i * inp + k] = s;
      }
    }
    return { data: dx, shape: this.x.shape };
  }

  *namedParameters() {
    yield ['weight', this.weight];
    yield ['bias', this.bias];
  }

  *namedBuffers() {}

  train(mode = true) {
    return this;
  }
}

class ReLU {
  forward(x) {
    this.mask = x.data.map((v) => (v > 0 ? 1 : 0));
    return { data: x.data.map((v) => Math.max(v, 0)), shape: x.shape };
  }

  backward(dy) {
    return { data: dy.data.map((g, i) => g * this.mask[i]), shape: dy.shape };
  }
}

/** y with a new shape (a view: no copy), and its backward. */
class Reshape {
  constructor(shape) {
    this.shape = shape;
  }

  forward(x) {
    this.inputShape = x.shape;
    return { data: x.data, shape: [x.shape[0], ...this.shape] };
  }

  backward(dy) {
    return { data: dy.data, shape: this.inputShape };
  }
}

export class PortModel {
  constructor() {
    this.layers = {
      bn2d: new BatchNorm2d(C),
      gn: new GroupNorm(2, C),
      in2d: new InstanceNorm2d(C, { affine: true, trackRunningStats: true }),
      bn1d_cma: new BatchNorm1d(C, { momentum: null }),
      in1d: new InstanceNorm1d(C),
      bn3d: new BatchNorm3d(C, { affine: false }),
      in3d: new InstanceNorm3d(C, { affine: true }),
      ln: new LayerNorm(H * W),
      rms: new RMSNorm(H * W),
      ln_nobias: new LayerNorm([C, H * W], { bias: false, eps: 1e-6 }),
      fc1: new Linear(C * H * W, 16),
      bn1d: new BatchNorm1d(16),
      fc2: new Linear(16, 16),
      bn_batchstats: new BatchNorm1d(16, { trackRunningStats: false }),
      ln_noaffine: new LayerNorm(16, { elementwiseAffine: false }),
      fc3: new Linear(16, CLASSES),
    };
    const l = this.layers;
    // PortModel.forward of make_reference.py, one step per entry
    this.sequence = [
      l.bn2d, l.gn, l.in2d, new ReLU(),
      new Reshape([C, H * W]), l.bn1d_cma, l.in1d,
      new Reshape([C, H, 2, W / 2]), l.bn3d, l.in3d,
      new Reshape([C, H * W]), l.ln, l.rms, l.ln_nobias,
      new Reshape([C * H * W]), l.fc1, l.bn1d, new ReLU(),
      l.fc2, l.bn_batchstats, new ReLU(), l.ln_noaffine,
      l.fc3,
    ];
  }

  /** Loads a PyTorch state dict (`model.state_dict()` keys: 'bn2d.weight', 'bn2d.running_mean', ...). */
  loadStateDict(sd) {
    for (const [name, layer] of Object.entries(this.layers)) layer.loadStateDict(sd, { prefix: `${name}.` });
  }

  train(mode = true) {
    for (const layer of Object.values(this.layers)) layer.train(mode);
    return this;
  }

  eval() {
    return this.train(false);
  }

  forward(x) {
    return this.sequence.reduce((h, layer) => layer.forward(h), x);
  }

  /** dy of the logits → dx of the input; every layer accumulates its parameters' gradients. */
  backward(dy) {
    return this.sequence.reduceRight((g, layer) => layer.backward(g), dy);
  }

  /** [name, parameter] with PyTorch's dotted names ('bn2d.weight', 'fc1.bias', ...). */
  *namedParameters() {
    for (const [name, layer] of Object.entries(this.layers)) {
      for (const [key, p] of layer.namedParameters()) yield [`${name}.${key}`, p];
    }
  }

  *namedBuffers() {
    for (const [name, layer] of Object.entries(this.layers)) {
      for (const [key, b] of layer.namedBuffers()) yield [`${name}.${key}`, b];
    }
  }
}

/** Mean cross-entropy of logits [N, K] against integer targets, and its gradient with respect to the logits. */
export function crossEntropy(logits, target) {
  const [n, k] = logits.shape;
  const grad = new Float32Array(n * k);
  let loss = 0;
  for (let i = 0; i < n; i++) {
    const row = logits.data.subarray(i * k, (i + 1) * k);
    const max = Math.max(...row);
    let sum = 0;
    for (let j = 0; j < k; j++) sum += Math.exp(row[j] - max);
    const t = Number(target[i]);
    loss += Math.log(sum) + max - row[t];
    for (let j = 0; j < k; j++) grad[i * k + j] = (Math.exp(row[j] - max) / sum - (j === t ? 1 : 0)) / n;
  }
  return { loss: loss / n, grad: { data: grad, shape: [n, k] } };
}
