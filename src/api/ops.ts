// The public operations of a backend, made from the op table's planners: each op validates and
// plans (its planner), then runs the planned kernel synchronously (syncOp) or on the libuv
// thread pool as a Promise (asyncOp). A function made from a generic planner is generic too
// (TypeScript infers higher-order generic functions), so the entry points keep the planners'
// exact signatures.
import type { Plan } from './bind.js';
import { OP_TABLE, type AsyncKernels, type Kernels, type OpName } from './op-table.js';

type RunKernel = (args: unknown) => unknown;

/** The synchronous op of a planner on these kernels. */
export function syncOp<P extends unknown[], R>(plan: (...args: P) => Plan<any, R>, kernels: Kernels): (...args: P) => R {
  const run = kernels as unknown as Record<string, RunKernel>;
  return (...args: P) => {
    const p = plan(...args);
    run[p.kernel](p.args);
    return p.result;
  };
}

/** The Promise op of a planner on these kernels: a validation error becomes a rejection. */
export function asyncOp<P extends unknown[], R>(plan: (...args: P) => Plan<any, R>, kernels: AsyncKernels): (...args: P) => Promise<R> {
  const run = kernels as unknown as Record<string, (args: unknown) => Promise<void>>;
  return async (...args: P) => {
    const p = plan(...args);
    try {
      await run[p.kernel](p.args);
    } catch (e) {
      // a kernel failure (out of scratch memory) is created when the worker settles, with no
      // JavaScript frames: give it this call's stack (V8 keeps the awaiting callers' frames)
      if (e instanceof Error) Error.captureStackTrace(e);
      throw e;
    }
    return p.result;
  };
}

type AnyOp = (...args: never[]) => unknown;
type PlanOf<O extends OpName> = (typeof OP_TABLE)[O]['plan'];

/** Every op of the table on these kernels (not generic: for tests and tools; the entry points export typed ones). */
export type Ops = { [O in OpName]: (...args: Parameters<PlanOf<O>>) => ReturnType<PlanOf<O>>['result'] };
export type AsyncOps = {
  [O in OpName]: (...args: Parameters<PlanOf<O>>) =>
    (typeof OP_TABLE)[O]['promise'] extends 'sync' ? ReturnType<PlanOf<O>>['result'] : Promise<ReturnType<PlanOf<O>>['result']>;
};

export function createOps(kernels: Kernels): Ops {
  const ops: Record<string, AnyOp> = {};
  for (const name of Object.keys(OP_TABLE) as OpName[]) ops[name] = syncOp(OP_TABLE[name].plan as AnyOp as never, kernels) as AnyOp;
  return ops as unknown as Ops;
}

/** The Promise ops of a backend; an op the table marks promise: 'sync' is its sync op. */
export function createAsyncOps({ kernels, asyncKernels }: { kernels: Kernels; asyncKernels: AsyncKernels }): AsyncOps {
  const ops: Record<string, AnyOp> = {};
  for (const name of Object.keys(OP_TABLE) as OpName[]) {
    const entry = OP_TABLE[name];
    ops[name] = (entry.promise === 'sync' ? syncOp(entry.plan as never, kernels) : asyncOp(entry.plan as never, asyncKernels)) as AnyOp;
  }
  return ops as unknown as AsyncOps;
}
