// This package's LayerNormalization, BatchNormalization and GroupNormalization layers beyond
// the ported tfjs-layers spec: forward and backward against tf.layers' own classes (or, for
// GroupNormalization, Keras 3's formula in TF.js ops) on random data, channel axes tf.layers
// gets wrong, Keras 3 GroupNormalization cases and config, fallbacks, and leaks.
import * as tfl from '@tensorflow/tfjs-layers';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { afterEach, describe, expect, it } from 'vitest';
import {
  BatchNormalization, GroupNormalization, LayerNormalization, batchNormalization, getCounters, groupNormalization,
  layerNormalization, resetCounters, setImplementation,
} from '../src/tfjs';
import * as fastnorm from '../src/index';
import { groupNormalizationInTfjsOps } from '../src/tfjs/layers/group-normalization';
import { bitwiseEqual, expectClose, expectL2Close, isaThreadConfigs } from './helpers';
import { makeRng, seededTensor, tf, useCpuBackend, valuesOf } from './tfjs-helpers';

useCpuBackend();
afterEach(() => resetCounters());

/** y and the gradients of Σ dy·y with respect to x and the layer's trainable weights. */
function forwardBackward(layer: tfl.layers.Layer, x: tf.Tensor, dy: tf.Tensor, training: boolean) {
  layer.apply(x, { training: false }); // build
  return tf.tidy(() => {
    const y = valuesOf(layer.apply(x, { training }) as tf.Tensor);
    const vars = layer.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
    const { grads } = tf.variableGrads(() => tf.sum(tf.mul(layer.apply(x, { training }) as tf.Tensor, dy)) as tf.Scalar, vars);
    const [dx] = tf.grads((xx: tf.Tensor) => tf.mul(layer.apply(xx, { training }) as tf.Tensor, dy))([x]);
    return { y, dx: valuesOf(dx), dweights: vars.map((v) => valuesOf(grads[v.name])) };
  });
}

function expectSameLayerResults(ours: ReturnType<typeof forwardBackward>, stock: ReturnType<typeof forwardBackward>) {
  expectClose(ours.y, stock.y, 1e-5, 'y');
  expectL2Close(ours.dx, stock.dx, 1e-4, 'dx');
  ours.dweights.forEach((g, i) => expectL2Close(g, stock.dweights[i], 1e-5, `dweight ${i}`));
}

