// Prints a SHA-256 of the outputs of every public op on fixed seeded inputs, for every ISA path
// of the addon (its `_setIsa` test hook) × threads 1 and 2, and for the reference backend.
// A change that must not alter any result (a refactoring, a build change) keeps every line of
// this output identical: run it before and after and diff.
//
//   npm run build:ts && node scripts/output-hashes.mjs [--verbose]
//
// It uses the public API only (fastnorm, fastnorm.promises, fastnorm.reference), so it runs on
// any version of the internals. The calls cover each kernel path: vector tails, cache-resident
// and blocked huge rows, NCHW/NHWC with periodic and lane-per-channel channel walks, small and
// long spatial runs, waves of large units, training/eval, running statistics, out buffers and
// in-place calls, sync-BN building blocks, and ill-conditioned or non-finite data. --verbose
// prints one hash per call (to find which call changed).
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(root, 'package.json'));
const fastnorm = require('fastnorm');
const addon = require(join(root, 'build', 'Release', 'fastnorm.node'));
const verbose = process.argv.includes('--verbose');

// ---- seeded data ----

/** Park and Miller's minimal standard generator: uniform numbers in (0, 1). */
function uniforms(seed) {
  let s = (seed % 2147483646) + 1;
  return () => (s = (s * 48271) % 2147483647) / 2147483647;
}

function normals(seed, n, C, scale = 1, offset = 0) {
  const u = uniforms(seed);
  const a = new C(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(u() || 1e-300));
    const t = 2 * Math.PI * u();
    a[i] = offset + scale * r * Math.cos(t);
    if (i + 1 < n) a[i + 1] = offset + scale * r * Math.sin(t);
  }
  return a;
}

const product = (s) => s.reduce((p, d) => p * d, 1);
const DTYPES = [['float32', Float32Array], ['float64', Float64Array]];

// Data kinds: the ill-conditioned ones take the kernels' fallback paths.
const KINDS = {
  normal: (seed, n, C) => normals(seed, n, C, 2, 0.5),
  offset: (seed, n, C) => normals(seed, n, C, 1, 1e4),
  huge: (seed, n, C) => normals(seed, n, C, 1e30),
  tiny: (seed, n, C) => normals(seed, n, C, 1e-30),
  poisoned: (seed, n, C) => {
    const a = normals(seed, n, C);
    if (n > 0) a[Math.floor(n / 3)] = NaN;
    if (n > 1) a[n - 1] = Infinity;
    return a;
  },
  constant: (seed, n, C) => new C(n).fill(3.25),
  farStart: (seed, n, C) => { // the first values far from the rest: a bad shift for the moments
    const a = normals(seed, n, C);
    for (let i = 0; i < Math.min(n, 64); i++) a[i] = 50 + i;
    return a;
  },
};

// ---- the calls ----

/** Seeded inputs of a channel op: x of a data kind, dy, and per-channel weight, bias, running statistics. */
function channelData(kind, seed, size, c, C, shape) {
  return {
    x: { data: KINDS[kind](seed, size, C), shape },
    dy: { data: normals(seed + 1, size, C), shape },
    weight: normals(seed + 2, c, C, 0.5, 1),
    bias: normals(seed + 3, c, C),
    rm: normals(seed + 4, c, C, 0.3),
    rv: normals(seed + 5, c, C).map((v) => 0.5 + Math.abs(v)),
  };
}

/** A training call with its own copy of the running statistics, which it returns with its result. */
function withRunning(rm, rv, call) {
  const runningMean = rm.slice();
  const runningVar = rv.slice();
  return { ...call({ runningMean, runningVar }), runningMean, runningVar };
}

