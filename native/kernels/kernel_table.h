// The kernel table: every kernel of kernel_list.h, per dtype, for one ISA (kernel_table.cc,
// compiled per ISA, fills it; runtime/dispatch.cc chooses one; the binding calls through it).
// This header is ISA-independent: plain argument structs and function pointers only.
#pragma once
#include <cstddef>

#include <cstdint>

#include "../simd/half_format.h"
#include "kernel_list.h"

namespace fastnorm {

// How a kernel may run: the thread budget of this call.
struct Exec {
  int threads;
};

// A tensor as N samples × C channels × S spatial positions: (N, C, S) row-major ('NCHW'),
// or (N, S, C) when channelsLast ('NHWC').
struct ChannelShape {
  size_t n, c, s;
  bool channelsLast;
  size_t size() const { return n * c * s; }
};

// A tensor as N samples × C channels × S spatial positions of a kernel's (n, c, s, channelsLast).
template <class A>
ChannelShape channelShapeOf(const A& a) {
  return {a.n, a.c, a.s, a.channelsLast};
}

// The C++ type of an array argument of each dtype rule (kernel_list.h), for a kernel computing in T.
template <schema::Dtype D, class T>
struct FieldType {
  using type = T;  // Data, Param, Stats: the call's dtype
};
template <class T>
struct FieldType<schema::Dtype::Float64, T> {
  using type = double;
};
// A half-precision call (HalfCall<F, P>): data stored as Half<F>, parameters (and their gradients)
// as P, saved statistics float.
template <HalfFormat F, class P>
struct FieldType<schema::Dtype::Data, HalfCall<F, P>> {
  using type = Half<F>;
};
template <HalfFormat F, class P>
struct FieldType<schema::Dtype::Param, HalfCall<F, P>> {
  using type = P;
};
template <HalfFormat F, class P>
struct FieldType<schema::Dtype::Stats, HalfCall<F, P>> {
  using type = float;
};
template <HalfFormat F, class P>
struct FieldType<schema::Dtype::Float64, HalfCall<F, P>> {
  using type = double;
};

// A call type C's C++ types (C: float, double, or HalfCall): what it computes in (its
// statistics' type), its data's storage, its parameters' storage.
template <class C>
using ComputeType = typename FieldType<schema::Dtype::Stats, C>::type;
template <class C>
using DataType = typename FieldType<schema::Dtype::Data, C>::type;
template <class C>
using ParamType = typename FieldType<schema::Dtype::Param, C>::type;

// The call type a kernel's internals are compiled for: C itself, but for a half call
// HalfCall<F, AnyParams>, whose parameter arrays are ParamArrays (lanes.h) whatever their
// storage. The entry points stay one per storage (the binding's table has both); the passes over
// the data, which are nearly all the code, are compiled once per format instead of twice.
template <class C>
struct InnerCallOf {
  using type = C;
};
template <HalfFormat F, class P>
struct InnerCallOf<HalfCall<F, P>> {
  using type = HalfCall<F, AnyParams>;
};
template <class C>
using InnerCall = typename InnerCallOf<C>::type;

// Args<K, T>: kernel K's arguments, its rows of kernel_list.h as members, in order.
template <Kernel K, class T>
struct Args;

#define FASTNORM_MEMBER(kind, ...) FASTNORM_MEMBER_##kind(__VA_ARGS__)
#define FASTNORM_MEMBER_IN(name, dtype, ...) const typename FieldType<schema::Dtype::dtype, T>::type* name;
#define FASTNORM_MEMBER_OUT(name, dtype, ...) typename FieldType<schema::Dtype::dtype, T>::type* name;
#define FASTNORM_MEMBER_INOUT FASTNORM_MEMBER_OUT
#define FASTNORM_MEMBER_SIZE(name, ...) size_t name;
#define FASTNORM_MEMBER_NUMBER(name) double name;
#define FASTNORM_MEMBER_FLAG(name) bool name;
#define FASTNORM_MEMBER_CHOICE(name, choices) uint8_t name;  // the index of its choice
#define FASTNORM_ARGS_STRUCT(name)                                                                   \
  template <class T>                                                                                 \
  struct Args<Kernel::name, T> {                                                                     \
    FASTNORM_ARGS_##name(FASTNORM_MEMBER)                                                           \
  };
FASTNORM_KERNELS(FASTNORM_ARGS_STRUCT)
#undef FASTNORM_ARGS_STRUCT
#undef FASTNORM_MEMBER
#undef FASTNORM_MEMBER_IN
#undef FASTNORM_MEMBER_INOUT
#undef FASTNORM_MEMBER_OUT
#undef FASTNORM_MEMBER_SIZE
#undef FASTNORM_MEMBER_NUMBER
#undef FASTNORM_MEMBER_FLAG
#undef FASTNORM_MEMBER_CHOICE

// A kernel: computes from its arguments with at most exec.threads threads; returns false only
// when it could not get its scratch memory.
template <Kernel K, class T>
using KernelFunction = bool (*)(const Args<K, T>&, const Exec&) noexcept;

// Every kernel of one dtype.
template <class T>
struct KernelSet {
#define FASTNORM_KERNEL_POINTER(name) KernelFunction<Kernel::name, T> name;
  FASTNORM_KERNELS(FASTNORM_KERNEL_POINTER)
#undef FASTNORM_KERNEL_POINTER
};

// The kernels that take half-precision data (FASTNORM_HALF_KERNELS), for one HalfCall type.
template <class C>
struct HalfKernelSet {
#define FASTNORM_KERNEL_POINTER(name) KernelFunction<Kernel::name, C> name;
  FASTNORM_HALF_KERNELS(FASTNORM_KERNEL_POINTER)
#undef FASTNORM_KERNEL_POINTER
};

// A half-precision call's kernels by format and parameter storage: weight/bias (and their
// gradients) in the data's format, or float32.
template <HalfFormat F>
struct HalfKernels {
  HalfKernelSet<HalfCall<F, Half<F>>> halfParams;
  HalfKernelSet<HalfCall<F, float>> floatParams;
};

// Conversions of n values between T and a 16-bit storage format, indexed by HalfFormat
// (convert.cc): narrow rounds once to nearest-even, widen is exact.
template <class T>
struct HalfConversions {
  void (*narrow[kHalfFormats])(const T* src, uint16_t* dst, size_t n, const Exec& exec) noexcept;
  void (*widen[kHalfFormats])(const uint16_t* src, T* dst, size_t n, const Exec& exec) noexcept;
};

struct KernelTable {
  const char* isa;
  KernelSet<float> f32;
  KernelSet<double> f64;
  HalfConversions<float> convertF32;
  HalfConversions<double> convertF64;
  HalfKernels<HalfFormat::Float16> f16;
  HalfKernels<HalfFormat::BFloat16> bf16;
};

// ISA builds compiled into this binary, best first (see dispatch.cc).
#define FASTNORM_DECLARE_ISA_TABLE(ns) \
  namespace ns {                       \
  const KernelTable& kernelTable();    \
  }
#if defined(__x86_64__) || defined(_M_X64)
FASTNORM_DECLARE_ISA_TABLE(avx512)
FASTNORM_DECLARE_ISA_TABLE(avx2)
#endif
#if defined(__aarch64__)
FASTNORM_DECLARE_ISA_TABLE(neon)
#endif
FASTNORM_DECLARE_ISA_TABLE(scalar)
#undef FASTNORM_DECLARE_ISA_TABLE

}  // namespace fastnorm
