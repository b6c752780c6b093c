// BatchNorm kernels (batch_norm.cc), declared inside this ISA's namespace.
#pragma once
#include "kernel_table.h"

namespace fastnorm::FASTNORM_ISA_NS {

template <class T> bool batchNormForward(const BatchNormForwardArgs<T>& args, const Exec& exec) noexcept;
template <class T> bool batchNormBackward(const BatchNormBackwardArgs<T>& args, const Exec& exec) noexcept;
template <class T> bool batchNormStats(const BatchNormStatsArgs<T>& args, const Exec& exec) noexcept;
template <class T> bool batchNormApply(const BatchNormApplyArgs<T>& args, const Exec& exec) noexcept;
template <class T> bool batchNormBackwardReduce(const BatchNormBackwardReduceArgs<T>& args, const Exec& exec) noexcept;
template <class T> bool batchNormBackwardApply(const BatchNormBackwardApplyArgs<T>& args, const Exec& exec) noexcept;

}  // namespace fastnorm::FASTNORM_ISA_NS
