// LayerNorm and RMSNorm kernels (row_norm.cc), declared inside this ISA's namespace.
#pragma once
#include "kernel_table.h"

namespace fastnorm::FASTNORM_ISA_NS {

template <class T> bool layerNormForward(const RowNormForwardArgs<T>& args, const Exec& exec) noexcept;
template <class T> bool layerNormBackward(const RowNormBackwardArgs<T>& args, const Exec& exec) noexcept;
template <class T> bool rmsNormForward(const RowNormForwardArgs<T>& args, const Exec& exec) noexcept;
template <class T> bool rmsNormBackward(const RowNormBackwardArgs<T>& args, const Exec& exec) noexcept;

}  // namespace fastnorm::FASTNORM_ISA_NS
