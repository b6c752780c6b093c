// The benchmark's peers: other libraries timed on the same scenarios, each optional. A peer that
// is missing is skipped with a printed note; one that computes something else on a scenario
// (checked against fastnorm's outputs before timing) is left out of that scenario with a note.
//
// A peer contender is { name, kind: 'peer', peer, threads, singleThreaded?, prepare } where
// `await prepare(scenario, inputs, expected, compare)` returns null (no such op) or
// { notes, variants: [{ impl, mode, sample(inner) -> seconds per call (maybe a Promise) }] };
// the harness times every variant interleaved with the other contenders and reports the
// fastest variant per contender.
import { loadOnnxRuntime } from './onnxruntime.mjs';
import { loadPyTorch } from './pytorch.mjs';
import { loadTfjs } from './tfjs.mjs';

export const PEER_NAMES = ['pytorch', 'onnxruntime', 'tfjs'];

/** Loads the peers named in `names` (all by default). */
export async function loadPeers({ threadCounts, names = PEER_NAMES }) {
  const loaders = { pytorch: loadPyTorch, onnxruntime: loadOnnxRuntime, tfjs: loadTfjs };
  const peers = [];
  for (const name of names) peers.push(await loaders[name]({ threadCounts }));
  return {
    peers,
    contenders: peers.flatMap((p) => p.contenders),
    async release() {
      for (const p of peers) await p.release?.();
    },
    close() {
      for (const p of peers) p.close();
    },
  };
}