/** Every call: [label, () => result]; a result is any object holding typed arrays. */
function calls(api, promises) {
  const list = [];
  const add = (label, fn) => list.push([label, fn]);
  let seed = 1;

  // LayerNorm / RMSNorm: vector tails, in-cache rows, huge rows (blocked), thread splits
  const ROW_SHAPES = [[3, 1], [5, 15], [4, 16], [3, 17], [7, 33], [2, 768], [65, 769], [3, 4097], [2, 40000], [300, 1000], [3, 70000]];
  for (const [dt, C] of DTYPES) {
    for (const [rows, cols] of ROW_SHAPES) {
      for (const kind of ['normal', ...(rows * cols < 200000 ? ['offset', 'huge', 'tiny', 'poisoned', 'constant'] : [])]) {
        const s = seed++;
        const x = { data: KINDS[kind](s, rows * cols, C), shape: [rows, cols] };
        const dy = { data: normals(s + 1, rows * cols, C), shape: [rows, cols] };
        const weight = normals(s + 2, cols, C, 0.5, 1);
        const bias = normals(s + 3, cols, C);
        const at = `${dt} [${rows}, ${cols}] ${kind}`;
        for (const [wb, w, b] of [['w+b', weight, bias], ['w', weight, undefined], ['b', undefined, bias], ['none', undefined, undefined]]) {
          if (kind !== 'normal' && wb !== 'w+b' && wb !== 'none') continue;
          add(`layerNorm ${at} ${wb}`, () => api.layerNorm(x, cols, { weight: w, bias: b }));
          const saved = fastnorm.reference.layerNorm(x, cols); // the same saved statistics on every config
          add(`layerNormBackward ${at} ${wb}`, () => api.layerNormBackward(dy, x, saved, cols, { weight: w }));
          add(`rmsNorm ${at} ${wb}`, () => api.rmsNorm(x, cols, { weight: w }));
          const rsaved = fastnorm.reference.rmsNorm(x, cols);
          add(`rmsNormBackward ${at} ${wb}`, () => api.rmsNormBackward(dy, x, rsaved, cols, { weight: w }));
        }
        if (kind === 'normal' && rows * cols < 200000) {
          const saved = fastnorm.reference.layerNorm(x, cols);
          add(`layerNormBackward ${at} grads.bias only`, () => api.layerNormBackward(dy, x, saved, cols, { grads: { bias: true } }));
          add(`layerNormBackward ${at} weight, grads.weight only`, () => api.layerNormBackward(dy, x, saved, cols,
            { weight, grads: { weight: true, bias: false } }));
          add(`rmsNormBackward ${at} grads.weight, no weight`, () => api.rmsNormBackward(dy, x, fastnorm.reference.rmsNorm(x, cols), cols,
            { grads: { weight: true } }));
          add(`layerNorm ${at} eps 0`, () => api.layerNorm(x, cols, { weight, bias, eps: 0 }));
          add(`layerNorm ${at} in place`, () => {
            const xs = { data: x.data.slice(), shape: x.shape };
            return api.layerNorm(xs, cols, { weight, bias, out: { y: xs.data } });
          });
          add(`rmsNorm ${at} out buffers`, () => api.rmsNorm(x, cols, { weight, eps: 0.5, out: { y: new C(rows * cols), rstd: new C(rows) } }));
        }
      }
    }
    // several normalized dims
    const s = seed++;
    const x = { data: normals(s, 2 * 3 * 5 * 17, C), shape: [2, 3, 5, 17] };
    add(`layerNorm ${dt} [2, 3, 5, 17] over [5, 17]`, () => api.layerNorm(x, [5, 17], { weight: normals(s + 1, 85, C) }));
    add(`rmsNorm ${dt} [2, 3, 5, 17] over [3, 5, 17]`, () => api.rmsNorm(x, [3, 5, 17]));
  }

  // BatchNorm and its sync-BN building blocks
  const BN_SHAPES = [
    ['NCHW', 2, 3, [5]], ['NCHW', 3, 17, [7, 3]], ['NCHW', 2, 3, [20000]], ['NCHW', 4, 40, [24, 24]], ['NCHW', 5, 4, []],
    ['NHWC', 8, 3, [64, 64]], ['NHWC', 4, 64, [16, 17]], ['NHWC', 4, 17, [32, 32]], ['NHWC', 2, 300, [15, 15]], ['NHWC', 3, 1, [9]],
    ['NHWC', 2, 5, [3]], ['NHWC', 2, 24, [7, 5]],
  ];
  for (const [dt, C] of DTYPES) {
    for (const [layout, n, c, sp] of BN_SHAPES) {
      const shape = layout === 'NCHW' ? [n, c, ...sp] : [n, ...sp, c];
      const size = product(shape);
      for (const kind of ['normal', ...(size < 100000 ? ['offset', 'huge', 'poisoned', 'constant'] : [])]) {
        const { x, dy, weight, bias, rm, rv } = channelData(kind, seed++, size, c, C, shape);
        const at = `${dt} ${layout} [${shape.join(', ')}] ${kind}`;
        add(`batchNorm ${at} training, running stats`, () => withRunning(rm, rv, (run) => api.batchNorm(x, { weight, bias, ...run, momentum: 0.3, layout })));
        add(`batchNorm ${at} training, no affine`, () => api.batchNorm(x, { layout }));
        add(`batchNorm ${at} eval`, () => api.batchNorm(x, { weight, bias, runningMean: rm, runningVar: rv, training: false, layout }));
        const saved = fastnorm.reference.batchNorm(x, { layout });
        add(`batchNormBackward ${at} training`, () => api.batchNormBackward(dy, x, saved, { weight, layout }));
        add(`batchNormBackward ${at} training, no weight, grads`, () => api.batchNormBackward(dy, x, saved, { layout, grads: { bias: true } }));
        add(`batchNormBackward ${at} eval`, () => api.batchNormBackward(dy, x, saved, { weight, layout, training: false }));
        add(`batchNormBackward ${at} eval, no grads`, () => api.batchNormBackward(dy, x, saved, { layout, training: false }));
        add(`batchNormStats ${at}`, () => api.batchNormStats(x, { layout }));
        add(`batchNormElemt ${at}`, () => api.batchNormElemt(x, saved, { weight, bias, layout }));
        add(`batchNormElemt ${at} in place`, () => {
          const xs = { data: x.data.slice(), shape };
          return api.batchNormElemt(xs, saved, { bias, layout, out: { y: xs.data } });
        });
        add(`batchNormBackwardReduce ${at}`, () => api.batchNormBackwardReduce(dy, x, saved, { layout }));
        const sums = fastnorm.reference.batchNormBackwardReduce(dy, x, saved, { layout });
        add(`batchNormBackwardElemt ${at}`, () => api.batchNormBackwardElemt(dy, x, saved, { ...sums, count: n * product(sp) }, { weight, layout }));
        add(`batchNormBackwardElemt ${at} no weight, grads.bias`, () => api.batchNormBackwardElemt(dy, x, saved,
          { ...sums, count: 2 * n * product(sp) }, { layout, grads: { bias: true } }));
        // gather: shards of the batch (stats from the reference: the same parts everywhere)
        if (n >= 2) {
          const per = size / n;
          const shard = (a, b) => ({ data: x.data.subarray(a * per, b * per), shape: [b - a, ...shape.slice(1)] });
          const parts = [shard(0, 1), shard(1, n)].map((t) => fastnorm.reference.batchNormStats(t, { layout }));
          parts.push({ count: 0, mean: new Float64Array(c), m2: new Float64Array(c) });
          add(`batchNormGatherStats ${at} 3 parts, running stats`, () =>
            withRunning(rm, rv, (run) => api.batchNormGatherStats(parts, { ...run, momentum: 0.2, eps: 1e-3 })));
          add(`batchNormGatherStats ${at} dtype`, () => api.batchNormGatherStats(parts, { dtype: dt }));
        }
      }
    }
  }

  // GroupNorm / InstanceNorm
  const GN_SHAPES = [ // [N, C, ...spatial] (written NCHW), groups
    [[2, 1, 7], 1], [[2, 6, 5, 7], 3], [[2, 12, 17], 4], [[2, 17, 3, 11], 17], [[2, 33, 5], 11], [[2, 64, 9, 9], 32], [[2, 65, 8], 13],
    [[2, 100, 3], 10], [[1, 4, 63], 2], [[2, 2, 8191], 1], [[1, 3, 8193], 3], [[1, 2, 20000], 2], [[3, 8, 9, 1111], 4],
    [[2, 320, 9, 13], 32], [[8, 64, 24, 24], 32], [[2, 20, 64, 64], 2], [[1, 3, 380, 380], 3], [[40, 33, 5], 11], [[3, 5, 0], 5],
  ];
  for (const [dt, C] of DTYPES) {
    for (const layout of ['NCHW', 'NHWC']) {
      for (const [nchw, groups] of GN_SHAPES) {
        const [n, c, ...sp] = nchw;
        const shape = layout === 'NCHW' ? nchw : [n, ...sp, c];
        const size = product(shape);
        const kinds = ['normal', ...(size < 100000 ? ['offset', 'huge', 'tiny', 'poisoned', 'constant', 'farStart'] : ['farStart'])];
        for (const kind of kinds) {
          const { x, dy, weight, bias, rm, rv } = channelData(kind, seed++, size, c, C, shape);
          const at = `${dt} ${layout} [${shape.join(', ')}] G=${groups} ${kind}`;
          add(`groupNorm ${at}`, () => api.groupNorm(x, groups, { weight, bias, layout }));
          add(`groupNorm ${at} no affine, eps 0`, () => api.groupNorm(x, groups, { layout, eps: 0 }));
          const saved = fastnorm.reference.groupNorm(x, groups, { layout });
          add(`groupNormBackward ${at}`, () => api.groupNormBackward(dy, x, saved, groups, { weight, layout }));
          add(`groupNormBackward ${at} no weight`, () => api.groupNormBackward(dy, x, saved, groups, { layout }));
          add(`instanceNorm ${at} running stats`, () =>
            withRunning(rm, rv, (run) => api.instanceNorm(x, { weight, bias, ...run, momentum: 0.2, layout })));
          add(`instanceNorm ${at} useInputStats false`, () => api.instanceNorm(x, { weight, runningMean: rm, runningVar: rv,
            useInputStats: false, layout }));
          const isaved = fastnorm.reference.instanceNorm(x, { layout });
          add(`instanceNormBackward ${at}`, () => api.instanceNormBackward(dy, x, isaved, { weight, layout }));
          add(`instanceNormBackward ${at} useInputStats false, grads`, () => api.instanceNormBackward(dy, x, isaved,
            { layout, useInputStats: false, grads: { weight: true } }));
        }
        if (size > 0 && size < 100000) {
          const s = seed++;
          const x = { data: normals(s, size, C), shape };
          add(`groupNorm ${dt} ${layout} [${shape.join(', ')}] in place`, () => {
            const xs = { data: x.data.slice(), shape };
            return api.groupNorm(xs, groups, { layout, out: { y: xs.data } });
          });
        }
      }
    }
  }

  // the promise API computes the same kernels on the libuv pool
  if (promises) {
    for (const [dt, C] of DTYPES) {
      const x = { data: normals(seed++, 64 * 1000, C), shape: [64, 1000] };
      add(`promises.layerNorm ${dt}`, () => promises.layerNorm(x, 1000));
      const b = { data: normals(seed++, 4 * 17 * 300, C), shape: [4, 17, 300] };
      add(`promises.batchNorm ${dt}`, () => promises.batchNorm(b));
      add(`promises.groupNormBackward ${dt}`, () => promises.groupNormBackward(b, b, fastnorm.reference.groupNorm(b, 17), 17));
    }
  }

  // Residual add + norm and weightOffset (added after every older call, so their seeds and hashes stay as they were)
  for (const [dt, C] of DTYPES) {
    for (const [rows, cols] of [[3, 17], [65, 769], [300, 1000], [3, 70000]]) {
      for (const kind of ['normal', 'offset', 'poisoned']) {
        const s = seed++;
        const n = rows * cols;
        const x = { data: KINDS[kind](s, n, C), shape: [rows, cols] };
        const residual = { data: kind === 'offset' ? normals(s + 1, n, C, 1, -1e4) : normals(s + 1, n, C), shape: [rows, cols] };
        const dy = { data: normals(s + 2, n, C), shape: [rows, cols] };
        const dSum = { data: normals(s + 3, n, C), shape: [rows, cols] };
        const weight = normals(s + 4, cols, C, 0.1);
        const bias = normals(s + 5, cols, C);
        const residualBias = normals(s + 6, cols, C, 0.3);
        const at = `${dt} [${rows}, ${cols}] ${kind}`;
        add(`layerNorm ${at} weightOffset 1`, () => api.layerNorm(x, cols, { weight, bias, weightOffset: 1 }));
        add(`rmsNormBackward ${at} weightOffset 1`, () => api.rmsNormBackward(dy, x, fastnorm.reference.rmsNorm(x, cols), cols,
          { weight, weightOffset: 1 }));
        add(`addLayerNorm ${at}`, () => api.addLayerNorm(x, residual, cols, { weight, bias, residualBias }));
        add(`addRmsNorm ${at} weightOffset 1`, () => api.addRmsNorm(x, residual, cols, { weight, weightOffset: 1 }));
        add(`addLayerNorm ${at} in place`, () => {
          const xs = { data: x.data.slice(), shape: x.shape };
          const rs = { data: residual.data.slice(), shape: x.shape };
          return api.addLayerNorm(xs, rs, cols, { weight, out: { y: xs.data, sum: rs.data } });
        });
        const saved = fastnorm.reference.addLayerNorm(x, residual, cols, { residualBias });
        add(`addLayerNormBackward ${at}`, () => api.addLayerNormBackward(dy, saved.sum, saved, cols,
          { weight, dSum, grads: { residualBias: true } }));
        const rsaved = fastnorm.reference.addRmsNorm(x, residual, cols);
        add(`addRmsNormBackward ${at} weightOffset 1`, () => api.addRmsNormBackward(dy, rsaved.sum, rsaved, cols,
          { weight, weightOffset: 1, dSum, grads: { residualBias: true } }));
      }
    }
  }
  return list;
}

