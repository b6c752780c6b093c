// API.md "Guarantees" for BatchNorm: bad input throws a TypeError (wrong kind of value) or a
// RangeError (right kind, wrong value) whose message names the argument, on both backends alike;
// it never crashes the process and never writes to the outputs or the running statistics. Also
// the addon's positional BatchNorm functions called directly (they re-check everything).
import { beforeAll, describe, expect, it } from 'vitest';
import * as fastnorm from '../src/index';
import * as reference from '../src/reference';
import { nativeAddon } from '../src/api/facade';
import type { BatchNormStats, FloatArray, Tensor } from '../src/api/types';
import { expectClose } from './helpers';

type Api = typeof reference;
type ErrorClass = typeof TypeError | typeof RangeError;

const BACKENDS: Array<[string, Api]> = [['native', fastnorm], ['reference', reference]];

// Valid arguments: x [2, 3, 2] float32 (N = 2, C = 3, 2 positions: 4 values per channel).
const f32 = (n: number, v = 0.5) => new Float32Array(n).map((_, i) => v + i);
const X = (): Tensor<Float32Array> => ({ data: f32(12), shape: [2, 3, 2] });
const DY = (): Tensor<Float32Array> => ({ data: f32(12, 0.25), shape: [2, 3, 2] });
const C3 = (v = 1) => f32(3, v);
const SAVED = () => ({ mean: new Float32Array([2, 4, 6]), rstd: new Float32Array([0.5, 0.5, 0.5]) });
const RUN = () => ({ runningMean: new Float32Array(3), runningVar: new Float32Array(3).fill(1) });
const PART = (): BatchNormStats => ({ count: 4, mean: new Float64Array([1, 2, 3]), m2: new Float64Array([1, 1, 1]) });
const SUMS = () => ({ sumDy: new Float64Array(3), sumDyXmu: new Float64Array(3), count: 4 });

function detached<A extends FloatArray>(a: A): A {
  structuredClone(a.buffer, { transfer: [a.buffer as ArrayBuffer] });
  return a;
}

/** [what is wrong, the call, the error class, a regex the message must match (the argument's name)] */
type Case = [string, (f: Api) => unknown, ErrorClass, RegExp];

const any = (v: unknown) => v as any; // deliberately ill-typed arguments

const BATCH_NORM: Case[] = [
  ['x is null', (f) => f.batchNorm(any(null)), TypeError, /^x\b/],
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
];

const BATCH_NORM_BACKWARD: Case[] = [
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
  ['bias is not a backward option', (f) => f.batchNormBackward(DY(), X(), SAVED(), any({ bias: C3() })), TypeError, /bias/],
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
];

