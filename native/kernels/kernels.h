// Every kernel of kernel_list.h, declared inside this ISA's namespace. A kernel file defines its
// kernels as `template <class T> bool name(const Args<Kernel::name, T>&, const Exec&) noexcept`
// and ends with FASTNORM_INSTANTIATE_KERNEL(name) for each. kernel_table.cc takes every kernel's
// address, so a forgotten one is an undefined symbol: the addon then fails to load ("undefined
// symbol: ...<name>..."), which fails every native test (a shared object may leave symbols to the
// loader, and an addon must: N-API's come from node).
#pragma once
#include "kernel_table.h"

namespace fastnorm::FASTNORM_ISA_NS {

#define FASTNORM_DECLARE_KERNEL(name) \
  template <class T>                  \
  bool name(const Args<Kernel::name, T>& args, const Exec& exec) noexcept;
FASTNORM_KERNELS(FASTNORM_DECLARE_KERNEL)
#undef FASTNORM_DECLARE_KERNEL

template <class T>
HalfConversions<T> halfConversions();  // convert.cc

#define FASTNORM_INSTANTIATE_KERNEL(name)                                                   \
  template bool name<float>(const Args<Kernel::name, float>&, const Exec&) noexcept;       \
  template bool name<double>(const Args<Kernel::name, double>&, const Exec&) noexcept;

// A kernel of FASTNORM_HALF_KERNELS also for each half-precision call type.
#define FASTNORM_INSTANTIATE_HALF_KERNEL(name)                                                                    \
  template bool name<HalfCall<HalfFormat::Float16, Half<HalfFormat::Float16>>>(                                  \
      const Args<Kernel::name, HalfCall<HalfFormat::Float16, Half<HalfFormat::Float16>>>&, const Exec&) noexcept; \
  template bool name<HalfCall<HalfFormat::Float16, float>>(const Args<Kernel::name, HalfCall<HalfFormat::Float16, float>>&, \
                                                           const Exec&) noexcept;                                \
  template bool name<HalfCall<HalfFormat::BFloat16, Half<HalfFormat::BFloat16>>>(                                \
      const Args<Kernel::name, HalfCall<HalfFormat::BFloat16, Half<HalfFormat::BFloat16>>>&, const Exec&) noexcept; \
  template bool name<HalfCall<HalfFormat::BFloat16, float>>(const Args<Kernel::name, HalfCall<HalfFormat::BFloat16, float>>&, \
                                                            const Exec&) noexcept;

}  // namespace fastnorm::FASTNORM_ISA_NS
