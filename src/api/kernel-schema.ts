// Every kernel's arguments, in the order the addon takes them: the TypeScript twin of
// native/kernels/kernel_list.h, row for row (test/op-table.test.ts compares this file with the
// addon's `_kernelSchema()`, so a row changed on one side only fails it). From these rows come
// the kernels' argument types (`KernelArgs`), the checks and output allocation of every kernel
// call (bind.ts), the positional order of the native backend's calls and the reference kernels'
// signatures. kernel_list.h explains the vocabulary (roles, dtype rules, presence, lengths).

/**
 * Which dtype an array has (kernel_list.h): data, param and stats are the call's dtype, except in
 * a half-precision call (a kernel with a `halfFormat` row, halfFormat not 'none'): then data is
 * Uint16Array, stats Float32Array, param all Uint16Array or all Float32Array (weight's, else bias's).
 */
export type DtypeRule = 'data' | 'param' | 'stats' | 'float64';
export type Presence = 'required' | 'optional' | `required unless ${string}`;

export interface ArrayField<N extends string = string> {
  name: N;
  role: 'in' | 'out' | 'inout';
  dtype: DtypeRule;
  presence: Presence;
  /** The sizes whose product is the array's length. */
  length: readonly string[];
  /** The argument's name in messages ("out.y", "saved.mean"). */
  label: string;
  /** An output that may be exactly this input (in place). */
  alias?: string;
}

export interface ScalarField<N extends string = string> {
  name: N;
  role: 'size' | 'number' | 'flag';
  /** A size that must be ≥ 1 and divide this one. */
  divides?: string;
}

/** One of a few strings, passed to the addon as the string (it maps it to its index). */
export interface ChoiceField<N extends string = string, C extends readonly string[] = readonly string[]> {
  name: N;
  role: 'choice';
  choices: C;
}

export type Field = ArrayField | ScalarField | ChoiceField;

export interface KernelSchema<K extends string = string, F extends readonly Field[] = readonly Field[]> {
  name: K;
  fields: F;
}

const lengthOf = (length: string): string[] => (length === '' ? [] : length.split('*'));

export function input<N extends string, D extends DtypeRule, P extends Presence>(name: N, dtype: D, presence: P, length: string, label: string) {
  return { name, role: 'in' as const, dtype, presence, length: lengthOf(length), label };
}

export function output<N extends string, D extends DtypeRule, P extends 'required' | 'optional'>(name: N, dtype: D, presence: P,
  length: string, label: string, alias = '') {
  return { name, role: 'out' as const, dtype, presence, length: lengthOf(length), label, ...(alias ? { alias } : {}) };
}

export function inout<N extends string, D extends DtypeRule, P extends Presence>(name: N, dtype: D, presence: P, length: string, label: string) {
  return { name, role: 'inout' as const, dtype, presence, length: lengthOf(length), label };
}

export function size<N extends string>(name: N, divides = '') {
  return { name, role: 'size' as const, ...(divides ? { divides } : {}) };
}

export function number<N extends string>(name: N) {
  return { name, role: 'number' as const };
}

export function flag<N extends string>(name: N) {
  return { name, role: 'flag' as const };
}

export function choice<N extends string, const C extends readonly string[]>(name: N, choices: C) {
  return { name, role: 'choice' as const, choices };
}

function kernel<const K extends string, const F extends readonly Field[]>(name: K, fields: F): KernelSchema<K, F> {
  return { name, fields };
}

// Argument groups many kernels share (the same in kernel_list.h): a tensor's rows (LayerNorm,
// RMSNorm) or (N, C, S) channel view; a backward's dy and x; the statistics a forward writes and
// its backward reads; the affine parameters; the running statistics; the gradient outputs.
const rows = [size('rows'), size('cols')] as const;
const channels = [size('n'), size('c'), size('s'), flag('channelsLast')] as const;
const dyX = (length: string) => [input('dy', 'data', 'required', length, 'dy'), input('x', 'data', 'required', length, 'x')] as const;
const statsOut = (length: string) =>
  [output('mean', 'stats', 'required', length, 'out.mean'), output('rstd', 'stats', 'required', length, 'out.rstd')] as const;
const saved = (length: string) =>
  [input('mean', 'stats', 'required', length, 'saved.mean'), input('rstd', 'stats', 'required', length, 'saved.rstd')] as const;
const affine = (length: string) =>
  [input('weight', 'param', 'optional', length, 'weight'), input('bias', 'param', 'optional', length, 'bias')] as const;