const SYNC_BN: Case[] = [
  // batchNormStats
  ['stats: x is not a tensor', (f) => f.batchNormStats(any(undefined)), TypeError, /^x\b/],
  ['stats: x has 1 dim', (f) => f.batchNormStats({ data: f32(3), shape: [3] }), RangeError, /^x\.shape\b/],
  ['stats: bad layout', (f) => f.batchNormStats(X(), { layout: any('NHCW') }), TypeError, /^layout\b/],
  ['stats: unknown option', (f) => f.batchNormStats(X(), any({ eps: 1e-5 })), TypeError, /eps/],
  ['stats: x.data is detached', (f) => f.batchNormStats({ data: detached(f32(12)), shape: [2, 3, 2] }), TypeError, /^x\.data\b.*detached/],
  // batchNormGatherStats
  ['gather: parts is empty', (f) => f.batchNormGatherStats([]), TypeError, /^parts\b/],
  ['gather: parts is not an array', (f) => f.batchNormGatherStats(any(PART())), TypeError, /^parts\b/],
  ['gather: parts[0] is null', (f) => f.batchNormGatherStats(any([null])), TypeError, /^parts\[0\]/],
  ['gather: parts[1] has a different channel count', (f) => f.batchNormGatherStats([PART(), { count: 4, mean: new Float64Array(2), m2: new Float64Array(2) }]),
    RangeError, /^parts\[1\]\.mean\b/],
  ['gather: parts[1].m2 is a Float32Array', (f) => f.batchNormGatherStats([PART(), any({ count: 4, mean: new Float64Array(3), m2: new Float32Array(3) })]),
    TypeError, /^parts\[1\]\.m2\b/],
  ['gather: parts[0].mean is a Float32Array', (f) => f.batchNormGatherStats([any({ count: 4, mean: new Float32Array(3), m2: new Float64Array(3) })]),
    TypeError, /^parts\[0\]/],
  ['gather: a negative count', (f) => f.batchNormGatherStats([PART(), { ...PART(), count: -1 }]), RangeError, /^parts\[1\]\.count\b/],
  ['gather: a fractional count', (f) => f.batchNormGatherStats([{ ...PART(), count: 2.5 }]), RangeError, /^parts\[0\]\.count\b/],
  ['gather: a NaN count', (f) => f.batchNormGatherStats([{ ...PART(), count: NaN }]), RangeError, /^parts\[0\]\.count\b/],
  ['gather: 1 value per channel in all', (f) => f.batchNormGatherStats([{ ...PART(), count: 1 }, { ...PART(), count: 0 }]), RangeError,
    /^parts\b.*more than 1 value per channel/],
  ['gather: momentum is NaN', (f) => f.batchNormGatherStats([PART()], { momentum: NaN }), RangeError, /^momentum\b/],
  ['gather: eps is negative', (f) => f.batchNormGatherStats([PART()], { eps: -1 }), RangeError, /^eps\b/],
  ['gather: dtype is bad', (f) => f.batchNormGatherStats([PART()], { dtype: any('float16') }), TypeError, /dtype/],
  ['gather: runningMean without runningVar', (f) => f.batchNormGatherStats([PART()], { runningMean: C3() }), TypeError, /runningMean and runningVar/],
  ['gather: running stats of the wrong length', (f) => f.batchNormGatherStats([PART()], { runningMean: f32(2), runningVar: f32(2) }), RangeError, /^runningMean\b/],
  ['gather: running stats of mixed dtypes', (f) => f.batchNormGatherStats([PART()], { runningMean: any(new Float64Array(3)), runningVar: C3() }), TypeError,
    /^runningVar\b/],
  ['gather: unknown option', (f) => f.batchNormGatherStats([PART()], any({ layout: 'NCHW' })), TypeError, /layout/],
  // batchNormElemt
  ['elemt: stats is null', (f) => f.batchNormElemt(X(), any(null)), TypeError, /^stats\b/],
  ['elemt: stats.mean is missing', (f) => f.batchNormElemt(X(), any({ rstd: C3() })), TypeError, /^stats\.mean\b/],
  ['elemt: stats.rstd has the wrong length', (f) => f.batchNormElemt(X(), { mean: C3(), rstd: f32(2) }), RangeError, /^stats\.rstd\b/],
  ['elemt: stats are Float64 (gathered with the wrong dtype) for float32 x', (f) => f.batchNormElemt(X(), any({ mean: new Float64Array(3), rstd: new Float64Array(3) })),
    TypeError, /^stats\.mean\b/],
  ['elemt: bad layout', (f) => f.batchNormElemt(X(), SAVED(), { layout: any('nhwc') }), TypeError, /^layout\b/],
  ['elemt: unknown option (momentum)', (f) => f.batchNormElemt(X(), SAVED(), any({ momentum: 0.1 })), TypeError, /momentum/],
  ['elemt: out.y overlaps x partially', (f) => {
    const buf = f32(13);
    return f.batchNormElemt({ data: buf.subarray(0, 12), shape: [2, 3, 2] }, SAVED(), { out: { y: buf.subarray(1, 13) } });
  }, RangeError, /^out\.y\b.*\bx\b/],
  ['elemt: out.y overlaps stats.rstd', (f) => {
    const y = f32(12);
    return f.batchNormElemt(X(), { mean: C3(), rstd: y.subarray(9, 12) }, { out: { y } });
  }, RangeError, /^out\.y\b.*stats\.rstd/],
  ['elemt: weight is detached', (f) => f.batchNormElemt(X(), SAVED(), { weight: detached(C3()) }), TypeError, /^weight\b.*detached/],
  // batchNormBackwardReduce
  ['reduce: dy.shape differs', (f) => f.batchNormBackwardReduce({ data: f32(12), shape: [2, 6] }, X(), SAVED()), RangeError, /^dy\.shape\b/],
  ['reduce: saved.mean has the wrong length', (f) => f.batchNormBackwardReduce(DY(), X(), { mean: f32(2) }), RangeError, /^saved\.mean\b/],
  ['reduce: saved is a number', (f) => f.batchNormBackwardReduce(DY(), X(), any(3)), TypeError, /^saved\b/],
  ['reduce: unknown option (weight)', (f) => f.batchNormBackwardReduce(DY(), X(), SAVED(), any({ weight: C3() })), TypeError, /weight/],
  ['reduce: x.data is detached', (f) => f.batchNormBackwardReduce(DY(), { data: detached(f32(12)), shape: [2, 3, 2] }, SAVED()), TypeError, /^x\.data\b.*detached/],
  // batchNormBackwardElemt
  ['backwardElemt: sums is null', (f) => f.batchNormBackwardElemt(DY(), X(), SAVED(), any(null)), TypeError, /^sums\b/],
  ['backwardElemt: sums.sumDy is a Float32Array', (f) => f.batchNormBackwardElemt(DY(), X(), SAVED(), any({ ...SUMS(), sumDy: new Float32Array(3) })),
    TypeError, /^sums\.sumDy\b/],
  ['backwardElemt: sums.sumDyXmu has the wrong length', (f) => f.batchNormBackwardElemt(DY(), X(), SAVED(), { ...SUMS(), sumDyXmu: new Float64Array(4) }),
    RangeError, /^sums\.sumDyXmu\b/],
  ['backwardElemt: sums.count is missing', (f) => f.batchNormBackwardElemt(DY(), X(), SAVED(), any({ sumDy: new Float64Array(3), sumDyXmu: new Float64Array(3) })),
    TypeError, /^sums\.count\b/],
  ['backwardElemt: sums.count is 0', (f) => f.batchNormBackwardElemt(DY(), X(), SAVED(), { ...SUMS(), count: 0 }), RangeError, /^sums\.count\b/],
  ['backwardElemt: sums.count is NaN', (f) => f.batchNormBackwardElemt(DY(), X(), SAVED(), { ...SUMS(), count: NaN }), RangeError, /^sums\.count\b/],
  ['backwardElemt: training is not an option (it is a training backward)', (f) => f.batchNormBackwardElemt(DY(), X(), SAVED(), SUMS(),
    any({ training: false })), TypeError, /training/],
  ['backwardElemt: saved.rstd is missing', (f) => f.batchNormBackwardElemt(DY(), X(), any({ mean: C3() }), SUMS()), TypeError, /^saved\.rstd\b/],
  ['backwardElemt: out.dx is dy.data', (f) => {
    const dy = DY();
    return f.batchNormBackwardElemt(dy, X(), SAVED(), SUMS(), { out: { dx: dy.data } });
  }, RangeError, /^out\.dx\b.*\bdy\b/],
  ['backwardElemt: out.dweight given without weight or grads.weight', (f) => f.batchNormBackwardElemt(DY(), X(), SAVED(), SUMS(), { out: { dweight: C3() } }),
    RangeError, /^out\.dweight\b/],
  ['backwardElemt: dy.data is detached', (f) => f.batchNormBackwardElemt({ data: detached(f32(12)), shape: [2, 3, 2] }, X(), SAVED(), SUMS()), TypeError,
    /^dy\.data\b.*detached/],
];

