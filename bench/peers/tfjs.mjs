// TensorFlow.js's `cpu` backend (@tensorflow/tfjs-backend-cpu, plain JavaScript, one thread) as
// a benchmark peer, where TF.js has the op and in the form a TF.js user writes it:
//   batchNorm eval fwd   tf.batchNorm(x, runningMean, runningVar, bias, weight, eps)
//   batchNorm train fwd  tf.moments(x, [0, 1, 2]) then tf.batchNorm (what tf.layers'
//                        BatchNormalization does in training; running-stat update left out)
//   layerNorm forward    tf.moments(x, -1, keepDims) then broadcast arithmetic
//                        (x − mean)·rsqrt(var + eps)·weight + bias
// TF.js is channels-last and its cpu batchNorm kernel cycles the statistics over the last dim, so
// only the NHWC BatchNorm scenarios have a TF.js row; it has no RMSNorm, GroupNorm or InstanceNorm
// op and its gradients are not benchmarked here.
import { createRequire } from 'node:module';
import { unavailable } from './common.mjs';

// TF.js's cpu kernels take seconds on the large shapes (tf.moments transposes and broadcasts in
// plain JS): a case whose check call takes longer than this is reported, not timed, so that
// `npm run bench` stays a few minutes long; once an implementation has been over the cap, larger
// cases of it are predicted from its time per element and not even run.
const CALL_CAP_SEC = 1;

function opFor(tf, spec, inputs) {
  const x = inputs.x.data;
  if (spec.op === 'layerNorm' && spec.dir === 'forward') {
    const [rows, cols] = spec.shape;
    const t = { x: tf.tensor2d(x, [rows, cols]), w: tf.tensor1d(inputs.weight), b: tf.tensor1d(inputs.bias) };
    return {
      impl: 'moments + arithmetic', tensors: t,
      run: () => {
        const { mean, variance } = tf.moments(t.x, -1, true);
        return tf.add(tf.mul(tf.mul(tf.sub(t.x, mean), tf.rsqrt(tf.add(variance, spec.eps))), t.w), t.b);
      },
    };
  }
  if (spec.op !== 'batchNorm' || spec.layout !== 'NHWC') return null;
  const [n, c, ...spatial] = spec.nchw;
  const t = {
    x: tf.tensor(x, [n, ...spatial, c]), w: tf.tensor1d(inputs.weight), b: tf.tensor1d(inputs.bias),
    rm: tf.tensor1d(inputs.runningMean), rv: tf.tensor1d(inputs.runningVar),
  };
  if (spec.dir === 'eval fwd')
    return { impl: 'tf.batchNorm', tensors: t, run: () => tf.batchNorm(t.x, t.rm, t.rv, t.b, t.w, spec.eps) };
  if (spec.dir === 'train fwd')
    return {
      impl: 'tf.moments + tf.batchNorm', tensors: t,
      run: () => {
        const { mean, variance } = tf.moments(t.x, [0, 1, 2]);
        return tf.batchNorm(t.x, mean, variance, t.b, t.w, spec.eps);
      },
    };
  return null;
}

export async function loadTfjs() {
  let tf;
  try {
    const require = createRequire(import.meta.url);
    tf = require('@tensorflow/tfjs-core');
    require('@tensorflow/tfjs-backend-cpu');
    tf.enableProdMode(); // no debug checks, and no banner recommending tfjs-node
    await tf.setBackend('cpu');
    await tf.ready();
  } catch (e) {
    return unavailable('tfjs', `@tensorflow/tfjs-core + tfjs-backend-cpu did not load (${e.code ?? e.message.split('\n')[0]}); they are devDependencies: npm install`);
  }
  let current = null;
  const overCap = new Map(); // impl -> { secondsPerValue, label } of a case that was over the cap
  const contender = {
    name: 'tfjs-cpu', kind: 'peer', peer: 'tfjs', threads: 1, singleThreaded: true,
    async prepare(s, inputs, expected, compare) {
      if (!s.peer) return null;
      const op = opFor(tf, s.peer, inputs);
      if (!op) return null;
      current = op;
      const values = inputs.x.data.length;
      const seen = overCap.get(op.impl);
      if (seen && seen.secondsPerValue * values > CALL_CAP_SEC)
        return { notes: [`tfjs ${op.impl}: not timed (~${(seen.secondsPerValue * values).toFixed(1)} s per call, ` +
          `from ${seen.label}; over the ${CALL_CAP_SEC} s cap)`], variants: [] };
      const t0 = process.hrtime.bigint();
      const y = tf.tidy(op.run);
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const bad = compare(expected, { y: y.dataSync() });
      y.dispose();
      if (bad) return { notes: [`tfjs ${op.impl}: ${bad} (left out)`], variants: [] };
      if (seconds > CALL_CAP_SEC) {
        overCap.set(op.impl, { secondsPerValue: seconds / values, label: `[${s.shape.join(',')}]` });
        return { notes: [`tfjs ${op.impl}: one call took ${seconds.toFixed(2)} s, over the ${CALL_CAP_SEC} s cap: not timed`], variants: [] };
      }
      return {
        notes: [],
        variants: [{
          impl: op.impl, mode: 'alloc',
          sample: (inner) => {
            const t0 = process.hrtime.bigint();
            for (let i = 0; i < inner; i++) tf.tidy(op.run).dispose();
            return Number(process.hrtime.bigint() - t0) / 1e9 / inner;
          },
        }],
      };
    },
  };
  return {
    name: 'tfjs', available: true, version: tf.version_core,
    note: `@tensorflow/tfjs-core ${tf.version_core} on the cpu backend (plain JS, 1 thread): tf.batchNorm (NHWC), ` +
      'layerNorm as tf.moments + arithmetic',
    contenders: [contender],
    release() {
      if (current) for (const t of Object.values(current.tensors)) t.dispose();
      current = null;
    },
    close() {},
  };
}
