// tfjs-layers' normalization spec (src/layers/normalization_test.ts, shipped only as TypeScript
// source) ported to this package's layers: the same inputs and expected values (computed by its
// authors with Keras), in our own words. Where the spec calls tfjs-layers internals
// (normalizeBatchInTraining, batchNormalization), the same computations run through this
// package's training op and through tf.batchNorm with fastnorm's kernels registered. Tolerances
// are the spec's: absolute 1e-3 unless it gives one (tfjs-core's expectArraysClose).
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchNormalization, LayerNormalization, batchNormalization, getCounters, layerNormalization, registerKernels } from '../src/tfjs';
import { batchNormalizationTrainingOp } from '../src/tfjs/layers/batch-normalization';
import { tf, useCpuBackend } from './tfjs-helpers';

useCpuBackend();

/** |actual − expected| ≤ tol everywhere (tfjs-core's expectArraysClose rule). */
function expectNear(actual: tf.Tensor | ArrayLike<number>, expected: tf.Tensor | ArrayLike<number> | number[][] | number[][][], tol = 1e-3): void {
  const a = actual instanceof tf.Tensor ? actual.dataSync() : actual;
  const e = expected instanceof tf.Tensor ? expected.dataSync() : (expected as number[]).flat(3) as number[];
  expect(a.length).toBe(e.length);
  for (let i = 0; i < e.length; i++) {
    if (!(Math.abs(a[i] - e[i]) <= tol)) expect.fail(`[${i}]: ${a[i]} vs expected ${e[i]} (tolerance ${tol})`);
  }
}

describe('batch statistics in training (the spec\'s normalizeBatchInTraining cases)', () => {
  const x3x4 = [[1, 2, 3, 4], [2, 4, 6, 8], [12, 11, 10, 9]];
  const normed3x4 = [[-0.805371, -0.9502233, -1.1624058, -1.3885813], [-0.6040282, -0.4319197, -0.11624074, 0.46286058],
    [1.4093992, 1.3821429, 1.2786462, 0.92572117]];

  it('2-D, statistics over axis 0', () => {
    const { y, mean, variance } = batchNormalizationTrainingOp(tf.tensor2d(x3x4), 1, tf.ones([4]), tf.zeros([4]), 1e-3);
    expectNear(y, normed3x4);
    expectNear(mean, [5.0, 5.6666665, 6.3333335, 7.0]);
    expectNear(variance, [24.666666, 14.888889, 8.222222, 4.6666665]);
  });

  it('3-D, statistics over axes 0 and 1', () => {
    const x = tf.tensor3d([[[1, 2], [3, 4]], [[2, 4], [6, 8]], [[12, 11], [10, 9]]]);
    const { y, mean, variance } = batchNormalizationTrainingOp(x, 2, tf.ones([2]), tf.zeros([2]), 1e-3);
    expectNear(y, [[[-1.1355163, -1.3552775], [-0.6488664, -0.7297648]], [[-0.8921913, -0.7297648], [0.08110833, 0.5212605]],
      [[1.5410578, 1.4595294], [1.0544081, 0.8340168]]]);
    expectNear(mean, [5.6666665, 6.3333335]);
    expectNear(variance, [16.88889, 10.222222]);
  });

  // The spec's "broadcasting" cases take statistics over axis 0 (or 0 and 1) with [2, 2]
  // parameters: per-channel statistics of a channel made of the two trailing axes, i.e. the
  // [3, 4] case with x viewed as [3, 2, 2] — computed here as that view.
  it('3-D, statistics over axis 0 with [2, 2] parameters (a two-axis channel)', () => {
    const x = tf.tensor3d([[[1, 2], [3, 4]], [[2, 4], [6, 8]], [[12, 11], [10, 9]]]);
    const { y, mean, variance } = batchNormalizationTrainingOp(tf.reshape(x, [3, 4]), 1, tf.ones([4]), tf.zeros([4]), 1e-3);
    expectNear(tf.reshape(y, [3, 2, 2]), normed3x4);
    expectNear(mean, [5, 5.6666665, 6.3333335, 7]);
    expectNear(variance, [24.666666, 14.888889, 8.222222, 4.6666665]);
  });

  it('4-D [1, 3, 2, 2], statistics over axes 0 and 1 with [2, 2] parameters', () => {
    const x = tf.tensor4d([[[[1, 2], [3, 4]], [[2, 4], [6, 8]], [[12, 11], [10, 9]]]]);
    const { y, mean, variance } = batchNormalizationTrainingOp(tf.reshape(x, [3, 4]), 1, tf.ones([4]), tf.zeros([4]), 1e-3);
    expectNear(tf.reshape(y, [1, 3, 2, 2]), normed3x4);
    expectNear(mean, [5, 5.6666665, 6.3333335, 7]);
    expectNear(variance, [24.666666, 14.888889, 8.222222, 4.6666665]);
  });
});

