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

// A tensor as N samples × C channels × S spatial positions: (N, C, S) row-major ('NCHW'),
// or (N, S, C) when channelsLast ('NHWC').
struct ChannelShape {
  size_t n, c, s;
  bool channelsLast;
  size_t size() const { return n * c * s; }
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

// BatchNorm: statistics per channel over N and every spatial position.
template <class T>
struct BatchNormForwardArgs {
  const T* x;
  ChannelShape shape;
  const T* weight;    // C or null
  const T* bias;      // C or null
  T* runningMean;     // C or null; training updates it in place, eval reads it
  T* runningVar;      // C or null (same)
  double momentum, eps;
  bool training;
  T* y;               // may be x itself
  T* mean;            // C: batch mean (training) or the running mean (eval)
  T* rstd;            // C
};

template <class T>
struct BatchNormBackwardArgs {
  const T* dy;
  const T* x;
  const T* mean;      // C, saved by the forward
  const T* rstd;      // C
  ChannelShape shape;
  const T* weight;    // C or null
  bool training;      // false: gradient through fixed (running) statistics
  T* dx;
  T* dweight;         // C or null (not requested)
  T* dbias;           // C or null
};

// Synchronized-BatchNorm building blocks (per-channel statistics in double, exact to merge).
template <class T>
struct BatchNormStatsArgs {
  const T* x;
  ChannelShape shape;
  double* mean;       // C
  double* m2;         // C: Σ(x − mean)²
};

template <class T>
struct BatchNormApplyArgs {  // y = (x − mean)·rstd·w + b with given statistics
  const T* x;
  ChannelShape shape;
  const T* mean;
  const T* rstd;
  const T* weight;
  const T* bias;
  T* y;
};

template <class T>
struct BatchNormBackwardReduceArgs {
  const T* dy;
  const T* x;
  const T* mean;
  ChannelShape shape;
  double* sumDy;      // C: Σdy
  double* sumDyXmu;   // C: Σdy·(x − mean)
};

template <class T>
struct BatchNormBackwardApplyArgs {  // dx from the (all-reduced) sums over `count` values per channel
  const T* dy;
  const T* x;
  const T* mean;
  const T* rstd;
  ChannelShape shape;
  const T* weight;
  const double* sumDy;
  const double* sumDyXmu;
  double count;
  T* dx;
};

// GroupNorm: statistics per (n, group of C/groups channels) over those channels × S positions.
// InstanceNorm is groups == C, optionally with running statistics (PyTorch's track_running_stats).
template <class T>
struct GroupNormForwardArgs {
  const T* x;
  ChannelShape shape;
  size_t groups;       // ≥ 1, divides shape.c
  const T* weight;     // C or null
  const T* bias;       // C or null
  T* runningMean;      // C or null (groups == C only): updated in place when useInputStats
  T* runningVar;       // C or null: updated with the unbiased variance, averaged over N
  double momentum, eps;
  bool useInputStats;  // false: normalize with the running statistics (then required)
  T* y;                // may be x itself
  T* mean;             // N·groups, n-major (useInputStats false: the running mean, tiled over N)
  T* rstd;             // N·groups
};

template <class T>
struct GroupNormBackwardArgs {
  const T* dy;
  const T* x;
  const T* mean;       // N·groups, saved by the forward
  const T* rstd;       // N·groups
  ChannelShape shape;
  size_t groups;
  const T* weight;     // C or null
  bool useInputStats;  // false: the statistics were constants (running stats): dx = dy·w·rstd
  T* dx;
  T* dweight;          // C or null (not requested)
  T* dbias;            // C or null
};

// X(name, ArgsTemplate): every kernel. A kernel returns false only when it could not get its
// scratch memory.
#define FASTNORM_KERNEL_LIST(X)               \
  X(layerNormForward, RowNormForwardArgs)     \
  X(layerNormBackward, RowNormBackwardArgs)   \
  X(rmsNormForward, RowNormForwardArgs)       \
  X(rmsNormBackward, RowNormBackwardArgs)                 \
  X(batchNormForward, BatchNormForwardArgs)               \
  X(batchNormBackward, BatchNormBackwardArgs)             \
  X(batchNormStats, BatchNormStatsArgs)                   \
  X(batchNormApply, BatchNormApplyArgs)                   \
  X(batchNormBackwardReduce, BatchNormBackwardReduceArgs) \
  X(batchNormBackwardApply, BatchNormBackwardApplyArgs) \
  X(groupNormForward, GroupNormForwardArgs)               \
  X(groupNormBackward, GroupNormBackwardArgs)

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
