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
import { checkArray, isFloatArray, rangesOverlap } from './validate.js';

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

type Binder = (args: Record<string, unknown>) => void;
const binders = new WeakMap<KernelSchema, Binder>();

/** The checked, completed arguments of a call of `schema` (see the file header). */
export function bind<S extends KernelSchema>(schema: S, planned: PlannedArgs<S>): KernelArgs<S> {
  let binder = binders.get(schema);
  if (binder === undefined) binders.set(schema, (binder = compileBinder(schema)));
  binder(planned as Record<string, unknown>);
  return planned as unknown as KernelArgs<S>;
}

// The helpers a compiled binder calls (its only free names).
const HELPERS = { checkArray, allocate, isFloatArray, rangesOverlap, Float32Array, Float64Array, Uint16Array };

/**
 * The checks of a schema's rows compiled into straight-line code, once per kernel: a loop over
 * the rows at call time reads every argument by a computed name (one call site for every
 * kernel's argument object: megamorphic), and that interpretation cost more than a [1, 768]
 * kernel. The code does what the rows say, in their order: the dtype from the first data
 * array, then row by row a choice's check, an array's check (checkArray), its allocation, its
 * `null` or its "is required" error, then each output the caller gave against the inputs and
 * the later outputs (an allocated output overlaps nothing), with the row's in-place alias
 * allowed when the output is exactly that input's view.
 */
export function compileBinder(schema: KernelSchema): Binder {
  const fields = schema.fields;
  const q = JSON.stringify;
  const arg = (name: string) => `a[${q(name)}]`;
  const arrays = fields.filter(isArrayField);
  const index = (f: ArrayField) => arrays.indexOf(f);
  const lines: string[] = [];
  const data = arrays.filter((f) => f.dtype === 'data');
  lines.push('let dtype = Float32Array;');
  data.forEach((f, i) => lines.push(`${i ? 'else ' : ''}if (isFloatArray(${arg(f.name)})) dtype = ${arg(f.name)}.constructor;`));
  // A half-precision kernel (a halfFormat row): with halfFormat float16/bfloat16 the data is
  // Uint16Array, the statistics Float32Array, the parameters weight's type (else bias's; float32).
  const half = fields.find((f) => f.role === 'choice' && f.name === 'halfFormat');
  const ctorOf = (f: ArrayField) => (f.dtype === 'float64' ? 'Float64Array' : !half || f.dtype === 'data' ? 'dtype' : f.dtype);
  const likeOf = (f: ArrayField) => (!half || f.dtype === 'data' || f.dtype === 'float64' ? ''
    : f.dtype === 'stats' ? ` + (half ? ' (the statistics of half-precision data)' : ' like x.data')`
      : ` + (half ? ' (weight, bias and their gradients of half-precision data: all Uint16Array or all Float32Array)' : ' like x.data')`);
  if (half) {
    const params = arrays.filter((f) => f.dtype === 'param' && f.role === 'in').map((f) => arg(f.name));
    const paramTest = params.reduceRight((rest, p) => `(${p} instanceof Uint16Array || (${p} == null && ${rest}))`, 'false');
    lines.push(`let stats = dtype, param = dtype; const half = ${arg('halfFormat')} !== 'none';`,
      `if (half) { dtype = Uint16Array; stats = Float32Array; param = ${paramTest} ? Uint16Array : Float32Array; }`);
  }
  for (const f of fields) {
    if (f.role === 'choice') {
      const test = f.choices.map((c) => `c !== ${q(c)}`).join(' && ');
      lines.push(`{ const c = ${arg(f.name)}; if (${test}) throw new TypeError(${q(`${f.name} must be one of ${f.choices.join('|')}`)}); }`);
    }
    if (!isArrayField(f)) continue;
    const i = index(f);
    const ctor = ctorOf(f);
    const length = f.length.length ? f.length.map((s) => `${arg(s)}`).join(' * ') : '1';
    lines.push(`const v${i} = ${arg(f.name)};`);
    if (f.role !== 'in') lines.push(`const given${i} = v${i} !== undefined && v${i} !== null;`);
    const like = likeOf(f);
    lines.push(`if (v${i} !== undefined && v${i} !== null) checkArray(${q(f.label)}, v${i}, ${ctor}, ${length}${like ? `, ''${like}` : ''});`);
    const alloc = `${arg(f.name)} = allocate(${ctor}, ${length});`;
    if (f.role === 'out' && f.presence === 'required') lines.push(`else ${alloc}`);
    else if (f.role === 'out') lines.push(`else if (v${i} === undefined) ${alloc}`, `else ${arg(f.name)} = null;`);
    else if (f.presence === 'required') lines.push(`else throw new TypeError(${q(`${f.label} is required`)});`);
    else if (f.presence.startsWith(REQUIRED_UNLESS)) {
      const flag = f.presence.slice(REQUIRED_UNLESS.length);
      lines.push(`else if (!${arg(flag)}) throw new TypeError(${q(`${f.label} is required when ${flag} is false`)});`,
        `else ${arg(f.name)} = null;`);
    } else lines.push(`else ${arg(f.name)} = null;`);
  }
  // Each array's buffer is read once, and only when an output was given.
  const outputs = arrays.filter((f) => f.role !== 'in');
  const inputs = arrays.filter((f) => f.role === 'in');
  const anyGiven = outputs.map((f) => `given${index(f)}`).join(' || ');
  if (outputs.length) {
    lines.push(`if (${anyGiven}) {`);
    for (const f of arrays) lines.push(`const a${index(f)} = ${arg(f.name)}, b${index(f)} = a${index(f)} === null ? null : a${index(f)}.buffer;`);
    for (const [k, o] of outputs.entries()) {
      const io = index(o);
      lines.push(`if (given${io}) {`);
      for (const p of [...inputs, ...outputs.slice(k + 1)]) {
        const ip = index(p);
        const inPlace = o.alias === p.name ? ` && !(a${io}.byteOffset === a${ip}.byteOffset && a${io}.length === a${ip}.length)` : '';
        lines.push(`if (b${io} === b${ip} && rangesOverlap(a${io}, a${ip})${inPlace}) ` +
          `throw new RangeError(${q(`${o.label} must not share memory with ${p.label}`)});`);
      }
      lines.push('}');
    }
    lines.push('}');
  }
  const names = Object.keys(HELPERS);
  const make = new Function(...names, `return function bind_${schema.name}(a) {\n${lines.join('\n')}\n};`);
  return make(...names.map((n) => HELPERS[n as keyof typeof HELPERS])) as Binder;
}

/** A plan of a call of `schema`: its arguments bound, and the op's result built from them. */
export function plan<S extends KernelSchema, R>(schema: S, planned: PlannedArgs<S>, result: (args: KernelArgs<S>) => R): Plan<S, R> {
  const args = bind(schema, planned);
  return { kernel: schema.name, args, result: result(args) };
}