// ---- hashing ----

/** The typed arrays of a result, in a fixed order (sorted keys, depth first). */
function arraysOf(value, path = '') {
  if (ArrayBuffer.isView(value)) return [[path, value]];
  if (typeof value !== 'object' || value === null) return [];
  return Object.keys(value).sort().flatMap((k) => arraysOf(value[k], path ? `${path}.${k}` : k));
}

/** The same values with every NaN written as the one canonical NaN (its sign and payload dropped). */
function canonicalNaNs(a) {
  if (!(a instanceof Float32Array || a instanceof Float64Array) || !a.some(Number.isNaN)) return a;
  return a.map((v) => (Number.isNaN(v) ? NaN : v));
}

/**
 * The half-precision calls (a line of their own, so the lines above compare with versions that
 * have none): every half kernel in both formats, with the parameters in the data's format and in
 * float32, on shapes that take the vector tails, cached and blocked rows and both channel layouts.
 */
function halfCalls(api) {
  const list = [];
  const add = (label, fn) => list.push([label, fn]);
  let seed = 9000;
  for (const dtype of ['float16', 'bfloat16']) {
    const narrow = (a) => (dtype === 'float16' ? api.toFloat16(a) : api.toBFloat16(a));
    const tensor = (a, shape) => ({ data: narrow(a), shape, dtype });
    for (const params of ['half', 'float32']) {
      const param = (a) => (params === 'half' ? narrow(a) : a);
      for (const [rows, cols] of [[3, 17], [7, 33], [65, 769], [300, 1000], [3, 70000]]) {
        for (const kind of ['normal', 'offset', 'poisoned']) {
          const s = seed++;
          const n = rows * cols;
          const shape = [rows, cols];
          const x = tensor(KINDS[kind](s, n, Float32Array), shape);
          const residual = tensor(normals(s + 1, n, Float32Array), shape);
          const dy = tensor(normals(s + 2, n, Float32Array), shape);
          const dSum = tensor(normals(s + 3, n, Float32Array), shape);
          const weight = param(normals(s + 4, cols, Float32Array, 0.5, 1));
          const bias = param(normals(s + 5, cols, Float32Array));
          const residualBias = param(normals(s + 6, cols, Float32Array, 0.3));
          const at = `${dtype} params ${params} [${rows}, ${cols}] ${kind}`;
          add(`layerNorm ${at}`, () => api.layerNorm(x, cols, { weight, bias }));
          const saved = api.layerNorm(x, cols);
          add(`layerNormBackward ${at}`, () => api.layerNormBackward(dy, x, saved, cols, { weight, grads: { bias: true } }));
          add(`layerNormBackward ${at} gelu`, () => api.layerNormBackward(dy, x, saved, cols, { weight, bias, activation: 'gelu' }));
          add(`rmsNorm ${at} weightOffset 1`, () => api.rmsNorm(x, cols, { weight, weightOffset: 1 }));
          add(`rmsNormBackward ${at}`, () => api.rmsNormBackward(dy, x, api.rmsNorm(x, cols), cols, { weight }));
          add(`addLayerNorm ${at}`, () => api.addLayerNorm(x, residual, cols, { weight, bias, residualBias }));
          const asaved = api.addLayerNorm(x, residual, cols, { residualBias });
          add(`addLayerNormBackward ${at}`, () => api.addLayerNormBackward(dy, asaved.sum, asaved, cols,
            { weight, dSum, grads: { bias: true, residualBias: true } }));
          add(`addRmsNorm ${at}`, () => api.addRmsNorm(x, residual, cols, { weight, residualBias }));
          const rsaved = api.addRmsNorm(x, residual, cols);
          add(`addRmsNormBackward ${at}`, () => api.addRmsNormBackward(dy, rsaved.sum, rsaved, cols,
            { weight, dSum, grads: { residualBias: true } }));
        }
      }
      for (const [layout, nchw, groups] of [['NCHW', [2, 6, 5, 7], 3], ['NCHW', [2, 5, 9000], 5], ['NCHW', [2, 64, 9, 9], 32],
        ['NHWC', [3, 3, 7, 5], 3], ['NHWC', [2, 16, 9, 9], 4], ['NHWC', [2, 40, 6, 7], 8], ['NHWC', [2, 320, 9, 13], 32]]) {
        const [n, c, ...sp] = nchw;
        const shape = layout === 'NCHW' ? nchw : [n, ...sp, c];
        const size = product(shape);
        for (const kind of ['normal', 'poisoned']) {
          const s = seed++;
          const x = tensor(KINDS[kind](s, size, Float32Array), shape);
          const dy = tensor(normals(s + 1, size, Float32Array), shape);
          const weight = param(normals(s + 2, c, Float32Array, 0.5, 1));
          const bias = param(normals(s + 3, c, Float32Array));
          const rm = param(normals(s + 4, c, Float32Array, 0.3));
          const rv = param(normals(s + 5, c, Float32Array).map((v) => 0.5 + Math.abs(v)));
          const at = `${dtype} params ${params} ${layout} [${shape.join(', ')}] ${kind}`;
          add(`batchNorm ${at} training`, () => withRunning(rm, rv, (run) => api.batchNorm(x, { weight, bias, ...run, layout, activation: 'silu' })));
          add(`batchNorm ${at} eval`, () => api.batchNorm(x, { weight, bias, runningMean: rm, runningVar: rv, training: false, layout }));
          const saved = api.batchNorm(x, { layout });
          add(`batchNormBackward ${at}`, () => api.batchNormBackward(dy, x, saved, { weight, layout, grads: { bias: true } }));
          add(`batchNormBackward ${at} eval`, () => api.batchNormBackward(dy, x, saved, { weight, layout, training: false }));
          add(`batchNormStats ${at}`, () => api.batchNormStats(x, { layout }));
          add(`batchNormElemt ${at}`, () => api.batchNormElemt(x, saved, { weight, bias, layout }));
          const sums = api.batchNormBackwardReduce(dy, x, saved, { layout });
          add(`batchNormBackwardReduce ${at}`, () => sums);
          add(`batchNormBackwardElemt ${at}`, () => api.batchNormBackwardElemt(dy, x, saved, { ...sums, count: size / c }, { weight, layout }));
          add(`groupNorm ${at}`, () => api.groupNorm(x, groups, { weight, bias, layout }));
          const gsaved = api.groupNorm(x, groups, { layout });
          add(`groupNormBackward ${at}`, () => api.groupNormBackward(dy, x, gsaved, groups, { weight, layout, grads: { bias: true } }));
          add(`groupNormBackward ${at} relu`, () => api.groupNormBackward(dy, x, gsaved, groups, { weight, bias, layout, activation: 'relu' }));
          add(`instanceNorm ${at}`, () => withRunning(rm, rv, (run) => api.instanceNorm(x, { weight, bias, ...run, layout })));
          add(`instanceNorm ${at} useInputStats false`, () => api.instanceNorm(x, { weight, runningMean: rm, runningVar: rv,
            useInputStats: false, layout }));
          const isaved = api.instanceNorm(x, { layout });
          add(`instanceNormBackward ${at}`, () => api.instanceNormBackward(dy, x, isaved, { weight, layout, grads: { bias: true } }));
        }
      }
    }
  }
  return list;
}