const running = <D extends DtypeRule, P extends Presence>(dtype: D, presence: P) =>
  [inout('runningMean', dtype, presence, 'c', 'runningMean'), inout('runningVar', dtype, presence, 'c', 'runningVar')] as const;
// The activation a forward applies after its affine (kernel_list.h's FASTNORM_ACTIVATION).
const activation = choice('activation', ['none', 'relu', 'silu', 'gelu', 'gelu-tanh']);
// The storage of a half-precision call's data (kernel_list.h's FASTNORM_HALF_FORMAT): 'none' for float32/float64.
const halfFormat = choice('halfFormat', ['none', 'float16', 'bfloat16']);
const grads = (length: string, paramLength: string) => [output('dx', 'data', 'required', length, 'out.dx'),
  output('dweight', 'param', 'optional', paramLength, 'out.dweight'), output('dbias', 'param', 'optional', paramLength, 'out.dbias')] as const;

// Residual add + norm (kernel_list.h): x and residual in, y (may be x) and sum (may be residual)
// out; the backward reads dy and the forward's sum, adds dSum to dx (out.dx may be dSum).
const addInputs = [input('x', 'data', 'required', 'rows*cols', 'x'), input('residual', 'data', 'required', 'rows*cols', 'residual'), ...rows] as const;
const addOutputs = [output('y', 'data', 'required', 'rows*cols', 'out.y', 'x'), output('sum', 'data', 'required', 'rows*cols', 'out.sum', 'residual')] as const;
const residualBias = input('residualBias', 'param', 'optional', 'cols', 'residualBias');
const addBackwardInputs = [input('dy', 'data', 'required', 'rows*cols', 'dy'), input('sum', 'data', 'required', 'rows*cols', 'sum')] as const;
const addBackwardGrads = [input('weight', 'param', 'optional', 'cols', 'weight'), number('weightOffset'),
  input('dSum', 'data', 'optional', 'rows*cols', 'dSum'), output('dx', 'data', 'required', 'rows*cols', 'out.dx', 'dSum')] as const;

// BatchNorm's and InstanceNorm's forward and backward have the same rows but for the flag that
// says whether the batch's statistics are used (`mode`) and the count of saved statistics.
const runningForward = <M extends string>(mode: M, statsLength: string) => [
  input('x', 'data', 'required', 'n*c*s', 'x'), ...channels, ...affine('c'),
  ...running('param', `required unless ${mode}` as const), number('momentum'), number('eps'), flag(mode), activation,
  output('y', 'data', 'required', 'n*c*s', 'out.y', 'x'), ...statsOut(statsLength),
] as const;
const runningBackward = <M extends string>(mode: M, statsLength: string) => [
  ...dyX('n*c*s'), ...saved(statsLength), ...channels, ...affine('c'), flag(mode), activation,
  ...grads('n*c*s', 'c'),
] as const;

