// API.md "Guarantees": bad input throws a TypeError (wrong kind of value) or a RangeError (right
// kind, wrong value) whose message names the argument, on every backend alike; it never crashes
// the process and never writes to the outputs. Also the addon's own positional functions, which
// re-check everything defensively (no JavaScript stands between the facade and C++ otherwise).
import { beforeAll, describe, expect, it } from 'vitest';
import * as fastnorm from '../src/index';
import * as reference from '../src/reference';
import { nativeAddon } from '../src/api/facade';
import type { FloatArray, Tensor } from '../src/api/types';
import { expectClose } from './helpers';

type Api = typeof reference;
type ErrorClass = typeof TypeError | typeof RangeError;

const BACKENDS: Array<[string, Api]> = [['native', fastnorm], ['reference', reference]];

// Valid arguments: x [2, 3] float32, normalized over the last dim.
const f32 = (n: number, v = 0.5) => new Float32Array(n).fill(v).map((_, i) => v + i);
const X = (): Tensor<Float32Array> => ({ data: f32(6), shape: [2, 3] });
const DY = (): Tensor<Float32Array> => ({ data: f32(6, 0.25), shape: [2, 3] });
const SAVED = () => ({ mean: new Float32Array([1.5, 4.5]), rstd: new Float32Array([1.2, 1.2]) });
const W = () => f32(3, 1);

function detached<A extends FloatArray>(a: A): A {
  structuredClone(a.buffer, { transfer: [a.buffer as ArrayBuffer] });
  return a;
}

/** [what is wrong, the call, the error class, a regex the message must match (the argument's name)] */
type Case = [string, (f: Api) => unknown, ErrorClass, RegExp];

const any = (v: unknown) => v as any; // deliberately ill-typed arguments

const LAYER_NORM: Case[] = [
  ['x is not a tensor (null)', (f) => f.layerNorm(any(null), 3), TypeError, /^x\b/],
  ['x is a number', (f) => f.layerNorm(any(5), 3), TypeError, /^x\b/],
  ['x.data is an Array', (f) => f.layerNorm(any({ data: [1, 2, 3, 4, 5, 6], shape: [2, 3] }), 3), TypeError, /^x\.data\b/],
  ['x.data is an Int32Array', (f) => f.layerNorm(any({ data: new Int32Array(6), shape: [2, 3] }), 3), TypeError, /^x\.data\b/],
  ['x.data is a Float32Array subclass-free DataView', (f) => f.layerNorm(any({ data: new DataView(new ArrayBuffer(24)), shape: [2, 3] }), 3), TypeError, /^x\.data\b/],
  ['x.shape is missing', (f) => f.layerNorm(any({ data: f32(6) }), 3), TypeError, /^x\.shape\b/],
  ['x.shape product != data length', (f) => f.layerNorm({ data: f32(6), shape: [2, 4] }, 4), RangeError, /x\.data.*x\.shape/],
  ['x.shape has a negative dim', (f) => f.layerNorm({ data: f32(6), shape: [-2, -3] }, 3), RangeError, /^x\.shape\[0\]/],
  ['x.shape has a non-integer dim', (f) => f.layerNorm({ data: f32(6), shape: [1.5, 4] }, 4), RangeError, /^x\.shape\[0\]/],
  ['x.shape has a NaN dim', (f) => f.layerNorm({ data: f32(6), shape: [2, NaN] }, 3), RangeError, /^x\.shape\[1\]/],
  ['x.shape has a string dim', (f) => f.layerNorm({ data: f32(6), shape: any(['2', 3]) }, 3), TypeError, /^x\.shape\[0\]/],
  ['normalizedShape does not match the trailing dims', (f) => f.layerNorm(X(), 4), RangeError, /^normalizedShape\b/],
  ['normalizedShape [2] over x [2, 3] (a leading dim)', (f) => f.layerNorm(X(), [2]), RangeError, /^normalizedShape\b/],
  ['normalizedShape longer than x.shape', (f) => f.layerNorm(X(), [1, 2, 3]), RangeError, /^normalizedShape\b/],
  ['normalizedShape is empty', (f) => f.layerNorm(X(), []), RangeError, /^normalizedShape\b/],
  ['normalizedShape is a string', (f) => f.layerNorm(X(), any('3')), TypeError, /^normalizedShape\b/],
  ['normalizedShape holds a string', (f) => f.layerNorm(X(), any(['3'])), TypeError, /^normalizedShape\[0\]/],
  ['normalizedShape is negative', (f) => f.layerNorm(X(), -3), RangeError, /^normalizedShape\[0\]/],
  ['weight has the wrong length', (f) => f.layerNorm(X(), 3, { weight: f32(4) }), RangeError, /^weight\b/],
  ['weight is a Float64Array for float32 x', (f) => f.layerNorm(X(), 3, { weight: any(new Float64Array(3)) }), TypeError, /^weight\b/],
  ['weight is an Array', (f) => f.layerNorm(X(), 3, { weight: any([1, 1, 1]) }), TypeError, /^weight\b/],
  ['bias has the wrong length', (f) => f.layerNorm(X(), 3, { bias: f32(2) }), RangeError, /^bias\b/],
  ['mixed dtypes: float32 weight, float64 bias', (f) => f.layerNorm(X(), 3, { weight: W(), bias: any(new Float64Array(3)) }), TypeError, /^bias\b/],
  ['eps is negative', (f) => f.layerNorm(X(), 3, { eps: -1e-5 }), RangeError, /^eps\b/],
  ['eps is NaN', (f) => f.layerNorm(X(), 3, { eps: NaN }), RangeError, /^eps\b/],
  ['eps is Infinity', (f) => f.layerNorm(X(), 3, { eps: Infinity }), RangeError, /^eps\b/],
  ['eps is a string', (f) => f.layerNorm(X(), 3, { eps: any('1e-5') }), TypeError, /^eps\b/],
  ['eps is null', (f) => f.layerNorm(X(), 3, { eps: any(null) }), TypeError, /^eps\b/],
  ['unknown option key (epsilon)', (f) => f.layerNorm(X(), 3, any({ epsilon: 1e-5 })), TypeError, /epsilon/],
  ['opts is not an object', (f) => f.layerNorm(X(), 3, any(5)), TypeError, /^opts\b/],
  ['out.y has the wrong length', (f) => f.layerNorm(X(), 3, { out: { y: f32(5) } }), RangeError, /^out\.y\b/],
  ['out.mean has the wrong dtype', (f) => f.layerNorm(X(), 3, { out: { mean: any(new Float64Array(2)) } }), TypeError, /^out\.mean\b/],
  ['out.rstd has the wrong length', (f) => f.layerNorm(X(), 3, { out: { rstd: f32(3) } }), RangeError, /^out\.rstd\b/],
  ['out has an unknown key', (f) => f.layerNorm(X(), 3, { out: any({ dx: f32(6) }) }), TypeError, /^out\.dx\b/],
  ['out.mean overlaps x', (f) => {
    const x = X();
    return f.layerNorm(x, 3, { out: { mean: x.data.subarray(4, 6) } });
  }, RangeError, /^out\.mean\b.*\bx\b/],
  ['out.y overlaps x partially (shifted by one element)', (f) => {
    const buf = new Float32Array(7).map((_, i) => i);
    return f.layerNorm({ data: buf.subarray(0, 6), shape: [2, 3] }, 3, { out: { y: buf.subarray(1, 7) } });
  }, RangeError, /^out\.y\b.*\bx\b/],
  ['out.y overlaps weight', (f) => {
    const y = f32(6);
    return f.layerNorm(X(), 3, { weight: y.subarray(3, 6), out: { y } });
  }, RangeError, /^out\.y\b.*\bweight\b/],
  ['out.rstd overlaps out.mean', (f) => {
    const m = f32(3);
    return f.layerNorm(X(), 3, { out: { mean: m.subarray(0, 2), rstd: m.subarray(1, 3) } });
  }, RangeError, /out\.mean.*out\.rstd|out\.rstd.*out\.mean/],
  ['x.data is detached', (f) => f.layerNorm({ data: detached(f32(6)), shape: [2, 3] }, 3), TypeError, /^x\.data\b.*detached/],
  ['weight is detached', (f) => f.layerNorm(X(), 3, { weight: detached(W()) }), TypeError, /^weight\b.*detached/],
  ['out.y is detached', (f) => f.layerNorm(X(), 3, { out: { y: detached(f32(6)) } }), TypeError, /^out\.y\b.*detached/],
];

