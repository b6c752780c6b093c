// Deterministic reductions shared by every kernel: sums in double lanes with a fixed
// horizontal tree, two-pass moments of a cache-resident run, and Chan's ordered merge.
#pragma once
#include <cmath>

#include "../simd/vec.h"

namespace fastnorm::FASTNORM_ISA_NS {

// (mean, M2) of a run of values, M2 = Σ(x − mean)².
struct Moments {
  double mean, m2;
};

// Σx over n values.
template <class T>
inline double sumValues(const T* x, size_t n) {
  using V = Vec<T>;
  using A = Acc<T>;
  constexpr size_t L = kLanes<T>;
  A s = A::zero();
  size_t i = 0;
  for (; i + L <= n; i += L) s = s + A::of(V::load(x + i));
  if (i < n) s = s + A::of(V::loadPartial(x + i, n - i));
  return s.sum();
}

// Σx² over n values (squares in double: float data up to ~1e30 cannot overflow).
template <class T>
inline double sumSquares(const T* x, size_t n) {
  using V = Vec<T>;
  using A = Acc<T>;
  constexpr size_t L = kLanes<T>;
  A s = A::zero();
  size_t i = 0;
  for (; i + L <= n; i += L) {
    const A v = A::of(V::load(x + i));
    s = s + v * v;
  }
  if (i < n) {
    const A v = A::of(V::loadPartial(x + i, n - i));
    s = s + v * v;
  }
  return s.sum();
}

// Moments of n > 0 cache-resident values, two passes: μ0 = Σx/n, then d = x − μ0 gives
// mean = μ0 + Σd/n and M2 = Σd² − (Σd)²/n (the corrected two-pass algorithm), which stays
// exact for a large mean offset and gives M2 = 0 and mean = x for a constant run.
template <class T>
inline Moments cachedMoments(const T* x, size_t n) {
  using V = Vec<T>;
  using A = Acc<T>;
  constexpr size_t L = kLanes<T>;
  const double mean0 = sumValues(x, n) / double(n);
  const A m = A::broadcast(mean0);
  A s1 = A::zero(), s2 = A::zero();
  size_t i = 0;
  for (; i + L <= n; i += L) {
    const A d = A::of(V::load(x + i)) - m;
    s1 = s1 + d;
    s2 = s2 + d * d;
  }
  if (i < n) {
    const A d = (A::of(V::loadPartial(x + i, n - i)) - m).keepFirst(n - i);
    s1 = s1 + d;
    s2 = s2 + d * d;
  }
  const double sum1 = s1.sum(), sum2 = s2.sum();
  return {mean0 + sum1 / double(n), sum2 - sum1 * sum1 / double(n)};
}

// Chan et al.'s merge of (countA, a) with (countB, b); merged in a fixed order by callers.
inline void mergeMoments(double& countA, Moments& a, double countB, const Moments& b) {
  const double count = countA + countB;
  const double delta = b.mean - a.mean;
  a.mean += delta * (countB / count);
  a.m2 += b.m2 + delta * delta * (countA * countB / count);
  countA = count;
}

// 1/sqrt(var + eps) in double; 0 when var + eps == 0 (then y = bias). NaN propagates.
inline double rstdOf(double var, double eps) {
  const double v = (var < 0 ? 0 : var) + eps;
  return v == 0 ? 0 : 1 / std::sqrt(v);
}

}  // namespace fastnorm::FASTNORM_ISA_NS