describe('LayerNormalization against tf.layers.layerNormalization', () => {
  const cases: Array<[string, number[], object]> = [
    ['[8, 64], axis -1', [8, 64], {}],
    ['[4, 10, 33], axis -1', [4, 10, 33], {}],
    ['[2, 3, 4, 5], axes [-2, -1]', [2, 3, 4, 5], { axis: [-2, -1] }],
    ['[4, 6, 5], axis 1 (not trailing: moved last and back)', [4, 6, 5], { axis: 1 }],
    ['[3, 4, 5], axes [2, 0]', [3, 4, 5], { axis: [2, 0] }],
    ['epsilon 1e-5, large mean offset', [8, 16], { epsilon: 1e-5 }],
  ];
  cases.forEach(([name, shape, args], k) => {
    it(name, () => {
      const rng = makeRng(500 + k);
      const x = seededTensor(rng, shape, { offset: name.includes('offset') ? 100 : 0 });
      const dy = seededTensor(rng, shape);
      const stock = tfl.layers.layerNormalization(args);
      const ours = new LayerNormalization(args);
      stock.apply(x);
      ours.apply(x);
      // random gamma/beta so the affine part is exercised
      ours.setWeights(stock.getWeights().map((w) => tf.add(w, seededTensor(rng, w.shape, { scale: 0.3 }))));
      stock.setWeights(ours.getWeights());
      resetCounters();
      expectSameLayerResults(forwardBackward(ours, x, dy, true), forwardBackward(stock, x, dy, true));
      expect(getCounters().layerNormalization.fallback).toBe(0);
    });
  });

  for (const missing of ['scale', 'center'] as const) {
    it(`${missing} false: as tf.layers with that weight fixed (tf.layers' own class cannot train so: TF.js's gradient needs both)`, () => {
      const rng = makeRng(520);
      const x = seededTensor(rng, [8, 16]);
      const dy = seededTensor(rng, [8, 16]);
      const ours = new LayerNormalization({ [missing]: false });
      const full = tfl.layers.layerNormalization();
      ours.apply(x);
      full.apply(x);
      const present = seededTensor(rng, [16], { offset: missing === 'center' ? 1 : 0, scale: 0.3 });
      ours.setWeights([present]);
      full.setWeights(missing === 'scale' ? [tf.ones([16]), present] : [present, tf.zeros([16])]);
      const a = forwardBackward(ours, x, dy, true);
      const b = forwardBackward(full, x, dy, true);
      expectClose(a.y, b.y, 1e-5, 'y');
      expectL2Close(a.dx, b.dx, 1e-4, 'dx');
      expectL2Close(a.dweights[0], b.dweights[missing === 'scale' ? 1 : 0], 1e-5, 'the present weight');
      const stock = tfl.layers.layerNormalization({ [missing]: false });
      expect(() => forwardBackward(stock, x, dy, true)).toThrow();
    });
  }

  it('keeps tf.layers\' config and weights: the stock layer\'s weights load unchanged', () => {
    const stock = tfl.layers.layerNormalization({ axis: [-2, -1], epsilon: 1e-5, name: 'ln' });
    const ours = new LayerNormalization({ axis: [-2, -1], epsilon: 1e-5, name: 'ln' });
    const x = seededTensor(makeRng(510), [2, 3, 4]);
    stock.apply(x);
    ours.apply(x);
    expect(ours.getConfig()).toEqual(stock.getConfig());
    // (tf.layers makes variable names unique per process; originalName is the name it saves)
    expect(ours.weights.map((w) => [w.originalName, w.shape])).toEqual(stock.weights.map((w) => [w.originalName, w.shape]));
    expect(LayerNormalization.className).toBe('LayerNormalization');
  });
});

