// A kernel call from a planner: its arguments checked and completed by the kernel's rows
// (kernel-schema.ts), as the native binding checks them, so every backend gets the same valid
// arguments and bad ones get the same TypeError/RangeError on every backend:
//  - every array is a Float32Array/Float64Array of its dtype rule and exactly the length its
//    sizes give (validate.ts's checkArray, messages naming the argument's label);
//  - a required input is there ("required unless <flag>": when the flag is false);
//  - an output left `undefined` is allocated (alloc.ts); an optional one `null` is not computed;
//  - outputs the caller gave share no memory with an input or another output, except the one
//    in-place alias a row allows (out.y = x.data).
// What an argument means (eps, layouts, group counts, training needs two values per channel) is
// the planner's to check before: bind only sees typed arrays and the sizes the planner derived.
import { allocate } from './alloc.js';
import type { ArrayField, DtypeRule, Field, KernelName, KernelSchema, SchemaOf } from './kernel-schema.js';
import type { FloatArray } from './types.js';
import { checkArray, checkNoAliasing, isFloatArray, type FloatArrayConstructor } from './validate.js';

type ArrayOf<D extends DtypeRule> = D extends 'float64' ? Float64Array : FloatArray;
type FieldsOf<S extends KernelSchema> = S['fields'][number];

type ResolvedValue<F extends Field> =
  F extends { role: 'size' | 'number' } ? number
    : F extends { role: 'flag' } ? boolean
    : F extends { role: 'choice'; choices: readonly (infer C)[] } ? C
      : F extends { dtype: infer D extends DtypeRule; presence: 'required' } ? ArrayOf<D>
        : F extends { dtype: infer D extends DtypeRule } ? ArrayOf<D> | null : never;

/** A kernel's arguments as the backends receive them: arrays checked, outputs allocated, absent ones null. */
export type KernelArgs<S extends KernelSchema> = { [F in FieldsOf<S> as F['name']]: ResolvedValue<F> };

/** The arguments of the kernel named K. */
export type ArgsOf<K extends KernelName> = KernelArgs<SchemaOf<K>>;

/**
 * A kernel's arguments as a planner gives them: sizes, numbers and flags it has validated, and
 * arrays as the caller passed them (checked by bind). Every key is required, so a forgotten
 * argument is a type error; an output's `undefined` means "allocate it".
 */
export type PlannedArgs<S extends KernelSchema> = {
  [F in FieldsOf<S> as F['name']]: F extends { role: 'size' | 'number' } ? number : F extends { role: 'flag' } ? boolean
    : F extends { role: 'choice'; choices: readonly (infer C)[] } ? C : unknown;
};

/** A validated call: the kernel to run, its arguments, and what the op returns. */
export interface Plan<S extends KernelSchema = KernelSchema, R = unknown> {
  kernel: S['name'];
  args: KernelArgs<S>;
  result: R;
}

const isArrayField = (f: Field): f is ArrayField => f.role === 'in' || f.role === 'out' || f.role === 'inout';
const REQUIRED_UNLESS = 'required unless ';

/** A wanted output (undefined: allocate) or, when not wanted, null. */
export function wanted(want: boolean, given: unknown): unknown {
  return want ? (given ?? undefined) : null;
}

/** The checked, completed arguments of a call of `schema` (see the file header). */
export function bind<S extends KernelSchema>(schema: S, planned: PlannedArgs<S>): KernelArgs<S> {
  const args = planned as Record<string, unknown>;
  const fields = schema.fields;
  let dtype: FloatArrayConstructor = Float32Array;
  for (const f of fields) {
    const v = args[f.name];
    if (isArrayField(f) && f.dtype === 'data' && isFloatArray(v)) {
      dtype = v.constructor as FloatArrayConstructor;
      break;
    }
  }
  let given = false; // an output the caller gave: then overlaps are checked
  for (const f of fields) {
    if (f.role === 'choice' && !f.choices.includes(args[f.name] as string))
      throw new TypeError(`${f.name} must be one of ${f.choices.join('|')}`);
    if (!isArrayField(f)) continue;
    const v = args[f.name];
    const ctor = f.dtype === 'float64' ? Float64Array : dtype;
    let length = 1;
    for (const s of f.length) length *= args[s] as number;
    if (v !== undefined && v !== null) {
      args[f.name] = checkArray(f.label, v, ctor, length);
      if (f.role !== 'in') given = true;
    } else if (f.role === 'out' && (f.presence === 'required' || v === undefined)) {
      args[f.name] = allocate(ctor, length);
    } else if (f.presence === 'required') {
      throw new TypeError(`${f.label} is required`);
    } else if (f.presence.startsWith(REQUIRED_UNLESS) && !args[f.presence.slice(REQUIRED_UNLESS.length)]) {
      throw new TypeError(`${f.label} is required when ${f.presence.slice(REQUIRED_UNLESS.length)} is false`);
    } else {
      args[f.name] = null;
    }
  }
  if (given) checkOverlaps(fields, args);
  return args as KernelArgs<S>;
}

/** Outputs the caller gave (not allocated here) against the inputs and each other. */
function checkOverlaps(fields: readonly Field[], args: Record<string, unknown>): void {
  const outputs: Record<string, FloatArray | null> = {};
  const inputs: Record<string, FloatArray | null> = {};
  const inPlace: Array<[string, string]> = [];
  for (const f of fields) {
    if (!isArrayField(f)) continue;
    const a = args[f.name] as FloatArray | null;
    if (f.role === 'in') inputs[f.label] = a;
    else outputs[f.label] = a;
    if (f.alias) inPlace.push([f.label, (fields.find((g) => g.name === f.alias) as ArrayField).label]);
  }
  checkNoAliasing(outputs, inputs, inPlace);
}

/** A plan of a call of `schema`: its arguments bound, and the op's result built from them. */
export function plan<S extends KernelSchema, R>(schema: S, planned: PlannedArgs<S>, result: (args: KernelArgs<S>) => R): Plan<S, R> {
  const args = bind(schema, planned);
  return { kernel: schema.name, args, result: result(args) };
}
