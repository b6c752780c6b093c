// The BatchNorm cases (batchNorm, its backward and the synchronized-BatchNorm building blocks):
// valid arguments from an OpInput, and malformed calls with the error each must throw
// (test/validation.test.ts runs them on both backends).
import { expect } from 'vitest';
import * as reference from '../../src/reference';
import type { BatchNormStats, Tensor } from '../../src/api/types';
import type { OpCase } from '../op-cases';
import { any, batchNormSaved, channelInputs, detached, f32, smallArgs } from './inputs';

// Valid arguments of the malformed calls: x [2, 3, 2] float32 (N = 2, C = 3, 2 positions: 4 values per channel).
const { X, DY, SAVED } = smallArgs([2, 3, 2], () => ({ mean: new Float32Array([2, 4, 6]), rstd: new Float32Array([0.5, 0.5, 0.5]) }), 3);
const C3 = (v = 1) => f32(3, v);
const RUN = () => ({ runningMean: new Float32Array(3), runningVar: new Float32Array(3).fill(1) });
const PART = (): BatchNormStats => ({ count: 4, mean: new Float64Array([1, 2, 3]), m2: new Float64Array([1, 1, 1]) });
const SUMS = () => ({ sumDy: new Float64Array(3), sumDyXmu: new Float64Array(3), count: 4 });

/** Shards of a channel op's input: the first sample, and the rest (the partial statistics gathered). */
function shardStats(c: ReturnType<typeof channelInputs>): BatchNormStats[] {
  const per = c.x.shape[0] === 0 ? 0 : c.x.data.length / c.x.shape[0];
  const shard = (a: number, b: number) => ({ data: c.x.data.subarray(a * per, b * per), shape: [b - a, ...c.x.shape.slice(1)] });
  const n = c.x.shape[0];
  return [shard(0, Math.min(1, n)), shard(Math.min(1, n), n)].map((t) => reference.batchNormStats(t, { layout: c.layout }));
}