const LAYER_NORM_BACKWARD: Case[] = [
  ['dy is not a tensor', (f) => f.layerNormBackward(any(null), X(), SAVED(), 3), TypeError, /^dy\b/],
  ['dy.shape differs from x.shape', (f) => f.layerNormBackward({ data: f32(6), shape: [3, 2] }, X(), SAVED(), 3), RangeError, /^dy\.shape\b/],
  ['dy is float64 for float32 x', (f) => f.layerNormBackward(any({ data: new Float64Array(6), shape: [2, 3] }), X(), SAVED(), 3), TypeError, /^dy\.data\b/],
  ['saved.mean is missing', (f) => f.layerNormBackward(DY(), X(), any({ rstd: SAVED().rstd }), 3), TypeError, /^saved\.mean\b/],
  ['saved.mean has the wrong length', (f) => f.layerNormBackward(DY(), X(), { mean: f32(3), rstd: SAVED().rstd }, 3), RangeError, /^saved\.mean\b/],
  ['saved.rstd has the wrong dtype', (f) => f.layerNormBackward(DY(), X(), any({ mean: SAVED().mean, rstd: new Float64Array(2) }), 3), TypeError, /^saved\.rstd\b/],
  ['saved is null', (f) => f.layerNormBackward(DY(), X(), any(null), 3), TypeError, /^saved\b/],
  ['normalizedShape mismatch', (f) => f.layerNormBackward(DY(), X(), SAVED(), [2, 2]), RangeError, /^normalizedShape\b/],
  ['grads.weight is not a boolean', (f) => f.layerNormBackward(DY(), X(), SAVED(), 3, { grads: any({ weight: 1 }) }), TypeError, /^grads\.weight\b/],
  ['grads.bias is a string', (f) => f.layerNormBackward(DY(), X(), SAVED(), 3, { grads: any({ bias: 'yes' }) }), TypeError, /^grads\.bias\b/],
  ['grads has an unknown key', (f) => f.layerNormBackward(DY(), X(), SAVED(), 3, { grads: any({ mean: true }) }), TypeError, /^grads\.mean\b/],
  ['out.dweight given while grads.weight is false', (f) => f.layerNormBackward(DY(), X(), SAVED(), 3,
    { weight: W(), grads: { weight: false }, out: { dweight: f32(3) } }), RangeError, /^out\.dweight\b/],
  ['out.dbias given without weight or grads.bias', (f) => f.layerNormBackward(DY(), X(), SAVED(), 3, { out: { dbias: f32(3) } }), RangeError, /^out\.dbias\b/],
  ['out.dx is dy.data (aliasing)', (f) => {
    const dy = DY();
    return f.layerNormBackward(dy, X(), SAVED(), 3, { out: { dx: dy.data } });
  }, RangeError, /^out\.dx\b.*\bdy\b/],
  ['out.dx is x.data (no in-place backward)', (f) => {
    const x = X();
    return f.layerNormBackward(DY(), x, SAVED(), 3, { out: { dx: x.data } });
  }, RangeError, /^out\.dx\b.*\bx\b/],
  ['out.dweight and out.dbias are the same array', (f) => {
    const g = f32(3);
    return f.layerNormBackward(DY(), X(), SAVED(), 3, { weight: W(), out: { dweight: g, dbias: g } });
  }, RangeError, /out\.dweight.*out\.dbias/],
  ['out.dweight overlaps saved.rstd', (f) => {
    const s = f32(5);
    return f.layerNormBackward(DY(), X(), { mean: SAVED().mean, rstd: s.subarray(0, 2) }, 3, { weight: W(), out: { dweight: s.subarray(1, 4) } });
  }, RangeError, /^out\.dweight\b.*saved\.rstd/],
  ['out.dx has the wrong length', (f) => f.layerNormBackward(DY(), X(), SAVED(), 3, { out: { dx: f32(7) } }), RangeError, /^out\.dx\b/],
  ['weight has the wrong length', (f) => f.layerNormBackward(DY(), X(), SAVED(), 3, { weight: f32(2) }), RangeError, /^weight\b/],
  ['unknown option (bias)', (f) => f.layerNormBackward(DY(), X(), SAVED(), 3, any({ bias: f32(3) })), TypeError, /bias/],
  ['dy.data is detached', (f) => f.layerNormBackward({ data: detached(f32(6)), shape: [2, 3] }, X(), SAVED(), 3), TypeError, /^dy\.data\b.*detached/],
  ['saved.rstd is detached', (f) => f.layerNormBackward(DY(), X(), { mean: SAVED().mean, rstd: detached(f32(2)) }, 3), TypeError, /^saved\.rstd\b.*detached/],
];

