// fastnorm/promises: the same operations, each returning a Promise and computed on the libuv
// thread pool, so a server's event loop keeps running while a large tensor is normalized (the
// few ops the table marks promise: 'sync' return their result directly, as in 'fastnorm').
import { asyncOp, syncOp } from './api/ops.js';
import { OP_TABLE } from './api/op-table.js';
import { createConversions, type HalfConversionFunctions } from './api/half.js';
import { backend } from './backends/default.js';

// ---- the ops: written by scripts/generate-entries.mjs from src/api/op-table.ts (npm run generate) ----
/**
 * LayerNorm over the trailing `normalizedShape` dims: y = (x − mean)·rstd·weight + bias per row.
 * `weightOffset` scales by `weightOffset + weight` instead (zero-centered weights); with
 * `activation`, y = act(that) in the same pass.
 * Returns a Promise: computed on the libuv thread pool, bitwise as the synchronous call.
 * @example
 * const { y, mean, rstd } = fastnorm.layerNorm({ data, shape: [4, 768] }, 768, { weight, bias });
 * const h = fastnorm.layerNorm(x, 768, { weight, bias, activation: 'gelu' }).y;   // GELU(LayerNorm(x)), one pass
 * // half precision: bfloat16 bits in, bfloat16 y out (float32 compute, one rounding), float32 mean/rstd
 * const h16 = fastnorm.layerNorm({ data: bits, shape: [4, 768], dtype: 'bfloat16' }, 768, { weight: weightBits, bias: biasBits }).y;
 */
export const layerNorm = asyncOp(OP_TABLE.layerNorm.plan, backend.asyncKernels);
/**
 * Gradients of layerNorm: dx, and dweight/dbias when a weight is passed (or as `grads` asks).
 * Pass the forward's `weightOffset`: dx goes through `weightOffset + weight`, dweight does not.
 * Pass the forward's `activation` and `bias` for the gradients of y = act(x̂·w + b) (dy·act'(z)
 * replaces dy; z is recomputed in the backward's passes).
 * Returns a Promise: computed on the libuv thread pool, bitwise as the synchronous call.
 * @example
 * const { dx, dweight, dbias } = fastnorm.layerNormBackward(dy, x, { mean, rstd }, 768, { weight });
 * fastnorm.layerNormBackward(dy, x, { mean, rstd }, 768, { weight, bias, activation: 'gelu' });   // of GELU(LayerNorm(x))
 * // half-precision dy and x (same format): dx in it, dweight/dbias in weight's dtype (here float32)
 * fastnorm.layerNormBackward(dy16, x16, { mean, rstd }, 768, { weight: new Float32Array(768).fill(1) });
 */
export const layerNormBackward = asyncOp(OP_TABLE.layerNormBackward.plan, backend.asyncKernels);
/**
 * RMSNorm: y = x·rsqrt(mean(x²) + eps)·weight over the trailing dims (eps defaults to 1e-6).
 * Gemma's zero-centered weights: `weightOffset: 1` scales by `1 + weight`.
 * Returns a Promise: computed on the libuv thread pool, bitwise as the synchronous call.
 * @example
 * const { y, rstd } = fastnorm.rmsNorm(x, 768, { weight });
 * const gemma = fastnorm.rmsNorm(x, 2048, { weight: zeroCentered, weightOffset: 1 });
 * const y16 = fastnorm.rmsNorm({ data: f16Bits, shape: [4, 2048], dtype: 'float16' }, 2048, { weight: f16Weight }).y;   // float16 in and out
 */
export const rmsNorm = asyncOp(OP_TABLE.rmsNorm.plan, backend.asyncKernels);
/**
 * Gradients of rmsNorm: dx, and dweight when a weight is passed (pass the forward's `weightOffset`).
 * Returns a Promise: computed on the libuv thread pool, bitwise as the synchronous call.
 * @example
 * const { dx, dweight } = fastnorm.rmsNormBackward(dy, x, { rstd }, 768, { weight });
 * fastnorm.rmsNormBackward(dy16, x16, { rstd }, 768, { weight: weight16 });   // float16/bfloat16: dx and dweight in that format
 */
