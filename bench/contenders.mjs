// The contenders every scenario is run with. `prepare(scenario, inputs)` returns the
// zero-argument call that is timed; anything it allocates (out buffers) is reused by every call.
//   kind         'native' | 'reference' | 'js'  (targets look rows up by kind/mode/threads)
//   mode         'alloc': outputs allocated by the call (the default API); 'out': caller buffers
//   threads      fastnorm.setNumThreads value while timing the row and its copy yardstick
//   baseline     the row the speedup column divides by

export function makeContenders(lib, threadCounts) {
  const list = [];
  for (const threads of threadCounts) {
    list.push({
      name: `native ${threads}T alloc`, kind: 'native', mode: 'alloc', threads,
      prepare: (s, inputs) => () => s.call(lib.fastnorm, inputs),
    });
    list.push({
      name: `native ${threads}T out`, kind: 'native', mode: 'out', threads,
      prepare: (s, inputs) => {
        const out = s.newOut(inputs);
        return () => s.call(lib.fastnorm, inputs, out);
      },
    });
  }
  // Single-threaded by nature: compared with the 1-thread copy.
  list.push({
    name: 'reference', kind: 'reference', mode: 'alloc', threads: 1,
    prepare: (s, inputs) => () => s.call(lib.fastnorm.reference, inputs),
  });
  list.push({
    name: 'js loop', kind: 'js', mode: 'out', threads: 1, baseline: true,
    prepare: (s, inputs) => {
      const out = s.newOut(inputs);
      return () => s.jsLoop(inputs, out);
    },
  });
  return list;
}
