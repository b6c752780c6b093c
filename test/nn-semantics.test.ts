// fastnorm/nn against PyTorch's own modules (test/fixtures/nn/nn-semantics.safetensors, written
// by make_semantics.py with torch.nn): every class with each of its option combinations —
// momentum null (cumulative average), trackRunningStats false (batch statistics in eval),
// affine false, elementwiseAffine false, bias false, RMSNorm eps null, unbatched InstanceNorm —
// over a few training steps and an eval step: y, dx, the parameter gradients and the buffers
// after each step, in both layouts (NHWC inputs are the fixture's NCHW data with the channel axis
// moved last). The initial weights are random, loaded with loadStateDict.
import { describe, expect, it } from 'vitest';
import * as nn from '../src/nn';
import { expectClose } from './helpers';
import {
  asTensor, CHANNEL_MODULES, buildModule, channelAxisOf, loadSemantics, moveAxisLast, moveLastAxisTo, withPrefix, type SemanticsCase,
} from './nn-helpers';

const { cases, tensors, torch } = loadSemantics();

/** Scaled-error tolerances against PyTorch in the case's dtype. */
const TOL = { float64: 1e-11, float32: 3e-6 };

function runCase(c: SemanticsCase, layout: 'NCHW' | 'NHWC'): void {
  const channels = CHANNEL_MODULES.includes(c.module);
  const m = buildModule(c.module, c.args, c.kwargs, { dtype: c.dtype, ...(channels ? { layout } : {}) });
  m.loadStateDict(withPrefix(tensors, `${c.id}/init/`));
  const axis = channelAxisOf(c.module, c.shape.length);
  const toLayout = (t: nn.TypedTensor) => (layout === 'NHWC' ? moveAxisLast(asTensor(t), axis) : asTensor(t));
  const fromLayout = (t: { data: Float32Array | Float64Array; shape: readonly number[] }) =>
    (layout === 'NHWC' ? moveLastAxisTo(t, axis) : t);
  const tol = TOL[c.dtype];
  c.steps.forEach((mode, step) => {
    const at = (k: string) => tensors[`${c.id}/${step}/${k}`];
    const what = (k: string) => `${c.module} ${JSON.stringify(c.kwargs)} ${layout} step ${step} (${mode}) ${k}`;
    m.train(mode === 'train');
    m.zeroGrad();
    const y = m.forward(toLayout(at('x')));
    expectClose(fromLayout(y as never).data, at('y').data as Float64Array, tol, what('y'));
    const dx = m.backward(toLayout(at('dy')));
    expectClose(fromLayout(dx as never).data, at('dx').data as Float64Array, tol, what('dx'));
    for (const [name, p] of m.namedParameters()) {
      expect(p.grad, what(`grad.${name}`)).not.toBeNull();
      expectClose(p.grad!, at(`grad.${name}`).data as Float64Array, tol, what(`grad.${name}`));
    }
    const expectedBuffers = Object.keys(withPrefix(tensors, `${c.id}/${step}/`)).filter((k) => !/^(x|dy|y|dx|grad\..*)$/.test(k));
    const buffers = Object.fromEntries(m.namedBuffers());
    expect(Object.keys(buffers).sort(), what('buffers')).toEqual(expectedBuffers.sort());
    for (const [name, b] of Object.entries(buffers)) {
      if (name === 'num_batches_tracked') expect(b.data[0], what(name)).toBe((at(name).data as BigInt64Array)[0]);
      else expectClose(b.data as Float64Array, at(name).data as Float64Array, tol, what(name));
    }
  });
}

describe(`fastnorm/nn reproduces torch.nn (fixture from PyTorch ${torch})`, () => {
  it('the fixture covers every class, both dtypes and each named option', () => {
    const modules = new Set(cases.map((c) => c.module));
    expect([...modules].sort()).toEqual([...CHANNEL_MODULES, 'LayerNorm', 'RMSNorm'].sort());
    const seen = (pred: (c: SemanticsCase) => boolean) => cases.some(pred);
    expect(seen((c) => c.kwargs.momentum === null)).toBe(true);
    expect(seen((c) => c.module.startsWith('BatchNorm') && c.kwargs.track_running_stats === false)).toBe(true);
    expect(seen((c) => c.kwargs.affine === false)).toBe(true);
    expect(seen((c) => c.kwargs.elementwise_affine === false)).toBe(true);
    expect(seen((c) => c.kwargs.bias === false)).toBe(true);
    expect(seen((c) => c.module === 'RMSNorm' && !('eps' in c.kwargs))).toBe(true);
    expect(seen((c) => c.module.startsWith('InstanceNorm') && c.shape.length === Number(c.module.at(-2)) + 1)).toBe(true);
    expect(seen((c) => c.dtype === 'float32')).toBe(true);
  });

  for (const c of cases) {
    const layouts = CHANNEL_MODULES.includes(c.module) ? (['NCHW', 'NHWC'] as const) : (['NCHW'] as const);
    for (const layout of layouts) {
      const label = `${c.module}(${c.args.map((a) => JSON.stringify(a)).join(', ')}${Object.keys(c.kwargs).length ? `, ${JSON.stringify(c.kwargs)}` : ''}) ` +
        `x [${c.shape.join(', ')}] ${c.dtype}${layouts.length > 1 ? ` ${layout}` : ''}: ${c.steps.join(', ')}`;
      it(label, () => runCase(c, layout));
    }
  }
});
