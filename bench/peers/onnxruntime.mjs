// onnxruntime-node (CPU execution provider) as a benchmark peer, on the forward ops ONNX has:
// LayerNormalization, RMSNormalization / SimplifiedLayerNormalization, BatchNormalization
// (inference), InstanceNormalization and GroupNormalization. Each scenario gets a one-node model
// with static shapes and one session per thread count (intraOpNumThreads). ONNX tensors are
// NCHW, so the channels-last scenarios have no ORT row; nor do backward and training forward
// (ORT's CPU kernels are inference kernels).
import { createRequire } from 'node:module';
import { unavailable } from './common.mjs';
import { singleNodeModel } from './onnx-model.mjs';

const OPSET = 21; // GroupNormalization with per-channel scale and bias needs 21

/** The ONNX graphs for a scenario: [{ impl, opType, opset, inputs, attributes }], or []. */
function graphsFor(spec, inputs) {
  if (!['forward', 'eval fwd'].includes(spec.dir) || spec.layout === 'NHWC') return [];
  const eps = { float: spec.eps };
  const x = inputs.x.data;
  if (spec.op === 'layerNorm' || spec.op === 'rmsNorm') {
    const [rows, cols] = spec.shape;
    const io = { X: [x, [rows, cols]], scale: [inputs.weight, [cols]] };
    if (spec.op === 'layerNorm')
      return [{ impl: 'LayerNormalization', opType: 'LayerNormalization', inputs: { ...io, B: [inputs.bias, [cols]] },
        attributes: { axis: { int: -1 }, epsilon: eps } }];
    return [
      { impl: 'RMSNormalization', opType: 'RMSNormalization', opset: 23, inputs: io, attributes: { axis: { int: -1 }, epsilon: eps } },
      { impl: 'SimplifiedLayerNormalization', opType: 'SimplifiedLayerNormalization', inputs: io,
        attributes: { axis: { int: -1 }, epsilon: eps } },
    ];
  }
  const { nchw } = spec;
  const c = nchw[1];
  const channel = { X: [x, nchw], scale: [inputs.weight, [c]], B: [inputs.bias, [c]] };
  if (spec.op === 'batchNorm')
    return [{ impl: 'BatchNormalization', opType: 'BatchNormalization',
      inputs: { ...channel, mean: [inputs.runningMean, [c]], var: [inputs.runningVar, [c]] }, attributes: { epsilon: eps } }];
  if (spec.op === 'instanceNorm')
    return [{ impl: 'InstanceNormalization', opType: 'InstanceNormalization', inputs: channel, attributes: { epsilon: eps } }];
  if (spec.op === 'groupNorm')
    return [{ impl: 'GroupNormalization', opType: 'GroupNormalization', inputs: channel,
      attributes: { epsilon: eps, num_groups: { int: spec.groups } } }];
  return [];
}

export async function loadOnnxRuntime({ threadCounts }) {
  let ort;
  try {
    ort = createRequire(import.meta.url)('onnxruntime-node');
  } catch (e) {
    return unavailable('onnxruntime', `onnxruntime-node did not load (${e.code ?? e.message.split('\n')[0]}); it is a devDependency: npm install`);
  }
  ort.env.logLevel = 'error';
  const version = ort.env.versions?.node ?? '?';
  const sessions = new Map(); // scenario -> [{ impl, byThreads: Map(threads -> session), feeds, outShape }]

  async function build(s, inputs, expected, compare) {
    if (sessions.has(s)) return sessions.get(s);
    const built = { variants: [], notes: [] };
    sessions.set(s, built);
    for (const g of graphsFor(s.peer, inputs)) {
      const outShape = g.inputs.X[1];
      const model = singleNodeModel({
        opType: g.opType, opset: g.opset ?? OPSET, attributes: g.attributes,
        inputs: Object.entries(g.inputs).map(([name, [, shape]]) => [name, shape]), outputs: [['Y', outShape]],
      });
      const feeds = Object.fromEntries(Object.entries(g.inputs).map(([name, [data, shape]]) => [name, new ort.Tensor('float32', data, shape)]));
      try {
        const byThreads = new Map();
        for (const threads of threadCounts)
          byThreads.set(threads, await ort.InferenceSession.create(model, {
            intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
            // ORT's default spinning keeps its workers busy for ~20 ms after each run here, which
            // would land on the next, interleaved, contender; blocking workers cost ORT a
            // wake-up per run (microseconds) instead.
            extra: { session: { intra_op: { allow_spinning: '0' } } },
          }));
        const y = (await byThreads.get(threadCounts[0]).run(feeds)).Y.data;
        const bad = compare(expected, { y });
        if (bad) built.notes.push(`onnxruntime ${g.impl}: ${bad} (left out)`);
        else built.variants.push({ impl: g.impl, byThreads, feeds, outShape });
      } catch (e) {
        built.notes.push(`onnxruntime ${g.impl}: ${e.message.split('\n')[0]} (left out)`);
      }
    }
    return built;
  }

  const contenders = threadCounts.map((threads) => ({
    name: `onnxruntime ${threads}T`, kind: 'peer', peer: 'onnxruntime', threads,
    async prepare(s, inputs, expected, compare) {
      if (!s.peer) return null;
      const built = await build(s, inputs, expected, compare);
      if (built.variants.length === 0 && built.notes.length === 0) return null;
      return {
        notes: threads === threadCounts[0] ? built.notes : [],
        variants: built.variants.flatMap(({ impl, byThreads, feeds, outShape }) => {
          const session = byThreads.get(threads);
          // Outputs preallocated once (ORT writes into them) and outputs ORT allocates per run.
          const y = new ort.Tensor('float32', new Float32Array(outShape.reduce((p, d) => p * d, 1)), outShape);
          return [
            { impl, mode: 'alloc', sample: timed(() => session.run(feeds)) },
            { impl: `${impl} out`, mode: 'out', sample: timed(() => session.run(feeds, { Y: y })) },
          ];
        }),
      };
    },
  }));

  return {
    name: 'onnxruntime', available: true, version,
    note: `onnxruntime-node ${version}, CPU execution provider, one-node ONNX models (forward, NCHW), workers not spinning`,
    contenders,
    async release() {
      for (const built of sessions.values())
        for (const v of built.variants) for (const session of v.byThreads.values()) await session.release();
      sessions.clear();
    },
    close() {},
  };
}

/** A sample function: `inner` awaited calls of `run`, seconds per call. */
function timed(run) {
  return async (inner) => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < inner; i++) await run();
    return Number(process.hrtime.bigint() - t0) / 1e9 / inner;
  };
}
