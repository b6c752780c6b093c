// fastnorm/nn under garbage: random constructor arguments, inputs (shapes, dtypes, strange
// values, detached buffers), backward arguments and state dicts, sync and promise. Every call
// either works — and then its result has the input's shape and dtype — or throws (rejects) a
// TypeError, a RangeError or, for a misuse of the module's state, an Error saying what to do;
// never anything else, and a failed call leaves the module usable.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as nn from '../src/nn';
import { buildModule, type ModuleName } from './nn-helpers';

const SEED = 20240612;
const MODULES: ModuleName[] = ['BatchNorm1d', 'BatchNorm2d', 'BatchNorm3d', 'InstanceNorm1d', 'InstanceNorm2d', 'InstanceNorm3d',
  'GroupNorm', 'LayerNorm', 'RMSNorm'];

const strange = fc.oneof(
  fc.anything({ maxDepth: 1 }),
  fc.constantFrom(NaN, Infinity, -1, 0, 0.5, 2 ** 53, -0, null, undefined, 'NHWC', 'float64', true),
  fc.constantFrom(new Float32Array(3), new Float64Array(0), new Int32Array(4), new Uint16Array(2), [2, 3], { data: new Float32Array(1), shape: [1] }),
);

/** The state errors a module may raise on purpose (backward before forward, an overwritten input, ...). */
const STATE_ERROR = /no forward to go back through|wrote y over its input|input changed since|still running/;

function expectCleanError(e: unknown, what: string): void {
  if (e instanceof TypeError || e instanceof RangeError) return;
  if (e instanceof Error && STATE_ERROR.test(e.message)) return;
  expect.fail(`${what} threw ${e instanceof Error ? `${e.constructor.name}: ${e.message}` : String(e)}`);
}

function attempt<T>(f: () => T, what: string): T | undefined {
  try {
    return f();
  } catch (e) {
    expectCleanError(e, what);
    return undefined;
  }
}

function argsFor(name: ModuleName, c: number): unknown[] {
  if (name === 'GroupNorm') return [c > 1 && c % 2 === 0 ? 2 : 1, c];
  return name === 'LayerNorm' || name === 'RMSNorm' ? [c] : [c];
}

const moduleArb = fc.record({
  name: fc.constantFrom(...MODULES),
  c: fc.integer({ min: 1, max: 6 }),
  opts: fc.record({
    dtype: fc.constantFrom('float32', 'float64'), affine: fc.boolean(), trackRunningStats: fc.boolean(),
    momentum: fc.oneof(fc.constant(0.1), fc.constant(null)), layout: fc.constantFrom('NCHW', 'NHWC'),
  }, { requiredKeys: ['dtype'] }),
  spoilConstructor: fc.option(fc.record({ key: fc.constantFrom('eps', 'momentum', 'affine', 'layout', 'dtype', 'numFeatures', 'bias'), value: strange }), { nil: undefined }),
});

const callArb = fc.record({
  rank: fc.integer({ min: 0, max: 6 }),
  dims: fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 6, maxLength: 6 }),
  training: fc.boolean(),
  otherDtype: fc.boolean(),
  spoil: fc.option(fc.oneof(
    fc.record({ kind: fc.constant('x' as const), value: strange }),
    fc.record({ kind: fc.constant('shape' as const), value: strange }),
    fc.record({ kind: fc.constant('dy' as const), value: strange }),
    fc.record({ kind: fc.constant('dyShape' as const), value: strange }),
    fc.record({ kind: fc.constant('out' as const), value: strange }),
    fc.record({ kind: fc.constant('detach' as const) }),
    fc.record({ kind: fc.constant('stateDict' as const), key: fc.constantFrom('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked', 'extra'), value: strange }),
  ), { nil: undefined }),
  async: fc.boolean(),
});