async function hashCalls(api, promises, list = calls(api, promises)) {
  const total = createHash('sha256');
  const canonical = createHash('sha256');
  const lines = [];
  for (const [label, fn] of list) {
    const h = createHash('sha256');
    try {
      const result = await fn();
      for (const [path, a] of arraysOf(result)) {
        h.update(`${path}:${a.constructor.name}:${a.length}:`);
        h.update(Buffer.from(a.buffer, a.byteOffset, a.byteLength));
        const c = canonicalNaNs(a);
        canonical.update(`${label}:${path}:`);
        canonical.update(Buffer.from(c.buffer, c.byteOffset, c.byteLength));
      }
      if (typeof result.count === 'number') h.update(`count:${result.count}`);
    } catch (e) { // an invalid edge case (e.g. running statistics of empty channels): its error is part of the behaviour
      h.update(`error:${e.constructor.name}:${e.message}`);
      canonical.update(`${label}:error:${e.constructor.name}:${e.message}`);
    }
    const digest = h.digest('hex');
    total.update(`${label}=${digest}\n`);
    if (verbose) lines.push(`  ${digest.slice(0, 16)} ${label}`);
  }
  return { digest: total.digest('hex'), canonical: canonical.digest('hex'), lines, count: list.length };
}

// Half precision (a separate line per configuration, so the lines above compare with versions
// that have none): the conversions on every half pattern and on seeded float32/float64 data of
// every kind, vector tails included. Hashed bit for bit (NaN payloads are part of the contract).
function halfHash(api) {
  if (typeof api.toFloat16 !== 'function') return null;
  const h = createHash('sha256');
  const update = (label, a) => {
    h.update(`${label}:${a.constructor.name}:${a.length}:`);
    h.update(Buffer.from(a.buffer, a.byteOffset, a.byteLength));
  };
  const patterns = Uint16Array.from({ length: 65536 }, (_, i) => i);
  for (const [name, C] of DTYPES) {
    update(`fromFloat16 ${name}`, api.fromFloat16(patterns, new C(65536)));
    update(`fromBFloat16 ${name}`, api.fromBFloat16(patterns, new C(65536)));
    for (const [kind, make] of Object.entries(KINDS)) {
      for (const n of [1, 17, 70001]) {
        const x = make(n, n, C);
        update(`toFloat16 ${name} ${kind} ${n}`, api.toFloat16(x));
        update(`toBFloat16 ${name} ${kind} ${n}`, api.toBFloat16(x));
      }
    }
  }
  return h.digest('hex');
}