describe("tf.batchNorm with fastnorm's kernels (the spec's batchNormalization cases)", () => {
  let restore: () => void;
  beforeAll(() => {
    restore = registerKernels(tf);
  });
  afterAll(() => restore());
  const x2 = [[10, 20], [30, 40]];
  const x3 = [[[10, 20], [30, 40]], [[10, 20], [30, 40]]];
  const x4 = [[[[10, 20], [30, 40]], [[10, 20], [30, 40]]], [[[-10, -20], [-30, -40]], [[-10, -20], [-30, -40]]]];
  const m4 = [[[[5, 5], [5, 5]], [[5, 5], [5, 5]]], [[[-5, -5], [-5, -5]], [[-5, -5], [-5, -5]]]];
  const v4 = [[[[4, 16], [4, 16]], [[16, 25], [16, 25]]], [[[4, 16], [4, 16]], [[16, 25], [16, 25]]]];
  const cases: Array<[string, () => tf.Tensor, number[][] | number[][][] | number[][][][]]> = [
    ['2-D, no broadcast, no gamma, no beta', () => tf.batchNorm(tf.tensor2d(x2), tf.tensor2d([[5, 5], [5, 5]]), tf.tensor2d([[4, 16], [4, 16]]), undefined, undefined, 0),
      [[2.5, 3.75], [12.5, 8.75]]],
    ['2-D, no broadcast, no gamma, no beta, epsilon 2', () => tf.batchNorm(tf.tensor2d([[30, 30], [60, 60]]), tf.zeros([2, 2]), tf.fill([2, 2], 7), undefined, undefined, 2),
      [[10, 10], [20, 20]]],
    ['2-D, no broadcast, gamma, no beta', () => tf.batchNorm(tf.tensor2d(x2), tf.tensor2d([[5, 5], [5, 5]]), tf.tensor2d([[4, 16], [4, 16]]), undefined, tf.tensor2d([[1, 2], [3, 4]]), 0),
      [[2.5, 7.5], [37.5, 35]]],
    ['2-D, no broadcast, gamma and beta', () => tf.batchNorm(tf.tensor2d(x2), tf.tensor2d([[5, 5], [5, 5]]), tf.tensor2d([[4, 16], [4, 16]]), tf.tensor2d([[-1, -1], [-2, -2]]), tf.tensor2d([[1, 2], [3, 4]]), 0),
      [[1.5, 6.5], [35.5, 33]]],
    ['2-D, broadcast, gamma and beta', () => tf.batchNorm(tf.tensor2d(x2), tf.tensor1d([2, 5]), tf.tensor1d([1, 4]), tf.tensor1d([-1, -2]), tf.tensor1d([3, 4]), 0),
      [[23, 28], [83, 68]]],
    ['3-D, no broadcast, no gamma, no beta', () => tf.batchNorm(tf.tensor3d(x3), tf.fill([2, 2, 2], 5), tf.tensor3d([[[4, 16], [4, 16]], [[16, 25], [16, 25]]]), undefined, undefined, 0),
      [[[2.5, 3.75], [12.5, 8.75]], [[1.25, 3], [6.25, 7]]]],
    ['3-D, no broadcast, gamma and beta', () => tf.batchNorm(tf.tensor3d(x3), tf.fill([2, 2, 2], 5), tf.tensor3d([[[4, 16], [4, 16]], [[16, 25], [16, 25]]]),
      tf.tensor3d([[[-1, -1], [-2, -2]], [[-1, -1], [-2, -2]]]), tf.tensor3d([[[2, 2], [2, 2]], [[4, 4], [4, 4]]]), 0),
    [[[4, 6.5], [23, 15.5]], [[4, 11], [23, 26]]]],
    ['3-D, broadcast, gamma and beta', () => tf.batchNorm(tf.tensor3d(x3), tf.tensor1d([5, 5]), tf.tensor1d([4, 16]), tf.tensor1d([-1, -2]), tf.tensor1d([2, 4]), 0),
      [[[4, 13], [24, 33]], [[4, 13], [24, 33]]]],
    ['4-D, no broadcast, no gamma, no beta', () => tf.batchNorm(tf.tensor4d(x4), tf.tensor4d(m4), tf.tensor4d(v4), undefined, undefined, 0),
      [[[[2.5, 3.75], [12.5, 8.75]], [[1.25, 3], [6.25, 7]]], [[[-2.5, -3.75], [-12.5, -8.75]], [[-1.25, -3], [-6.25, -7]]]]],
    ['4-D, no broadcast, gamma and beta', () => tf.batchNorm(tf.tensor4d(x4), tf.tensor4d(m4), tf.tensor4d(v4),
      tf.tensor4d([[[[-1, -1], [-2, -2]], [[-1, -1], [-2, -2]]], [[[1, 1], [2, 2]], [[1, 1], [2, 2]]]]),
      tf.tensor4d([[[[2, 2], [2, 2]], [[4, 4], [4, 4]]], [[[2, 2], [2, 2]], [[4, 4], [4, 4]]]]), 0),
    [[[[4, 6.5], [23, 15.5]], [[4, 11], [23, 26]]], [[[-4, -6.5], [-23, -15.5]], [[-4, -11], [-23, -26]]]]],
    ['4-D, broadcast, gamma and beta', () => tf.batchNorm(tf.tensor4d([[[[10, 20], [30, 40]]], [[[10, 20], [30, 40]]]]), tf.tensor1d([5, 5]), tf.tensor1d([4, 16]),
      tf.tensor1d([-1, -2]), tf.tensor1d([2, 4]), 0),
    [[[[4, 13], [24, 33]]], [[[4, 13], [24, 33]]]]],
  ];
  for (const [name, f, expected] of cases) {
    it(name, () => {
      const before = getCounters().fusedBatchNorm.fastnorm;
      expectNear(f(), (expected as number[][][][]).flat(3));
      expect(getCounters().fusedBatchNorm.fastnorm).toBe(before + 1);
    });
  }
});