export const rmsNormBackward = asyncOp(OP_TABLE.rmsNormBackward.plan, backend.asyncKernels);
/**
 * Residual add + LayerNorm in one pass (pre-norm transformer blocks; ONNX SkipLayerNormalization):
 * sum = x + residual (+ residualBias per element of `normalizedShape`), y = layerNorm(sum).
 * Returns `sum`, the new residual stream; `out.sum` may be `residual.data` (the stream updated in
 * place) and `out.y` may be `x.data`. Reads x and residual once, writes y and sum once.
 * Half-precision x and residual (one format): sum is rounded once to it and y is the norm of that
 * stored sum, bit for bit `layerNorm(sum)`.
 * Returns a Promise: computed on the libuv thread pool, bitwise as the synchronous call.
 * @example
 * const { y, sum, mean, rstd } = fastnorm.addLayerNorm(attnOut, stream, 768, { weight, bias, out: { sum: stream.data } });
 * // a bfloat16 residual stream, updated in place; float32 mean/rstd
 * fastnorm.addLayerNorm({ data: outBits, shape: [4, 768], dtype: 'bfloat16' }, stream16, 768, { weight: w16, out: { sum: stream16.data } });
 */
export const addLayerNorm = asyncOp(OP_TABLE.addLayerNorm.plan, backend.asyncKernels);
/**
 * Gradients of addLayerNorm: `dx` is the gradient with respect to sum, so to both x and residual,
 * plus `dSum` (the residual stream's gradient from later layers) added in the same pass; dweight/dbias
 * as layerNormBackward; `grads: { residualBias: true }` returns dresidualBias (dx summed over rows).
 * Returns a Promise: computed on the libuv thread pool, bitwise as the synchronous call.
 * @example
 * const { dx, dweight, dbias } = fastnorm.addLayerNormBackward(dy, fwd.sum, fwd, 768, { weight, dSum });
 * fastnorm.addLayerNormBackward(dy16, fwd16.sum, fwd16, 768, { weight: w16, dSum: dSum16, out: { dx: dSum16.data } });   // bfloat16
 */
export const addLayerNormBackward = asyncOp(OP_TABLE.addLayerNormBackward.plan, backend.asyncKernels);
/**
 * Residual add + RMSNorm in one pass (vLLM's fused_add_rms_norm): sum = x + residual (+ residualBias),
 * y = rmsNorm(sum); `out.sum` may be `residual.data`, `out.y` may be `x.data`. Gemma: `weightOffset: 1`.
 * float16/bfloat16 tensors as addLayerNorm.
 * Returns a Promise: computed on the libuv thread pool, bitwise as the synchronous call.
 * @example
 * const { y, sum, rstd } = fastnorm.addRmsNorm(mlpOut, stream, 4096, { weight, out: { sum: stream.data } });
 * fastnorm.addRmsNorm(mlpOut16, stream16, 4096, { weight: w16, weightOffset: 1, out: { sum: stream16.data } });   // Gemma, bfloat16
 */
export const addRmsNorm = asyncOp(OP_TABLE.addRmsNorm.plan, backend.asyncKernels);
/**
 * Gradients of addRmsNorm: dx (with respect to sum, plus `dSum`), dweight, and dresidualBias when
 * `grads.residualBias`. Half-precision dy, sum and dSum (one format): dx in it, the parameter
 * gradients in weight's dtype (float32 without a weight).
 * Returns a Promise: computed on the libuv thread pool, bitwise as the synchronous call.
 * @example
 * const { dx, dweight } = fastnorm.addRmsNormBackward(dy, fwd.sum, fwd, 4096, { weight, dSum });
 * fastnorm.addRmsNormBackward(dy16, fwd16.sum, fwd16, 4096, { weight: w16, grads: { residualBias: false } });   // half dx
 */
export const addRmsNormBackward = asyncOp(OP_TABLE.addRmsNormBackward.plan, backend.asyncKernels);
/**
 * BatchNorm: statistics per channel over N and every spatial position ('NCHW' or 'NHWC').
 * Training (default) normalizes with the batch statistics and updates running stats in place;
 * `training: false` uses the running statistics. `activation` applies ReLU/SiLU/GELU to
 * x̂·weight + bias in the same pass.
 * Returns a Promise: computed on the libuv thread pool, bitwise as the synchronous call.
 * @example
 * const { y, mean, rstd } = fastnorm.batchNorm(x, { weight, bias, runningMean, runningVar });
 * fastnorm.batchNorm(x, { weight, bias, runningMean, runningVar, activation: 'relu' });   // ReLU(BN(x)), one pass
 * // float16 activations, float32 weight/bias/running stats (autocast's mix): y in float16, mean/rstd float32
 * fastnorm.batchNorm({ data: bits, shape: [8, 64, 56, 56], dtype: 'float16' }, { weight, bias, runningMean, runningVar });
 */