const isas = addon.info().supportedIsas;
const initialIsa = fastnorm.info().isa;
const initialThreads = fastnorm.getNumThreads();
const digests = new Set();
const canonicalDigests = new Set();
for (const isa of isas) {
  for (const threads of [1, 2]) {
    addon._setIsa(isa);
    fastnorm.setNumThreads(threads);
    const info = fastnorm.info();
    if (info.backend !== 'native' || info.isa !== isa) throw new Error(`could not select ${isa}: ${JSON.stringify(info)}`);
    const { digest, canonical, lines, count } = await hashCalls(fastnorm, fastnorm.promises);
    digests.add(digest);
    canonicalDigests.add(canonical);
    console.log(`native ${isa.padEnd(6)} threads ${threads}: ${digest} (${count} calls)`);
    for (const l of lines) console.log(l);
    const half = halfHash(fastnorm);
    if (half) console.log(`native ${isa.padEnd(6)} threads ${threads} half: ${half}`);
    if (half) {
      const ops = await hashCalls(fastnorm, null, halfCalls(fastnorm));
      console.log(`native ${isa.padEnd(6)} threads ${threads} half ops: ${ops.digest} (${ops.count} calls)`);
      for (const l of ops.lines) console.log(l);
    }
  }
}
addon._setIsa(initialIsa);
fastnorm.setNumThreads(initialThreads);
const ref = await hashCalls(fastnorm.reference, null);
console.log(`reference               : ${ref.digest} (${ref.count} calls)`);
for (const l of ref.lines) console.log(l);
const refHalf = halfHash(fastnorm.reference);
if (refHalf) console.log(`reference          half : ${refHalf}`);
// Known: NaN outputs may differ in sign between ISA paths (which NaN operand an instruction
// returns), so the configurations are also compared with NaNs made canonical.
console.log(digests.size === 1 ? 'every ISA × thread count: bitwise identical'
  : `ISA × thread count: ${digests.size} different digests; with NaNs made canonical: ` +
    (canonicalDigests.size === 1 ? `identical (${[...canonicalDigests][0]})` : `still ${canonicalDigests.size} different`));