describe('BatchNormalization: symbolic', () => {
  for (const shape of [[4, 6], [2, 3, 4], [2, 3, 4, 5]]) {
    it(`keeps shape and dtype, shape ${JSON.stringify(shape)}`, () => {
      const x = new tfl.SymbolicTensor('float32', shape, null as never, [], null as never);
      const y = batchNormalization({}).apply(x) as tfl.SymbolicTensor;
      expect(y.dtype).toBe(x.dtype);
      expect(y.shape).toEqual(x.shape);
    });
  }

  it('an undetermined channel dimension is an error naming the axis', () => {
    const x = new tfl.SymbolicTensor('float32', [null, 2, 3] as never, null as never, [], null as never);
    expect(() => batchNormalization({ axis: 0 }).apply(x)).toThrow(/Axis 0 of input tensor should have a defined dimension/);
  });

  it('constructs without arguments (axis -1)', () => {
    expect(batchNormalization().getConfig().axis).toBe(-1);
  });
});

describe('BatchNormalization: tensors', () => {
  const inputs: Record<number, () => tf.Tensor> = {
    2: () => tf.tensor2d([[1, 2], [3, 4]]),
    3: () => tf.tensor3d([[[1, 2], [3, 4]], [[-1, -2], [-3, -4]]]),
    4: () => tf.tensor4d([[[[1, 2], [3, 4]], [[-1, -2], [-3, -4]]], [[[-1, -2], [-3, -4]], [[1, 2], [3, 4]]]]),
  };
  for (const dim of [2, 3, 4]) {
    for (const axis of [0, -1]) {
      it(`inference with fresh weights is the identity, ${dim}-D, axis ${axis}`, () => {
        const x = inputs[dim]();
        expectNear(batchNormalization({ axis }).apply(x, { training: false }) as tf.Tensor, x, 0.01);
      });
    }
  }

  it('no center: weights gamma, moving mean, moving variance', () => {
    const layer = batchNormalization({ center: false, axis: 0 });
    const x = tf.tensor2d([[1, 2], [3, 4]]);
    expectNear(layer.apply(x) as tf.Tensor, x, 0.01);
    const w = layer.getWeights();
    expect(w.length).toBe(3);
    expectNear(w[0], [1, 1]);
    expectNear(w[1], [0, 0]);
    expectNear(w[2], [1, 1]);
  });

  it('no scale: weights beta, moving mean, moving variance', () => {
    const layer = batchNormalization({ scale: false, axis: 0 });
    const x = tf.tensor2d([[1, 2], [3, 4]]);
    expectNear(layer.apply(x) as tf.Tensor, x, 0.01);
    const w = layer.getWeights();
    expect(w.length).toBe(3);
    expectNear(w[0], [0, 0]);
    expectNear(w[1], [0, 0]);
    expectNear(w[2], [1, 1]);
  });

  it('no center, no scale: weights moving mean, moving variance', () => {
    const layer = batchNormalization({ scale: false, center: false });
    const x = tf.tensor2d([[1, 2], [3, 4]]);
    expectNear(layer.apply(x) as tf.Tensor, x, 0.01);
    const w = layer.getWeights();
    expect(w.length).toBe(2);
    expectNear(w[0], [0, 0]);
    expectNear(w[1], [1, 1]);
  });

  it('fit, 2-D, a BatchNormalization model alone (Keras reference losses and weights)', async () => {
    const layer = batchNormalization({ inputShape: [4] });
    const model = tfl.sequential({ layers: [layer] });
    model.compile({ loss: 'meanSquaredError', optimizer: 'sgd' });
    const history = await model.fit(tf.tensor2d([[1, 2, 3, 4], [2, 4, 6, 8], [12, 11, 10, 9]]), tf.zeros([3, 4]), { epochs: 2, batchSize: 3 });
    expect(history.history.loss[0]).toBeCloseTo(0.9998891353607178);
    expect(history.history.loss[1]).toBeCloseTo(0.9899163246154785);
    const [gamma, beta, movingMean, movingVariance] = layer.getWeights();
    expectNear(gamma, [0.9900254, 0.9900257, 0.9900262, 0.9900271]);
    expectNear(beta, [2.9802322e-10, 1.4901161e-10, 9.1269614e-10, -7.4505802e-10]);
    expectNear(movingMean, [0.09949999, 0.11276666, 0.12603334, 0.13929999]);
    expectNear(movingVariance, [1.4709667, 1.2763889, 1.1437222, 1.0729666]);
  });

  it('fit, 2-D, BatchNormalization between two Dense layers', async () => {
    const dense1 = tfl.layers.dense({ units: 4, kernelInitializer: 'ones', useBias: false, inputShape: [4] });
    const bn = batchNormalization({ inputShape: [4] });
    const dense2 = tfl.layers.dense({ units: 1, kernelInitializer: 'ones', useBias: false });
    const model = tfl.sequential({ layers: [dense1, bn, dense2] });
    model.compile({ loss: 'meanSquaredError', optimizer: tf.train.sgd(0.1) });
    const history = await model.fit(tf.tensor2d([[1, 2, 3, 4], [2, 4, 6, 8], [12, 11, 10, 9]]), tf.zeros([3, 1]), { epochs: 3, batchSize: 3 });
    expect(history.history.loss[0]).toBeCloseTo(15.999907493591309);
    expect(history.history.loss[1]).toBeCloseTo(0.025602197274565697);
    expect(history.history.loss[2]).toBeCloseTo(0.022478966042399406);
    expectNear(dense1.getWeights()[0], [[0.99999833, 0.99999833, 0.99999833, 0.99999833], [0.9999987, 0.9999987, 0.9999987, 0.9999987],
      [0.999999, 0.999999, 0.999999, 0.999999], [0.99999934, 0.99999934, 0.99999934, 0.99999934]]);
    const [gamma, beta, movingMean, movingVariance] = bn.getWeights();
    expectNear(gamma, [0.18779878, 0.18779878, 0.18779878, 0.18779878]);
    expectNear(beta, [5.5367128e-08, 5.5367128e-08, 5.5367128e-08, 5.5367128e-08]);
    expectNear(movingMean, [0.7128234, 0.7128234, 0.7128234, 0.7128234]);
    expectNear(movingVariance, [6.276868, 6.276868, 6.276868, 6.276868]);
    expectNear(dense2.getWeights()[0], [[0.18779878], [0.18779878], [0.18779878], [0.18779878]]);
  });

  const images = () => tf.tensor4d(Array.from({ length: 50 }, (_, i) => i), [2, 5, 5, 1]);

  it('fit with a conv2d layer', async () => {
    const model = tfl.sequential();
    model.add(tfl.layers.conv2d({ filters: 4, kernelSize: 2, kernelInitializer: 'ones', biasInitializer: 'zeros', inputShape: [5, 5, 1] }));
    model.add(batchNormalization());
    model.add(tfl.layers.flatten());
    model.add(tfl.layers.dense({ units: 1, kernelInitializer: 'ones', biasInitializer: 'zeros' }));
    model.compile({ loss: 'meanSquaredError', optimizer: 'sgd' });
    const h = await model.fit(images(), tf.tensor2d([0, 1], [2, 1]), { epochs: 2 });
    expectNear(h.history.loss as number[], [3332.9971, 2122.5361], 0.01);
  });

  it('fit with a conv2dTranspose layer', async () => {
    const model = tfl.sequential();
    model.add(tfl.layers.conv2dTranspose({ filters: 4, kernelSize: 2, kernelInitializer: 'ones', biasInitializer: 'zeros', inputShape: [5, 5, 1] }));
    model.add(batchNormalization());
    model.add(tfl.layers.flatten());
    model.add(tfl.layers.dense({ units: 1, kernelInitializer: 'ones', biasInitializer: 'zeros' }));
    model.compile({ loss: 'meanSquaredError', optimizer: 'sgd' });
    const h = await model.fit(tf.div(tf.sub(images(), 25), 100), tf.tensor2d([0, 1], [2, 1]), { epochs: 2 });
    expect(h.history.loss[0]).toBeCloseTo(13922.4492);
    expect(h.history.loss[1]).toBeCloseTo(106532048, -3);
    const weights = model.layers[1].getWeights();
    expect(weights.length).toBe(4);
    expectNear(weights[0], [7661.0874, 7661.0874, 7661.0874, 7661.0874], 1e-2);
    expectNear(weights[1], [-118.35103, -118.35103, -118.35103, -118.35103], 1e-2);
    expectNear(weights[2], [-0.00026271, -0.00026271, -0.00026271, -0.00026271]);
    expectNear(weights[3], [0.98333836, 0.98333836, 0.98333836, 0.98333836]);
  });

  it('fit, 3-D, a BatchNormalization model alone', async () => {
    const layer = batchNormalization({ inputShape: [2, 2] });
    const model = tfl.sequential({ layers: [layer] });
    model.compile({ loss: 'meanSquaredError', optimizer: 'sgd' });
    const x = tf.tensor3d([[[1, 2], [3, 4]], [[2, 4], [6, 8]], [[12, 11], [10, 9]]]);
    const history = await model.fit(x, tf.zeros([3, 2, 2]), { epochs: 2, batchSize: 3 });
    expect(history.history.loss[0]).toBeCloseTo(0.9999215006828308);
    expect(history.history.loss[1]).toBeCloseTo(0.980024516582489);
    const [gamma, beta, movingMean, movingVariance] = layer.getWeights();
    expectNear(gamma, [0.98010117, 0.98010194]);
    expectNear(beta, [-1.1175870e-09, 8.1956386e-10]);
    expectNear(movingMean, [0.11276666, 0.12603334]);
    expectNear(movingVariance, [1.3161889, 1.1835222], 1e-5);
  });
});