const RMS_NORM: Case[] = [
  ['x.data is an Array', (f) => f.rmsNorm(any({ data: [1, 2, 3], shape: [3] }), 3), TypeError, /^x\.data\b/],
  ['normalizedShape mismatch', (f) => f.rmsNorm(X(), [2, 3, 1]), RangeError, /^normalizedShape\b/],
  ['bias is not an option of rmsNorm', (f) => f.rmsNorm(X(), 3, any({ bias: f32(3) })), TypeError, /bias/],
  ['weight has the wrong length', (f) => f.rmsNorm(X(), 3, { weight: f32(6) }), RangeError, /^weight\b/],
  ['eps is negative', (f) => f.rmsNorm(X(), 3, { eps: -1 }), RangeError, /^eps\b/],
  ['out.mean is not an output of rmsNorm', (f) => f.rmsNorm(X(), 3, { out: any({ mean: f32(2) }) }), TypeError, /^out\.mean\b/],
  ['out.rstd overlaps x', (f) => {
    const x = X();
    return f.rmsNorm(x, 3, { out: { rstd: x.data.subarray(0, 2) } });
  }, RangeError, /^out\.rstd\b.*\bx\b/],
];

const RMS_NORM_BACKWARD: Case[] = [
  ['grads.bias (rmsNorm has no bias)', (f) => f.rmsNormBackward(DY(), X(), { rstd: SAVED().rstd }, 3, { grads: any({ bias: true }) }), TypeError, /^grads\.bias\b/],
  ['out.dbias (rmsNorm has no bias)', (f) => f.rmsNormBackward(DY(), X(), { rstd: SAVED().rstd }, 3, { weight: W(), out: any({ dbias: f32(3) }) }), TypeError, /^out\.dbias\b/],
  ['saved.rstd is missing', (f) => f.rmsNormBackward(DY(), X(), any({}), 3), TypeError, /^saved\.rstd\b/],
  ['saved.rstd has the wrong length', (f) => f.rmsNormBackward(DY(), X(), { rstd: f32(6) }, 3), RangeError, /^saved\.rstd\b/],
  ['dy.shape differs from x.shape', (f) => f.rmsNormBackward({ data: f32(6), shape: [6] }, X(), { rstd: SAVED().rstd }, 3), RangeError, /^dy\.shape\b/],
  ['out.dweight given while grads.weight is false', (f) => f.rmsNormBackward(DY(), X(), { rstd: SAVED().rstd }, 3,
    { weight: W(), grads: { weight: false }, out: { dweight: f32(3) } }), RangeError, /^out\.dweight\b/],
];