export const BATCH_NORM_CASES = {
  batchNorm: {
    outKeys: ['y', 'mean', 'rstd'],
    args: (i) => {
      const c = channelInputs(i);
      return [c.x, { weight: c.weight, bias: c.bias, runningMean: c.runningMean, runningVar: c.runningVar, training: !i.flags.eval,
        momentum: 0.1, eps: 1e-5, layout: c.layout, activation: i.flags.activation }];
    },
    valid: [
      ['null/undefined optional arguments, empty options', (f) => {
        f.batchNorm(X(), {});
        f.batchNorm(X(), any({ weight: null, bias: undefined, runningMean: null, runningVar: null, layout: undefined }));
      }],
      ['momentum outside [0, 1]', (f) => {
        f.batchNorm(X(), { ...RUN(), momentum: 1.5 });
        f.batchNorm(X(), { ...RUN(), momentum: -0.5 });
      }],
      ['eval mode with one value per channel (no minimum count)', (f) => { f.batchNorm({ data: f32(3), shape: [1, 3] }, { ...RUN(), training: false }); }],
    ],
    invalid: [
    ['x is null', (f) => f.batchNorm(any(null)), TypeError, /^x\b/],
    ['activation is unknown', (f) => f.batchNorm(X(), { activation: any('bogus') }), TypeError, /^activation must be one of 'relu', 'silu', 'gelu', 'gelu-tanh'/],
    ['activation is not a string', (f) => f.batchNorm(X(), { activation: any(5) }), TypeError, /^activation must be one of/],
    ['activation is the string none', (f) => f.batchNorm(X(), { activation: any('none') }), TypeError, /^activation must be one of/],
    ['x.data is an Array', (f) => f.batchNorm(any({ data: [1, 2, 3, 4], shape: [2, 2] })), TypeError, /^x\.data\b/],
    ['x.shape product != data length', (f) => f.batchNorm({ data: f32(12), shape: [2, 3, 3] }), RangeError, /x\.data.*x\.shape/],
    ['x has 1 dim (no channel dim)', (f) => f.batchNorm({ data: f32(6), shape: [6] }), RangeError, /^x\.shape\b/],
    ['x has 0 dims', (f) => f.batchNorm({ data: f32(1), shape: [] }), RangeError, /^x\.shape\b/],
    ['training with 1 value per channel: [1, 3]', (f) => f.batchNorm({ data: f32(3), shape: [1, 3] }), RangeError, /^x\b.*more than 1 value per channel/],
    ['training with 1 value per channel: [1, 3, 1, 1]', (f) => f.batchNorm({ data: f32(3), shape: [1, 3, 1, 1] }), RangeError, /^x\b.*more than 1 value per channel/],
    ['training with 1 value per channel: NHWC [1, 1, 1, 3]', (f) => f.batchNorm({ data: f32(3), shape: [1, 1, 1, 3] }, { layout: 'NHWC' }), RangeError,
      /^x\b.*more than 1 value per channel/],
    ['training with 0 values per channel: [0, 3]', (f) => f.batchNorm({ data: f32(0), shape: [0, 3] }), RangeError, /^x\b.*more than 1 value per channel/],
    ['eval without running stats', (f) => f.batchNorm(X(), { training: false }), TypeError, /runningMean.*runningVar.*required/],
    ['runningMean without runningVar', (f) => f.batchNorm(X(), { runningMean: C3() }), TypeError, /runningMean and runningVar/],
    ['runningVar without runningMean (eval)', (f) => f.batchNorm(X(), { runningVar: C3(), training: false }), TypeError, /runningMean and runningVar/],
    ['runningMean has the wrong length', (f) => f.batchNorm(X(), { runningMean: f32(2), runningVar: C3() }), RangeError, /^runningMean\b/],
    ['runningVar has the wrong length', (f) => f.batchNorm(X(), { runningMean: C3(), runningVar: f32(4) }), RangeError, /^runningVar\b/],
    ['runningMean is float64 for float32 x', (f) => f.batchNorm(X(), { runningMean: any(new Float64Array(3)), runningVar: C3() }), TypeError, /^runningMean\b/],
    ['runningVar is an Array', (f) => f.batchNorm(X(), { runningMean: C3(), runningVar: any([1, 1, 1]) }), TypeError, /^runningVar\b/],
    ['running stats sized for NHWC but layout NCHW', (f) => f.batchNorm({ data: f32(12), shape: [2, 2, 3] }, { ...RUN() }), RangeError, /^runningMean\b/],
    ['runningMean and runningVar are the same array', (f) => {
      const r = C3();
      return f.batchNorm(X(), { runningMean: r, runningVar: r });
    }, RangeError, /runningMean.*runningVar/],
    ['layout is lowercase', (f) => f.batchNorm(X(), { layout: any('nchw') }), TypeError, /^layout\b/],
    ['layout is NCW', (f) => f.batchNorm(X(), { layout: any('NCW') }), TypeError, /^layout\b/],
    ['layout is a number', (f) => f.batchNorm(X(), { layout: any(1) }), TypeError, /^layout\b/],
    ['momentum is NaN', (f) => f.batchNorm(X(), { ...RUN(), momentum: NaN }), RangeError, /^momentum\b/],
    ['momentum is Infinity', (f) => f.batchNorm(X(), { ...RUN(), momentum: Infinity }), RangeError, /^momentum\b/],
    ['momentum is a string', (f) => f.batchNorm(X(), { ...RUN(), momentum: any('0.1') }), TypeError, /^momentum\b/],
    ['momentum is null', (f) => f.batchNorm(X(), { ...RUN(), momentum: any(null) }), TypeError, /^momentum\b/],
    ['eps is negative', (f) => f.batchNorm(X(), { eps: -1e-5 }), RangeError, /^eps\b/],
    ['eps is NaN', (f) => f.batchNorm(X(), { eps: NaN }), RangeError, /^eps\b/],
    ['training is a string', (f) => f.batchNorm(X(), { training: any('false') }), TypeError, /^training\b/],
    ['training is 0', (f) => f.batchNorm(X(), { training: any(0), ...RUN() }), TypeError, /^training\b/],
    ['weight has the wrong length', (f) => f.batchNorm(X(), { weight: f32(2) }), RangeError, /^weight\b/],
    ['weight is per element, not per channel', (f) => f.batchNorm(X(), { weight: f32(12) }), RangeError, /^weight\b/],
    ['bias is float64 for float32 x', (f) => f.batchNorm(X(), { bias: any(new Float64Array(3)) }), TypeError, /^bias\b/],
    ['unknown option (useInputStats)', (f) => f.batchNorm(X(), any({ useInputStats: true })), TypeError, /useInputStats/],
    ['unknown option (numGroups)', (f) => f.batchNorm(X(), any({ numGroups: 1 })), TypeError, /numGroups/],
    ['opts is a string', (f) => f.batchNorm(X(), any('NCHW')), TypeError, /^opts\b/],
    ['out.y has the wrong length', (f) => f.batchNorm(X(), { out: { y: f32(11) } }), RangeError, /^out\.y\b/],
    ['out.mean has N·C values (per sample, not per channel)', (f) => f.batchNorm(X(), { out: { mean: f32(6) } }), RangeError, /^out\.mean\b/],
    ['out.rstd has the wrong dtype', (f) => f.batchNorm(X(), { out: { rstd: any(new Float64Array(3)) } }), TypeError, /^out\.rstd\b/],
    ['out has an unknown key', (f) => f.batchNorm(X(), { out: any({ dx: f32(12) }) }), TypeError, /^out\.dx\b/],
    ['out.y overlaps x partially', (f) => {
      const buf = f32(13);
      return f.batchNorm({ data: buf.subarray(0, 12), shape: [2, 3, 2] }, { out: { y: buf.subarray(1, 13) } });
    }, RangeError, /^out\.y\b.*\bx\b/],
    ['out.mean overlaps x', (f) => {
      const x = X();
      return f.batchNorm(x, { out: { mean: x.data.subarray(0, 3) } });
    }, RangeError, /^out\.mean\b.*\bx\b/],
    ['out.y overlaps weight', (f) => {
      const y = f32(12);
      return f.batchNorm(X(), { weight: y.subarray(0, 3), out: { y } });
    }, RangeError, /^out\.y\b.*\bweight\b/],
    ['runningMean overlaps x (training writes it)', (f) => {
      const x = X();
      return f.batchNorm(x, { runningMean: x.data.subarray(3, 6), runningVar: C3() });
    }, RangeError, /^runningMean\b.*\bx\b/],
    ['runningVar is out.rstd', (f) => {
      const r = C3();
      return f.batchNorm(X(), { runningMean: C3(), runningVar: r, out: { rstd: r } });
    }, RangeError, /out\.rstd.*runningVar|runningVar.*out\.rstd/],
    ['runningMean overlaps bias', (f) => {
      const b = f32(4);
      return f.batchNorm(X(), { bias: b.subarray(0, 3), runningMean: b.subarray(1, 4), runningVar: C3() });
    }, RangeError, /^runningMean\b.*\bbias\b/],
    ['x.data is detached', (f) => f.batchNorm({ data: detached(f32(12)), shape: [2, 3, 2] }), TypeError, /^x\.data\b.*detached/],
    ['runningMean is detached', (f) => f.batchNorm(X(), { runningMean: detached(C3()), runningVar: C3() }), TypeError, /^runningMean\b.*detached/],
    ['weight is detached', (f) => f.batchNorm(X(), { weight: detached(C3()) }), TypeError, /^weight\b.*detached/],
    ['out.y is detached', (f) => f.batchNorm(X(), { out: { y: detached(f32(12)) } }), TypeError, /^out\.y\b.*detached/],
    ],
  },
  batchNormBackward: {
    outKeys: ['dx', 'dweight', 'dbias'],
    args: (i) => {
      const c = channelInputs(i);
      const { mean, rstd } = batchNormSaved(i);
      return [c.dy, c.x, { mean, rstd }, { weight: c.weight, bias: c.bias, activation: i.flags.activation, training: !i.flags.eval,
        layout: c.layout }];
    },
    valid: [
      ['empty grads', (f) => { f.batchNormBackward(DY(), X(), SAVED(), { grads: {} }); }],
      ['activation without bias (b = 0)', (f) => { f.batchNormBackward(DY(), X(), SAVED(), { weight: C3(), activation: 'silu' }); }],
      ['bias without activation (ignored)', (f) => { f.batchNormBackward(DY(), X(), SAVED(), { bias: C3() }); }],
      ['eval mode with one value per channel', (f) => {
        f.batchNormBackward({ data: f32(3), shape: [1, 3] }, { data: f32(3), shape: [1, 3] }, SAVED(), { training: false });
      }],
      ["the forward's whole result as saved", (f) => { f.batchNormBackward(DY(), X(), f.batchNorm(X())); }],
    ],
    invalid: [
    ['dy is null', (f) => f.batchNormBackward(any(null), X(), SAVED()), TypeError, /^dy\b/],
    ['dy.shape differs from x.shape', (f) => f.batchNormBackward({ data: f32(12), shape: [2, 2, 3] }, X(), SAVED()), RangeError, /^dy\.shape\b/],
    ['dy is float64 for float32 x', (f) => f.batchNormBackward(any({ data: new Float64Array(12), shape: [2, 3, 2] }), X(), SAVED()), TypeError, /^dy\.data\b/],
    ['training with 1 value per channel', (f) => f.batchNormBackward({ data: f32(3), shape: [1, 3] }, { data: f32(3), shape: [1, 3] }, SAVED()),
      RangeError, /^x\b.*more than 1 value per channel/],
    ['saved is null', (f) => f.batchNormBackward(DY(), X(), any(null)), TypeError, /^saved\b/],
    ['saved.mean is missing', (f) => f.batchNormBackward(DY(), X(), any({ rstd: SAVED().rstd })), TypeError, /^saved\.mean\b/],
    ['saved.rstd has the wrong length', (f) => f.batchNormBackward(DY(), X(), { mean: SAVED().mean, rstd: f32(2) }), RangeError, /^saved\.rstd\b/],
    ['saved.mean is float64', (f) => f.batchNormBackward(DY(), X(), any({ mean: new Float64Array(3), rstd: SAVED().rstd })), TypeError, /^saved\.mean\b/],
    ['saved sized for the other layout', (f) => f.batchNormBackward(DY(), X(), SAVED(), { layout: 'NHWC' }), RangeError, /^saved\.mean\b/],
    ['layout is bad', (f) => f.batchNormBackward(DY(), X(), SAVED(), { layout: any('CHW') }), TypeError, /^layout\b/],
    ['training is a number', (f) => f.batchNormBackward(DY(), X(), SAVED(), { training: any(1) }), TypeError, /^training\b/],
    ['weight has the wrong length', (f) => f.batchNormBackward(DY(), X(), SAVED(), { weight: f32(4) }), RangeError, /^weight\b/],
    ['activation is unknown', (f) => f.batchNormBackward(DY(), X(), SAVED(), { activation: any('tanh') }), TypeError,
      /^activation must be one of 'relu', 'silu', 'gelu', 'gelu-tanh', got/],
    ['activation is the string none', (f) => f.batchNormBackward(DY(), X(), SAVED(), { activation: any('none') }), TypeError, /^activation must be one of/],
    ['bias has the wrong length', (f) => f.batchNormBackward(DY(), X(), SAVED(), { bias: f32(4), activation: 'relu' }), RangeError, /^bias\b/],
    ['bias is float64 for float32 x', (f) => f.batchNormBackward(DY(), X(), SAVED(), { bias: any(new Float64Array(3)), activation: 'gelu' }),
      TypeError, /^bias\b/],
    ['out.dbias is bias', (f) => {
      const b = C3();
      return f.batchNormBackward(DY(), X(), SAVED(), { bias: b, activation: 'silu', out: { dbias: b } });
    }, RangeError, /^out\.dbias\b.*\bbias\b/],
    ['momentum is not a backward option', (f) => f.batchNormBackward(DY(), X(), SAVED(), any({ momentum: 0.1 })), TypeError, /momentum/],
    ['grads.weight is not a boolean', (f) => f.batchNormBackward(DY(), X(), SAVED(), { grads: any({ weight: 'yes' }) }), TypeError, /^grads\.weight\b/],
    ['grads has an unknown key', (f) => f.batchNormBackward(DY(), X(), SAVED(), { grads: any({ mean: true }) }), TypeError, /^grads\.mean\b/],
    ['out.dweight given while grads.weight is false', (f) => f.batchNormBackward(DY(), X(), SAVED(),
      { weight: C3(), grads: { weight: false }, out: { dweight: f32(3) } }), RangeError, /^out\.dweight\b/],
    ['out.dbias given without weight or grads.bias', (f) => f.batchNormBackward(DY(), X(), SAVED(), { out: { dbias: f32(3) } }), RangeError, /^out\.dbias\b/],
    ['out.dx is x.data (no in-place backward)', (f) => {
      const x = X();
      return f.batchNormBackward(DY(), x, SAVED(), { out: { dx: x.data } });
    }, RangeError, /^out\.dx\b.*\bx\b/],
    ['out.dx is dy.data', (f) => {
      const dy = DY();
      return f.batchNormBackward(dy, X(), SAVED(), { out: { dx: dy.data } });
    }, RangeError, /^out\.dx\b.*\bdy\b/],
    ['out.dweight and out.dbias are the same array', (f) => {
      const g = f32(3);
      return f.batchNormBackward(DY(), X(), SAVED(), { weight: C3(), out: { dweight: g, dbias: g } });
    }, RangeError, /out\.dweight.*out\.dbias/],
    ['out.dbias overlaps saved.mean', (f) => {
      const s = f32(4);
      return f.batchNormBackward(DY(), X(), { mean: s.subarray(0, 3), rstd: SAVED().rstd }, { weight: C3(), out: { dbias: s.subarray(1, 4) } });
    }, RangeError, /^out\.dbias\b.*saved\.mean/],
    ['out.dx has the wrong length', (f) => f.batchNormBackward(DY(), X(), SAVED(), { out: { dx: f32(13) } }), RangeError, /^out\.dx\b/],
    ['dy.data is detached', (f) => f.batchNormBackward({ data: detached(f32(12)), shape: [2, 3, 2] }, X(), SAVED()), TypeError, /^dy\.data\b.*detached/],
    ['saved.rstd is detached', (f) => f.batchNormBackward(DY(), X(), { mean: SAVED().mean, rstd: detached(f32(3)) }), TypeError, /^saved\.rstd\b.*detached/],
    ],
  },
  batchNormStats: {
    outKeys: [],
    args: (i) => {
      const c = channelInputs(i);
      return [c.x, { layout: c.layout }];
    },
    invalid: [
    ['x is not a tensor', (f) => f.batchNormStats(any(undefined)), TypeError, /^x\b/],
    ['x has 1 dim', (f) => f.batchNormStats({ data: f32(3), shape: [3] }), RangeError, /^x\.shape\b/],
    ['bad layout', (f) => f.batchNormStats(X(), { layout: any('NHCW') }), TypeError, /^layout\b/],
    ['unknown option', (f) => f.batchNormStats(X(), any({ eps: 1e-5 })), TypeError, /eps/],
    ['x.data is detached', (f) => f.batchNormStats({ data: detached(f32(12)), shape: [2, 3, 2] }), TypeError, /^x\.data\b.*detached/],
    ],
  },
  batchNormGatherStats: {
    outKeys: [],
    args: (i) => {
      const c = channelInputs(i);
      return [shardStats(c), { runningMean: c.runningMean, runningVar: c.runningVar, momentum: 0.2, eps: 1e-5, dtype: i.dtype }];
    },
    valid: [
      ['shards of a single value per channel: only the merged count must be ≥ 2', (f) => {
        const one = { data: f32(3), shape: [1, 3] };
        const parts = [f.batchNormStats(one), f.batchNormStats(one)];
        expect(parts[0].count).toBe(1);
        expect(f.batchNormGatherStats(parts).count).toBe(2);
      }],
    ],
    invalid: [
    ['parts is empty', (f) => f.batchNormGatherStats([]), TypeError, /^parts\b/],
    ['parts is not an array', (f) => f.batchNormGatherStats(any(PART())), TypeError, /^parts\b/],
    ['parts[0] is null', (f) => f.batchNormGatherStats(any([null])), TypeError, /^parts\[0\]/],
    ['parts[1] has a different channel count', (f) => f.batchNormGatherStats([PART(), { count: 4, mean: new Float64Array(2), m2: new Float64Array(2) }]),
      RangeError, /^parts\[1\]\.mean\b/],
    ['parts[1].m2 is a Float32Array', (f) => f.batchNormGatherStats([PART(), any({ count: 4, mean: new Float64Array(3), m2: new Float32Array(3) })]),
      TypeError, /^parts\[1\]\.m2\b/],
    ['parts[0].mean is a Float32Array', (f) => f.batchNormGatherStats([any({ count: 4, mean: new Float32Array(3), m2: new Float64Array(3) })]),
      TypeError, /^parts\[0\]/],
    ['a negative count', (f) => f.batchNormGatherStats([PART(), { ...PART(), count: -1 }]), RangeError, /^parts\[1\]\.count\b/],
    ['a fractional count', (f) => f.batchNormGatherStats([{ ...PART(), count: 2.5 }]), RangeError, /^parts\[0\]\.count\b/],
    ['a NaN count', (f) => f.batchNormGatherStats([{ ...PART(), count: NaN }]), RangeError, /^parts\[0\]\.count\b/],
    ['1 value per channel in all', (f) => f.batchNormGatherStats([{ ...PART(), count: 1 }, { ...PART(), count: 0 }]), RangeError,
      /^parts\b.*more than 1 value per channel/],
    ['momentum is NaN', (f) => f.batchNormGatherStats([PART()], { momentum: NaN }), RangeError, /^momentum\b/],
    ['eps is negative', (f) => f.batchNormGatherStats([PART()], { eps: -1 }), RangeError, /^eps\b/],
    ['dtype is bad', (f) => f.batchNormGatherStats([PART()], { dtype: any('float16') }), TypeError, /dtype/],
    ['runningMean without runningVar', (f) => f.batchNormGatherStats([PART()], { runningMean: C3() }), TypeError, /runningMean and runningVar/],
    ['running stats of the wrong length', (f) => f.batchNormGatherStats([PART()], { runningMean: f32(2), runningVar: f32(2) }), RangeError, /^runningMean\b/],
    ['running stats of mixed dtypes', (f) => f.batchNormGatherStats([PART()], { runningMean: any(new Float64Array(3)), runningVar: C3() }), TypeError,
      /^runningVar\b/],
    ['unknown option', (f) => f.batchNormGatherStats([PART()], any({ layout: 'NCHW' })), TypeError, /layout/],
    ],
  },
  batchNormElemt: {
    outKeys: ['y'],
    args: (i) => {
      const c = channelInputs(i);
      const { mean, rstd } = batchNormSaved(i);
      return [c.x, { mean, rstd }, { weight: c.weight, bias: c.bias, layout: c.layout }];
    },
    valid: [
      ["the forward's whole result as stats", (f) => { f.batchNormElemt(X(), f.batchNorm(X())); }],
    ],
    invalid: [
    ['stats is null', (f) => f.batchNormElemt(X(), any(null)), TypeError, /^stats\b/],
    ['stats.mean is missing', (f) => f.batchNormElemt(X(), any({ rstd: C3() })), TypeError, /^stats\.mean\b/],
    ['stats.rstd has the wrong length', (f) => f.batchNormElemt(X(), { mean: C3(), rstd: f32(2) }), RangeError, /^stats\.rstd\b/],
    ['stats are Float64 (gathered with the wrong dtype) for float32 x', (f) => f.batchNormElemt(X(), any({ mean: new Float64Array(3), rstd: new Float64Array(3) })),
      TypeError, /^stats\.mean\b/],
    ['bad layout', (f) => f.batchNormElemt(X(), SAVED(), { layout: any('nhwc') }), TypeError, /^layout\b/],
    ['unknown option (momentum)', (f) => f.batchNormElemt(X(), SAVED(), any({ momentum: 0.1 })), TypeError, /momentum/],
    ['out.y overlaps x partially', (f) => {
      const buf = f32(13);
      return f.batchNormElemt({ data: buf.subarray(0, 12), shape: [2, 3, 2] }, SAVED(), { out: { y: buf.subarray(1, 13) } });
    }, RangeError, /^out\.y\b.*\bx\b/],
    ['out.y overlaps stats.rstd', (f) => {
      const y = f32(12);
      return f.batchNormElemt(X(), { mean: C3(), rstd: y.subarray(9, 12) }, { out: { y } });
    }, RangeError, /^out\.y\b.*stats\.rstd/],
    ['weight is detached', (f) => f.batchNormElemt(X(), SAVED(), { weight: detached(C3()) }), TypeError, /^weight\b.*detached/],
    ],
  },
  batchNormBackwardReduce: {
    outKeys: [],
    args: (i) => {
      const c = channelInputs(i);
      const { mean } = batchNormSaved(i);
      return [c.dy, c.x, { mean }, { layout: c.layout }];
    },
    invalid: [
    ['dy.shape differs', (f) => f.batchNormBackwardReduce({ data: f32(12), shape: [2, 6] }, X(), SAVED()), RangeError, /^dy\.shape\b/],
    ['saved.mean has the wrong length', (f) => f.batchNormBackwardReduce(DY(), X(), { mean: f32(2) }), RangeError, /^saved\.mean\b/],
    ['saved is a number', (f) => f.batchNormBackwardReduce(DY(), X(), any(3)), TypeError, /^saved\b/],
    ['unknown option (weight)', (f) => f.batchNormBackwardReduce(DY(), X(), SAVED(), any({ weight: C3() })), TypeError, /weight/],
    ['x.data is detached', (f) => f.batchNormBackwardReduce(DY(), { data: detached(f32(12)), shape: [2, 3, 2] }, SAVED()), TypeError, /^x\.data\b.*detached/],
    ],
  },
  batchNormBackwardElemt: {
    outKeys: ['dx', 'dweight', 'dbias'],
    args: (i) => {
      const c = channelInputs(i);
      const { mean, rstd } = batchNormSaved(i);
      const sums = reference.batchNormBackwardReduce(c.dy, c.x, { mean }, { layout: c.layout });
      return [c.dy, c.x, { mean, rstd }, { ...sums, count: Math.max(1, i.dims[0] * i.dims[2]) }, { weight: c.weight, layout: c.layout }];
    },
    valid: [
      ['a shard of one value per channel (the count is the whole batch\'s)', (f) => {
        const one = { data: f32(3), shape: [1, 3] };
        f.batchNormBackwardElemt(one, one, SAVED(), { ...SUMS(), count: 2 });
      }],
    ],
    invalid: [
    ['sums is null', (f) => f.batchNormBackwardElemt(DY(), X(), SAVED(), any(null)), TypeError, /^sums\b/],
    ['sums.sumDy is a Float32Array', (f) => f.batchNormBackwardElemt(DY(), X(), SAVED(), any({ ...SUMS(), sumDy: new Float32Array(3) })),
      TypeError, /^sums\.sumDy\b/],
    ['sums.sumDyXmu has the wrong length', (f) => f.batchNormBackwardElemt(DY(), X(), SAVED(), { ...SUMS(), sumDyXmu: new Float64Array(4) }),
      RangeError, /^sums\.sumDyXmu\b/],
    ['sums.count is missing', (f) => f.batchNormBackwardElemt(DY(), X(), SAVED(), any({ sumDy: new Float64Array(3), sumDyXmu: new Float64Array(3) })),
      TypeError, /^sums\.count\b/],
    ['sums.count is 0', (f) => f.batchNormBackwardElemt(DY(), X(), SAVED(), { ...SUMS(), count: 0 }), RangeError, /^sums\.count\b/],
    ['sums.count is NaN', (f) => f.batchNormBackwardElemt(DY(), X(), SAVED(), { ...SUMS(), count: NaN }), RangeError, /^sums\.count\b/],
    ['training is not an option (it is a training backward)', (f) => f.batchNormBackwardElemt(DY(), X(), SAVED(), SUMS(),
      any({ training: false })), TypeError, /training/],
    ['saved.rstd is missing', (f) => f.batchNormBackwardElemt(DY(), X(), any({ mean: C3() }), SUMS()), TypeError, /^saved\.rstd\b/],
    ['out.dx is dy.data', (f) => {
      const dy = DY();
      return f.batchNormBackwardElemt(dy, X(), SAVED(), SUMS(), { out: { dx: dy.data } });
    }, RangeError, /^out\.dx\b.*\bdy\b/],
    ['out.dweight given without weight or grads.weight', (f) => f.batchNormBackwardElemt(DY(), X(), SAVED(), SUMS(), { out: { dweight: C3() } }),
      RangeError, /^out\.dweight\b/],
    ['out.dx overlapping sums.sumDy (float64: the very array could hold them)', (f) => {
      const x: Tensor<Float64Array> = { data: new Float64Array(12).map((_, i) => i), shape: [2, 3, 2] };
      const dy: Tensor<Float64Array> = { data: new Float64Array(12).fill(1), shape: [2, 3, 2] };
      const saved = { mean: new Float64Array([2, 4, 6]), rstd: new Float64Array([0.5, 0.5, 0.5]) };
      const buf = new Float64Array(12).fill(1);
      return f.batchNormBackwardElemt(dy, x, saved, { sumDy: buf.subarray(0, 3), sumDyXmu: new Float64Array(3), count: 4 }, { out: { dx: buf } });
    }, RangeError, /^out\.dx\b.*sums\.sumDy/],
    ['dy.data is detached', (f) => f.batchNormBackwardElemt({ data: detached(f32(12)), shape: [2, 3, 2] }, X(), SAVED(), SUMS()), TypeError,
      /^dy\.data\b.*detached/],
    ],
  },
} satisfies Record<string, OpCase>;
