// A one-node ONNX model, encoded by hand: the benchmark only needs ModelProto → GraphProto →
// NodeProto with float/int attributes and float tensor inputs/outputs of static shapes. Checked
// instead: onnx-proto (protobufjs-generated ONNX schema, last released 2021, pulls protobufjs 6
// and its install script) — too much for six message types. Field numbers: onnx/onnx.proto3.

const WIRE_VARINT = 0;
const WIRE_BYTES = 2;
const WIRE_FIXED32 = 5;
const FLOAT = 1; // TensorProto.DataType.FLOAT and AttributeProto.AttributeType.FLOAT
const ATTR_INT = 2;

function varint(value) {
  const bytes = [];
  let v = BigInt(value);
  if (v < 0n) v += 1n << 64n; // int64 two's complement, as protobuf writes negative int64
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v) b |= 0x80;
    bytes.push(b);
  } while (v);
  return bytes;
}

const key = (field, wire) => varint((field << 3) | wire);
const text = new TextEncoder();

/** One protobuf message from [field, kind, value] entries; kind: 'int' | 'str' | 'msg' | 'f32'. */
function message(entries) {
  const out = [];
  for (const [field, kind, value] of entries) {
    if (value === undefined) continue;
    if (kind === 'int') out.push(...key(field, WIRE_VARINT), ...varint(value));
    else if (kind === 'f32') {
      const b = new Uint8Array(4);
      new DataView(b.buffer).setFloat32(0, value, true);
      out.push(...key(field, WIRE_FIXED32), ...b);
    } else {
      const payload = kind === 'str' ? text.encode(value) : value;
      out.push(...key(field, WIRE_BYTES), ...varint(payload.length), ...payload);
    }
  }
  return Uint8Array.from(out);
}

function valueInfo(name, shape) {
  const dims = shape.map((d) => [1, 'msg', message([[1, 'int', d]])]);
  const tensorType = message([[1, 'int', FLOAT], [2, 'msg', message(dims)]]);
  return message([[1, 'str', name], [2, 'msg', message([[1, 'msg', tensorType]])]]);
}

function attribute(name, value) {
  return Number.isInteger(value.int)
    ? message([[1, 'str', name], [3, 'int', value.int], [20, 'int', ATTR_INT]])
    : message([[1, 'str', name], [2, 'f32', value.float], [20, 'int', FLOAT]]);
}

/**
 * The bytes of a model with one node `opType` (domain '' at `opset`): `inputs` and `outputs` are
 * [name, shape] pairs, `attributes` { name: { int } | { float } }.
 */
export function singleNodeModel({ opType, opset, inputs, outputs, attributes = {}, domain = '' }) {
  const node = message([
    ...inputs.map(([name]) => [1, 'str', name]),
    ...outputs.map(([name]) => [2, 'str', name]),
    [3, 'str', opType],
    [4, 'str', opType],
    ...Object.entries(attributes).map(([name, value]) => [5, 'msg', attribute(name, value)]),
    [7, 'str', domain || undefined],
  ]);
  const graph = message([
    [1, 'msg', node],
    [2, 'str', 'fastnorm-bench'],
    ...inputs.map(([name, shape]) => [11, 'msg', valueInfo(name, shape)]),
    ...outputs.map(([name, shape]) => [12, 'msg', valueInfo(name, shape)]),
  ]);
  const opsets = [[8, 'msg', message([[1, 'str', ''], [2, 'int', opset]])]];
  if (domain) opsets.push([8, 'msg', message([[1, 'str', domain], [2, 'int', 1]])]);
  return message([[1, 'int', 10], [2, 'str', 'fastnorm-bench'], ...opsets, [7, 'msg', graph]]);
}