const SET_NUM_THREADS: Case[] = [
  ['setNumThreads(0)', (f) => f.setNumThreads(0), RangeError, /^n\b/],
  ['setNumThreads(-1)', (f) => f.setNumThreads(-1), RangeError, /^n\b/],
  ['setNumThreads(1.5)', (f) => f.setNumThreads(1.5), RangeError, /^n\b/],
  ['setNumThreads(NaN)', (f) => f.setNumThreads(NaN), RangeError, /^n\b/],
  ["setNumThreads('2')", (f) => f.setNumThreads(any('2')), TypeError, /^n\b/],
  ['setNumThreads()', (f) => any(f.setNumThreads)(), TypeError, /^n\b/],
];

// GroupNorm / InstanceNorm: x (N, C, S) = (2, 4, 3) float32, 2 groups (mean/rstd: 4 values).
const GX = (): Tensor<Float32Array> => ({ data: f32(24), shape: [2, 4, 3] });
const GDY = (): Tensor<Float32Array> => ({ data: f32(24, 0.25), shape: [2, 4, 3] });
const GSAVED = () => ({ mean: f32(4), rstd: f32(4, 1) });
const ISAVED = () => ({ mean: f32(8), rstd: f32(8, 1) });
const GW = () => f32(4, 1);

const GROUP_NORM: Case[] = [
  ['numGroups does not divide C', (f) => f.groupNorm(GX(), 3), RangeError, /^numGroups \(3\) must divide the number of channels C = 4/],
  ['numGroups is 0', (f) => f.groupNorm(GX(), 0), RangeError, /^numGroups must be an integer >= 1/],
  ['numGroups is negative', (f) => f.groupNorm(GX(), -2), RangeError, /^numGroups\b/],
  ['numGroups is 1.5', (f) => f.groupNorm(GX(), 1.5), RangeError, /^numGroups\b/],
  ['numGroups is NaN', (f) => f.groupNorm(GX(), NaN), RangeError, /^numGroups\b/],
  ['numGroups is a string', (f) => f.groupNorm(GX(), any('2')), TypeError, /^numGroups\b/],
  ['numGroups is missing', (f) => any(f.groupNorm)(GX()), TypeError, /^numGroups\b/],
  ['x has one dim (no channels)', (f) => f.groupNorm({ data: f32(6), shape: [6] }, 1), RangeError, /^x\.shape\b/],
  ['x is not a tensor', (f) => f.groupNorm(any(null), 1), TypeError, /^x\b/],
  ['layout is not NCHW/NHWC', (f) => f.groupNorm(GX(), 2, { layout: any('NWHC') }), TypeError, /^layout\b/],
  ['layout is a number', (f) => f.groupNorm(GX(), 2, { layout: any(1) }), TypeError, /^layout\b/],
  ['weight has the wrong length', (f) => f.groupNorm(GX(), 2, { weight: f32(3) }), RangeError, /^weight\b/],
  ['NHWC: weight must have the last dim (C) values', (f) => f.groupNorm({ data: f32(24), shape: [2, 3, 4] }, 2,
    { layout: 'NHWC', weight: f32(3) }), RangeError, /^weight must have 4 elements/],
  ['NHWC: numGroups must divide the last dim', (f) => f.groupNorm({ data: f32(24), shape: [2, 4, 3] }, 2, { layout: 'NHWC' }),
    RangeError, /^numGroups \(2\) must divide the number of channels C = 3/],
  ['bias is a Float64Array for float32 x', (f) => f.groupNorm(GX(), 2, { bias: any(new Float64Array(4)) }), TypeError, /^bias\b/],
  ['eps is negative', (f) => f.groupNorm(GX(), 2, { eps: -1 }), RangeError, /^eps\b/],
  ['unknown option (momentum is instanceNorm\'s)', (f) => f.groupNorm(GX(), 2, any({ momentum: 0.1 })), TypeError, /momentum/],
  ['out.mean has N*C instead of N*G values', (f) => f.groupNorm(GX(), 2, { out: { mean: f32(8) } }), RangeError, /^out\.mean must have 4/],
  ['out.y overlaps x partially', (f) => {
    const buf = f32(25);
    return f.groupNorm({ data: buf.subarray(0, 24), shape: [2, 4, 3] }, 2, { out: { y: buf.subarray(1, 25) } });
  }, RangeError, /^out\.y\b.*\bx\b/],
  ['x.data is detached', (f) => f.groupNorm({ data: detached(f32(24)), shape: [2, 4, 3] }, 2), TypeError, /^x\.data\b.*detached/],
];

