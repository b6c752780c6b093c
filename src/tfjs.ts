// fastnorm/tfjs: fastnorm as TensorFlow.js's normalization backend — the FusedBatchNorm kernel and
// its gradient (registerKernels), and tf.layers-compatible LayerNormalization,
// BatchNormalization and GroupNormalization layers. Needs @tensorflow/tfjs-core and
// @tensorflow/tfjs-layers (4.x), optional peer dependencies of fastnorm.
import * as tf from '@tensorflow/tfjs-core';
import { BatchNormalization } from './tfjs/layers/batch-normalization.js';
import { GroupNormalization } from './tfjs/layers/group-normalization.js';
import { LayerNormalization } from './tfjs/layers/layer-normalization.js';

export { registerKernels, type RegisterKernelsOptions, type TfjsCore } from './tfjs/fused-batch-norm.js';
export { getCounters, resetCounters, type Counters, type FallbackReason, type OpCounter } from './tfjs/counters.js';
export { setImplementation, type FastnormApi } from './tfjs/implementation.js';
export { LayerNormalization, layerNormalization } from './tfjs/layers/layer-normalization.js';
export { BatchNormalization, batchNormalization } from './tfjs/layers/batch-normalization.js';
export { GroupNormalization, groupNormalization, type GroupNormalizationLayerArgs } from './tfjs/layers/group-normalization.js';

// Deserializing a model ('LayerNormalization', 'BatchNormalization', 'GroupNormalization' in its
// JSON) now builds these classes; they keep tf.layers' configs and weights, so either loads either.
tf.serialization.registerClass(LayerNormalization);
tf.serialization.registerClass(BatchNormalization);
tf.serialization.registerClass(GroupNormalization);
