// The base of every fastnorm/nn layer: train/eval mode, parameters and buffers, state dicts,
// and forward/backward over the functional ops — synchronous or as promises, from one
// description of each call (see functional.ts). A layer supplies its forward call (which also
// says how to go back through it) and the list of its state entries; everything else is here.
import type { BackwardResult, Tensor } from '../index.js';
import { checkBoolean, checkOptions, describe, formatShape, sameShape } from './check.js';
import { MODULE_DTYPES, type ModuleArray, type ModuleDType, type TypedTensor } from './dtypes.js';
import { asyncOps, syncOps, type Functional } from './functional.js';
import type { Parameter } from './parameter.js';
import { loadStateEntries, type LoadStateDictOptions, type LoadStateDictResult, type StateDict, type StateEntry } from './state-dict.js';

/** Options of `forward` / `forwardAsync`. */
export interface ForwardOptions {
  /** Where to write y (the input's length and dtype). May be `x.data` itself — then there is no backward. */
  out?: ModuleArray;
}

/** Options of `backward` / `backwardAsync`. */
export interface BackwardOptions {
  /** Where to write dx (the input's length and dtype). */
  out?: ModuleArray;
}

export type GradName = 'weight' | 'bias';

/** What a backward asks of the functional backward call. */
export interface GradRequest {
  grads: Partial<Record<GradName, boolean>>;
  out: { dx?: ModuleArray; dweight?: ModuleArray; dbias?: ModuleArray };
}

/** The backward of one forward: dy (in the shape the forward call saw) → the functional backward call. */
export type BackwardCall = (dy: Tensor, request: GradRequest) => (f: Functional) => BackwardResult;

/** How a forward runs: the functional call, then what it leaves behind once it succeeded. */
export interface ForwardCall<R> {
  run(f: Functional): R;
  /** Commits the module's own state (e.g. num_batches_tracked) and returns y and the way back. */
  done(result: R): { y: ModuleArray; backward: BackwardCall };
}

interface Saved {
  /** The forward's input, its data and shape at the time (to detect a change before backward). */
  x: Tensor;
  data: ModuleArray;
  /** data.length then: a detached buffer reads as length 0. */
  length: number;
  shape: readonly number[];
  /** The shape the functional call saw (an unbatched InstanceNorm input gets a leading 1). */
  callShape: readonly number[];
  inPlace: boolean;
  backward: BackwardCall;
}

const FORWARD_OPTIONS = ['out'] as const;
const ZERO_GRAD_OPTIONS = ['setToNone'] as const;

/**
 * The base class of every fastnorm/nn layer (use it for `instanceof` and types).
 * @example
 * import { NormModule, BatchNorm2d, LayerNorm } from 'fastnorm/nn';
 * const layers: NormModule[] = [new BatchNorm2d(64), new LayerNorm(768)];
 * for (const layer of layers) layer.eval();
 */
export abstract class NormModule {
  /** The dtype of the parameters, buffers, inputs and outputs. */
  readonly dtype: ModuleDType;
  /** The learnable per-element or per-channel scale, or null when the layer has none. */
  readonly weight: Parameter | null;
  /** The learnable shift, or null when the layer has none. */
  readonly bias: Parameter | null;

  #training = true;
  #busy: string | null = null;
  #saved: Saved | null = null;
  #scratch: Partial<Record<GradName, ModuleArray>> = {};

  protected constructor(dtype: ModuleDType, weight: Parameter | null, bias: Parameter | null) {
    this.dtype = dtype;
    this.weight = weight;
    this.bias = bias;
  }

  /** The functional call of one forward on a checked input (`y`: the caller's output buffer). */
  protected abstract forwardCall(x: Tensor, y: ModuleArray | undefined): ForwardCall<unknown>;
  /** Every state-dict entry (parameters, then buffers), in PyTorch's order. */
  protected abstract stateEntries(): StateEntry[];
  /** The gradient names the layer's functional backward knows (RMSNorm has no bias). */
  protected gradNames(): readonly GradName[] {
    return ['weight', 'bias'];
  }
  /** Keys that are an error even when loading non-strictly, with the reason (InstanceNorm's running stats). */
  protected refusedKeys(): Record<string, string> {
    return {};
  }
  /** PyTorch's repr arguments, e.g. `64, eps=1e-05, momentum=0.1`. */
  protected abstract describeArguments(): string;

  /**
   * The class name, e.g. 'BatchNorm2d' (messages start with it).
   * @example
   * new GroupNorm(2, 4).name;   // 'GroupNorm'
   */
  get name(): string {
    return this.constructor.name;
  }

