// fastnorm/tfjs: fastnorm as TensorFlow.js's normalization backend — the FusedBatchNorm kernel and
// its gradient (registerKernels). Needs @tensorflow/tfjs-core (4.x), an optional peer dependency of fastnorm.
export { registerKernels, type RegisterKernelsOptions, type TfjsCore } from './tfjs/fused-batch-norm.js';
export { getCounters, resetCounters, type Counters, type FallbackReason, type OpCounter } from './tfjs/counters.js';
export { setImplementation, type FastnormApi } from './tfjs/implementation.js';