export const batchNorm = asyncOp(OP_TABLE.batchNorm.plan, backend.asyncKernels);
/**
 * Gradients of batchNorm (training: through the batch statistics; eval: through fixed ones).
 * Pass the forward's `activation` and `bias` for the gradients of y = act(x̂·w + b) (dy·act'(z)
 * replaces dy; z is recomputed in the backward's passes).
 * Returns a Promise: computed on the libuv thread pool, bitwise as the synchronous call.
 * @example
 * const { dx, dweight, dbias } = fastnorm.batchNormBackward(dy, x, { mean, rstd }, { weight });
 * fastnorm.batchNormBackward(dy, x, { mean, rstd }, { weight, bias, activation: 'relu' });   // of ReLU(BN(x))
 * fastnorm.batchNormBackward(dy16, x16, { mean, rstd }, { weight });   // half dy, x: dx in their format, dweight float32
 */
export const batchNormBackward = asyncOp(OP_TABLE.batchNormBackward.plan, backend.asyncKernels);
/**
 * Synchronized BatchNorm, step 1: per-channel partial statistics { count, mean, m2 } of a shard.
 * Returns a Promise: computed on the libuv thread pool, bitwise as the synchronous call.
 * @example
 * const part = fastnorm.batchNormStats(shard, { layout: 'NHWC' });
 * fastnorm.batchNormStats({ data: bits, shape: [4, 56, 56, 64], dtype: 'bfloat16' }, { layout: 'NHWC' });   // float64 partials
 */
export const batchNormStats = asyncOp(OP_TABLE.batchNormStats.plan, backend.asyncKernels);
/**
 * Synchronized BatchNorm, step 2: merges per-channel partial statistics of several shards
 * (Chan et al., exact in float64) into the batch statistics `{ mean, rstd, count }`, updating
 * running statistics in place as batchNorm training would. The shards' order is the merge
 * order. Synchronous in every entry point (fastnorm/promises too): it merges C values.
 * Not a Promise: computed on the calling thread (it merges a few values).
 * @example
 * const parts = shards.map((x) => fastnorm.batchNormStats(x));   // on each worker
 * const stats = fastnorm.batchNormGatherStats(parts, { runningMean, runningVar });
 * const { y } = fastnorm.batchNormElemt(shard, stats, { weight, bias });
 */
export const batchNormGatherStats = syncOp(OP_TABLE.batchNormGatherStats.plan, backend.kernels);
/**
 * Synchronized BatchNorm, step 3: y = (x − mean)·rstd·weight + bias with given statistics.
 * Returns a Promise: computed on the libuv thread pool, bitwise as the synchronous call.
 * @example
 * const { y } = fastnorm.batchNormElemt(shard, fastnorm.batchNormGatherStats(parts), { weight, bias });
 * fastnorm.batchNormElemt(shard16, fastnorm.batchNormGatherStats(parts, { dtype: 'float32' }));   // half shard: float32 stats
 */
export const batchNormElemt = asyncOp(OP_TABLE.batchNormElemt.plan, backend.asyncKernels);
/**
 * Synchronized BatchNorm backward, step 1: per-channel Σdy and Σdy·(x − mean) of a shard.
 * Returns a Promise: computed on the libuv thread pool, bitwise as the synchronous call.
 * @example
 * const sums = fastnorm.batchNormBackwardReduce(dyShard, shard, { mean });
 * fastnorm.batchNormBackwardReduce(dy16, shard16, { mean: stats.mean });   // half tensors, float32 mean, float64 sums
 */
export const batchNormBackwardReduce = asyncOp(OP_TABLE.batchNormBackwardReduce.plan, backend.asyncKernels);
/**
 * Synchronized BatchNorm backward, step 2: dx of a shard from the sums over all shards (and
 * dweight/dbias, the same on every shard).
 * Returns a Promise: computed on the libuv thread pool, bitwise as the synchronous call.
 * @example
 * const { dx } = fastnorm.batchNormBackwardElemt(dyShard, shard, { mean, rstd }, { sumDy, sumDyXmu, count }, { weight });
 * fastnorm.batchNormBackwardElemt(dy16, shard16, stats, { ...sums, count: stats.count });   // dx in the shard's half format
 */