const GROUPS: Array<[string, Case[]]> = [
  ['batchNorm', BATCH_NORM],
  ['batchNormBackward', BATCH_NORM_BACKWARD],
  ['synchronized-BatchNorm functions', SYNC_BN],
];

function thrown(call: () => unknown): unknown {
  try {
    call();
  } catch (e) {
    return e;
  }
  return undefined;
}

describe.each(GROUPS)('%s: malformed calls throw the same error class on both backends, naming the argument', (_op, cases) => {
  it.each(cases.map((c) => [c[0], c] as const))('%s', (_what, [, call, cls, message]) => {
    for (const [name, api] of BACKENDS) {
      const e = thrown(() => call(api));
      expect(e, `${name}: must throw`).toBeInstanceOf(Error);
      expect((e as Error).constructor, `${name}: ${(e as Error).message}`).toBe(cls);
      expect((e as Error).message, name).toMatch(message);
    }
  });
});

describe('rejected calls write nothing', () => {
  it.each(BACKENDS)('%s: out buffers and running statistics are untouched by a rejected batchNorm / backward', (_n, f) => {
    const y = new Float32Array(12).fill(-7);
    const mean = new Float32Array(3).fill(-7);
    const runningMean = new Float32Array(3).fill(-7);
    const runningVar = new Float32Array(3).fill(-7);
    const untouched = () => [y, mean, runningMean, runningVar].every((a) => a.every((v) => v === -7));
    expect(() => f.batchNorm(X(), { runningMean, runningVar, momentum: NaN, out: { y, mean } })).toThrow(RangeError);
    expect(() => f.batchNorm(X(), { runningMean, runningVar, out: { y, mean, rstd: new Float32Array(2) } })).toThrow(RangeError);
    expect(() => f.batchNorm(X(), { runningMean, runningVar, layout: any('NWHC'), out: { y } })).toThrow(TypeError);
    expect(() => f.batchNorm({ data: f32(3), shape: [1, 3] }, { runningMean, runningVar })).toThrow(RangeError);
    expect(untouched()).toBe(true);
    const dx = new Float32Array(12).fill(-7);
    expect(() => f.batchNormBackward(DY(), X(), { mean: f32(2), rstd: f32(3) }, { out: { dx } })).toThrow(RangeError);
    expect(() => f.batchNormBackwardElemt(DY(), X(), SAVED(), { ...SUMS(), count: -1 }, { out: { dx } })).toThrow(RangeError);
    expect(dx.every((v) => v === -7)).toBe(true);
    // the gather rejects before it updates anything
    expect(() => f.batchNormGatherStats([PART(), { ...PART(), count: -1 }], { runningMean, runningVar })).toThrow(RangeError);
    expect(untouched()).toBe(true);
  });
});

