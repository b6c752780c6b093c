// One run of the study: a norm choice and a batch size → train, then test accuracy in eval mode
// and (for the norms with running statistics) in training mode, i.e. with the batch statistics
// of test batches of the training batch size.
import { BatchNorm1d, GroupNorm, InstanceNorm1d, LayerNorm } from 'fastnorm/nn';
import { CHANNELS, CLASSES, LENGTH, batchOf } from './data.mjs';
import { Conv1d, crossEntropy, GlobalAveragePool, Identity, Linear, ReLU, rng, SGD } from './net.mjs';

export const NORMS = {
  BatchNorm: (c) => new BatchNorm1d(c),
  GroupNorm: (c) => new GroupNorm(2, c),
  LayerNorm: (c) => new LayerNorm([c, LENGTH]),
  InstanceNorm: (c) => new InstanceNorm1d(c, { affine: true }),
  'no norm': () => new Identity(),
};

const WIDTH = 8;

/** conv → norm → ReLU → conv → norm → ReLU → average pool → linear, the same initial weights for every norm. */
function makeNetwork(norm, seed) {
  const random = rng(seed);
  const layers = [
    new Conv1d(CHANNELS, WIDTH, 5, random), NORMS[norm](WIDTH), new ReLU(),
    new Conv1d(WIDTH, WIDTH, 5, random), NORMS[norm](WIDTH), new ReLU(),
    new GlobalAveragePool(), new Linear(WIDTH, CLASSES, random),
  ];
  return {
    layers,
    forward: (x) => layers.reduce((h, l) => l.forward(h), x),
    backward: (dy) => layers.reduceRight((g, l) => l.backward(g), dy),
    train: (mode) => layers.forEach((l) => l.train?.(mode)),
    parameters: () => layers.flatMap((l) => (l.parameters ? [...l.parameters()] : [])),
    norms: () => layers.filter((l) => typeof l.stateDict === 'function'),
  };
}

function shuffled(count, random) {
  const order = Array.from({ length: count }, (_, i) => i);
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(random.uniform() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

function accuracy(net, data, batch) {
  const order = Array.from({ length: data.count }, (_, i) => i);
  let correct = 0;
  let counted = 0;
  for (let from = 0; from + batch <= data.count; from += batch) {
    const b = batchOf(data, order, from, from + batch);
    correct += crossEntropy(net.forward(b.x), b.labels).correct;
    counted += batch;
  }
  return correct / counted;
}

/**
 * Trains for `epochs` over `train` with SGD (momentum 0.9, learning rate ∝ √batch, so every batch
 * size trains stably) and returns the test accuracies.
 */
export function runStudy({ norm, batch, train, test, epochs, seed, baseLr = 0.05 }) {
  const net = makeNetwork(norm, seed);
  const optimizer = new SGD(net.parameters(), { lr: baseLr * Math.sqrt(batch / 8), momentum: 0.9 });
  const random = rng(seed + batch);
  let lastLoss = 0;
  for (let epoch = 0; epoch < epochs; epoch++) {
    const order = shuffled(train.count, random);
    for (let from = 0; from + batch <= train.count; from += batch) {
      const b = batchOf(train, order, from, from + batch);
      const { loss, grad } = crossEntropy(net.forward(b.x), b.labels);
      net.backward(grad);
      optimizer.step();
      lastLoss = loss;
    }
  }
  net.train(false);
  const evalAccuracy = accuracy(net, test, Math.min(256, test.count));
  let trainModeAccuracy = null;
  if (norm === 'BatchNorm') {
    // batch statistics of test batches of the training size; the running statistics are put back after
    const saved = net.norms().map((m) => m.stateDict());
    net.train(true);
    trainModeAccuracy = accuracy(net, test, batch);
    net.norms().forEach((m, i) => m.loadStateDict(Object.fromEntries(Object.entries(saved[i]).map(([k, t]) => [k, { ...t, data: t.data.slice() }]))));
  }
  return { norm, batch, evalAccuracy, trainModeAccuracy, lastLoss };
}