describe('LayerNormalization: symbolic and serialization', () => {
  it('an axis that is not an integer (or integers) is a constructor error', () => {
    expect(() => layerNormalization({ axis: 'foo' as never })).toThrow(/Expected axis to be an integer/);
    expect(() => layerNormalization({ axis: 1.2 })).toThrow(/Expected axis to be an integer/);
    expect(() => layerNormalization({ axis: [1, 1.5] })).toThrow(/Expected axis to be an array of integers/);
  });

  it('config round trip through a model\'s (Pythonic) JSON', async () => {
    const layer = layerNormalization({ axis: [-2, -1], center: true, scale: false, inputShape: [2, 3] });
    const model = tfl.sequential({ layers: [layer] });
    const restored = await tfl.models.modelFromJSON({ modelTopology: model.toJSON(null, false) as never });
    expect(restored.layers[0]).toBeInstanceOf(LayerNormalization);
    expect(restored.layers[0].getConfig()).toEqual(layer.getConfig());
  });

  it('a Keras model JSON with a BatchNormalization layer deserializes into this package\'s class', async () => {
    const modelJSON = {
      class_name: 'Sequential', config: { name: 'sequential', layers: [
        { class_name: 'Dense', config: { name: 'dense', trainable: true, batch_input_shape: [null, 5], dtype: 'float32', units: 10,
          activation: 'linear', use_bias: true, kernel_initializer: { class_name: 'GlorotUniform', config: { seed: null } },
          bias_initializer: { class_name: 'Zeros', config: {} }, kernel_regularizer: null, bias_regularizer: null,
          activity_regularizer: null, kernel_constraint: null, bias_constraint: null } },
        { class_name: 'BatchNormalization', config: { name: 'batch_normalization', trainable: true, dtype: 'float32', axis: [1],
          momentum: 0.99, epsilon: 0.001, center: true, scale: true, beta_initializer: { class_name: 'Zeros', config: {} },
          gamma_initializer: { class_name: 'Ones', config: {} }, moving_mean_initializer: { class_name: 'Zeros', config: {} },
          moving_variance_initializer: { class_name: 'Ones', config: {} }, beta_regularizer: null, gamma_regularizer: null,
          beta_constraint: null, gamma_constraint: null } },
        { class_name: 'Dense', config: { name: 'dense_1', trainable: true, dtype: 'float32', units: 1, activation: 'sigmoid',
          use_bias: true, kernel_initializer: { class_name: 'GlorotUniform', config: { seed: null } },
          bias_initializer: { class_name: 'Zeros', config: {} }, kernel_regularizer: null, bias_regularizer: null,
          activity_regularizer: null, kernel_constraint: null, bias_constraint: null } },
      ] }, keras_version: '2.2.4-tf', backend: 'tensorflow',
    };
    const model = await tfl.models.modelFromJSON(modelJSON as never);
    expect(model.layers[1]).toBeInstanceOf(BatchNormalization);
    const before = getCounters().batchNormalization.fastnorm;
    const ys = model.predict(tf.zeros([3, 5])) as tf.Tensor;
    expect(ys.shape).toEqual([3, 1]);
    expect(model.layers[1].getWeights().length).toBe(4);
    expect(getCounters().batchNormalization.fastnorm).toBe(before + 1);
  });
});