export const batchNormBackwardElemt = asyncOp(OP_TABLE.batchNormBackwardElemt.plan, backend.asyncKernels);
/**
 * GroupNorm: statistics per (sample, group of C/numGroups channels) over those channels and every
 * spatial position; per-channel weight/bias. `mean`/`rstd` hold N × numGroups values (n-major).
 * 'NCHW' (N, C, *spatial) or 'NHWC' (N, *spatial, C), each computed in its own layout.
 * `activation` applies ReLU/SiLU/GELU to x̂·weight + bias in the same pass.
 * Returns a Promise: computed on the libuv thread pool, bitwise as the synchronous call.
 * @example
 * const x = { data: new Float32Array(2 * 64 * 32 * 32), shape: [2, 64, 32, 32] };
 * const { y, mean, rstd } = fastnorm.groupNorm(x, 32, { weight, bias });    // weight, bias: 64 values
 * fastnorm.groupNorm({ data, shape: [2, 32, 32, 64] }, 32, { layout: 'NHWC' });
 * fastnorm.groupNorm(x, 32, { weight, bias, activation: 'silu' });   // a UNet's GroupNorm + SiLU, one pass
 * fastnorm.groupNorm({ data: bits, shape: [2, 320, 64, 64], dtype: 'float16' }, 32, { weight, bias });   // float16 in and out
 */
export const groupNorm = asyncOp(OP_TABLE.groupNorm.plan, backend.asyncKernels);
/**
 * Gradients of groupNorm: dx, and dweight/dbias (C values) when a weight is passed (or as `grads` asks).
 * Pass the forward's `activation` and `bias` for the gradients of y = act(x̂·w + b) (dy·act'(z)
 * replaces dy; z is recomputed in the backward's passes).
 * Returns a Promise: computed on the libuv thread pool, bitwise as the synchronous call.
 * @example
 * const { dx, dweight, dbias } = fastnorm.groupNormBackward(dy, x, { mean, rstd }, 32, { weight });
 * fastnorm.groupNormBackward(dy, x, { mean, rstd }, 32, { weight, bias, activation: 'silu' });   // of SiLU(GroupNorm(x))
 * fastnorm.groupNormBackward(dy16, x16, { mean, rstd }, 32, { weight: weight16 });   // dx, dweight, dbias in float16
 */
export const groupNormBackward = asyncOp(OP_TABLE.groupNormBackward.plan, backend.asyncKernels);
/**
 * InstanceNorm: statistics per (sample, channel) over the spatial positions (GroupNorm with
 * numGroups = C). With `runningMean`/`runningVar` they are updated in place as PyTorch's
 * track_running_stats does; `useInputStats: false` normalizes with them instead. `mean`/`rstd`: N × C.
 * `activation` applies ReLU/SiLU/GELU to x̂·weight + bias in the same pass.
 * Returns a Promise: computed on the libuv thread pool, bitwise as the synchronous call.
 * @example
 * const { y, mean, rstd } = fastnorm.instanceNorm(x, { weight, bias, runningMean, runningVar, momentum: 0.1 });
 * fastnorm.instanceNorm(x, { runningMean, runningVar, useInputStats: false });   // eval with running stats
 * fastnorm.instanceNorm(x, { weight, bias, activation: 'relu' });
 * fastnorm.instanceNorm({ data: bits, shape: [1, 3, 512, 512], dtype: 'bfloat16' });   // bfloat16 in and out
 */
export const instanceNorm = asyncOp(OP_TABLE.instanceNorm.plan, backend.asyncKernels);
/**
 * Gradients of instanceNorm (useInputStats: false — through the running statistics, constants).
 * Pass the forward's `activation` and `bias` for the gradients of y = act(x̂·w + b) (dy·act'(z)
 * replaces dy; z is recomputed in the backward's passes).
 * Returns a Promise: computed on the libuv thread pool, bitwise as the synchronous call.
 * @example
 * const { dx, dweight, dbias } = fastnorm.instanceNormBackward(dy, x, { mean, rstd }, { weight });
 * fastnorm.instanceNormBackward(dy, x, { mean, rstd }, { weight, bias, activation: 'relu' });   // of ReLU(InstanceNorm(x))
 * fastnorm.instanceNormBackward(dy16, x16, { mean, rstd }, { weight });   // half dy, x: dx in their format
 */
export const instanceNormBackward = asyncOp(OP_TABLE.instanceNormBackward.plan, backend.asyncKernels);
// ---- end of the ops ----

export { setNumThreads, getNumThreads, info } from './backends/default.js';
/** Float32/float64 ⇄ float16/bfloat16 conversions (synchronous in every entry point). */
export const { toFloat16, fromFloat16, toBFloat16, fromBFloat16 }: HalfConversionFunctions = createConversions(backend.conversions);
export type * from './api/types.js';
