// fastnorm/nn layers: the cost a layer adds over the functional op it calls (bookkeeping: input
// checks, the saved input, num_batches_tracked, gradient accumulation). Each scenario is the
// functional scenario of the same shape with `call` replaced by the layer's forward/backward,
// so bytes, inputs and the JS loop are the same and its rows compare directly with the
// `layerNorm` / `batchNorm` rows above. A layer runs on the package's default backend, so the
// `reference` row of these scenarios is the functional reference op itself.
import { createRequire } from 'node:module';
import { scenarios as batchNorm } from './batch-norm.mjs';
import { scenarios as rowNorm } from './row-norm.mjs';

const require = createRequire(import.meta.url);
const nn = require('../../dist/cjs/nn.js');

/** newOut with only `keys` enumerable: the harness's JS-loop check compares what the layer writes. */
function visibleOnly(out, keys) {
  for (const k of Object.keys(out)) if (!keys.includes(k)) Object.defineProperty(out, k, { enumerable: false });
  return out;
}

function layerScenario(base, label, makeLayer) {
  const backward = base.dir.includes('b');
  const written = backward ? 'dx' : 'y';
  return {
    ...base,
    op: label,
    targets: {},
    peer: undefined, // the peers are compared on the functional rows this one is measured against
    setup: (lib) => {
      const s = base.setup(lib);
      const layer = makeLayer(s);
      if (backward) layer.forward(s.x);
      return { ...s, lib, layer };
    },
    newOut: (s) => visibleOnly(base.newOut(s), [written]),
    call: (api, s, out) => {
      if (api !== s.lib.fastnorm) return base.call(api, s, out);
      const opts = out && { out: out[written] };
      return backward ? s.layer.backward(s.dy, opts) : s.layer.forward(s.x, opts);
    },
  };
}

function pick(list, op, dir, shape) {
  const s = list.find((c) => c.op === op && c.dir === dir && c.shape.join() === shape.join());
  if (!s) throw new Error(`no ${op} ${dir} [${shape}] scenario to build an nn scenario from`);
  return s;
}

function layerNorm(s) {
  const layer = new nn.LayerNorm(s.cols, { eps: 1e-5 });
  layer.weight.data.set(s.weight);
  layer.bias.data.set(s.bias);
  return layer;
}

function batchNorm2d(s) {
  const layer = new nn.BatchNorm2d(s.c, { eps: 1e-5, momentum: 0.1 });
  layer.weight.data.set(s.weight);
  layer.bias.data.set(s.bias);
  return layer;
}

export const scenarios = [
  ...[[1, 768], [8192, 768]].flatMap((shape) => ['forward', 'backward'].map((dir) =>
    layerScenario(pick(rowNorm, 'layerNorm', dir, shape), 'nn.LayerNorm', layerNorm))),
  ...[[2, 64, 56, 56], [32, 64, 56, 56]].flatMap((shape) => ['train fwd', 'train bwd'].map((dir) =>
    layerScenario(pick(batchNorm, 'batchNorm', dir, shape), 'nn.BatchNorm2d', batchNorm2d))),
];
