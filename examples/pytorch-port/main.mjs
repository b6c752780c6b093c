// Port a trained PyTorch model to fastnorm/nn and check that it computes what PyTorch computed:
//
//   1. model.safetensors (written by make_reference.py from `model.state_dict()`) loads into the
//      ported model (model.mjs), one loadStateDict per layer;
//   2. eval mode: the logits equal PyTorch's model.eval()(x);
//   3. train mode: the logits, the cross-entropy loss, the running statistics after the forward
//      (num_batches_tracked included) and, after one backward, every parameter's gradient and the
//      input's gradient equal PyTorch's (reference.safetensors).
//
// Each comparison prints the largest error relative to the tensor's scale, max|a − b| / max(1, max|b|);
// the exit status is 1 when any of them exceeds the float32 tolerance.
//
//   node examples/pytorch-port/main.mjs [--tolerance 1e-5]
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as fastnorm from 'fastnorm';
import { loadSafetensors, readSafetensorsHeader } from 'fastnorm/nn';
import { crossEntropy, PortModel } from './model.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const toleranceArg = process.argv.indexOf('--tolerance');
const TOLERANCE = toleranceArg > 0 ? Number(process.argv[toleranceArg + 1]) : 1e-5;

const checkpoint = loadSafetensors(join(here, 'model.safetensors'));
const ref = loadSafetensors(join(here, 'reference.safetensors'));

const model = new PortModel();
model.loadStateDict(checkpoint);

/** max|a − b| / max(1, max|b|) over two arrays (BigInt64Array: exact comparison). */
function scaledError(actual, expected) {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} != ${expected.length}`);
  let err = 0;
  let scale = 1;
  for (let i = 0; i < expected.length; i++) {
    const a = Number(actual[i]);
    const b = Number(expected[i]);
    err = Math.max(err, Math.abs(a - b));
    scale = Math.max(scale, Math.abs(b));
  }
  return err / scale;
}

const rows = [];
function compare(group, name, actual, expected) {
  rows.push({ group, name, error: scaledError(actual, expected) });
}

// 2. eval mode
const x = ref.x;
compare('eval', 'logits', model.eval().forward(x).data, ref['eval.logits'].data);

// 3. train mode: forward, loss, running statistics, then one backward
model.train();
const logits = model.forward({ data: x.data.slice(), shape: x.shape });
compare('train', 'logits', logits.data, ref['train.logits'].data);
const { loss, grad } = crossEntropy(logits, ref.target.data);
compare('train', 'loss', [loss], ref['train.loss'].data);
for (const [name, buffer] of model.namedBuffers()) compare('running stats', name, buffer.data, ref[`after.${name}`].data);
const dx = model.backward(grad);
compare('backward', 'dx', dx.data, ref['train.dx'].data);
for (const [name, p] of model.namedParameters()) compare('backward', `${name}.grad`, p.grad, ref[`grad.${name}`].data);

const info = fastnorm.info();
const { metadata } = readSafetensorsHeader(join(here, 'model.safetensors'));
console.log(`PyTorch ${metadata.torch} (RMSNorm: ${metadata.rmsnorm}) → fastnorm ${info.version} ${info.backend}/${info.isa}`);
const worst = {};
for (const r of rows) worst[r.group] = Math.max(worst[r.group] ?? 0, r.error);
for (const [group, error] of Object.entries(worst)) {
  const n = rows.filter((r) => r.group === group).length;
  console.log(`${group.padEnd(14)} max error ${error.toExponential(1)} over ${n} tensor${n > 1 ? 's' : ''}`);
}
const failed = rows.filter((r) => !(r.error <= TOLERANCE));
if (failed.length > 0) {
  for (const r of failed) console.log(`FAIL ${r.group} ${r.name}: error ${r.error.toExponential(2)} > ${TOLERANCE.toExponential(0)}`);
  process.exit(1);
}
console.log(`OK: fastnorm/nn reproduces PyTorch (largest error ${Math.max(...rows.map((r) => r.error)).toExponential(1)} <= ${TOLERANCE.toExponential(0)})`);