describe('BatchNormalization against tf.layers.batchNormalization', () => {
  const cases: Array<[string, number[], object]> = [
    ['[16, 8], axis -1', [16, 8], {}],
    ['[4, 5, 5, 16] (conv activations, channels last)', [4, 5, 5, 16], {}],
    ['[3, 7, 33], odd channel count', [3, 7, 33], {}],
    ['momentum 0.9, epsilon 1e-5', [8, 6], { momentum: 0.9, epsilon: 1e-5 }],
  ];
  cases.forEach(([name, shape, args], k) => {
    it(`${name}: training and inference, forward, backward and moving statistics`, () => {
      const rng = makeRng(600 + k);
      const x = seededTensor(rng, shape, { offset: 3 });
      const dy = seededTensor(rng, shape);
      const stock = tfl.layers.batchNormalization(args);
      const ours = new BatchNormalization(args);
      stock.apply(x);
      ours.apply(x);
      ours.setWeights(stock.getWeights().map((w, i) => (i < 2 ? tf.add(w, seededTensor(rng, w.shape, { scale: 0.3 })) : w)));
      stock.setWeights(ours.getWeights());
      for (const training of [true, false]) expectSameLayerResults(forwardBackward(ours, x, dy, training), forwardBackward(stock, x, dy, training));
      // the same number of training calls updated the moving statistics the same way
      ours.getWeights().slice(2).forEach((w, i) => expectClose(valuesOf(w), valuesOf(stock.getWeights()[i + 2]), 1e-6, `moving ${i}`));
      expect(getCounters().batchNormalization.fallback).toBe(0);
    });
  });

  it('a channels-first axis (1) is normalized per channel; tf.layers on the cpu backend reads its statistics cyclically', () => {
    const rng = makeRng(610);
    const nchw = seededTensor(rng, [2, 3, 4, 5], { offset: 1 });
    const moving = [tf.tensor1d([1, -1, 2]), tf.tensor1d([0.5, 2, 4])];
    const ours = new BatchNormalization({ axis: 1 });
    ours.apply(nchw);
    ours.setWeights([tf.tensor1d([1, 2, 3]), tf.tensor1d([0, 1, -1]), ...moving]);
    // the correct answer: the same statistics on channels-last data
    const reference = tfl.layers.batchNormalization({ axis: -1 });
    const nhwc = tf.transpose(nchw, [0, 2, 3, 1]);
    reference.apply(nhwc);
    reference.setWeights(ours.getWeights());
    for (const training of [false, true]) {
      const expected = tf.transpose(reference.apply(nhwc, { training }) as tf.Tensor, [0, 3, 1, 2]);
      expectClose(valuesOf(ours.apply(nchw, { training }) as tf.Tensor), valuesOf(expected), 1e-5, `training ${training}`);
    }
    // and what tf.layers' own class gives on this backend for the same weights, inference
    const stock = tfl.layers.batchNormalization({ axis: 1 });
    stock.apply(nchw);
    stock.setWeights([tf.tensor1d([1, 2, 3]), tf.tensor1d([0, 1, -1]), ...moving]);
    const stockY = valuesOf(stock.apply(nchw, { training: false }) as tf.Tensor);
    const oursY = valuesOf(ours.apply(nchw, { training: false }) as tf.Tensor);
    expect(Math.max(...stockY.map((v, i) => Math.abs(v - oursY[i])))).toBeGreaterThan(0.1);
  });

  it('trains without gamma or beta (scale/center false), which tf.layers\' class cannot', async () => {
    const model = tfl.sequential({ layers: [batchNormalization({ inputShape: [4], scale: false, center: false }), tfl.layers.dense({ units: 1 })] });
    model.compile({ loss: 'meanSquaredError', optimizer: 'sgd' });
    const h = await model.fit(seededTensor(makeRng(611), [8, 4]), tf.zeros([8, 1]), { epochs: 2 });
    expect(h.history.loss.every((l) => Number.isFinite(l as number))).toBe(true);
  });

  it('one value per channel in training: y = beta, zero gradient to x', () => {
    const layer = new BatchNormalization();
    const x = tf.tensor2d([[1, 2, 3]]);
    layer.apply(x);
    layer.setWeights([tf.tensor1d([2, 2, 2]), tf.tensor1d([0.5, 1, 1.5]), tf.zeros([3]), tf.ones([3])]);
    expectClose(valuesOf(layer.apply(x, { training: true }) as tf.Tensor), [0.5, 1, 1.5], 1e-6);
    const [dx] = tf.grads((xx: tf.Tensor) => layer.apply(xx, { training: true }) as tf.Tensor)([x]);
    expect(Array.from(valuesOf(dx))).toEqual([0, 0, 0]);
  });

  it('keeps tf.layers\' config and weight names and order', () => {
    const stock = tfl.layers.batchNormalization({ momentum: 0.9, name: 'bn' });
    const ours = new BatchNormalization({ momentum: 0.9, name: 'bn' });
    const x = seededTensor(makeRng(612), [4, 3]);
    stock.apply(x);
    ours.apply(x);
    expect(ours.getConfig()).toEqual(stock.getConfig());
    expect(ours.weights.map((w) => w.originalName)).toEqual(['bn/gamma', 'bn/beta', 'bn/moving_mean', 'bn/moving_variance']);
    expect(ours.weights.map((w) => w.originalName)).toEqual(stock.weights.map((w) => w.originalName));
  });
});