export const KERNELS = {
  layerNormForward: kernel('layerNormForward', [
    input('x', 'data', 'required', 'rows*cols', 'x'), ...rows, ...affine('cols'), number('eps'), number('weightOffset'), activation,
    output('y', 'data', 'required', 'rows*cols', 'out.y', 'x'), ...statsOut('rows'), halfFormat,
  ]),
  layerNormBackward: kernel('layerNormBackward', [
    ...dyX('rows*cols'), ...saved('rows'), ...rows, ...affine('cols'), number('weightOffset'), activation,
    ...grads('rows*cols', 'cols'), halfFormat,
  ]),
  rmsNormForward: kernel('rmsNormForward', [
    input('x', 'data', 'required', 'rows*cols', 'x'), ...rows, input('weight', 'param', 'optional', 'cols', 'weight'), number('eps'),
    number('weightOffset'), output('y', 'data', 'required', 'rows*cols', 'out.y', 'x'), output('rstd', 'stats', 'required', 'rows', 'out.rstd'),
    halfFormat,
  ]),
  rmsNormBackward: kernel('rmsNormBackward', [
    ...dyX('rows*cols'), input('rstd', 'stats', 'required', 'rows', 'saved.rstd'), ...rows,
    input('weight', 'param', 'optional', 'cols', 'weight'), number('weightOffset'),
    output('dx', 'data', 'required', 'rows*cols', 'out.dx'), output('dweight', 'param', 'optional', 'cols', 'out.dweight'),
    halfFormat,
  ]),
  addLayerNormForward: kernel('addLayerNormForward', [
    ...addInputs, ...affine('cols'), residualBias, number('eps'), number('weightOffset'), ...addOutputs, ...statsOut('rows'), halfFormat,
  ]),
  addLayerNormBackward: kernel('addLayerNormBackward', [
    ...addBackwardInputs, ...saved('rows'), ...rows, ...addBackwardGrads,
    output('dweight', 'param', 'optional', 'cols', 'out.dweight'), output('dbias', 'param', 'optional', 'cols', 'out.dbias'),
    output('dresidualBias', 'param', 'optional', 'cols', 'out.dresidualBias'), halfFormat,
  ]),
  addRmsNormForward: kernel('addRmsNormForward', [
    ...addInputs, input('weight', 'param', 'optional', 'cols', 'weight'), residualBias, number('eps'), number('weightOffset'),
    ...addOutputs, output('rstd', 'stats', 'required', 'rows', 'out.rstd'), halfFormat,
  ]),
  addRmsNormBackward: kernel('addRmsNormBackward', [
    ...addBackwardInputs, input('rstd', 'stats', 'required', 'rows', 'saved.rstd'), ...rows, ...addBackwardGrads,
    output('dweight', 'param', 'optional', 'cols', 'out.dweight'), output('dresidualBias', 'param', 'optional', 'cols', 'out.dresidualBias'),
    halfFormat,
  ]),
  batchNormForward: kernel('batchNormForward', [...runningForward('training', 'c'), halfFormat]),
  batchNormBackward: kernel('batchNormBackward', [...runningBackward('training', 'c'), halfFormat]),
  batchNormStats: kernel('batchNormStats', [
    input('x', 'data', 'required', 'n*c*s', 'x'), ...channels,
    output('mean', 'float64', 'required', 'c', 'out.mean'), output('m2', 'float64', 'required', 'c', 'out.m2'), halfFormat,
  ]),
  batchNormGatherStats: kernel('batchNormGatherStats', [
    input('counts', 'float64', 'required', 'parts', 'parts[].count'),
    input('means', 'float64', 'required', 'parts*c', 'parts[].mean'), input('m2s', 'float64', 'required', 'parts*c', 'parts[].m2'),
    size('parts'), size('c'), number('eps'), number('momentum'), ...running('data', 'optional'),
    output('mean', 'data', 'required', 'c', 'mean'), output('rstd', 'data', 'required', 'c', 'rstd'),
  ]),
  batchNormElemt: kernel('batchNormElemt', [
    input('x', 'data', 'required', 'n*c*s', 'x'), ...channels,
    input('mean', 'stats', 'required', 'c', 'stats.mean'), input('rstd', 'stats', 'required', 'c', 'stats.rstd'),
    ...affine('c'), output('y', 'data', 'required', 'n*c*s', 'out.y', 'x'), halfFormat,
  ]),
  batchNormBackwardReduce: kernel('batchNormBackwardReduce', [
    ...dyX('n*c*s'), input('mean', 'stats', 'required', 'c', 'saved.mean'), ...channels,
    output('sumDy', 'float64', 'required', 'c', 'out.sumDy'), output('sumDyXmu', 'float64', 'required', 'c', 'out.sumDyXmu'), halfFormat,
  ]),
  batchNormBackwardElemt: kernel('batchNormBackwardElemt', [
    ...dyX('n*c*s'), ...saved('c'), ...channels, input('weight', 'param', 'optional', 'c', 'weight'),
    input('sumDy', 'float64', 'required', 'c', 'sums.sumDy'), input('sumDyXmu', 'float64', 'required', 'c', 'sums.sumDyXmu'),
    number('count'), ...grads('n*c*s', 'c'), halfFormat,
  ]),
  groupNormForward: kernel('groupNormForward', [
    input('x', 'data', 'required', 'n*c*s', 'x'), ...channels, size('groups', 'c'), ...affine('c'), number('eps'), activation,
    output('y', 'data', 'required', 'n*c*s', 'out.y', 'x'), ...statsOut('n*groups'), halfFormat,
  ]),
  groupNormBackward: kernel('groupNormBackward', [
    ...dyX('n*c*s'), ...saved('n*groups'), ...channels, size('groups', 'c'), ...affine('c'), activation,
    ...grads('n*c*s', 'c'), halfFormat,
  ]),
  instanceNormForward: kernel('instanceNormForward', [...runningForward('useInputStats', 'n*c'), halfFormat]),
  instanceNormBackward: kernel('instanceNormBackward', [...runningBackward('useInputStats', 'n*c'), halfFormat]),
};

export type KernelName = keyof typeof KERNELS;
export type SchemaOf<K extends KernelName> = (typeof KERNELS)[K];
