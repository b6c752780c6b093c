// The row ops' cases (LayerNorm, RMSNorm): valid arguments from an OpInput, and malformed calls
// with the error each must throw (test/validation.test.ts runs them on both backends).
import { expect } from 'vitest';
import * as reference from '../../src/reference';
import type { FloatArray, Tensor } from '../../src/api/types';
import { CTORS, type DType } from '../helpers';
import type { InvalidCall, OpCase } from '../op-cases';
import { addNormInputs, any, detached, f32, rowInputs, savedStats, smallArgs } from './inputs';

// Valid arguments of the malformed calls: x [2, 3] float32, normalized over the last dim.
const { X, DY, SAVED, W } = smallArgs([2, 3], () => ({ mean: new Float32Array([1.5, 4.5]), rstd: new Float32Array([1.2, 1.2]) }), 3);
const R = () => ({ data: f32(6, -2), shape: [2, 3] });
// The same x as bfloat16 bits (half-precision tensors: layerNorm, rmsNorm and their backwards).
const H = (dtype: 'float16' | 'bfloat16' = 'bfloat16') => ({ data: new Uint16Array(6).fill(0x3f80), shape: [2, 3], dtype });
const HW = () => new Uint16Array(3).fill(0x3f80);

/** The malformed weightOffset calls of an op: `call(opts)` with the op's other arguments valid. */
function weightOffsetCases(op: string, call: (f: Parameters<InvalidCall[1]>[0], opts: object) => unknown): InvalidCall[] {
  return [
    [`${op}: weightOffset is a string`, (f) => call(f, { weight: W(), weightOffset: any('1') }), TypeError, /^weightOffset\b/],
    [`${op}: weightOffset is NaN`, (f) => call(f, { weight: W(), weightOffset: NaN }), RangeError, /^weightOffset\b/],
    [`${op}: weightOffset is Infinity`, (f) => call(f, { weight: W(), weightOffset: -Infinity }), RangeError, /^weightOffset\b/],
    [`${op}: weightOffset without weight`, (f) => call(f, { weightOffset: 1 }), RangeError, /^weightOffset\b.*weight/],
  ];
}

