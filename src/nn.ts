// fastnorm/nn: normalization layers with state, as torch.nn has them — parameters, running
// statistics, train/eval mode, gradients, PyTorch state dicts and safetensors files.
export { NormModule, type BackwardOptions, type ForwardOptions } from './nn/module.js';
export { Parameter } from './nn/parameter.js';
export { LayerNorm, RMSNorm, type LayerNormModuleOptions, type RMSNormModuleOptions } from './nn/row-norms.js';
export { BatchNorm1d, BatchNorm2d, BatchNorm3d, type BatchNormModuleOptions } from './nn/batch-norm.js';
export { InstanceNorm1d, InstanceNorm2d, InstanceNorm3d, type InstanceNormModuleOptions } from './nn/instance-norm.js';
export { GroupNorm, type GroupNormModuleOptions } from './nn/group-norm.js';
export { RunningStatsNorm, type RunningStatsNormOptions } from './nn/channel-norm.js';
export type { StateDict, LoadStateDictOptions, LoadStateDictResult } from './nn/state-dict.js';
export type { DType, FloatDType, ModuleDType, TypedTensor } from './nn/dtypes.js';
export {
  loadSafetensors, readSafetensorsHeader, saveSafetensors, serializeSafetensors, SafetensorsError, MAX_HEADER_BYTES,
  type LoadSafetensorsOptions, type SafetensorsEntry, type SafetensorsHeader,
} from './nn/safetensors.js';