  /**
   * true in training mode (the default), false in eval mode.
   * @example
   * const bn = new BatchNorm2d(64);
   * bn.eval();
   * bn.training;   // false
   */
  get training(): boolean {
    return this.#training;
  }

  /**
   * Sets training mode (`mode` true, the default) or eval mode; returns the module.
   * @example
   * bn.train();        // training: batch statistics, running statistics updated
   * bn.train(false);   // the same as bn.eval()
   */
  train(mode = true): this {
    this.#training = checkBoolean('mode', mode, true);
    return this;
  }

  /**
   * Eval mode: BatchNorm (and InstanceNorm with trackRunningStats) normalize with the running statistics.
   * @example
   * const y = bn.eval().forward(x);
   */
  eval(): this {
    return this.train(false);
  }

  /**
   * y for x (a new tensor, or `opts.out`); remembers what `backward` needs. BatchNorm in training
   * mode also updates its running statistics, as PyTorch does.
   * @example
   * const ln = new LayerNorm(768);
   * const y = ln.forward({ data: new Float32Array(4 * 768), shape: [4, 768] });
   */
  forward(x: Tensor, opts?: ForwardOptions): Tensor {
    this.#checkIdle('forward');
    const { call, out } = this.#prepareForward(x, opts);
    return this.#finishForward(x, call, call.run(syncOps), out);
  }

  /**
   * `forward` on the promise API: the kernel runs on the libuv thread pool. Until the promise
   * settles, the module refuses other calls and `x` must not be written.
   * @example
   * const y = await ln.forwardAsync(x);
   */
  async forwardAsync(x: Tensor, opts?: ForwardOptions): Promise<Tensor> {
    this.#checkIdle('forwardAsync');
    const { call, out } = this.#prepareForward(x, opts);
    const result = await this.#whileBusy('forwardAsync', call.run(asyncOps));
    return this.#finishForward(x, call, result, out);
  }

  /**
   * dx for dy (the gradient of the loss with respect to the last forward's y), and adds the
   * parameter gradients to `weight.grad` / `bias.grad` as autograd does. May be called more than
   * once for one forward (each call accumulates again, like `retain_graph=True`).
   * @example
   * const y = ln.forward(x);
   * const dx = ln.backward({ data: dyData, shape: y.shape });
   * ln.weight.grad;   // Σ dy·x̂ over the rows
   */
  backward(dy: Tensor, opts?: BackwardOptions): Tensor {
    this.#checkIdle('backward');
    const { call, saved } = this.#prepareBackward(dy, opts);
    return this.#finishBackward(call(syncOps), saved);
  }

  /**
   * `backward` on the promise API.
   * @example
   * const dx = await ln.backwardAsync(dy);
   */
  async backwardAsync(dy: Tensor, opts?: BackwardOptions): Promise<Tensor> {
    this.#checkIdle('backwardAsync');
    const { call, saved } = this.#prepareBackward(dy, opts);
    const result = await this.#whileBusy('backwardAsync', call(asyncOps));
    return this.#finishBackward(result, saved);
  }

  /**
   * Clears the parameter gradients: to null (the default, PyTorch ≥ 2.0's `set_to_none=True`) or,
   * with `{ setToNone: false }`, to zeros in the same arrays.
   * @example
   * bn.zeroGrad();
   * bn.zeroGrad({ setToNone: false });   // keep the grad arrays, filled with 0
   */
  zeroGrad(opts?: { setToNone?: boolean }): void {
    this.#checkIdle('zeroGrad');
    const o = checkOptions<{ setToNone: boolean }>('opts', opts, ZERO_GRAD_OPTIONS);
    const setToNone = checkBoolean('opts.setToNone', o.setToNone, true);
    for (const p of this.parameters()) {
      if (setToNone) p.grad = null;
      else p.grad?.fill(0);
    }
  }

  /**
   * The parameters with their state-dict names ('weight', 'bias'), those the layer has.
   * @example
   * for (const [name, p] of ln.namedParameters()) console.log(name, p.shape, p.grad);
   */
  *namedParameters(): IterableIterator<[string, Parameter]> {
    if (this.weight) yield ['weight', this.weight];
    if (this.bias) yield ['bias', this.bias];
  }

  /**
   * The parameters (weight, then bias), those the layer has: what an optimizer steps.
   * @example
   * for (const p of bn.parameters()) for (let i = 0; i < p.data.length; i++) p.data[i] -= lr * p.grad[i];
   */
  *parameters(): IterableIterator<Parameter> {
    for (const [, p] of this.namedParameters()) yield p;
  }