describe('valid edge cases are accepted', () => {
  it.each(BACKENDS)('%s: null/undefined optional arguments, empty options, momentum outside [0, 1]', (_n, f) => {
    expect(() => f.batchNorm(X(), {})).not.toThrow();
    expect(() => f.batchNorm(X(), any({ weight: null, bias: undefined, runningMean: null, runningVar: null, layout: undefined }))).not.toThrow();
    expect(() => f.batchNorm(X(), { ...RUN(), momentum: 1.5 })).not.toThrow();
    expect(() => f.batchNorm(X(), { ...RUN(), momentum: -0.5 })).not.toThrow();
    expect(() => f.batchNormBackward(DY(), X(), SAVED(), { grads: {} })).not.toThrow();
    // eval mode has no minimum count: one value per channel is fine
    expect(() => f.batchNorm({ data: f32(3), shape: [1, 3] }, { ...RUN(), training: false })).not.toThrow();
    expect(() => f.batchNormBackward({ data: f32(3), shape: [1, 3] }, { data: f32(3), shape: [1, 3] }, SAVED(), { training: false })).not.toThrow();
    // a shard may hold a single value per channel: only the merged count must be ≥ 2
    const one = { data: f32(3), shape: [1, 3] };
    const parts = [f.batchNormStats(one), f.batchNormStats(one)];
    expect(parts[0].count).toBe(1);
    expect(f.batchNormGatherStats(parts).count).toBe(2);
    expect(() => f.batchNormBackwardElemt(one, one, SAVED(), { ...SUMS(), count: 2 })).not.toThrow();
    // the forward's whole result may be passed as `saved` / `stats`
    const fwd = f.batchNorm(X());
    expect(() => f.batchNormBackward(DY(), X(), fwd)).not.toThrow();
    expect(() => f.batchNormElemt(X(), fwd)).not.toThrow();
  });
});