function spec(m: { name: ModuleName; c: number; opts: Record<string, unknown>; spoilConstructor?: { key: string; value: unknown } }) {
  const opts: Record<string, unknown> = { dtype: m.opts.dtype };
  if (m.name.startsWith('BatchNorm') || m.name.startsWith('InstanceNorm')) {
    Object.assign(opts, { affine: m.opts.affine, trackRunningStats: m.opts.trackRunningStats, layout: m.opts.layout });
    if (m.name.startsWith('BatchNorm')) opts.momentum = m.opts.momentum;
  } else if (m.name === 'GroupNorm') Object.assign(opts, { affine: m.opts.affine, layout: m.opts.layout });
  const args = argsFor(m.name, m.c);
  if (m.spoilConstructor) {
    if (m.spoilConstructor.key === 'numFeatures') args[args.length - 1] = m.spoilConstructor.value;
    else opts[m.spoilConstructor.key] = m.spoilConstructor.value;
  }
  return { args, opts };
}

describe('fastnorm/nn: random modules and calls work or fail cleanly', () => {
  it(`seed ${SEED}: constructors, forward/backward (sync and promise), loadStateDict`, async () => {
    await fc.assert(fc.asyncProperty(moduleArb, fc.array(callArb, { minLength: 1, maxLength: 4 }), async (mod, calls) => {
      const { args, opts } = spec(mod);
      let m: nn.NormModule;
      try {
        m = buildModule(mod.name, args, {}, opts);
      } catch (e) {
        expectCleanError(e, `new ${mod.name}`);
        return;
      }
      const Array_ = mod.opts.dtype === 'float64' ? Float64Array : Float32Array;
      const Other = mod.opts.dtype === 'float64' ? Float32Array : Float64Array;
      for (const call of calls) {
        m.train(call.training);
        const shape: unknown[] = call.dims.slice(0, call.rank);
        if (shape.length > 1) shape[1] = mod.c;
        if (mod.name === 'LayerNorm' || mod.name === 'RMSNorm') shape[shape.length - 1] = mod.c;
        const n = (shape as number[]).reduce((p, d) => p * d, 1);
        const data = new (call.otherDtype ? Other : Array_)(n).map((_, i) => Math.sin(i * 1.7) * 3);
        const x: Record<string, unknown> = { data, shape };
        let out: unknown;
        if (call.spoil?.kind === 'x') x.data = call.spoil.value;
        if (call.spoil?.kind === 'shape') x.shape = call.spoil.value;
        if (call.spoil?.kind === 'out') out = call.spoil.value;
        if (call.spoil?.kind === 'stateDict') {
          const sd: Record<string, unknown> = { ...m.stateDict(), [call.spoil.key]: call.spoil.value };
          attempt(() => m.loadStateDict(sd as nn.StateDict, { strict: false }), 'loadStateDict');
        }
        const forward = () => (call.async ? m.forwardAsync(x as never, out === undefined ? undefined : { out } as never)
          : m.forward(x as never, out === undefined ? undefined : { out } as never));
        let y: nn.TypedTensor | { data: Float32Array | Float64Array; shape: readonly number[] } | undefined;
        try {
          y = await forward();
        } catch (e) {
          expectCleanError(e, `${m}.forward(${JSON.stringify(shape)})`);
        }
        if (y) {
          expect(y.shape).toEqual(shape);
          expect(y.data).toBeInstanceOf(Array_);
        }
        if (call.spoil?.kind === 'detach' && data.length > 0) structuredClone(data.buffer, { transfer: [data.buffer as ArrayBuffer] });
        const dy: Record<string, unknown> = { data: new Array_(n).fill(0.5), shape };
        if (call.spoil?.kind === 'dy') dy.data = call.spoil.value;
        if (call.spoil?.kind === 'dyShape') dy.shape = call.spoil.value;
        try {
          const dx = await (call.async ? m.backwardAsync(dy as never) : m.backward(dy as never));
          expect(dx.data).toBeInstanceOf(Array_);
          expect(dx.shape).toEqual(shape);
        } catch (e) {
          expectCleanError(e, `${m}.backward`);
        }
      }
      // still usable: a valid forward works unless the layer refuses this shape by PyTorch's rules
      attempt(() => m.stateDict(), 'stateDict');
    }), { seed: SEED, numRuns: 400 });
  });
});