  /**
   * The buffers with their state-dict names: 'running_mean' and 'running_var' (views of the
   * module's arrays) and 'num_batches_tracked' (a one-element BigInt64Array copy).
   * @example
   * for (const [name, t] of bn.namedBuffers()) console.log(name, t.dtype, t.shape);
   */
  *namedBuffers(): IterableIterator<[string, TypedTensor]> {
    for (const e of this.stateEntries()) if (e.kind === 'buffer') yield [e.key, e.read()];
  }

  /**
   * The buffers, as namedBuffers() without the names.
   * @example
   * const [runningMean, runningVar, numBatchesTracked] = [...bn.buffers()];
   */
  *buffers(): IterableIterator<TypedTensor> {
    for (const [, t] of this.namedBuffers()) yield t;
  }

  /**
   * The state dict, keyed as PyTorch keys it ('weight', 'bias', 'running_mean', 'running_var',
   * 'num_batches_tracked'; `prefix` prepended). Parameters and running statistics share memory
   * with the module, as PyTorch's do; `num_batches_tracked` is a copy (a one-element BigInt64Array
   * of shape [], as PyTorch's 0-d int64 tensor).
   * @example
   * saveSafetensors('bn.safetensors', bn.stateDict());
   * const all = { ...ln1.stateDict({ prefix: 'ln1.' }), ...ln2.stateDict({ prefix: 'ln2.' }) };
   */
  stateDict(opts?: { prefix?: string }): StateDict {
    this.#checkIdle('stateDict');
    const o = checkOptions<{ prefix: string }>('opts', opts, ['prefix']);
    const prefix = o.prefix === undefined ? '' : o.prefix;
    if (typeof prefix !== 'string') throw new TypeError(`opts.prefix must be a string, got ${describe(prefix)}`);
    const sd: StateDict = {};
    for (const e of this.stateEntries()) sd[prefix + e.key] = e.read();
    return sd;
  }

  /**
   * Loads a state dict (e.g. from `loadSafetensors`): checks every key, shape and dtype first
   * and throws one error naming each problem; then copies the values into the module's arrays,
   * converting float64/float32/float16/bfloat16 values to the module's dtype. `strict` (default
   * true): missing and unexpected keys are errors too; otherwise they are returned. Only keys
   * starting with `prefix` are the module's.
   * @example
   * bn.loadStateDict(loadSafetensors('model.safetensors'), { prefix: 'encoder.norm1.' });
   * const { missingKeys, unexpectedKeys } = ln.loadStateDict(sd, { strict: false });
   */
  loadStateDict(stateDict: StateDict, opts?: LoadStateDictOptions): LoadStateDictResult {
    this.#checkIdle('loadStateDict');
    return loadStateEntries(this.name, this.stateEntries(), stateDict, opts, this.refusedKeys());
  }

  /**
   * Weight to ones and bias to zeros, PyTorch's initial values (BatchNorm and InstanceNorm also
   * reset their running statistics).
   * @example
   * ln.resetParameters();
   */
  resetParameters(): void {
    this.weight?.data.fill(1);
    this.bias?.data.fill(0);
  }

  /**
   * PyTorch's repr: `BatchNorm2d(64, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)`.
   * @example
   * String(new LayerNorm(768));   // 'LayerNorm((768,), eps=1e-05, elementwise_affine=True)'
   */
  toString(): string {
    return `${this.name}(${this.describeArguments()})`;
  }

  // -------------------------------------------------------------------------------------------

  /** x must be a tensor of the module's dtype (the functional op checks the rest). */
  protected checkInput(x: unknown): Tensor {
    const array = MODULE_DTYPES[this.dtype].array;
    if (typeof x !== 'object' || x === null) throw new TypeError(`x must be a tensor { data, shape }, got ${describe(x)}`);
    const { data, shape } = x as Tensor;
    if (!(data instanceof array))
      throw new TypeError(`x.data must be a ${array.name}: this ${this.name} has dtype ${this.dtype} (got ${describe(data)})`);
    if (!Array.isArray(shape)) throw new TypeError(`x.shape must be an array of non-negative integers, got ${describe(shape)}`);
    return x as Tensor;
  }

  #checkIdle(method: string): void {
    if (this.#busy !== null)
      throw new Error(`${this.name}.${method}: ${this.#busy} is still running on this module; await it first`);
  }