const GROUP_NORM_BACKWARD: Case[] = [
  ['dy.shape differs from x.shape', (f) => f.groupNormBackward({ data: f32(24), shape: [2, 3, 4] }, GX(), GSAVED(), 2), RangeError, /^dy\.shape\b/],
  ['saved.mean has N*C instead of N*G values', (f) => f.groupNormBackward(GDY(), GX(), { mean: f32(8), rstd: f32(4) }, 2), RangeError,
    /^saved\.mean must have 4/],
  ['saved.rstd is missing', (f) => f.groupNormBackward(GDY(), GX(), any({ mean: f32(4) }), 2), TypeError, /^saved\.rstd\b/],
  ['numGroups does not divide C', (f) => f.groupNormBackward(GDY(), GX(), GSAVED(), 3), RangeError, /^numGroups\b.*divide/],
  ['grads.bias is not a boolean', (f) => f.groupNormBackward(GDY(), GX(), GSAVED(), 2, { grads: any({ bias: 1 }) }), TypeError, /^grads\.bias\b/],
  ['out.dweight without weight or grads.weight', (f) => f.groupNormBackward(GDY(), GX(), GSAVED(), 2, { out: { dweight: f32(4) } }), RangeError,
    /^out\.dweight\b/],
  ['out.dx is x.data', (f) => {
    const x = GX();
    return f.groupNormBackward(GDY(), x, GSAVED(), 2, { out: { dx: x.data } });
  }, RangeError, /^out\.dx\b.*\bx\b/],
  ['weight has the wrong length', (f) => f.groupNormBackward(GDY(), GX(), GSAVED(), 2, { weight: f32(2) }), RangeError, /^weight\b/],
  ['unknown option (eps)', (f) => f.groupNormBackward(GDY(), GX(), GSAVED(), 2, any({ eps: 1e-5 })), TypeError, /eps/],
];

const INSTANCE_NORM: Case[] = [
  ['runningMean without runningVar', (f) => f.instanceNorm(GX(), { runningMean: f32(4) }), TypeError, /^runningMean and runningVar must be given together/],
  ['runningMean has the wrong length', (f) => f.instanceNorm(GX(), { runningMean: f32(2), runningVar: f32(4) }), RangeError, /^runningMean\b/],
  ['runningVar is float64 for float32 x', (f) => f.instanceNorm(GX(), { runningMean: f32(4), runningVar: any(new Float64Array(4)) }),
    TypeError, /^runningVar\b/],
  ['useInputStats: false without running statistics', (f) => f.instanceNorm(GX(), { useInputStats: false }), TypeError,
    /^runningMean and runningVar are required when useInputStats is false/],
  ['useInputStats is a string', (f) => f.instanceNorm(GX(), { useInputStats: any('no') }), TypeError, /^useInputStats\b/],
  ['momentum is NaN', (f) => f.instanceNorm(GX(), { momentum: NaN }), RangeError, /^momentum\b/],
  ['momentum is a string', (f) => f.instanceNorm(GX(), { momentum: any('0.1') }), TypeError, /^momentum\b/],
  ['input statistics need > 1 spatial element (as PyTorch)', (f) => f.instanceNorm({ data: f32(8), shape: [2, 4] },
    { runningMean: f32(4), runningVar: f32(4) }), RangeError, /^x: instanceNorm with input statistics needs more than 1 spatial element/],
  ['runningMean and runningVar are the same array', (f) => {
    const r = f32(4);
    return f.instanceNorm(GX(), { runningMean: r, runningVar: r });
  }, RangeError, /^runningMean must not share memory with runningVar/],
  ['runningVar overlaps out.rstd', (f) => {
    const r = f32(11);
    return f.instanceNorm(GX(), { runningMean: f32(4), runningVar: r.subarray(0, 4), out: { rstd: r.subarray(3, 11) } });
  }, RangeError, /out\.rstd.*runningVar|runningVar.*out\.rstd/],
  ['runningMean overlaps x', (f) => {
    const x = GX();
    return f.instanceNorm(x, { runningMean: x.data.subarray(0, 4), runningVar: f32(4) });
  }, RangeError, /^runningMean must not share memory with x/],
  ['numGroups is not an option of instanceNorm', (f) => f.instanceNorm(GX(), any({ numGroups: 2 })), TypeError, /numGroups/],
  ['out.mean has the wrong length (N*C)', (f) => f.instanceNorm(GX(), { out: { mean: f32(4) } }), RangeError, /^out\.mean must have 8/],
];

const INSTANCE_NORM_BACKWARD: Case[] = [
  ['saved.mean has the wrong length (N*C)', (f) => f.instanceNormBackward(GDY(), GX(), GSAVED()), RangeError, /^saved\.mean must have 8/],
  ['useInputStats is a number', (f) => f.instanceNormBackward(GDY(), GX(), ISAVED(), { useInputStats: any(0) }), TypeError, /^useInputStats\b/],
  ['unknown option (momentum)', (f) => f.instanceNormBackward(GDY(), GX(), ISAVED(), any({ momentum: 0.1 })), TypeError, /momentum/],
  ['weight has the wrong length', (f) => f.instanceNormBackward(GDY(), GX(), ISAVED(), { weight: GW().subarray(0, 3) }), RangeError, /^weight\b/],
];

