// Every kernel's arguments, in the order the addon takes them: the TypeScript twin of
// native/kernels/kernel_list.h, row for row (test/op-table.test.ts compares this file with the
// addon's `_kernelSchema()`, so a row changed on one side only fails it). From these rows come
// the kernels' argument types (`KernelArgs`), the checks and output allocation of every kernel
// call (bind.ts), the positional order of the native backend's calls and the reference kernels'
// signatures. kernel_list.h explains the vocabulary (roles, dtype rules, presence, lengths).

/** Which dtype an array has (kernel_list.h): today data, param and stats are all the call's dtype. */
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

export type Field = ArrayField | ScalarField;

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

function kernel<const K extends string, const F extends readonly Field[]>(name: K, fields: F): KernelSchema<K, F> {
  return { name, fields };
}

// Argument groups many kernels share: a tensor's rows (LayerNorm) or (N, C, S) channel view.
const rows = [size('rows'), size('cols')] as const;
const channels = [size('n'), size('c'), size('s'), flag('channelsLast')] as const;

export const KERNELS = {
  layerNormForward: kernel('layerNormForward', [
    input('x', 'data', 'required', 'rows*cols', 'x'), ...rows,
    input('weight', 'param', 'optional', 'cols', 'weight'),
    input('bias', 'param', 'optional', 'cols', 'bias'),
    number('eps'),
    output('y', 'data', 'required', 'rows*cols', 'out.y', 'x'),
    output('mean', 'stats', 'required', 'rows', 'out.mean'),
    output('rstd', 'stats', 'required', 'rows', 'out.rstd'),
  ]),
  layerNormBackward: kernel('layerNormBackward', [
    input('dy', 'data', 'required', 'rows*cols', 'dy'),
    input('x', 'data', 'required', 'rows*cols', 'x'),
    input('mean', 'stats', 'required', 'rows', 'saved.mean'),
    input('rstd', 'stats', 'required', 'rows', 'saved.rstd'), ...rows,
    input('weight', 'param', 'optional', 'cols', 'weight'),
    output('dx', 'data', 'required', 'rows*cols', 'out.dx'),
    output('dweight', 'param', 'optional', 'cols', 'out.dweight'),
    output('dbias', 'param', 'optional', 'cols', 'out.dbias'),
  ]),
  rmsNormForward: kernel('rmsNormForward', [
    input('x', 'data', 'required', 'rows*cols', 'x'), ...rows,
    input('weight', 'param', 'optional', 'cols', 'weight'),
    number('eps'),
    output('y', 'data', 'required', 'rows*cols', 'out.y', 'x'),
    output('rstd', 'stats', 'required', 'rows', 'out.rstd'),
  ]),
  rmsNormBackward: kernel('rmsNormBackward', [
    input('dy', 'data', 'required', 'rows*cols', 'dy'),
    input('x', 'data', 'required', 'rows*cols', 'x'),
    input('rstd', 'stats', 'required', 'rows', 'saved.rstd'), ...rows,
    input('weight', 'param', 'optional', 'cols', 'weight'),
    output('dx', 'data', 'required', 'rows*cols', 'out.dx'),
    output('dweight', 'param', 'optional', 'cols', 'out.dweight'),
  ]),
  batchNormForward: kernel('batchNormForward', [
    input('x', 'data', 'required', 'n*c*s', 'x'), ...channels,
    input('weight', 'param', 'optional', 'c', 'weight'),
    input('bias', 'param', 'optional', 'c', 'bias'),
    inout('runningMean', 'param', 'required unless training', 'c', 'runningMean'),
    inout('runningVar', 'param', 'required unless training', 'c', 'runningVar'),
    number('momentum'), number('eps'), flag('training'),
    output('y', 'data', 'required', 'n*c*s', 'out.y', 'x'),
    output('mean', 'stats', 'required', 'c', 'out.mean'),
    output('rstd', 'stats', 'required', 'c', 'out.rstd'),
  ]),
  batchNormBackward: kernel('batchNormBackward', [
    input('dy', 'data', 'required', 'n*c*s', 'dy'),
    input('x', 'data', 'required', 'n*c*s', 'x'),
    input('mean', 'stats', 'required', 'c', 'saved.mean'),
    input('rstd', 'stats', 'required', 'c', 'saved.rstd'), ...channels,
    input('weight', 'param', 'optional', 'c', 'weight'),
    flag('training'),
    output('dx', 'data', 'required', 'n*c*s', 'out.dx'),
    output('dweight', 'param', 'optional', 'c', 'out.dweight'),
    output('dbias', 'param', 'optional', 'c', 'out.dbias'),
  ]),
  batchNormStats: kernel('batchNormStats', [
    input('x', 'data', 'required', 'n*c*s', 'x'), ...channels,
    output('mean', 'float64', 'required', 'c', 'out.mean'),
    output('m2', 'float64', 'required', 'c', 'out.m2'),
  ]),
  batchNormGatherStats: kernel('batchNormGatherStats', [
    input('counts', 'float64', 'required', 'parts', 'parts[].count'),
    input('means', 'float64', 'required', 'parts*c', 'parts[].mean'),
    input('m2s', 'float64', 'required', 'parts*c', 'parts[].m2'),
    size('parts'), size('c'), number('eps'), number('momentum'),
    inout('runningMean', 'data', 'optional', 'c', 'runningMean'),
    inout('runningVar', 'data', 'optional', 'c', 'runningVar'),
    output('mean', 'data', 'required', 'c', 'mean'),
    output('rstd', 'data', 'required', 'c', 'rstd'),
  ]),
  batchNormElemt: kernel('batchNormElemt', [
    input('x', 'data', 'required', 'n*c*s', 'x'), ...channels,
    input('mean', 'stats', 'required', 'c', 'stats.mean'),
    input('rstd', 'stats', 'required', 'c', 'stats.rstd'),
    input('weight', 'param', 'optional', 'c', 'weight'),
    input('bias', 'param', 'optional', 'c', 'bias'),
    output('y', 'data', 'required', 'n*c*s', 'out.y', 'x'),
  ]),
  batchNormBackwardReduce: kernel('batchNormBackwardReduce', [
    input('dy', 'data', 'required', 'n*c*s', 'dy'),
    input('x', 'data', 'required', 'n*c*s', 'x'),
    input('mean', 'stats', 'required', 'c', 'saved.mean'), ...channels,
    output('sumDy', 'float64', 'required', 'c', 'out.sumDy'),
    output('sumDyXmu', 'float64', 'required', 'c', 'out.sumDyXmu'),
  ]),
  batchNormBackwardElemt: kernel('batchNormBackwardElemt', [
    input('dy', 'data', 'required', 'n*c*s', 'dy'),
    input('x', 'data', 'required', 'n*c*s', 'x'),
    input('mean', 'stats', 'required', 'c', 'saved.mean'),
    input('rstd', 'stats', 'required', 'c', 'saved.rstd'), ...channels,
    input('weight', 'param', 'optional', 'c', 'weight'),
    input('sumDy', 'float64', 'required', 'c', 'sums.sumDy'),
    input('sumDyXmu', 'float64', 'required', 'c', 'sums.sumDyXmu'),
    number('count'),
    output('dx', 'data', 'required', 'n*c*s', 'out.dx'),
    output('dweight', 'param', 'optional', 'c', 'out.dweight'),
    output('dbias', 'param', 'optional', 'c', 'out.dbias'),
  ]),
  groupNormForward: kernel('groupNormForward', [
    input('x', 'data', 'required', 'n*c*s', 'x'), ...channels, size('groups', 'c'),
    input('weight', 'param', 'optional', 'c', 'weight'),
    input('bias', 'param', 'optional', 'c', 'bias'),
    number('eps'),
    output('y', 'data', 'required', 'n*c*s', 'out.y', 'x'),
    output('mean', 'stats', 'required', 'n*groups', 'out.mean'),
    output('rstd', 'stats', 'required', 'n*groups', 'out.rstd'),
  ]),
  groupNormBackward: kernel('groupNormBackward', [
    input('dy', 'data', 'required', 'n*c*s', 'dy'),
    input('x', 'data', 'required', 'n*c*s', 'x'),
    input('mean', 'stats', 'required', 'n*groups', 'saved.mean'),
    input('rstd', 'stats', 'required', 'n*groups', 'saved.rstd'), ...channels, size('groups', 'c'),
    input('weight', 'param', 'optional', 'c', 'weight'),
    output('dx', 'data', 'required', 'n*c*s', 'out.dx'),
    output('dweight', 'param', 'optional', 'c', 'out.dweight'),
    output('dbias', 'param', 'optional', 'c', 'out.dbias'),
  ]),
  instanceNormForward: kernel('instanceNormForward', [
    input('x', 'data', 'required', 'n*c*s', 'x'), ...channels,
    input('weight', 'param', 'optional', 'c', 'weight'),
    input('bias', 'param', 'optional', 'c', 'bias'),
    inout('runningMean', 'param', 'required unless useInputStats', 'c', 'runningMean'),
    inout('runningVar', 'param', 'required unless useInputStats', 'c', 'runningVar'),
    number('momentum'), number('eps'), flag('useInputStats'),
    output('y', 'data', 'required', 'n*c*s', 'out.y', 'x'),
    output('mean', 'stats', 'required', 'n*c', 'out.mean'),
    output('rstd', 'stats', 'required', 'n*c', 'out.rstd'),
  ]),
  instanceNormBackward: kernel('instanceNormBackward', [
    input('dy', 'data', 'required', 'n*c*s', 'dy'),
    input('x', 'data', 'required', 'n*c*s', 'x'),
    input('mean', 'stats', 'required', 'n*c', 'saved.mean'),
    input('rstd', 'stats', 'required', 'n*c', 'saved.rstd'), ...channels,
    input('weight', 'param', 'optional', 'c', 'weight'),
    flag('useInputStats'),
    output('dx', 'data', 'required', 'n*c*s', 'out.dx'),
    output('dweight', 'param', 'optional', 'c', 'out.dweight'),
    output('dbias', 'param', 'optional', 'c', 'out.dbias'),
  ]),
};

export type KernelName = keyof typeof KERNELS;
export type SchemaOf<K extends KernelName> = (typeof KERNELS)[K];