// API.md: "other aliasing between inputs and outputs is an error" — including the gradient sums
// batchNormBackwardElemt reads (with float64 x, out.dx could be the very array holding them).
describe('batchNormBackwardElemt: outputs must not alias the gradient sums', () => {
  function aliasedSums(f: Api): unknown {
    const x: Tensor<Float64Array> = { data: new Float64Array(12).map((_, i) => i), shape: [2, 3, 2] };
    const dy: Tensor<Float64Array> = { data: new Float64Array(12).fill(1), shape: [2, 3, 2] };
    const saved = { mean: new Float64Array([2, 4, 6]), rstd: new Float64Array([0.5, 0.5, 0.5]) };
    const buf = new Float64Array(12).fill(1);
    const sums = { sumDy: buf.subarray(0, 3), sumDyXmu: new Float64Array(3), count: 4 };
    return thrown(() => f.batchNormBackwardElemt(dy, x, saved, sums, { out: { dx: buf } }));
  }
  it('native: out.dx overlapping sums.sumDy (float64) is a RangeError', () => {
    const e = aliasedSums(fastnorm);
    expect(e).toBeInstanceOf(RangeError);
    expect((e as Error).message).toMatch(/^out\.dx\b.*sums\.sumDy/);
  });
  it('reference: out.dx overlapping sums.sumDy (float64) is a RangeError', () => {
    const e = aliasedSums(reference);
    expect(e).toBeInstanceOf(RangeError);
    expect((e as Error).message).toMatch(/^out\.dx\b.*sums\.sumDy/);
  });
});

// ---------------------------------------------------------------------------------------------
// The addon's positional BatchNorm functions, called directly.

const addon = nativeAddon as unknown as Record<string, (...args: unknown[]) => unknown>;
const replace = (args: unknown[], i: number, v: unknown) => args.map((a, j) => (j === i ? v : a));
const out = (n: number) => new Float32Array(n);
const f64 = (n: number) => new Float64Array(n);

// (x, n, c, s, channelsLast, weight?, bias?, runningMean?, runningVar?, momentum, eps, training, y, mean, rstd)
const fwdArgs = () => [f32(12), 2, 3, 2, false, C3(), C3(), C3(0), C3(1), 0.1, 1e-5, true, out(12), out(3), out(3)];
// (dy, x, mean, rstd, n, c, s, channelsLast, weight?, training, dx, dweight?, dbias?)
const bwdArgs = () => [DY().data, X().data, SAVED().mean, SAVED().rstd, 2, 3, 2, false, C3(), true, out(12), out(3), out(3)];
// (x, n, c, s, channelsLast, mean: Float64Array, m2: Float64Array)
const statsArgs = () => [f32(12), 2, 3, 2, true, f64(3), f64(3)];
// (x, n, c, s, channelsLast, mean, rstd, weight?, bias?, y)
const applyArgs = () => [f32(12), 2, 3, 2, false, SAVED().mean, SAVED().rstd, C3(), null, out(12)];
// (dy, x, mean, n, c, s, channelsLast, sumDy, sumDyXmu)
const reduceArgs = () => [DY().data, X().data, SAVED().mean, 2, 3, 2, true, f64(3), f64(3)];
// (dy, x, mean, rstd, n, c, s, channelsLast, weight?, sumDy, sumDyXmu, count, dx)
const bapplyArgs = () => [DY().data, X().data, SAVED().mean, SAVED().rstd, 2, 3, 2, false, C3(), f64(3), f64(3), 4, out(12)];

type NativeCase = [string, () => unknown, ErrorClass | 'either', RegExp];