const GROUPS: Array<[string, Case[]]> = [
  ['layerNorm', LAYER_NORM],
  ['layerNormBackward', LAYER_NORM_BACKWARD],
  ['rmsNorm', RMS_NORM],
  ['rmsNormBackward', RMS_NORM_BACKWARD],
  ['groupNorm', GROUP_NORM],
  ['groupNormBackward', GROUP_NORM_BACKWARD],
  ['instanceNorm', INSTANCE_NORM],
  ['instanceNormBackward', INSTANCE_NORM_BACKWARD],
  ['setNumThreads', SET_NUM_THREADS],
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
    const threadsBefore = fastnorm.getNumThreads();
    for (const [name, api] of BACKENDS) {
      const e = thrown(() => call(api));
      expect(e, `${name}: must throw`).toBeInstanceOf(Error);
      // exactly this class (a RangeError is not a TypeError, but check both directions anyway)
      expect((e as Error).constructor, `${name}: ${(e as Error).message}`).toBe(cls);
      expect((e as Error).message, name).toMatch(message);
    }
    expect(fastnorm.getNumThreads()).toBe(threadsBefore);
  });
});

describe('valid edge cases are accepted', () => {
  it.each(BACKENDS)('%s: in-place out.y = x.data is allowed (layerNorm and rmsNorm)', (_n, f) => {
    const x = X();
    const expected = f.layerNorm(X(), 3).y.data;
    const r = f.layerNorm(x, 3, { out: { y: x.data } });
    expect(r.y.data).toBe(x.data);
    expect(Array.from(x.data)).toEqual(Array.from(expected));
    const x2 = X();
    expect(f.rmsNorm(x2, [3], { out: { y: x2.data } }).y.data).toBe(x2.data);
  });

  it.each(BACKENDS)('%s: undefined/null optional arguments and empty options are accepted', (_n, f) => {
    expect(() => f.layerNorm(X(), 3, {})).not.toThrow();
    expect(() => f.layerNorm(X(), 3, { weight: undefined, bias: undefined, eps: undefined, out: undefined })).not.toThrow();
    expect(() => f.layerNorm(X(), 3, any({ weight: null, bias: null }))).not.toThrow();
    expect(() => f.layerNormBackward(DY(), X(), SAVED(), 3, { grads: {} })).not.toThrow();
    expect(() => f.rmsNormBackward(DY(), X(), { rstd: SAVED().rstd }, 3, { grads: { weight: true } })).not.toThrow();
  });

  it.each(BACKENDS)('%s: a rejected call writes nothing to the given out buffers', (_n, f) => {
    const y = new Float32Array(6).fill(-7);
    const mean = new Float32Array(2).fill(-7);
    expect(() => f.layerNorm(X(), 3, { eps: NaN, out: { y, mean } })).toThrow(RangeError);
    expect(() => f.layerNorm(X(), 3, { out: { y, mean, rstd: new Float32Array(3) } })).toThrow(RangeError);
    const dx = new Float32Array(6).fill(-7);
    expect(() => f.layerNormBackward(DY(), X(), { mean: f32(1), rstd: f32(2) }, 3, { out: { dx } })).toThrow(RangeError);
    for (const a of [y, mean, dx]) expect(Array.from(a).every((v) => v === -7)).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// The addon's positional functions, called directly.

const addon = nativeAddon as unknown as Record<string, (...args: unknown[]) => unknown>;

/** Valid positional arguments; `with(i, v)` replaces argument i. */
function fwdArgs() {
  const x = f32(6);
  return [x, 2, 3, W(), f32(3), 1e-5, new Float32Array(6), new Float32Array(2), new Float32Array(2)];
}
function bwdArgs() {
  return [DY().data, X().data, SAVED().mean, SAVED().rstd, 2, 3, W(), new Float32Array(6), new Float32Array(3), new Float32Array(3)];
}
const replace = (args: unknown[], i: number, v: unknown) => args.map((a, j) => (j === i ? v : a));

type NativeCase = [string, () => unknown, ErrorClass | 'either', RegExp];

/** groupNormForward/Backward positional calls: x (n, c, s) = (2, 4, 3), 2 groups; `with(i, v)` replaces argument i. */
function groupNormNativeCases(): NativeCase[] {
  const fwd = () => [f32(24), 2, 4, 3, false, 2, GW(), GW(), null, null, 0.1, 1e-5, true, new Float32Array(24), new Float32Array(4),
    new Float32Array(4)];
  const inst = () => replace(replace(replace(fwd(), 5, 4), 14, new Float32Array(8)), 15, new Float32Array(8));
  const running = () => replace(replace(inst(), 8, f32(4)), 9, f32(4, 1));
  const bwd = () => [f32(24, 0.25), f32(24), f32(4), f32(4, 1), 2, 4, 3, false, 2, GW(), true, new Float32Array(24), new Float32Array(4),
    new Float32Array(4)];
  return [
    ['groupNormForward: numGroups 0', () => addon.groupNormForward(...replace(fwd(), 5, 0)), RangeError, /^numGroups\b/],
    ['groupNormForward: numGroups 3 does not divide c = 4', () => addon.groupNormForward(...replace(fwd(), 5, 3)), RangeError, /^numGroups\b.*divide/],
    ['groupNormForward: n*c*s != x.length', () => addon.groupNormForward(...replace(fwd(), 3, 4)), RangeError, /n\*c\*s/],
    ['groupNormForward: channelsLast is not a boolean', () => addon.groupNormForward(...replace(fwd(), 4, 0)), TypeError, /^channelsLast\b/],
    ['groupNormForward: momentum is NaN', () => addon.groupNormForward(...replace(fwd(), 10, NaN)), RangeError, /^momentum\b/],
    ['groupNormForward: out.mean has the wrong length', () => addon.groupNormForward(...replace(fwd(), 14, new Float32Array(8))), RangeError,
      /^out\.mean\b/],
    ['groupNormForward: running statistics with numGroups != C', () => addon.groupNormForward(...replace(replace(fwd(), 8, f32(4)), 9, f32(4))),
      RangeError, /numGroups = C/],
    ['groupNormForward: runningMean without runningVar', () => addon.groupNormForward(...replace(inst(), 8, f32(4))), TypeError, /together/],
    ['groupNormForward: useInputStats false without running statistics', () => addon.groupNormForward(...replace(inst(), 12, false)),
      TypeError, /required when useInputStats is false/],
    ['groupNormForward: running statistics update with s = 1', () => addon.groupNormForward(f32(8), 2, 4, 1, false, 4, null, null, f32(4), f32(4),
      0.1, 1e-5, true, new Float32Array(8), new Float32Array(8), new Float32Array(8)), RangeError, /spatial/],
    ['groupNormForward: runningVar overlaps out.rstd', () => {
      const buf = new Float32Array(11);
      return addon.groupNormForward(...replace(replace(running(), 9, buf.subarray(0, 4)), 15, buf.subarray(3, 11)));
    }, RangeError, /share memory/],
    ['groupNormForward: y is float64', () => addon.groupNormForward(...replace(fwd(), 13, new Float64Array(24))), TypeError, /^out\.y\b/],
    ['groupNormBackward: saved.mean has the wrong length', () => addon.groupNormBackward(...replace(bwd(), 2, f32(8))), RangeError, /^saved\.mean\b/],
    ['groupNormBackward: numGroups 3', () => addon.groupNormBackward(...replace(bwd(), 8, 3)), RangeError, /^numGroups\b/],
    ['groupNormBackward: useInputStats is missing', () => addon.groupNormBackward(...replace(bwd(), 10, undefined)), TypeError, /^useInputStats\b/],
    ['groupNormBackward: dx is dy', () => {
      const a = bwd();
      return addon.groupNormBackward(...replace(a, 11, a[0]));
    }, RangeError, /^out\.dx\b.*\bdy\b/],
  ];
}

const NATIVE: NativeCase[] = [
  ['layerNormForward() without arguments', () => addon.layerNormForward(), TypeError, /^x\b/],
  ['x is an Array', () => addon.layerNormForward(...replace(fwdArgs(), 0, [1, 2, 3, 4, 5, 6])), TypeError, /^x\b/],
  ['x is an Int32Array', () => addon.layerNormForward(...replace(fwdArgs(), 0, new Int32Array(6))), TypeError, /^x\b/],
  ['x is a BigInt64Array', () => addon.layerNormForward(...replace(fwdArgs(), 0, new BigInt64Array(6))), TypeError, /^x\b/],
  ['x is null', () => addon.layerNormForward(...replace(fwdArgs(), 0, null)), TypeError, /^x\b/],
  ['rows is a string', () => addon.layerNormForward(...replace(fwdArgs(), 1, '2')), TypeError, /^rows\b/],
  ['rows is negative', () => addon.layerNormForward(...replace(fwdArgs(), 1, -2)), RangeError, /^rows\b/],
  ['rows is 1.5', () => addon.layerNormForward(...replace(fwdArgs(), 1, 1.5)), RangeError, /^rows\b/],
  ['rows is NaN', () => addon.layerNormForward(...replace(fwdArgs(), 1, NaN)), RangeError, /^rows\b/],
  ['cols is Infinity', () => addon.layerNormForward(...replace(fwdArgs(), 2, Infinity)), RangeError, /^cols\b/],
  ['rows*cols != x.length', () => addon.layerNormForward(...replace(fwdArgs(), 1, 3)), RangeError, /rows\*cols/],
  ['rows*cols overflows size_t', () => addon.layerNormForward(...replace(replace(fwdArgs(), 1, 2 ** 52), 2, 2 ** 52)), RangeError, /too large|rows\*cols/],
  ['rows = 1e300', () => addon.layerNormForward(...replace(fwdArgs(), 1, 1e300)), RangeError, /^rows\b/],
  ['huge rows with cols = 0 (mean would need 2^40 values)', () => addon.layerNormForward(new Float32Array(0), 2 ** 40, 0, null, null, 1e-5,
    new Float32Array(0), new Float32Array(0), new Float32Array(0)), RangeError, /^out\.mean\b/],
  ['weight has the wrong length', () => addon.layerNormForward(...replace(fwdArgs(), 3, f32(4))), RangeError, /^weight\b/],
  ['weight is float64 for float32 x', () => addon.layerNormForward(...replace(fwdArgs(), 3, new Float64Array(3))), TypeError, /^weight\b/],
  ['bias is a string', () => addon.layerNormForward(...replace(fwdArgs(), 4, 'bias')), TypeError, /^bias\b/],
  ['eps is NaN', () => addon.layerNormForward(...replace(fwdArgs(), 5, NaN)), RangeError, /^eps\b/],
  ['eps is undefined', () => addon.layerNormForward(...replace(fwdArgs(), 5, undefined)), TypeError, /^eps\b/],
  ['eps is negative', () => addon.layerNormForward(...replace(fwdArgs(), 5, -1)), RangeError, /^eps\b/],
  ['y is null', () => addon.layerNormForward(...replace(fwdArgs(), 6, null)), TypeError, /^out\.y\b/],
  ['y has the wrong length', () => addon.layerNormForward(...replace(fwdArgs(), 6, new Float32Array(5))), RangeError, /^out\.y\b/],
  ['mean is null (layerNorm needs it)', () => addon.layerNormForward(...replace(fwdArgs(), 7, null)), TypeError, /^out\.mean\b/],
  ['rstd is missing', () => addon.layerNormForward(...fwdArgs().slice(0, 8)), TypeError, /^out\.rstd\b/],
  ['mean overlaps y', () => {
    const a = fwdArgs();
    return addon.layerNormForward(...replace(a, 7, (a[6] as Float32Array).subarray(0, 2)));
  }, RangeError, /share memory/],
  ['y overlaps x partially', () => {
    const buf = new Float32Array(7);
    return addon.layerNormForward(...replace(replace(fwdArgs(), 0, buf.subarray(0, 6)), 6, buf.subarray(1, 7)));
  }, RangeError, /^out\.y\b.*\bx\b/],
  ['y overlaps weight', () => {
    const y = new Float32Array(6);
    return addon.layerNormForward(...replace(replace(fwdArgs(), 6, y), 3, y.subarray(0, 3)));
  }, RangeError, /^out\.y\b.*\bweight\b/],
  ['x is detached', () => addon.layerNormForward(...replace(fwdArgs(), 0, detached(f32(6)))), 'either', /^x\b/],
  ['rmsNormForward: rstd has the wrong length', () => addon.rmsNormForward(f32(6), 2, 3, null, null, 1e-6, new Float32Array(6), null,
    new Float32Array(3)), RangeError, /^out\.rstd\b/],
  ['backward: dy has the wrong length', () => addon.layerNormBackward(...replace(bwdArgs(), 0, f32(5))), RangeError, /^dy\b/],
  ['backward: dy is float64', () => addon.layerNormBackward(...replace(bwdArgs(), 0, new Float64Array(6))), TypeError, /^dy\b/],
  ['backward: saved mean is null', () => addon.layerNormBackward(...replace(bwdArgs(), 2, null)), TypeError, /^saved\.mean\b/],
  ['backward: rows*cols != x.length', () => addon.layerNormBackward(...replace(bwdArgs(), 5, 4)), RangeError, /rows\*cols/],
  ['backward: huge rows', () => addon.layerNormBackward(...replace(replace(bwdArgs(), 4, 2 ** 52), 5, 2 ** 52)), RangeError, /too large|rows\*cols/],
  ['backward: dx is null', () => addon.layerNormBackward(...replace(bwdArgs(), 7, null)), TypeError, /^out\.dx\b/],
  ['backward: dx is dy', () => {
    const a = bwdArgs();
    return addon.layerNormBackward(...replace(a, 7, a[0]));
  }, RangeError, /^out\.dx\b.*\bdy\b/],
  ['backward: dweight and dbias are the same array', () => {
    const g = new Float32Array(3);
    return addon.layerNormBackward(...replace(replace(bwdArgs(), 8, g), 9, g));
  }, RangeError, /out\.dweight.*out\.dbias/],
  ['backward: dweight is float64', () => addon.layerNormBackward(...replace(bwdArgs(), 8, new Float64Array(3))), TypeError, /^out\.dweight\b/],
  ['rmsNormBackward: rstd has the wrong length', () => addon.rmsNormBackward(f32(6), f32(6), null, f32(3), 2, 3, null,
    new Float32Array(6), null, null), RangeError, /^saved\.rstd\b/],
  ...groupNormNativeCases(),
  ['setNumThreads(0)', () => addon.setNumThreads(0), RangeError, /^n\b/],
  ["setNumThreads('2')", () => addon.setNumThreads('2'), TypeError, /^n\b/],
  ['_setIsa(5)', () => addon._setIsa(5), TypeError, /^isa\b/],
  ['_copy with different lengths', () => addon._copy(new Float32Array(4), new Float32Array(5)), RangeError, /dst/],
];

describe('native addon positional functions: bad arguments throw, never crash', () => {
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

  it('still computes correctly after all the rejected calls (valid positional call, y = x in place allowed)', () => {
    const a = fwdArgs();
    addon.layerNormForward(...a);
    const ref = reference.layerNorm({ data: a[0] as Float32Array, shape: [2, 3] }, 3, { weight: a[3] as Float32Array, bias: a[4] as Float32Array });
    expectClose(a[6] as Float32Array, ref.y.data, 1e-5, 'y');
    const x = f32(6);
    addon.layerNormForward(x, 2, 3, null, null, 1e-5, x, new Float32Array(2), new Float32Array(2));
    expectClose(x, reference.layerNorm({ data: f32(6), shape: [2, 3] }, 3).y.data, 1e-5, 'y in place');
  });
});
