// The kernel table: one entry per (op, direction), per dtype. The same list drives each ISA's
// table (kernel_table.cc, compiled per ISA), the dispatcher and the binding.
// This header is ISA-independent: plain argument structs and function pointers only.
#pragma once
#include <cstddef>

namespace fastnorm {

// How a kernel may run: the thread budget of this call.
struct Exec {
  int threads;
};

// LayerNorm (centered) and RMSNorm (not centered) over `rows` contiguous rows of `cols` values.
template <class T>
struct RowNormForwardArgs {
  const T* x;
  size_t rows, cols;
  const T* weight;  // cols values or null
  const T* bias;    // cols values or null (always null for RMSNorm)
  double eps;
  T* y;             // rows*cols, may be x itself
  T* mean;          // rows (null for RMSNorm)
  T* rstd;          // rows
};

template <class T>
struct RowNormBackwardArgs {
  const T* dy;
  const T* x;
  const T* mean;    // rows (null for RMSNorm)
  const T* rstd;    // rows
  size_t rows, cols;
  const T* weight;  // cols values or null
  T* dx;            // rows*cols
  T* dweight;       // cols or null (not requested)
  T* dbias;         // cols or null (not requested; always null for RMSNorm)
};

// X(name, ArgsTemplate): every kernel. A kernel returns false only when it could not get its
// scratch memory.
#define FASTNORM_KERNEL_LIST(X)               \
  X(layerNormForward, RowNormForwardArgs)     \
  X(layerNormBackward, RowNormBackwardArgs)   \
  X(rmsNormForward, RowNormForwardArgs)       \
  X(rmsNormBackward, RowNormBackwardArgs)

template <class T>
struct KernelSet {
#define FASTNORM_KERNEL_POINTER(name, Args) bool (*name)(const Args<T>&, const Exec&) noexcept;
  FASTNORM_KERNEL_LIST(FASTNORM_KERNEL_POINTER)
#undef FASTNORM_KERNEL_POINTER
};

struct KernelTable {
  const char* isa;
  KernelSet<float> f32;
  KernelSet<double> f64;
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
