// How kernels size their parallel tasks. Only the split of work over threads depends on these
// numbers and on the thread count, never a result: reductions are cut into blocks fixed by the
// shape (moments.h) and every task writes its own outputs or its own partials.
#pragma once
#include <cstddef>

#include "kernel_table.h"

namespace fastnorm::FASTNORM_ISA_NS {

constexpr size_t kGrainValues = 16384;          // values per parallel task, at least
constexpr size_t kParallelMinValues = 1 << 16;  // smaller jobs run inline: a wake-up costs more

inline size_t minSize(size_t a, size_t b) { return a < b ? a : b; }
inline size_t maxSize(size_t a, size_t b) { return a > b ? a : b; }
inline size_t ceilDiv(size_t a, size_t b) { return (a + b - 1) / b; }
inline size_t gcd(size_t a, size_t b) {
  while (b) {
    const size_t t = a % b;
    a = b;
    b = t;
  }
  return a;
}

// Threads for a job over `values` values.
inline int threadsFor(const Exec& exec, size_t values) { return values < kParallelMinValues ? 1 : exec.threads; }

// Rows of `cols` values per task: at least kGrainValues values, at least one row.
inline size_t rowGrain(size_t cols) { return cols >= kGrainValues ? 1 : kGrainValues / maxSize(cols, 1); }

}  // namespace fastnorm::FASTNORM_ISA_NS