export const ROW_NORM_CASES = {
  layerNorm: {
    outKeys: ['y', 'mean', 'rstd'],
    args: (i) => {
      const r = rowInputs(i);
      return [r.x, r.normalizedShape, { weight: r.weight, bias: r.bias, eps: 1e-5, weightOffset: r.weightOffset,
        activation: i.flags.activation }];
    },
    valid: [
      ['in-place out.y = x.data', (f) => {
        const x = X();
        const expected = f.layerNorm(X(), 3).y.data;
        const r = f.layerNorm(x, 3, { out: { y: x.data } });
        expect(r.y.data).toBe(x.data);
        expect(Array.from(x.data)).toEqual(Array.from(expected));
      }],
      ['undefined/null optional arguments and empty options', (f) => {
        f.layerNorm(X(), 3, {});
        f.layerNorm(X(), 3, { weight: undefined, bias: undefined, eps: undefined, out: undefined });
        f.layerNorm(X(), 3, any({ weight: null, bias: null }));
      }],
    ],
    invalid: [
    ['x is not a tensor (null)', (f) => f.layerNorm(any(null), 3), TypeError, /^x\b/],
    ['half x: a Uint16Array without dtype', (f) => f.layerNorm(any({ data: new Uint16Array(6), shape: [2, 3] }), 3), TypeError, /^x\.dtype\b/],
    ['half x: out.y a Float32Array', (f) => f.layerNorm(H(), 3, { out: any({ y: f32(6) }) }), TypeError, /^out\.y must be a Uint16Array/],
    ['half x: out.rstd a Uint16Array', (f) => f.layerNorm(H(), 3, { out: any({ rstd: new Uint16Array(2) }) }), TypeError, /^out\.rstd must be a Float32Array/],
    ['half x: a Float64Array weight', (f) => f.layerNorm(H(), 3, { weight: any(new Float64Array(3)) }), TypeError, /^weight must be a Float32Array/],
    ['half x: half weight, float32 bias', (f) => f.layerNorm(H(), 3, { weight: HW(), bias: f32(3) }), TypeError, /^bias must be a Uint16Array/],
    ['activation is unknown', (f) => f.layerNorm(X(), 3, { activation: any('bogus') }), TypeError, /^activation must be one of 'relu', 'silu', 'gelu', 'gelu-tanh'/],
    ['activation is not a string', (f) => f.layerNorm(X(), 3, { activation: any(5) }), TypeError, /^activation must be one of/],
    ['activation is the string none', (f) => f.layerNorm(X(), 3, { activation: any('none') }), TypeError, /^activation must be one of/],
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
    ...weightOffsetCases('layerNorm', (f, o) => f.layerNorm(X(), 3, o)),
    ],
  },
  layerNormBackward: {
    outKeys: ['dx', 'dweight', 'dbias'],
    args: (i) => {
      const r = rowInputs(i);
      const { mean, rstd } = savedStats(i.dtype, r.rows, () => reference.layerNorm(r.x, r.normalizedShape));
      return [r.dy, r.x, { mean, rstd }, r.normalizedShape, { weight: r.weight, bias: r.bias, weightOffset: r.weightOffset,
        activation: i.flags.activation, grads: r.bias ? { bias: true } : undefined }];
    },
    valid: [
      ['empty grads', (f) => { f.layerNormBackward(DY(), X(), SAVED(), 3, { grads: {} }); }],
    ],
    invalid: [
    ['dy is not a tensor', (f) => f.layerNormBackward(any(null), X(), SAVED(), 3), TypeError, /^dy\b/],
    ['half x with float32 dy', (f) => f.layerNormBackward(any(DY()), H(), SAVED(), 3), TypeError, /^dy\.data must be a Uint16Array/],
    ['half dy and x of different formats', (f) => f.layerNormBackward(H('float16'), H(), SAVED(), 3), TypeError, /^dy\.dtype/],
    ['half x: float64 saved statistics', (f) => f.layerNormBackward(H(), H(), any({ mean: new Float64Array(2), rstd: new Float64Array(2) }), 3),
      TypeError, /^saved\.mean must be a Float32Array/],
    ['half x: out.dweight of the other parameter dtype', (f) => f.layerNormBackward(H(), H(), SAVED(), 3, { weight: HW(), out: any({ dweight: f32(3) }) }),
      TypeError, /^out\.dweight must be a Uint16Array/],
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
    ['unknown option (eps)', (f) => f.layerNormBackward(DY(), X(), SAVED(), 3, any({ eps: 1e-5 })), TypeError, /eps/],
    ['activation is unknown', (f) => f.layerNormBackward(DY(), X(), SAVED(), 3, { activation: any('tanh') }), TypeError,
      /^activation must be one of 'relu', 'silu', 'gelu', 'gelu-tanh', got/],
    ['activation is the string none', (f) => f.layerNormBackward(DY(), X(), SAVED(), 3, { activation: any('none') }), TypeError, /^activation must be one of/],
    ['bias has the wrong length', (f) => f.layerNormBackward(DY(), X(), SAVED(), 3, { bias: f32(2), activation: 'silu' }), RangeError, /^bias\b/],
    ['bias is float64 for float32 x', (f) => f.layerNormBackward(DY(), X(), SAVED(), 3, { bias: any(new Float64Array(3)), activation: 'relu' }), TypeError, /^bias\b/],
    ['out.dx overlaps bias', (f) => {
      const dx = f32(6);
      return f.layerNormBackward(DY(), X(), SAVED(), 3, { bias: dx.subarray(0, 3), activation: 'gelu', out: { dx } });
    }, RangeError, /^out\.dx\b.*\bbias\b/],
    ['dy.data is detached', (f) => f.layerNormBackward({ data: detached(f32(6)), shape: [2, 3] }, X(), SAVED(), 3), TypeError, /^dy\.data\b.*detached/],
    ['saved.rstd is detached', (f) => f.layerNormBackward(DY(), X(), { mean: SAVED().mean, rstd: detached(f32(2)) }, 3), TypeError, /^saved\.rstd\b.*detached/],
    ...weightOffsetCases('layerNormBackward', (f, o) => f.layerNormBackward(DY(), X(), SAVED(), 3, o)),
    ],
  },
  rmsNorm: {
    outKeys: ['y', 'rstd'],
    args: (i) => {
      const r = rowInputs(i);
      return [r.x, r.normalizedShape, { weight: r.weight, eps: 1e-6, weightOffset: r.weightOffset }];
    },
    valid: [
      ['in-place out.y = x.data', (f) => {
        const x = X();
        expect(f.rmsNorm(x, [3], { out: { y: x.data } }).y.data).toBe(x.data);
      }],
    ],
    invalid: [
    ['x.data is an Array', (f) => f.rmsNorm(any({ data: [1, 2, 3], shape: [3] }), 3), TypeError, /^x\.data\b/],
    ['half x: out.y of the wrong length', (f) => f.rmsNorm(H(), 3, { out: { y: new Uint16Array(5) } }), RangeError, /^out\.y\b/],
    ['normalizedShape mismatch', (f) => f.rmsNorm(X(), [2, 3, 1]), RangeError, /^normalizedShape\b/],
    ['bias is not an option of rmsNorm', (f) => f.rmsNorm(X(), 3, any({ bias: f32(3) })), TypeError, /bias/],
    ['weight has the wrong length', (f) => f.rmsNorm(X(), 3, { weight: f32(6) }), RangeError, /^weight\b/],
    ['eps is negative', (f) => f.rmsNorm(X(), 3, { eps: -1 }), RangeError, /^eps\b/],
    ['out.mean is not an output of rmsNorm', (f) => f.rmsNorm(X(), 3, { out: any({ mean: f32(2) }) }), TypeError, /^out\.mean\b/],
    ['out.rstd overlaps x', (f) => {
      const x = X();
      return f.rmsNorm(x, 3, { out: { rstd: x.data.subarray(0, 2) } });
    }, RangeError, /^out\.rstd\b.*\bx\b/],
    ...weightOffsetCases('rmsNorm', (f, o) => f.rmsNorm(X(), 3, o)),
    ],
  },
  rmsNormBackward: {
    outKeys: ['dx', 'dweight'],
    args: (i) => {
      const r = rowInputs(i);
      const { rstd } = savedStats(i.dtype, r.rows, () => reference.rmsNorm(r.x, r.normalizedShape));
      return [r.dy, r.x, { rstd }, r.normalizedShape, { weight: r.weight, weightOffset: r.weightOffset }];
    },
    valid: [
      ['grads.weight without weight', (f) => { f.rmsNormBackward(DY(), X(), { rstd: SAVED().rstd }, 3, { grads: { weight: true } }); }],
    ],
    invalid: [
    ['grads.bias (rmsNorm has no bias)', (f) => f.rmsNormBackward(DY(), X(), { rstd: SAVED().rstd }, 3, { grads: any({ bias: true }) }), TypeError, /^grads\.bias\b/],
    ['out.dbias (rmsNorm has no bias)', (f) => f.rmsNormBackward(DY(), X(), { rstd: SAVED().rstd }, 3, { weight: W(), out: any({ dbias: f32(3) }) }), TypeError, /^out\.dbias\b/],
    ['saved.rstd is missing', (f) => f.rmsNormBackward(DY(), X(), any({}), 3), TypeError, /^saved\.rstd\b/],
    ['saved.rstd has the wrong length', (f) => f.rmsNormBackward(DY(), X(), { rstd: f32(6) }, 3), RangeError, /^saved\.rstd\b/],
    ['dy.shape differs from x.shape', (f) => f.rmsNormBackward({ data: f32(6), shape: [6] }, X(), { rstd: SAVED().rstd }, 3), RangeError, /^dy\.shape\b/],
    ['out.dweight given while grads.weight is false', (f) => f.rmsNormBackward(DY(), X(), { rstd: SAVED().rstd }, 3,
      { weight: W(), grads: { weight: false }, out: { dweight: f32(3) } }), RangeError, /^out\.dweight\b/],
    ...weightOffsetCases('rmsNormBackward', (f, o) => f.rmsNormBackward(DY(), X(), { rstd: SAVED().rstd }, 3, o)),
    ],
  },
  addLayerNorm: {
    outKeys: ['y', 'sum', 'mean', 'rstd'],
    args: (i) => {
      const r = addNormInputs(i);
      return [r.x, r.residual, r.normalizedShape, { weight: r.weight, bias: r.bias, residualBias: r.residualBias, eps: 1e-5,
        weightOffset: r.weightOffset }];
    },
    valid: [
      ['in place: out.sum = residual.data and out.y = x.data together (the stream updated in place)', (f) => {
        const expected = f.addLayerNorm(X(), R(), 3, { weight: W() });
        const x = X();
        const residual = R();
        const r = f.addLayerNorm(x, residual, 3, { weight: W(), out: { y: x.data, sum: residual.data } });
        expect(r.sum.data).toBe(residual.data);
        expect(r.y.data).toBe(x.data);
        expect(Array.from(residual.data)).toEqual(Array.from(expected.sum.data));
        expect(Array.from(x.data)).toEqual(Array.from(expected.y.data));
      }],
      ['x and residual the same tensor (2·x)', (f) => {
        const x = X();
        expect(Array.from(f.addLayerNorm(x, x, 3).sum.data)).toEqual(Array.from(x.data, (v) => 2 * v));
      }],
    ],
    invalid: [
    ['residual is not a tensor', (f) => f.addLayerNorm(X(), any(null), 3), TypeError, /^residual\b/],
    ['half x with a float32 residual', (f) => f.addLayerNorm(any(H()), X(), 3), TypeError, /^residual\.data must be a Uint16Array/],
    ['residual.shape differs from x.shape', (f) => f.addLayerNorm(X(), { data: f32(6), shape: [3, 2] }, 3), RangeError, /^residual\.shape\b.*x\.shape/],
    ['residual has more rows', (f) => f.addLayerNorm(X(), { data: f32(9), shape: [3, 3] }, 3), RangeError, /^residual\.shape\b/],
    ['residual is float64 for float32 x', (f) => f.addLayerNorm(X(), any({ data: new Float64Array(6), shape: [2, 3] }), 3), TypeError, /^residual\.data\b/],
    ['residual.data is detached', (f) => f.addLayerNorm(X(), { data: detached(f32(6)), shape: [2, 3] }, 3), TypeError, /^residual\.data\b.*detached/],
    ['residualBias has the wrong length', (f) => f.addLayerNorm(X(), R(), 3, { residualBias: f32(6) }), RangeError, /^residualBias\b/],
    ['out.sum is x.data (only residual may be overwritten)', (f) => {
      const x = X();
      return f.addLayerNorm(x, R(), 3, { out: { sum: x.data } });
    }, RangeError, /^out\.sum\b.*\bx\b/],
    ['out.y is residual.data (only x may be overwritten)', (f) => {
      const residual = R();
      return f.addLayerNorm(X(), residual, 3, { out: { y: residual.data } });
    }, RangeError, /^out\.y\b.*\bresidual\b/],
    ['out.y and out.sum are the same array', (f) => {
      const o = f32(6);
      return f.addLayerNorm(X(), R(), 3, { out: { y: o, sum: o } });
    }, RangeError, /out\.y.*out\.sum/],
    ['out.sum overlaps residual partially', (f) => {
      const buf = f32(7);
      return f.addLayerNorm(X(), { data: buf.subarray(0, 6), shape: [2, 3] }, 3, { out: { sum: buf.subarray(1, 7) } });
    }, RangeError, /^out\.sum\b.*\bresidual\b/],
    ['out.sum has the wrong length', (f) => f.addLayerNorm(X(), R(), 3, { out: { sum: f32(5) } }), RangeError, /^out\.sum\b/],
    ['unknown option (dSum)', (f) => f.addLayerNorm(X(), R(), 3, any({ dSum: R() })), TypeError, /dSum/],
    ...weightOffsetCases('addLayerNorm', (f, o) => f.addLayerNorm(X(), R(), 3, o)),
    ],
  },
  addLayerNormBackward: {
    outKeys: ['dx', 'dweight', 'dbias', 'dresidualBias'],
    args: (i) => {
      const r = addNormInputs(i);
      const { sum, mean, rstd } = addNormSaved(i.dtype, r.rows, () => reference.addLayerNorm(r.x, r.residual, r.normalizedShape,
        { residualBias: r.residualBias }), r.x);
      return [r.dy, sum, { mean, rstd }, r.normalizedShape, { weight: r.weight, weightOffset: r.weightOffset, dSum: r.dSum,
        grads: r.residualBias ? { residualBias: true } : undefined }];
    },
    valid: [
      ['out.dx = dSum.data (the stream gradient accumulated in place)', (f) => {
        const dSum = R();
        const expected = f.addLayerNormBackward(DY(), X(), SAVED(), 3, { dSum: R() }).dx.data;
        const r = f.addLayerNormBackward(DY(), X(), SAVED(), 3, { dSum, out: { dx: dSum.data } });
        expect(r.dx.data).toBe(dSum.data);
        expect(Array.from(dSum.data)).toEqual(Array.from(expected));
      }],
      ['grads.residualBias alone', (f) => {
        const r = f.addLayerNormBackward(DY(), X(), SAVED(), 3, { grads: { residualBias: true } });
        expect(Object.keys(r).sort()).toEqual(['dresidualBias', 'dx']);
      }],
    ],
    invalid: [
    ['sum is not a tensor', (f) => f.addLayerNormBackward(DY(), any(null), SAVED(), 3), TypeError, /^sum\b/],
    ['dy.shape differs from sum.shape', (f) => f.addLayerNormBackward({ data: f32(6), shape: [3, 2] }, X(), SAVED(), 3), RangeError, /^dy\.shape\b.*sum\.shape/],
    ['dSum.shape differs from sum.shape', (f) => f.addLayerNormBackward(DY(), X(), SAVED(), 3, { dSum: { data: f32(6), shape: [6] } }), RangeError, /^dSum\.shape\b/],
    ['dSum is float64', (f) => f.addLayerNormBackward(DY(), X(), SAVED(), 3, { dSum: any({ data: new Float64Array(6), shape: [2, 3] }) }), TypeError, /^dSum\.data\b/],
    ['dSum is a bare array', (f) => f.addLayerNormBackward(DY(), X(), SAVED(), 3, { dSum: any(f32(6)) }), TypeError, /^dSum\b/],
    ['grads.residualBias is not a boolean', (f) => f.addLayerNormBackward(DY(), X(), SAVED(), 3, { grads: any({ residualBias: 1 }) }), TypeError, /^grads\.residualBias\b/],
    ['out.dresidualBias without grads.residualBias', (f) => f.addLayerNormBackward(DY(), X(), SAVED(), 3, { out: { dresidualBias: f32(3) } }), RangeError, /^out\.dresidualBias\b/],
    ['out.dx is dy.data', (f) => {
      const dy = DY();
      return f.addLayerNormBackward(dy, X(), SAVED(), 3, { out: { dx: dy.data } });
    }, RangeError, /^out\.dx\b.*\bdy\b/],
    ['out.dx is sum.data', (f) => {
      const sum = X();
      return f.addLayerNormBackward(DY(), sum, SAVED(), 3, { dSum: R(), out: { dx: sum.data } });
    }, RangeError, /^out\.dx\b.*\bsum\b/],
    ['out.dresidualBias overlaps out.dbias', (f) => {
      const g = f32(4);
      return f.addLayerNormBackward(DY(), X(), SAVED(), 3, { grads: { bias: true, residualBias: true },
        out: { dbias: g.subarray(0, 3), dresidualBias: g.subarray(1, 4) } });
    }, RangeError, /out\.dbias.*out\.dresidualBias|out\.dresidualBias.*out\.dbias/],
    ['saved.mean is missing', (f) => f.addLayerNormBackward(DY(), X(), any({ rstd: SAVED().rstd }), 3), TypeError, /^saved\.mean\b/],
    ...weightOffsetCases('addLayerNormBackward', (f, o) => f.addLayerNormBackward(DY(), X(), SAVED(), 3, o)),
    ],
  },
  addRmsNorm: {
    outKeys: ['y', 'sum', 'rstd'],
    args: (i) => {
      const r = addNormInputs(i);
      return [r.x, r.residual, r.normalizedShape, { weight: r.weight, residualBias: r.residualBias, eps: 1e-6, weightOffset: r.weightOffset }];
    },
    valid: [
      ['in place: out.sum = residual.data, out.y = x.data', (f) => {
        const expected = f.addRmsNorm(X(), R(), 3, { weight: W(), weightOffset: 1 });
        const x = X();
        const residual = R();
        f.addRmsNorm(x, residual, 3, { weight: W(), weightOffset: 1, out: { y: x.data, sum: residual.data } });
        expect(Array.from(residual.data)).toEqual(Array.from(expected.sum.data));
        expect(Array.from(x.data)).toEqual(Array.from(expected.y.data));
      }],
    ],
    invalid: [
    ['residual.shape differs from x.shape', (f) => f.addRmsNorm(X(), { data: f32(6), shape: [6] }, 3), RangeError, /^residual\.shape\b/],
    ['bias is not an option of addRmsNorm', (f) => f.addRmsNorm(X(), R(), 3, any({ bias: f32(3) })), TypeError, /bias/],
    ['out.mean is not an output of addRmsNorm', (f) => f.addRmsNorm(X(), R(), 3, { out: any({ mean: f32(2) }) }), TypeError, /^out\.mean\b/],
    ['out.sum is x.data', (f) => {
      const x = X();
      return f.addRmsNorm(x, R(), 3, { out: { sum: x.data } });
    }, RangeError, /^out\.sum\b.*\bx\b/],
    ['out.rstd overlaps out.sum', (f) => {
      const o = f32(6);
      return f.addRmsNorm(X(), R(), 3, { out: { sum: o, rstd: o.subarray(0, 2) } });
    }, RangeError, /out\.sum.*out\.rstd|out\.rstd.*out\.sum/],
    ...weightOffsetCases('addRmsNorm', (f, o) => f.addRmsNorm(X(), R(), 3, o)),
    ],
  },
  addRmsNormBackward: {
    outKeys: ['dx', 'dweight', 'dresidualBias'],
    args: (i) => {
      const r = addNormInputs(i);
      const { sum, rstd } = addNormSaved(i.dtype, r.rows, () => reference.addRmsNorm(r.x, r.residual, r.normalizedShape,
        { residualBias: r.residualBias }), r.x);
      return [r.dy, sum, { rstd }, r.normalizedShape, { weight: r.weight, weightOffset: r.weightOffset, dSum: r.dSum,
        grads: r.residualBias ? { residualBias: true } : undefined }];
    },
    valid: [
      ['dSum absent: dx of the norm alone', (f) => {
        const a = f.addRmsNormBackward(DY(), X(), { rstd: SAVED().rstd }, 3, { weight: W() });
        const b = f.rmsNormBackward(DY(), X(), { rstd: SAVED().rstd }, 3, { weight: W() });
        expect(Array.from(a.dx.data)).toEqual(Array.from(b.dx.data));
      }],
    ],
    invalid: [
    ['grads.bias (rmsNorm has no bias)', (f) => f.addRmsNormBackward(DY(), X(), { rstd: SAVED().rstd }, 3, { grads: any({ bias: true }) }), TypeError, /^grads\.bias\b/],
    ['out.dbias (rmsNorm has no bias)', (f) => f.addRmsNormBackward(DY(), X(), { rstd: SAVED().rstd }, 3, { out: any({ dbias: f32(3) }) }), TypeError, /^out\.dbias\b/],
    ['dSum.shape differs from sum.shape', (f) => f.addRmsNormBackward(DY(), X(), { rstd: SAVED().rstd }, 3, { dSum: { data: f32(6), shape: [1, 6] } }), RangeError, /^dSum\.shape\b/],
    ['saved.rstd has the wrong length', (f) => f.addRmsNormBackward(DY(), X(), { rstd: f32(3) }, 3), RangeError, /^saved\.rstd\b/],
    ['out.dx overlaps dSum partially', (f) => {
      const buf = f32(7);
      return f.addRmsNormBackward(DY(), X(), { rstd: SAVED().rstd }, 3, { dSum: { data: buf.subarray(0, 6), shape: [2, 3] },
        out: { dx: buf.subarray(1, 7) } });
    }, RangeError, /^out\.dx\b.*\bdSum\b/],
    ...weightOffsetCases('addRmsNormBackward', (f, o) => f.addRmsNormBackward(DY(), X(), { rstd: SAVED().rstd }, 3, o)),
    ],
  },
} satisfies Record<string, OpCase>;

/** An add-norm backward's saved forward: its sum and statistics (of the right lengths where the forward is invalid). */
function addNormSaved(dtype: DType, rows: number, forward: () => { sum: Tensor; mean?: FloatArray; rstd: FloatArray }, x: Tensor) {
  let sum: Tensor = { data: new CTORS[dtype](x.data.length), shape: x.shape.slice() };
  const stats = savedStats(dtype, rows, () => {
    const r = forward();
    sum = r.sum;
    return r;
  });
  return { sum, ...stats };
}