describe('LayerNormalization: tensors', () => {
  const x3d = () => tf.tensor3d([1, 2, 3, 6, 5, 4, 3, 6, 24, -10, 0, 5], [2, 2, 3]);

  it('forward, 2-D input, default axis', () => {
    expectNear(layerNormalization().apply(tf.tensor2d([[1, 2, 3], [3, 6, 24]])) as tf.Tensor,
      [[-1.2238274, 0, 1.2238274], [-0.8626572, -0.5391607, 1.401818]]);
  });

  it('forward leaks no tensor', () => {
    const layer = layerNormalization();
    const xs = tf.tensor2d([[1, 2, 3], [3, 6, 24]]);
    tf.dispose(layer.apply(xs) as tf.Tensor);
    const before = tf.memory().numTensors;
    tf.dispose(layer.apply(xs) as tf.Tensor);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('forward, 3-D input, default axis', () => {
    expectNear(layerNormalization().apply(x3d()) as tf.Tensor, [[[-1.2238274, 0, 1.2238274], [1.2238274, 0, -1.2238274]],
      [[-0.8626572, -0.5391607, 1.401818], [-1.3362889, 0.26725778, 1.0690311]]]);
  });

  for (const axis of [[1, 2], [-2, -1]]) {
    it(`forward, 3-D input, axes ${JSON.stringify(axis)}`, () => {
      expectNear(layerNormalization({ axis }).apply(x3d()) as tf.Tensor, [[[-1.4635992, -0.8781595, -0.29271984], [1.4635992, 0.8781595, 0.29271984]],
        [[-0.1645762, 0.13166097, 1.909084], [-1.4482707, -0.46081337, 0.03291526]]]);
    });
  }

  it('duplicate axes are an error', () => {
    expect(() => layerNormalization({ axis: [-2, -1, -1] }).apply(x3d())).toThrow(/duplicate axes/);
  });

  const fitLosses = async (layers: tfl.layers.Layer[], xs: tf.Tensor, ys: tf.Tensor) => {
    const model = tfl.sequential();
    for (const l of layers) model.add(l);
    model.compile({ loss: 'meanSquaredError', optimizer: 'sgd' });
    return (await model.fit(xs, ys, { epochs: 5 })).history.loss as number[];
  };

  it('training, 2-D, default axis', async () => {
    const losses = await fitLosses([layerNormalization({ inputShape: [3] }), tfl.layers.dense({ units: 1, kernelInitializer: 'ones' })],
      tf.tensor2d([[1, 2, 3], [3, 6, 24], [10, 5, 0]]), tf.tensor2d([[0], [-1], [2]]));
    expectNear(losses, [1.6666666269302368, 1.4296358823776245, 1.2372404336929321, 1.0793765783309937, 0.9486551880836487]);
  });

  it('training, 2-D, as an intermediate layer', async () => {
    const losses = await fitLosses([tfl.layers.dense({ units: 10, kernelInitializer: 'ones', inputShape: [3] }), layerNormalization(),
      tfl.layers.dense({ units: 1, kernelInitializer: 'ones' })], tf.tensor2d([[1, 2, 3], [3, 6, 24], [10, 5, 0], [2, 7, 8]]),
    tf.tensor2d([[0], [-1], [2], [3]]));
    expectNear(losses, [3.5, 3.1083502769470215, 2.8706729412078857, 2.7243311405181885, 2.6366190910339355]);
  });

  it('training leaks no tensor', async () => {
    const model = tfl.sequential();
    model.add(layerNormalization({ inputShape: [3] }));
    model.add(tfl.layers.dense({ units: 1, kernelInitializer: 'ones' }));
    model.compile({ loss: 'meanSquaredError', optimizer: 'sgd' });
    const xs = tf.tensor2d([[1, 2, 3], [3, 6, 24], [10, 5, 0], [2, 7, 8]]);
    const ys = tf.tensor2d([[0], [-1], [2], [3]]);
    await model.fit(xs, ys, { epochs: 1 });
    const before = tf.memory().numTensors;
    await model.fit(xs, ys, { epochs: 1 });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('training, 3-D, default axis', async () => {
    const losses = await fitLosses([layerNormalization({ inputShape: [2, 3] }), tfl.layers.flatten(), tfl.layers.dense({ units: 1, kernelInitializer: 'ones' })],
      tf.tensor3d([[[1, 2, 3], [3, 6, 24]], [[10, 5, 0], [2, 7, 8]]]), tf.tensor2d([[0], [-1]]));
    expectNear(losses, [0.5, 0.33119967579841614, 0.23371894657611847, 0.171361044049263, 0.12831644713878632]);
  });

  it('training, 3-D, axes [-2, -1]', async () => {
    const losses = await fitLosses([layerNormalization({ inputShape: [2, 3], axis: [-2, -1] }), tfl.layers.flatten(),
      tfl.layers.dense({ units: 1, kernelInitializer: 'ones' })], tf.tensor3d([[[1, 2, 3], [3, 6, 24]], [[10, 5, 0], [2, 7, 8]]]), tf.tensor2d([[0], [-1]]));
    expectNear(losses, [0.5, 0.3337608873844147, 0.23789873719215393, 0.17923809587955475, 0.1408553570508957]);
  });

  it('forward with a mask (the mask passes through; statistics are per position)', () => {
    const model = tfl.sequential();
    const embedding = tfl.layers.embedding({ inputDim: 4, outputDim: 3, inputLength: 4, maskZero: true, embeddingsInitializer: 'ones' });
    model.add(embedding);
    model.add(layerNormalization());
    const xs = tf.tensor2d([[0, 0, 0, 0], [1, 0, 0, 0], [1, 2, 0, 0], [1, 2, 3, 0]]);
    model.predict(xs);
    embedding.setWeights([tf.tensor2d([[1, 2, 3], [3, 2, 1], [2, 3, 1], [3, 1, 2]])]);
    const a = [-1.2238274, 0, 1.2238274];
    const b = [1.2238274, 0, -1.2238274];
    const c = [0, 1.2238274, -1.2238274];
    const d = [1.2238274, -1.2238274, 0];
    expectNear(model.predict(xs) as tf.Tensor, [[a, a, a, a], [b, a, a, a], [b, c, a, a], [b, c, d, a]]);
  });
});

describe('the ported cases ran on fastnorm', () => {
  it('every layer call above was computed by fastnorm (no fallback)', () => {
    const c = getCounters();
    expect(c.batchNormalization.fastnorm).toBeGreaterThan(20);
    expect(c.layerNormalization.fastnorm).toBeGreaterThan(20);
    expect(c.batchNormalization.fallback + c.layerNormalization.fallback).toBe(0);
  });
});
