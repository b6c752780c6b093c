// GroupNorm / InstanceNorm kernels (group_norm.cc), declared inside this ISA's namespace.
#pragma once
#include "kernel_table.h"

namespace fastnorm::FASTNORM_ISA_NS {

template <class T> bool groupNormForward(const GroupNormForwardArgs<T>& args, const Exec& exec) noexcept;
template <class T> bool groupNormBackward(const GroupNormBackwardArgs<T>& args, const Exec& exec) noexcept;

}  // namespace fastnorm::FASTNORM_ISA_NS