const NATIVE: NativeCase[] = [
  ['batchNormForward() without arguments', () => addon.batchNormForward(), TypeError, /^x\b/],
  ['forward: x is an Array', () => addon.batchNormForward(...replace(fwdArgs(), 0, [1, 2, 3])), TypeError, /^x\b/],
  ['forward: x is an Int16Array', () => addon.batchNormForward(...replace(fwdArgs(), 0, new Int16Array(12))), TypeError, /^x\b/],
  ['forward: n is a string', () => addon.batchNormForward(...replace(fwdArgs(), 1, '2')), TypeError, /^n\b/],
  ['forward: n is negative', () => addon.batchNormForward(...replace(fwdArgs(), 1, -2)), RangeError, /^n\b/],
  ['forward: c is 1.5', () => addon.batchNormForward(...replace(fwdArgs(), 2, 1.5)), RangeError, /^c\b/],
  ['forward: s is NaN', () => addon.batchNormForward(...replace(fwdArgs(), 3, NaN)), RangeError, /^s\b/],
  ['forward: s is Infinity', () => addon.batchNormForward(...replace(fwdArgs(), 3, Infinity)), RangeError, /^s\b/],
  ['forward: channelsLast is 0', () => addon.batchNormForward(...replace(fwdArgs(), 4, 0)), TypeError, /^channelsLast\b/],
  ['forward: n*c*s != x.length', () => addon.batchNormForward(...replace(fwdArgs(), 3, 3)), RangeError, /n\*c\*s/],
  ['forward: n*c*s overflows size_t', () => addon.batchNormForward(...replace(replace(replace(fwdArgs(), 1, 2 ** 40), 2, 2 ** 40), 3, 2 ** 40)), RangeError,
    /n\*c\*s|too large/],
  ['forward: huge c with n = 0 (per-channel outputs would need 2^50 values)', () => addon.batchNormForward(new Float32Array(0), 0, 2 ** 50, 4, false, null, null,
    null, null, 0.1, 1e-5, false, out(0), out(0), out(0)), 'either', /runningMean|out\.mean|c\b/],
  ['forward: weight has the wrong length', () => addon.batchNormForward(...replace(fwdArgs(), 5, f32(4))), RangeError, /^weight\b/],
  ['forward: bias is float64', () => addon.batchNormForward(...replace(fwdArgs(), 6, f64(3))), TypeError, /^bias\b/],
  ['forward: runningMean without runningVar', () => addon.batchNormForward(...replace(fwdArgs(), 8, null)), TypeError, /runningMean and runningVar/],
  ['forward: eval without running stats', () => addon.batchNormForward(...replace(replace(replace(fwdArgs(), 7, null), 8, null), 11, false)), TypeError,
    /runningMean.*required/],
  ['forward: runningVar has the wrong length', () => addon.batchNormForward(...replace(fwdArgs(), 8, f32(2))), RangeError, /^runningVar\b/],
  ['forward: momentum is NaN', () => addon.batchNormForward(...replace(fwdArgs(), 9, NaN)), RangeError, /^momentum\b/],
  ['forward: momentum is undefined', () => addon.batchNormForward(...replace(fwdArgs(), 9, undefined)), TypeError, /^momentum\b/],
  ['forward: eps is negative', () => addon.batchNormForward(...replace(fwdArgs(), 10, -1)), RangeError, /^eps\b/],
  ['forward: training is a string', () => addon.batchNormForward(...replace(fwdArgs(), 11, 'true')), TypeError, /^training\b/],
  ['forward: training with 1 value per channel', () => addon.batchNormForward(f32(3), 1, 3, 1, false, null, null, null, null, 0.1, 1e-5, true, out(3), out(3),
    out(3)), RangeError, /1 value per channel/],
  ['forward: y is null', () => addon.batchNormForward(...replace(fwdArgs(), 12, null)), TypeError, /^out\.y\b/],
  ['forward: mean has the wrong length', () => addon.batchNormForward(...replace(fwdArgs(), 13, out(6))), RangeError, /^out\.mean\b/],
  ['forward: rstd is missing', () => addon.batchNormForward(...fwdArgs().slice(0, 14)), TypeError, /^out\.rstd\b/],
  ['forward: runningMean is out.mean', () => {
    const a = fwdArgs();
    return addon.batchNormForward(...replace(a, 7, a[13]));
  }, RangeError, /share memory/],
  ['forward: y overlaps x partially', () => {
    const buf = new Float32Array(13);
    return addon.batchNormForward(...replace(replace(fwdArgs(), 0, buf.subarray(0, 12)), 12, buf.subarray(1, 13)));
  }, RangeError, /^out\.y\b.*\bx\b/],
  ['forward: runningVar overlaps weight', () => {
    const w = f32(4);
    return addon.batchNormForward(...replace(replace(fwdArgs(), 5, w.subarray(0, 3)), 8, w.subarray(1, 4)));
  }, RangeError, /runningVar.*weight/],
  ['forward: x is detached', () => addon.batchNormForward(...replace(fwdArgs(), 0, detached(f32(12)))), 'either', /^x\b/],
  ['forward: runningMean is detached', () => addon.batchNormForward(...replace(fwdArgs(), 7, detached(C3()))), 'either', /^runningMean\b/],

  ['backward: dy has the wrong length', () => addon.batchNormBackward(...replace(bwdArgs(), 0, f32(11))), RangeError, /^dy\b/],
  ['backward: dy is float64', () => addon.batchNormBackward(...replace(bwdArgs(), 0, f64(12))), TypeError, /^dy\b/],
  ['backward: mean is null', () => addon.batchNormBackward(...replace(bwdArgs(), 2, null)), TypeError, /^saved\.mean\b/],
  ['backward: rstd has the wrong length', () => addon.batchNormBackward(...replace(bwdArgs(), 3, f32(2))), RangeError, /^saved\.rstd\b/],
  ['backward: n*c*s != x.length', () => addon.batchNormBackward(...replace(bwdArgs(), 6, 5)), RangeError, /n\*c\*s/],
  ['backward: channelsLast is missing', () => addon.batchNormBackward(...replace(bwdArgs(), 7, undefined)), TypeError, /^channelsLast\b/],
  ['backward: training is null', () => addon.batchNormBackward(...replace(bwdArgs(), 9, null)), TypeError, /^training\b/],
  ['backward: dx is null', () => addon.batchNormBackward(...replace(bwdArgs(), 10, null)), TypeError, /^out\.dx\b/],
  ['backward: dx is x', () => {
    const a = bwdArgs();
    return addon.batchNormBackward(...replace(a, 10, a[1]));
  }, RangeError, /^out\.dx\b.*\bx\b/],
  ['backward: dweight and dbias are the same array', () => {
    const g = out(3);
    return addon.batchNormBackward(...replace(replace(bwdArgs(), 11, g), 12, g));
  }, RangeError, /out\.dweight.*out\.dbias/],
  ['backward: dbias has the wrong length', () => addon.batchNormBackward(...replace(bwdArgs(), 12, out(4))), RangeError, /^out\.dbias\b/],
  ['backward: saved.mean is detached', () => addon.batchNormBackward(...replace(bwdArgs(), 2, detached(C3()))), 'either', /^saved\.mean\b/],

  ['stats: mean is a Float32Array', () => addon.batchNormStats(...replace(statsArgs(), 5, out(3))), TypeError, /^out\.mean\b/],
  ['stats: m2 has the wrong length', () => addon.batchNormStats(...replace(statsArgs(), 6, f64(2))), RangeError, /^out\.m2\b/],
  ['stats: mean and m2 are the same array', () => {
    const m = f64(3);
    return addon.batchNormStats(...replace(replace(statsArgs(), 5, m), 6, m));
  }, RangeError, /out\.mean.*out\.m2/],
  ['stats: n*c*s != x.length', () => addon.batchNormStats(...replace(statsArgs(), 1, 3)), RangeError, /n\*c\*s/],
  ['stats: x is a string', () => addon.batchNormStats(...replace(statsArgs(), 0, 'x')), TypeError, /^x\b/],

  ['apply: mean is null', () => addon.batchNormApply(...replace(applyArgs(), 5, null)), TypeError, /^stats\.mean\b/],
  ['apply: rstd is float64', () => addon.batchNormApply(...replace(applyArgs(), 6, f64(3))), TypeError, /^stats\.rstd\b/],
  ['apply: y has the wrong length', () => addon.batchNormApply(...replace(applyArgs(), 9, out(11))), RangeError, /^out\.y\b/],
  ['apply: y overlaps rstd', () => {
    const y = out(12);
    return addon.batchNormApply(...replace(replace(applyArgs(), 9, y), 6, y.subarray(0, 3)));
  }, RangeError, /^out\.y\b.*stats\.rstd/],
  ['apply: c is negative', () => addon.batchNormApply(...replace(applyArgs(), 2, -3)), RangeError, /^c\b/],

  ['reduce: sumDy is a Float32Array', () => addon.batchNormBackwardReduce(...replace(reduceArgs(), 7, out(3))), TypeError, /^out\.sumDy\b/],
  ['reduce: sumDyXmu is missing', () => addon.batchNormBackwardReduce(...reduceArgs().slice(0, 8)), TypeError, /^out\.sumDyXmu\b/],
  ['reduce: sumDy and sumDyXmu overlap', () => {
    const s = f64(4);
    return addon.batchNormBackwardReduce(...replace(replace(reduceArgs(), 7, s.subarray(0, 3)), 8, s.subarray(1, 4)));
  }, RangeError, /out\.sumDy.*out\.sumDyXmu/],
  ['reduce: mean has the wrong length', () => addon.batchNormBackwardReduce(...replace(reduceArgs(), 2, f32(4))), RangeError, /^saved\.mean\b/],

  ['backwardApply: count is 0', () => addon.batchNormBackwardApply(...replace(bapplyArgs(), 11, 0)), RangeError, /^sums\.count\b/],
  ['backwardApply: count is NaN', () => addon.batchNormBackwardApply(...replace(bapplyArgs(), 11, NaN)), RangeError, /^sums\.count\b/],
  ['backwardApply: count is Infinity', () => addon.batchNormBackwardApply(...replace(bapplyArgs(), 11, Infinity)), RangeError, /^sums\.count\b/],
  ['backwardApply: count is a string', () => addon.batchNormBackwardApply(...replace(bapplyArgs(), 11, '4')), TypeError, /^sums\.count\b/],
  ['backwardApply: sumDy is a Float32Array', () => addon.batchNormBackwardApply(...replace(bapplyArgs(), 9, out(3))), TypeError, /^sums\.sumDy\b/],
  ['backwardApply: sumDyXmu has the wrong length', () => addon.batchNormBackwardApply(...replace(bapplyArgs(), 10, f64(2))), RangeError, /^sums\.sumDyXmu\b/],
  ['backwardApply: dx is dy', () => {
    const a = bapplyArgs();
    return addon.batchNormBackwardApply(...replace(a, 12, a[0]));
  }, RangeError, /^out\.dx\b.*\bdy\b/],
  ['backwardApply: dx (float64) overlaps sumDy', () => {
    const a = bapplyArgs().map((v) => (v instanceof Float32Array ? Float64Array.from(v) : v));
    const dx = f64(12);
    return addon.batchNormBackwardApply(...replace(replace(a, 12, dx), 9, dx.subarray(0, 3)));
  }, RangeError, /^out\.dx\b.*sums\.sumDy/],
  ['backwardApply: weight is detached', () => addon.batchNormBackwardApply(...replace(bapplyArgs(), 8, detached(C3()))), 'either', /^weight\b/],
];

