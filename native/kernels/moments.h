// Deterministic reductions shared by every kernel.
//
// Lane sums: each lane adds up to kLaneBlock vectors in the data type, then the lane partials
// move to double lanes (Acc<T>), and a fixed horizontal tree ends the sum. Short float blocks
// (16 terms a lane) keep float sums accurate to ~1e-6 relative while widening is amortized;
// every ISA does the same operations in the same order, so results match bit for bit.
// A float block that overflows (|x| beyond ~1e18 squared) is redone in double lanes.
#pragma once
#include <cmath>
#include <limits>

#include "lanes.h"

namespace fastnorm::FASTNORM_ISA_NS {

constexpr size_t kLaneBlock = 16;  // vectors summed in the data type before widening

// (mean, M2) of a run of values, M2 = Σ(x − mean)².
struct Moments {
  double mean, m2;
};

// Σ term(v) over the vectors of n values: term(i, k) returns the vector starting at value i
// with k ≤ L valid lanes (the others must be 0).
// Scalar math: sum += term(x[i]) over i, per lane in blocks of kLaneBlock vectors, blocks widened to double.
template <class T, class Term>
inline double laneSum(size_t n, Term term) {
  using V = Vec<T>;
  using A = Acc<T>;
  constexpr size_t L = kLanes<T>;
  const size_t full = n / L;
  A total = A::zero();
  for (size_t v0 = 0; v0 < full; v0 += kLaneBlock) {
    const size_t v1 = v0 + kLaneBlock < full ? v0 + kLaneBlock : full;
    V s = V::zero();
    for (size_t v = v0; v < v1; ++v) s = s + term(v * L, L);
    total = total + A::of(s);
  }
  if (full * L < n) total = total + A::of(term(full * L, n - full * L));
  return total.sum();
}

// The end of two lane sums over n values whose whole vectors are in totalA/totalB: the last
// n mod L values (terms(i, k, a, b) adds the vector at i with k valid lanes), then the totals.
template <class T, class Terms>
__attribute__((always_inline)) inline void finishLaneSums2(size_t n, Terms& terms, Acc<T> totalA, Acc<T> totalB, double& sumA, double& sumB) {
  constexpr size_t L = kLanes<T>;
  const size_t full = n / L;
  if (full * L < n) {
    Vec<T> a = Vec<T>::zero(), b = Vec<T>::zero();
    terms(full * L, n - full * L, a, b);
    totalA = totalA + Acc<T>::of(a);
    totalB = totalB + Acc<T>::of(b);
  }
  sumA = totalA.sum();
  sumB = totalB.sum();
}

// Two sums in one pass (same blocking as laneSum).
// Scalar math: sumA += termA(x[i]), sumB += termB(x[i]) over i.
template <class T, class Terms>
inline void laneSum2(size_t n, Terms terms, double& sumA, double& sumB) {
  using V = Vec<T>;
  using A = Acc<T>;
  constexpr size_t L = kLanes<T>;
  const size_t full = n / L;
  A totalA = A::zero(), totalB = A::zero();
  for (size_t v0 = 0; v0 < full; v0 += kLaneBlock) {
    const size_t v1 = v0 + kLaneBlock < full ? v0 + kLaneBlock : full;
    V a = V::zero(), b = V::zero();
    for (size_t v = v0; v < v1; ++v) terms(v * L, L, a, b);
    totalA = totalA + A::of(a);
    totalB = totalB + A::of(b);
  }
  finishLaneSums2<T>(n, terms, totalA, totalB, sumA, sumB);
}

// ---- double-lane versions: the overflow-safe path for float data ----

// Scalar math (every lane in double): mean0 = Σx/n; s1 = Σ(x − mean0), s2 = Σ(x − mean0)²;
//   mean = mean0 + s1/n, M2 = s2 − s1²/n.
template <class T, class Source>
inline Moments wideMoments(Source x, size_t n) {
  using A = Acc<T>;
  constexpr size_t L = kLanes<T>;
  A s = A::zero();
  for (size_t i = 0; i < n; i += L) s = s + A::of(x(i, n - i < L ? n - i : L));
  const double mean0 = s.sum() / double(n);
  const A m = A::broadcast(mean0);
  A s1 = A::zero(), s2 = A::zero();
  for (size_t i = 0; i < n; i += L) {
    const size_t k = n - i < L ? n - i : L;
    const A d = (A::of(x(i, k)) - m).keepFirst(k);
    s1 = s1 + d;
    s2 = s2 + d * d;
  }
  const double sum1 = s1.sum(), sum2 = s2.sum();
  return {mean0 + sum1 / double(n), sum2 - sum1 * sum1 / double(n)};
}

// Scalar math (every lane in double): Σx².
template <class T, class Source>
inline double wideSumSquares(Source x, size_t n) {
  using A = Acc<T>;
  constexpr size_t L = kLanes<T>;
  A s = A::zero();
  for (size_t i = 0; i < n; i += L) {
    const A v = A::of(x(i, n - i < L ? n - i : L));
    s = s + v * v;
  }
  return s.sum();
}

// ---- the fast paths ----

// Whether a float sum of n squares (of x or of x − mean) may have lost its precision: it
// overflowed (|x| beyond ~1e18), or its terms sit near float's denormal range (|x| below
// ~1e-15; such a row is redone in double — a constant row too, whose squares are all 0).
inline bool floatSquaresLost(double sumOfSquares, size_t n) {
  return !(sumOfSquares >= double(n) * 1e-30 && sumOfSquares <= 3e38);
}

// Σx over n values.
// Scalar math: sum += x.
template <class T>
inline double sumValues(const T* x, size_t n) {
  return laneSum<T>(n, [&](size_t i, size_t k) { return loadLanes(x + i, k); });
}

// Σx² over n values of a source (Values<T>: an array); float squares beyond float range are redone in double.
// Scalar math: sum += x·x.
template <class T, class Source>
inline double sumSquares(Source x, size_t n) {
  const double s = laneSum<T>(n, [&](size_t i, size_t k) {
    const Vec<T> v = x(i, k);
    return v * v;
  });
  if (sizeof(T) == 4 && floatSquaresLost(s, n)) return wideSumSquares<T>(x, n);
  return s;
}
template <class T>
inline double sumSquares(const T* x, size_t n) { return sumSquares<T>(Values<T>{x}, n); }

// Moments by the corrected two-pass algorithm around a shift K (a value of T): d = x − K gives
// mean = K + Σd/n and M2 = Σd² − (Σd)²/n. Exact for a large mean offset (x − K is exact when
// both are close), and M2 = 0, mean = x for a constant run.
// Scalar math: d = x − K; s1 += d, s2 += d·d.
template <class T, class Source>
inline Moments shiftedMoments(Source x, size_t n, T shift) {
  using V = Vec<T>;
  const V m = V::broadcast(shift);
  double sum1, sum2;
  laneSum2<T>(n, [&](size_t i, size_t k, V& s1, V& s2) {
    V d = x(i, k) - m;
    if (k < kLanes<T>) d = d.keepFirst(k);
    s1 = s1 + d;
    s2 = s2 + d * d;
  }, sum1, sum2);
  return {double(shift) + sum1 / double(n), sum2 - sum1 * sum1 / double(n)};
}

// Moments of n > 0 cache-resident values of a source. One pass when the shift K = mean of the
// first vector lies within one standard deviation of the mean ((Σd/n)² ≤ M2/n, so the
// cancellation in M2 costs at most a factor 2); otherwise a second pass around the mean of that
// pass. Float sums that overflow (|x| beyond ~1e18: the first pass's M2 is Inf) take the second
// pass and then, still not finite, are redone in double lanes.
template <class T, class Source>
inline Moments cachedMoments(Source x, size_t n) {
  const size_t head = n < kLanes<T> ? n : kLanes<T>;
  const T shift = T(laneSum<T>(head, [&](size_t i, size_t k) { return x(i, k); }) / double(head));
  Moments m = shiftedMoments<T>(x, n, shift);
  const double offset = m.mean - double(shift);
  if (!(std::isfinite(m.m2) && offset * offset * double(n) <= m.m2)) {
    m = shiftedMoments<T>(x, n, T(m.mean));
    if (sizeof(T) == 4 && !std::isfinite(m.mean)) return wideMoments<T>(x, n);
  }
  if (sizeof(T) == 4 && floatSquaresLost(m.m2, n)) return wideMoments<T>(x, n);
  return m;
}
template <class T>
inline Moments cachedMoments(const T* x, size_t n) { return cachedMoments<T>(Values<T>{x}, n); }

// Chan et al.'s merge of (countA, a) with (countB, b); merged in a fixed order by callers.
inline void mergeMoments(double& countA, Moments& a, double countB, const Moments& b) {
  const double count = countA + countB;
  const double delta = b.mean - a.mean;
  a.mean += delta * (countB / count);
  a.m2 += b.m2 + delta * delta * (countA * countB / count);
  countA = count;
}

// ---- rows: LayerNorm rows and GroupNorm-NCHW groups are reduced the same way ----
// A row of at most kRowInCacheBytes is one block (cachedMoments over the whole row); a longer
// row is cut into blocks of kBlock values whose moments merge in block order. Blocks depend
// only on the row length, so a row gets the same statistics from every kernel and thread count.
constexpr size_t kRowInCacheBytes = 128 * 1024;
constexpr size_t kBlock = 8192;  // values per block of a long row

template <class T>
inline size_t rowBlockLength(size_t n) { return n * sizeof(T) <= kRowInCacheBytes ? n : kBlock; }

// Moments of a row of n > 0 values from its blocks' (mean, M2) pairs q[2b], q[2b + 1]
// (blocks of `block` values, the last one shorter), merged in block order.
inline Moments mergeBlockMoments(const double* q, size_t n, size_t block) {
  double count = double(n < block ? n : block);
  Moments m{q[0], q[1]};
  for (size_t b = 1; b * block < n; ++b) {
    const size_t len = n - b * block < block ? n - b * block : block;
    mergeMoments(count, m, double(len), {q[2 * b], q[2 * b + 1]});
  }
  return m;
}

// out[j] = Σ over partials p of partial[p·stride + j], in partial order. Sums in place into
// partial 0, one sequential sweep per partial (a column-wise walk would touch a new page at
// every step). A NaN sum is stored as the default quiet NaN: when NaNs of both signs meet (an
// input's NaN and one made by ∞ − ∞), which one an addition keeps depends on the operand order
// the compiler picked for that ISA path, so only a canonical NaN is the same bits on every path.
template <class T, class H>
void combineColumns(double* partial, size_t count, size_t stride, size_t n, const ParamArray<T, H>& out) {
  for (size_t p = 1; p < count; ++p) {
    const double* src = partial + p * stride;
    for (size_t j = 0; j < n; ++j) partial[j] += src[j];
  }
  for (size_t j = 0; j < n; ++j)  // once, also into a half
    out.set(j, std::isnan(partial[j]) ? std::numeric_limits<double>::quiet_NaN() : partial[j]);
}

// 1/sqrt(var + eps) in double; 0 when var + eps == 0 (then y = bias). NaN propagates.
inline double rstdOf(double var, double eps) {
  const double v = (var < 0 ? 0 : var) + eps;
  return v == 0 ? 0 : 1 / std::sqrt(v);
}

// PyTorch's running-statistics update, in double: running = (1 − momentum)·running + momentum·batch
// (for the variance, batch is the unbiased batch variance).
// (Element i of the running statistics, whatever their storage: read exactly, rounded once.)
template <class T, class H>
inline void updateRunning(const ParamArray<T, H>& running, size_t i, double momentum, double batch) {
  running.set(i, (1 - momentum) * running.get(i) + momentum * batch);
}

}  // namespace fastnorm::FASTNORM_ISA_NS
