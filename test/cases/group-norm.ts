// The GroupNorm/InstanceNorm cases: valid arguments from an OpInput, and malformed calls with
// the error each must throw (test/validation.test.ts runs them on both backends).
import * as reference from '../../src/reference';
import type { OpCase } from '../op-cases';
import { any, channelInputs, detached, f32, groupsOf, savedStats, smallArgs } from './inputs';

// Valid arguments of the malformed calls: x (N, C, S) = (2, 4, 3) float32, 2 groups (mean/rstd: 4 values).
const { X: GX, DY: GDY, SAVED: GSAVED, W: GW } = smallArgs([2, 4, 3], () => ({ mean: f32(4), rstd: f32(4, 1) }), 4);
const ISAVED = () => ({ mean: f32(8), rstd: f32(8, 1) });

export const GROUP_NORM_CASES = {
  groupNorm: {
    outKeys: ['y', 'mean', 'rstd'],
    args: (i) => {
      const c = channelInputs(i);
      return [c.x, groupsOf(c.channels, c.rng), { weight: c.weight, bias: c.bias, eps: 1e-5, layout: c.layout, activation: i.flags.activation }];
    },
    invalid: [
    ['activation is unknown', (f) => f.groupNorm(GX(), 2, { activation: any('bogus') }), TypeError, /^activation must be one of 'relu', 'silu', 'gelu', 'gelu-tanh'/],
    ['activation is not a string', (f) => f.groupNorm(GX(), 2, { activation: any(5) }), TypeError, /^activation must be one of/],
    ['activation is the string none', (f) => f.groupNorm(GX(), 2, { activation: any('none') }), TypeError, /^activation must be one of/],
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
    ],
  },
  groupNormBackward: {
    outKeys: ['dx', 'dweight', 'dbias'],
    args: (i) => {
      const c = channelInputs(i);
      const groups = groupsOf(c.channels, c.rng);
      const { mean, rstd } = savedStats(i.dtype, i.dims[0] * groups, () => reference.groupNorm(c.x, groups, { layout: c.layout }));
      return [c.dy, c.x, { mean, rstd }, groups, { weight: c.weight, bias: c.bias, activation: i.flags.activation, layout: c.layout }];
    },
    invalid: [
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
    ['activation is unknown', (f) => f.groupNormBackward(GDY(), GX(), GSAVED(), 2, { activation: any('bogus') }), TypeError,
      /^activation must be one of 'relu', 'silu', 'gelu', 'gelu-tanh'/],
    ['activation is the string none', (f) => f.groupNormBackward(GDY(), GX(), GSAVED(), 2, { activation: any('none') }), TypeError,
      /^activation must be one of/],
    ['bias has the wrong length', (f) => f.groupNormBackward(GDY(), GX(), GSAVED(), 2, { bias: f32(2), activation: 'silu' }), RangeError, /^bias\b/],
    ['out.dx overlaps bias', (f) => {
      const dx = f32(24);
      return f.groupNormBackward(GDY(), GX(), GSAVED(), 2, { bias: dx.subarray(0, 4), activation: 'gelu', out: { dx } });
    }, RangeError, /^out\.dx\b.*\bbias\b/],
    ],
    valid: [
      ['activation without bias (b = 0)', (f) => { f.groupNormBackward(GDY(), GX(), GSAVED(), 2, { weight: GW(), activation: 'relu' }); }],
    ],
  },
  instanceNorm: {
    outKeys: ['y', 'mean', 'rstd'],
    args: (i) => {
      const c = channelInputs(i);
      return [c.x, { weight: c.weight, bias: c.bias, runningMean: c.runningMean, runningVar: c.runningVar,
        useInputStats: !i.flags.eval, momentum: 0.1, eps: 1e-5, layout: c.layout, activation: i.flags.activation }];
    },
    invalid: [
    ['activation is unknown', (f) => f.instanceNorm(GX(), { activation: any('bogus') }), TypeError, /^activation must be one of 'relu', 'silu', 'gelu', 'gelu-tanh'/],
    ['activation is not a string', (f) => f.instanceNorm(GX(), { activation: any(5) }), TypeError, /^activation must be one of/],
    ['activation is the string none', (f) => f.instanceNorm(GX(), { activation: any('none') }), TypeError, /^activation must be one of/],
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
    ],
  },
  instanceNormBackward: {
    outKeys: ['dx', 'dweight', 'dbias'],
    args: (i) => {
      const c = channelInputs(i);
      const { mean, rstd } = savedStats(i.dtype, i.dims[0] * c.channels, () => reference.instanceNorm(c.x, {
        runningMean: c.runningMean, runningVar: c.runningVar, useInputStats: !i.flags.eval, layout: c.layout }));
      return [c.dy, c.x, { mean, rstd }, { weight: c.weight, bias: c.bias, activation: i.flags.activation, useInputStats: !i.flags.eval,
        layout: c.layout }];
    },
    invalid: [
    ['saved.mean has the wrong length (N*C)', (f) => f.instanceNormBackward(GDY(), GX(), GSAVED()), RangeError, /^saved\.mean must have 8/],
    ['useInputStats is a number', (f) => f.instanceNormBackward(GDY(), GX(), ISAVED(), { useInputStats: any(0) }), TypeError, /^useInputStats\b/],
    ['unknown option (momentum)', (f) => f.instanceNormBackward(GDY(), GX(), ISAVED(), any({ momentum: 0.1 })), TypeError, /momentum/],
    ['weight has the wrong length', (f) => f.instanceNormBackward(GDY(), GX(), ISAVED(), { weight: GW().subarray(0, 3) }), RangeError, /^weight\b/],
    ['activation is unknown', (f) => f.instanceNormBackward(GDY(), GX(), ISAVED(), { activation: any('swish') }), TypeError,
      /^activation must be one of/],
    ['bias is float64 for float32 x', (f) => f.instanceNormBackward(GDY(), GX(), ISAVED(), { bias: any(new Float64Array(4)), activation: 'relu' }),
      TypeError, /^bias\b/],
    ],
  },
} satisfies Record<string, OpCase>;
