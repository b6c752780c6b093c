// The functional ops the modules call, taken from the package's public entry points (never from
// its internals), once as the synchronous API and once as the promise API. Both have the same
// signatures (the promise API returns each result in a Promise), so a module describes each call
// once, as a function of `Functional`, and runs it on either.
import * as sync from '../index.js';
import * as promises from '../promises.js';

export type Functional = Pick<typeof sync,
  'layerNorm' | 'layerNormBackward' | 'rmsNorm' | 'rmsNormBackward' | 'batchNorm' | 'batchNormBackward' |
  'groupNorm' | 'groupNormBackward' | 'instanceNorm' | 'instanceNormBackward'>;

export const syncOps: Functional = sync;

/** The promise API seen through the sync signatures: what a call returns is then a Promise of that. */
export const asyncOps = promises as unknown as Functional;