describe('GroupNormalization (Keras 3)', () => {
  it('instance normalization (groups -1 and groups = channels agree with Keras\'s values)', () => {
    const x = tf.tensor3d([[[-1, 1, 0, 2], [1, 3, -4, -2]]]);
    const expected = [[-1, -1, 1, 1], [1, 1, -1, -1]].flat();
    const a = valuesOf(groupNormalization({ groups: -1, scale: false, center: false }).apply(x) as tf.Tensor);
    const b = valuesOf(groupNormalization({ groups: 4, scale: false, center: false }).apply(x) as tf.Tensor);
    expectClose(a, expected, 1e-3);
    expectClose(b, a, 1e-6);
  });

  it('1-D features: one group, and two groups on axis 1', () => {
    const x = tf.tensor2d([[-1, -1, 1, 1, 2, 2, 0, -2]]);
    expectClose(valuesOf(groupNormalization({ groups: 1, scale: false, center: false }).apply(x) as tf.Tensor),
      [-0.898, -0.898, 0.539, 0.539, 1.257, 1.257, -0.180, -1.616], 1e-3);
    expectClose(valuesOf(groupNormalization({ groups: 2, axis: 1, scale: false, center: false }).apply(x) as tf.Tensor),
      [-1.0, -1.0, 1.0, 1.0, 0.904, 0.904, -0.301, -1.507], 1e-3);
  });

  it('2-D features: one group, and two groups on axis 2', () => {
    const x = tf.tensor3d([[[-1, -1, 2, 2], [1, 1, 0, -2]]]);
    expectClose(valuesOf(groupNormalization({ groups: 1, scale: false, center: false }).apply(x) as tf.Tensor),
      [-0.898, -0.898, 1.257, 1.257, 0.539, 0.539, -0.180, -1.616], 1e-3);
    expectClose(valuesOf(groupNormalization({ groups: 2, axis: 2, scale: false, center: false }).apply(x) as tf.Tensor),
      [-1.0, -1.0, 0.904, 0.904, 1.0, 1.0, -0.301, -1.507], 1e-3);
  });

  it('channels first: two groups on axis 1 of [1, 4, 2, 2]', () => {
    const x = tf.tensor4d(Array.from({ length: 16 }, (_, i) => i), [1, 4, 2, 2]);
    const half = [-1.5274, -1.0910, -0.6546, -0.2182, 0.2182, 0.6546, 1.0910, 1.5274];
    expectClose(valuesOf(groupNormalization({ groups: 2, axis: 1 }).apply(x) as tf.Tensor), [...half, ...half], 1e-3);
  });

  const cases: Array<[string, number[], { groups: number; axis?: number }]> = [
    ['[2, 6, 6, 16] channels last, 4 groups', [2, 6, 6, 16], { groups: 4 }],
    ['[2, 16, 6, 6] channels first (axis 1), 8 groups', [2, 16, 6, 6], { groups: 8, axis: 1 }],
    ['[3, 12] (no spatial axes), 3 groups', [3, 12], { groups: 3 }],
    ['[2, 5, 7, 9] channel axis 2 (moved last and back), 7 groups', [2, 5, 7, 9], { groups: 7, axis: 2 }],
    ['[2, 4, 4, 6], groups -1', [2, 4, 4, 6], { groups: -1 }],
  ];
  cases.forEach(([name, shape, args], k) => {
    it(`${name}: forward and backward against Keras's formula in TF.js ops`, () => {
      const rng = makeRng(700 + k);
      const x = seededTensor(rng, shape, { offset: 2 });
      const dy = seededTensor(rng, shape);
      const layer = groupNormalization(args);
      layer.apply(x);
      const axis = (args.axis ?? -1) < 0 ? shape.length - 1 : args.axis!;
      const c = shape[axis];
      const gamma = seededTensor(rng, [c], { offset: 1, scale: 0.3 });
      const beta = seededTensor(rng, [c], { scale: 0.3 });
      layer.setWeights([gamma, beta]);
      const ours = forwardBackward(layer, x, dy, true);
      const groups = layer.groups;
      const kerasLoss = (xx: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.mul(groupNormalizationInTfjsOps(xx, axis, groups, g, b, 1e-3), dy);
      const y = valuesOf(groupNormalizationInTfjsOps(x, axis, groups, gamma, beta, 1e-3));
      const [dx, dg, db] = tf.grads(kerasLoss)([x, gamma, beta]).map(valuesOf);
      expectClose(ours.y, y, 1e-5, 'y');
      expectL2Close(ours.dx, dx, 1e-4, 'dx');
      expectL2Close(ours.dweights[0], dg, 1e-5, 'dgamma');
      expectL2Close(ours.dweights[1], db, 1e-5, 'dbeta');
      expect(getCounters().groupNormalization.fallback).toBe(0);
    });
  });

  it("Keras 3's errors: groups larger than or not dividing the channels, invalid groups, an undefined channel dimension", () => {
    const x = tf.ones([2, 2, 2, 4]);
    expect(() => groupNormalization({ groups: 5 }).apply(x)).toThrow(/cannot be more than the number of channels/);
    expect(() => groupNormalization({ groups: 3 }).apply(x)).toThrow(/must be a multiple of the number of channels/);
    for (const bad of [0, -2, 1.5, '32']) expect(() => groupNormalization({ groups: bad as never })).toThrow(/groups/);
    expect(() => groupNormalization({ groups: -1 })).not.toThrow();
    const symbolic = new tfl.SymbolicTensor('float32', [null, 2, 2, 2, null] as never, null as never, [], null as never);
    expect(() => groupNormalization().apply(symbolic)).toThrow(/should have a defined dimension/);
    expect(() => groupNormalization({ groups: 1, axis: 0 }).apply(x)).toThrow(/axis 0 is the batch/);
  });

  it('weights gamma and beta per channel, regularizer losses, constraints, masking', () => {
    const layer = groupNormalization({ groups: 4, gammaRegularizer: tfl.regularizers.l2({ l2: 0.01 }), betaRegularizer: 'l1l2',
      gammaConstraint: tfl.constraints.unitNorm({}), betaConstraint: 'nonNeg', name: 'gn' });
    const y = layer.apply(new tfl.SymbolicTensor('float32', [null, 4, 32], null as never, [], null as never)) as tfl.SymbolicTensor;
    expect(y.shape).toEqual([null, 4, 32]);
    expect(layer.trainableWeights.map((w) => [w.name, w.shape])).toEqual([['gn/gamma', [32]], ['gn/beta', [32]]]);
    expect(layer.nonTrainableWeights).toHaveLength(0);
    expect(layer.losses).toHaveLength(2);
    expect(layer.supportsMasking).toBe(true);
    const config = layer.getConfig();
    expect(config).toMatchObject({
      groups: 4, axis: -1, epsilon: 1e-3, center: true, scale: true,
      betaInitializer: { className: 'Zeros', config: {} }, gammaInitializer: { className: 'Ones', config: {} },
      gammaRegularizer: { className: 'L1L2', config: { l1: 0, l2: 0.01 } }, betaConstraint: { className: 'NonNeg', config: {} },
      gammaConstraint: { className: 'UnitNorm', config: { axis: 0 } }, name: 'gn',
    });
    // (tf.layers' parser writes into the config objects it is given, so give it a copy)
    const copy = new GroupNormalization(structuredClone(config) as never);
    expect(copy.getConfig()).toEqual(config);
  });

  it('a Keras 3 model JSON with a GroupNormalization layer loads (snake_case config)', async () => {
    const modelJSON = {
      class_name: 'Sequential', config: { name: 'sequential', layers: [
        { class_name: 'GroupNormalization', config: { name: 'group_normalization', trainable: true, dtype: 'float32',
          batch_input_shape: [null, 8, 8, 16], groups: 4, axis: -1, epsilon: 1e-5, center: true, scale: true,
          beta_initializer: { class_name: 'Zeros', config: {} }, gamma_initializer: { class_name: 'Ones', config: {} },
          beta_regularizer: null, gamma_regularizer: null, beta_constraint: null, gamma_constraint: null } },
      ] },
    };
    const model = await tfl.models.modelFromJSON(modelJSON as never);
    const layer = model.layers[0] as GroupNormalization;
    expect(layer).toBeInstanceOf(GroupNormalization);
    expect(layer.getConfig()).toMatchObject({ groups: 4, epsilon: 1e-5 });
    const x = seededTensor(makeRng(720), [2, 8, 8, 16]);
    expectClose(valuesOf(model.predict(x) as tf.Tensor), valuesOf(groupNormalizationInTfjsOps(x, 3, 4, null, null, 1e-5)), 1e-5);
    // and back: the model's own JSON round trip keeps the class and config
    const again = await tfl.models.modelFromJSON({ modelTopology: model.toJSON(null, false) as never });
    expect(again.layers[0].getConfig()).toEqual(layer.getConfig());
  });
});

describe('fallbacks and bookkeeping of the layers', () => {
  it("on a backend fastnorm is not registered for, each layer runs TF.js's code, counted 'backend'", async () => {
    const rng = makeRng(800);
    const x = seededTensor(rng, [4, 6, 8]);
    const layers = [new LayerNormalization(), new BatchNormalization(), new GroupNormalization({ groups: 2 })];
    const onCpu = layers.map((l) => valuesOf(l.apply(x, { training: true }) as tf.Tensor));
    tf.registerBackend('plain-cpu-layers', () => new MathBackendCPU());
    tf.copyRegisteredKernels('cpu', 'plain-cpu-layers');
    try {
      await tf.setBackend('plain-cpu-layers');
      resetCounters();
      layers.forEach((l, i) => expectClose(valuesOf(l.apply(x, { training: true }) as tf.Tensor), onCpu[i], 1e-5, l.getClassName()));
      const c = getCounters();
      for (const op of ['layerNormalization', 'batchNormalization', 'groupNormalization'] as const)
        expect(c[op], op).toEqual({ fastnorm: 0, fallback: 1, reasons: { backend: 1 } });
    } finally {
      await tf.setBackend('cpu');
      tf.removeBackend('plain-cpu-layers');
    }
  });

  it('a model of the three layers trains without leaking tensors', async () => {
    const model = tfl.sequential({ layers: [
      tfl.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', inputShape: [6, 6, 2] }),
      batchNormalization(), groupNormalization({ groups: 2 }), layerNormalization(), tfl.layers.flatten(), tfl.layers.dense({ units: 1 }),
    ] });
    model.compile({ loss: 'meanSquaredError', optimizer: 'adam' });
    const xs = seededTensor(makeRng(801), [4, 6, 6, 2]);
    const ys = tf.zeros([4, 1]);
    await model.fit(xs, ys, { epochs: 1 });
    const before = tf.memory().numTensors;
    await model.fit(xs, ys, { epochs: 2 });
    model.predict(xs);
    tf.dispose(model.predict(xs) as tf.Tensor);
    expect(tf.memory().numTensors).toBe(before + 1); // the one undisposed predict result
    const c = getCounters();
    expect(c.layerNormalization.fallback + c.batchNormalization.fallback + c.groupNormalization.fallback).toBe(0);
  });
});

describe('the layers on every ISA path and thread count, and on the reference backend', () => {
  const { configs, configure } = isaThreadConfigs();
  const layers = () => [new LayerNormalization(), new BatchNormalization(), new GroupNormalization({ groups: 4 })];
  const x = () => seededTensor(makeRng(900), [4, 9, 7, 24], { offset: 1 });
  const dy = () => seededTensor(makeRng(901), [4, 9, 7, 24]);

  it('forward and backward are bitwise identical for every ISA path and thread count', () => {
    const xs = x();
    const dys = dy();
    const made = layers();
    let first: Float32Array[] | null = null;
    for (const { isa, threads } of configs) {
      configure(isa, threads);
      const results = made.flatMap((l) => { const r = forwardBackward(l, xs, dys, true); return [r.y, r.dx, ...r.dweights]; });
      if (!first) first = results;
      else results.forEach((r, k) => expect(bitwiseEqual(r, first![k]), `${isa} × ${threads} threads, output ${k}`).toBe(true));
    }
  });

  it('native and fastnorm/reference agree', () => {
    const xs = x();
    const dys = dy();
    const made = layers();
    const native = made.map((l) => forwardBackward(l, xs, dys, true));
    const previous = setImplementation(fastnorm.reference);
    try {
      made.forEach((l, i) => expectSameLayerResults(forwardBackward(l, xs, dys, true), native[i]));
    } finally {
      setImplementation(previous);
    }
  });
});
