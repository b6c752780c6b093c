// This ISA's kernel table (compiled once per ISA, like every kernel source): every kernel of
// kernel_list.h, for each dtype.
#include "kernels.h"

namespace fastnorm::FASTNORM_ISA_NS {

#define FASTNORM_STR2(x) #x
#define FASTNORM_STR(x) FASTNORM_STR2(x)
#define FASTNORM_KERNEL_ENTRY_F32(name) &name<float>,
#define FASTNORM_KERNEL_ENTRY_F64(name) &name<double>,
#define FASTNORM_KERNEL_ENTRY_HALF(name) &name<C>,

// The half-precision kernels of one call type C.
template <class C>
HalfKernelSet<C> halfKernels() {
  return {FASTNORM_HALF_KERNELS(FASTNORM_KERNEL_ENTRY_HALF)};
}

template <HalfFormat F>
HalfKernels<F> halfKernelsOf() {
  return {halfKernels<HalfCall<F, Half<F>>>(), halfKernels<HalfCall<F, float>>()};
}

const KernelTable& kernelTable() {
  static const KernelTable table = {
      FASTNORM_STR(FASTNORM_ISA_NS),
      {FASTNORM_KERNELS(FASTNORM_KERNEL_ENTRY_F32)},
      {FASTNORM_KERNELS(FASTNORM_KERNEL_ENTRY_F64)},
      halfConversions<float>(),
      halfConversions<double>(),
      halfKernelsOf<HalfFormat::Float16>(),
      halfKernelsOf<HalfFormat::BFloat16>(),
  };
  return table;
}

}  // namespace fastnorm::FASTNORM_ISA_NS