  async #whileBusy<R>(method: string, pending: R): Promise<Awaited<R>> {
    this.#busy = method;
    try {
      return await pending;
    } finally {
      this.#busy = null;
    }
  }

  #checkOut(name: string, out: unknown, length: number): ModuleArray | undefined {
    if (out === undefined) return undefined;
    const array = MODULE_DTYPES[this.dtype].array;
    if (!(out instanceof array)) throw new TypeError(`${name} must be a ${array.name} (this ${this.name} is ${this.dtype}), got ${describe(out)}`);
    if (out.length !== length) throw new RangeError(`${name} must have ${length} elements, got ${out.length}`);
    return out;
  }

  #prepareForward(x: Tensor, opts: ForwardOptions | undefined) {
    const checked = this.checkInput(x);
    const o = checkOptions<ForwardOptions>('opts', opts, FORWARD_OPTIONS);
    const out = this.#checkOut('opts.out', o.out, checked.data.length);
    return { call: this.forwardCall(checked, out), out };
  }

  #finishForward(x: Tensor, call: ForwardCall<unknown>, result: unknown, out: ModuleArray | undefined): Tensor {
    const { y, backward } = call.done(result);
    const inPlace = out !== undefined && out.buffer === x.data.buffer && out.byteOffset === x.data.byteOffset;
    this.#saved = {
      x, data: x.data as ModuleArray, length: x.data.length, shape: x.shape.slice(), callShape: this.callShape(x.shape), inPlace, backward,
    };
    return { data: y, shape: x.shape.slice() };
  }

  /** The shape the functional op sees for an input of `shape` (InstanceNorm adds a batch dim to unbatched input). */
  protected callShape(shape: readonly number[]): readonly number[] {
    return shape;
  }

  #prepareBackward(dy: Tensor, opts: BackwardOptions | undefined) {
    const saved = this.#saved;
    if (saved === null) throw new Error(`${this.name}.backward: there is no forward to go back through (call forward first)`);
    if (saved.inPlace)
      throw new Error(`${this.name}.backward: the last forward wrote y over its input (opts.out was x.data), so x is gone`);
    const { x } = saved;
    if (x.data !== saved.data || x.data.length !== saved.length || !Array.isArray(x.shape) || !sameShape(x.shape, saved.shape))
      throw new Error(`${this.name}.backward: the last forward's input changed since (its data, shape or buffer); run forward again`);
    const array = MODULE_DTYPES[this.dtype].array;
    if (typeof dy !== 'object' || dy === null) throw new TypeError(`dy must be a tensor { data, shape }, got ${describe(dy)}`);
    if (!(dy.data instanceof array)) throw new TypeError(`dy.data must be a ${array.name} like the forward's input, got ${describe(dy.data)}`);
    if (!Array.isArray(dy.shape) || !sameShape(dy.shape, saved.shape))
      throw new RangeError(`dy.shape ${Array.isArray(dy.shape) ? formatShape(dy.shape) : describe(dy.shape)} must equal the shape of the forward's input ${formatShape(saved.shape)}`);
    const o = checkOptions<BackwardOptions>('opts', opts, FORWARD_OPTIONS);
    const request: GradRequest = { grads: {}, out: {} };
    const dx = this.#checkOut('opts.out', o.out, saved.length);
    if (dx) request.out.dx = dx;
    for (const name of this.gradNames()) {
      const p = this[name];
      const wanted = p !== null && p.requiresGrad;
      request.grads[name] = wanted;
      // no gradient yet: the backward writes a new one in place; else into scratch, then added
      if (wanted) request.out[name === 'weight' ? 'dweight' : 'dbias'] = p.grad === null ? this.#newArray(p.data.length) : this.#scratchFor(name, p);
    }
    const call = saved.backward({ data: dy.data, shape: saved.callShape }, request);
    return { call, saved };
  }

  #newArray(length: number): ModuleArray {
    return new MODULE_DTYPES[this.dtype].array(length);
  }

  #scratchFor(name: GradName, p: Parameter): ModuleArray {
    let s = this.#scratch[name];
    if (s === undefined || s.length !== p.data.length) {
      s = this.#newArray(p.data.length);
      this.#scratch[name] = s;
    }
    return s;
  }

  #finishBackward(result: BackwardResult, saved: Saved): Tensor {
    const grads: [Parameter | null, ModuleArray | undefined][] = [[this.weight, result.dweight as ModuleArray | undefined],
      [this.bias, result.dbias as ModuleArray | undefined]];
    for (const [p, g] of grads) if (p && g) accumulateGrad(p, g);
    return { data: result.dx.data, shape: saved.shape.slice() };
  }
}

/** p.grad += g, as autograd accumulates (g is the new gradient array itself when there was none). */
function accumulateGrad(p: Parameter, g: ModuleArray): void {
  if (p.grad === null) {
    p.grad = g;
    return;
  }
  const grad = p.grad;
  for (let i = 0; i < grad.length; i++) grad[i] += g[i];
}
