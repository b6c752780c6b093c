// Shared by the peers: which input arrays a peer gets, and the shape of a skipped peer.

/** The float32 arrays of a scenario's inputs that a peer needs, by name. */
export function peerArrays(inputs) {
  const arrays = {
    x: inputs.x?.data, dy: inputs.dy?.data, weight: inputs.weight, bias: inputs.bias,
    runningMean: inputs.runningMean, runningVar: inputs.runningVar,
  };
  return Object.fromEntries(Object.entries(arrays).filter(([, a]) => a instanceof Float32Array));
}

/** A peer that is not there: the run goes on without it and prints `note`. */
export function unavailable(name, note) {
  return { name, available: false, note, contenders: [], close() {} };
}