describe('native addon positional BatchNorm functions: bad arguments throw, never crash', () => {
  beforeAll(() => {
    expect(nativeAddon, 'native addon must be loaded for these tests').not.toBeNull();
  });

  it.each(NATIVE.map((c) => [c[0], c] as const))('%s', (_what, [, call, cls, message]) => {
    const e = thrown(call);
    expect(e, 'must throw').toBeInstanceOf(Error);
    if (cls === 'either') expect([TypeError, RangeError], (e as Error).message).toContain((e as Error).constructor);
    else expect((e as Error).constructor, (e as Error).message).toBe(cls);
    expect((e as Error).message).toMatch(message);
  });

  it('the async variants reject (or throw synchronously) with the same errors', async () => {
    const call = () => addon.batchNormForwardAsync(...replace(fwdArgs(), 9, NaN)) as Promise<void>;
    let e: unknown;
    try {
      await call();
    } catch (err) {
      e = err;
    }
    expect(e).toBeInstanceOf(RangeError);
    expect((e as Error).message).toMatch(/^momentum\b/);
  });

  it('still computes correctly after all the rejected calls (valid positional calls, y = x in place allowed)', () => {
    const a = fwdArgs();
    addon.batchNormForward(...a);
    const x: Tensor<Float32Array> = { data: a[0] as Float32Array, shape: [2, 3, 2] };
    const ref = reference.batchNorm(x, { weight: C3(), bias: C3() });
    expectClose(a[12] as Float32Array, ref.y.data, 1e-5, 'y');
    const xi = f32(12);
    addon.batchNormApply(xi, 2, 3, 2, false, SAVED().mean, SAVED().rstd, null, null, xi);
    expectClose(xi, reference.batchNormElemt(X(), SAVED()).y.data, 1e-6, 'elemt y in place');
    const st = statsArgs();
    addon.batchNormStats(...st);
    expectClose(st[5] as Float64Array, reference.batchNormStats({ data: f32(12), shape: [2, 2, 3] }, { layout: 'NHWC' }).mean, 1e-7, 'stats mean');
  });
});
