// LayerNorm and RMSNorm, forward and backward, over `rows` contiguous rows of `cols` values.
//
// Forward, a row that fits in cache (cols·sizeof(T) ≤ 128 KiB): moments in two passes over
// the row (moments.h, double lanes), then y in a third; passes 2 and 3 hit cache, so DRAM sees
// 1 read + 1 write. RMSNorm: one pass Σx², then y. A huge row is cut into blocks of kBlock
// values: each block's (mean, M2), merged in block order, then y block by block (2 reads +
// 1 write), parallel over (row, block) so one huge row still uses every thread.
//
// Backward, per row: one read of x and dy gives Σg and Σg·x̂ (g = dy·w, double lanes) and adds
// dy·x̂ and dy into its row block's dweight/dbias partial; dx is written from cache (2 reads +
// 1 write). Row blocks depend only on the shape and partials combine in block order, so every
// thread count gives the same bits. Huge rows: per column block, Σg, Σg·x̂ partials per row and
// the column sums in row order, then dx (4 reads + 1 write).
//
// Precision: statistics and gradient sums in double; the elementwise passes in the data type,
// with the float mean split into hi + lo so (x − μ) keeps the precision of x.
#include "row_norm.h"

#include "../runtime/thread_pool.h"
#include "moments.h"

namespace fastnorm::FASTNORM_ISA_NS {
namespace {

using runtime::parallelFor;
using runtime::ScratchDoubles;

constexpr size_t kRowInCacheBytes = 128 * 1024;
constexpr size_t kBlock = 8192;                  // values per block of a huge row
constexpr size_t kGrainValues = 16384;           // values per parallel task, at least
constexpr size_t kParallelMinValues = 1 << 15;   // smaller jobs run inline: a wake-up costs more
constexpr size_t kMaxRowBlocks = 64;             // dweight/dbias partials per backward call
constexpr size_t kMinBlockRows = 8;

template <class T> constexpr bool kIsFloat = sizeof(T) == 4;

inline size_t minSize(size_t a, size_t b) { return a < b ? a : b; }
inline size_t ceilDiv(size_t a, size_t b) { return (a + b - 1) / b; }
inline int threadsFor(const Exec& exec, size_t values) { return values < kParallelMinValues ? 1 : exec.threads; }
inline size_t rowGrain(size_t cols) { return cols >= kGrainValues ? 1 : kGrainValues / cols; }

// The mean as hi + lo in T, so that (x − hi) − lo is as exact as x − mean in double.
template <class T>
struct SplitMean {
  T hi, lo;
  explicit SplitMean(double mean) : hi(T(mean)), lo(kIsFloat<T> ? T(mean - double(T(mean))) : T(0)) {}
};

// y = ((x − μ)·rstd)·w + b over n values (Centered = LayerNorm; RMSNorm uses y = (x·rstd)·w).
template <class T, bool Centered, bool HasWeight, bool HasBias>
void normalizeRun(const T* x, T* y, size_t n, const T* w, const T* b, SplitMean<T> mean, T rstd) {
  using V = Vec<T>;
  constexpr size_t L = kLanes<T>;
  const V hi = V::broadcast(mean.hi), lo = V::broadcast(mean.lo), r = V::broadcast(rstd);
  auto compute = [&](V v, V wv, V bv) {
    if constexpr (Centered) {
      v = v - hi;
      if constexpr (kIsFloat<T>) v = v - lo;
    }
    v = v * r;
    if constexpr (HasWeight) v = v * wv;
    if constexpr (HasBias) v = v + bv;
    return v;
  };
  size_t i = 0;
  for (; i + L <= n; i += L)
    compute(V::load(x + i), HasWeight ? V::load(w + i) : V::zero(), HasBias ? V::load(b + i) : V::zero()).store(y + i);
  if (i < n) {
    const size_t k = n - i;
    compute(V::loadPartial(x + i, k), HasWeight ? V::loadPartial(w + i, k) : V::zero(),
            HasBias ? V::loadPartial(b + i, k) : V::zero())
        .storePartial(y + i, k);
  }
}

// Picks the normalizeRun instantiation for the optional weight and bias.
template <class T, bool Centered>
void normalize(const T* x, T* y, size_t n, const T* w, const T* b, SplitMean<T> mean, T rstd) {
  if (w && b) normalizeRun<T, Centered, true, true>(x, y, n, w, b, mean, rstd);
  else if (w) normalizeRun<T, Centered, true, false>(x, y, n, w, b, mean, rstd);
  else if (b) normalizeRun<T, Centered, false, true>(x, y, n, w, b, mean, rstd);
  else normalizeRun<T, Centered, false, false>(x, y, n, w, b, mean, rstd);
}

// Row statistics in double: mean (0 for RMSNorm) and rstd.
struct RowStats {
  double mean, rstd;
};

template <class T, bool Centered>
RowStats cachedRowStats(const T* x, size_t n, double eps) {
  if constexpr (Centered) {
    const Moments m = cachedMoments(x, n);
    return {m.mean, rstdOf(m.m2 / double(n), eps)};
  } else {
    return {0, rstdOf(sumSquares(x, n) / double(n), eps)};
  }
}

template <class T, bool Centered>
void storeStats(const RowNormForwardArgs<T>& a, size_t row, RowStats s) {
  if constexpr (Centered) a.mean[row] = T(s.mean);
  a.rstd[row] = T(s.rstd);
}

template <class T, bool Centered>
bool forwardHugeRows(const RowNormForwardArgs<T>& a, const Exec& exec) noexcept {
  const size_t n = a.cols, blocks = ceilDiv(n, kBlock), tasks = a.rows * blocks;
  ScratchDoubles partial(tasks * 2);  // per (row, block): mean, M2 (RMSNorm: Σx²)
  if (!partial.data()) return false;
  double* p = partial.data();
  const int threads = threadsFor(exec, a.rows * n);
  parallelFor(tasks, 1, threads, [&](size_t t0, size_t t1) {
    for (size_t t = t0; t < t1; ++t) {
      const size_t row = t / blocks, begin = (t % blocks) * kBlock, len = minSize(kBlock, n - begin);
      const T* x = a.x + row * n + begin;
      if constexpr (Centered) {
        const Moments m = cachedMoments(x, len);
        p[2 * t] = m.mean;
        p[2 * t + 1] = m.m2;
      } else {
        p[2 * t] = sumSquares(x, len);
      }
    }
  });
  for (size_t row = 0; row < a.rows; ++row) {  // merge in block order; the row's stats go to slot 0
    double* q = p + 2 * row * blocks;
    RowStats s;
    if constexpr (Centered) {
      double count = double(minSize(kBlock, n));
      Moments m{q[0], q[1]};
      for (size_t b = 1; b < blocks; ++b) mergeMoments(count, m, double(minSize(kBlock, n - b * kBlock)), {q[2 * b], q[2 * b + 1]});
      s = {m.mean, rstdOf(m.m2 / double(n), a.eps)};
    } else {
      double squares = 0;
      for (size_t b = 0; b < blocks; ++b) squares += q[2 * b];
      s = {0, rstdOf(squares / double(n), a.eps)};
    }
    storeStats<T, Centered>(a, row, s);
    q[0] = s.mean;
  }
  parallelFor(tasks, 1, threads, [&](size_t t0, size_t t1) {
    for (size_t t = t0; t < t1; ++t) {
      const size_t row = t / blocks, begin = (t % blocks) * kBlock, len = minSize(kBlock, n - begin);
      const size_t at = row * n + begin;
      normalize<T, Centered>(a.x + at, a.y + at, len, a.weight ? a.weight + begin : nullptr,
                             a.bias ? a.bias + begin : nullptr, SplitMean<T>(p[2 * row * blocks]), a.rstd[row]);
    }
  });
  return true;
}

template <class T, bool Centered>
bool rowNormForward(const RowNormForwardArgs<T>& a, const Exec& exec) noexcept {
  const size_t n = a.cols;
  if (a.rows == 0) return true;
  if (n == 0) {  // statistics of an empty set: NaN, as the mean of nothing
    for (size_t row = 0; row < a.rows; ++row) storeStats<T, Centered>(a, row, {NAN, NAN});
    return true;
  }
  if (n * sizeof(T) > kRowInCacheBytes) return forwardHugeRows<T, Centered>(a, exec);
  parallelFor(a.rows, rowGrain(n), threadsFor(exec, a.rows * n), [&](size_t r0, size_t r1) {
    for (size_t row = r0; row < r1; ++row) {
      const T* x = a.x + row * n;
      const RowStats s = cachedRowStats<T, Centered>(x, n, a.eps);
      storeStats<T, Centered>(a, row, s);
      normalize<T, Centered>(x, a.y + row * n, n, a.weight, a.bias, SplitMean<T>(s.mean), T(s.rstd));
    }
  });
  return true;
}

// ---- backward ----

// Saved statistics of one row, as vectors: x̂ = (x − mean)·rstd (RMSNorm: x·rstd).
template <class T, bool Centered>
struct Xhat {
  Vec<T> mean, rstd;
  Xhat(const RowNormBackwardArgs<T>& a, size_t row)
      : mean(Vec<T>::broadcast(Centered ? a.mean[row] : T(0))), rstd(Vec<T>::broadcast(a.rstd[row])) {}
  Vec<T> operator()(Vec<T> x) const { return Centered ? (x - mean) * rstd : x * rstd; }
};

struct GradSums {
  double g, gx;  // Σg and Σg·x̂, g = dy·w
};

// Scalar math: Σg, Σg·x̂ over n values; dw[i] += dy·x̂, db[i] += dy (double partials, optional).
template <class T, bool Centered, bool HasWeight>
GradSums gradSums(const T* x, const T* dy, const T* w, size_t n, const Xhat<T, Centered>& xhat, double* dw, double* db) {
  using V = Vec<T>;
  using A = Acc<T>;
  constexpr size_t L = kLanes<T>;
  A sg = A::zero(), sgx = A::zero();
  auto step = [&](size_t i, size_t k) {  // k = lanes in use (L, or the tail)
    const bool full = k == L;
    const V xh = xhat(full ? V::load(x + i) : V::loadPartial(x + i, k));
    const V d = full ? V::load(dy + i) : V::loadPartial(dy + i, k);
    const V g = HasWeight ? d * (full ? V::load(w + i) : V::loadPartial(w + i, k)) : d;
    sg = sg + A::of(g);
    sgx = sgx + (full ? A::of(g * xh) : A::of(g * xh).keepFirst(k));
    if (dw) {
      const A dxh = full ? A::of(d * xh) : A::of(d * xh).keepFirst(k);
      (full ? A::load(dw + i) + dxh : A::loadPartial(dw + i, k) + dxh).storePartial(dw + i, k);
    }
    if (db) (full ? A::load(db + i) + A::of(d) : A::loadPartial(db + i, k) + A::of(d)).storePartial(db + i, k);
  };
  size_t i = 0;
  for (; i + L <= n; i += L) step(i, L);
  if (i < n) step(i, n - i);
  return {sg.sum(), sgx.sum()};
}

// Scalar math: dx = ((g − mean(g)) − x̂·mean(g·x̂))·rstd (RMSNorm: (g − x̂·mean(g·x̂))·rstd).
template <class T, bool Centered, bool HasWeight>
void writeDx(const T* x, const T* dy, const T* w, T* dx, size_t n, const Xhat<T, Centered>& xhat, T meanG, T meanGx) {
  using V = Vec<T>;
  constexpr size_t L = kLanes<T>;
  const V mg = V::broadcast(meanG), mgx = V::broadcast(meanGx);
  auto compute = [&](V xv, V d, V wv) {
    const V xh = xhat(xv);
    const V g = HasWeight ? d * wv : d;
    return (Centered ? (g - mg) - xh * mgx : g - xh * mgx) * xhat.rstd;
  };
  size_t i = 0;
  for (; i + L <= n; i += L) compute(V::load(x + i), V::load(dy + i), HasWeight ? V::load(w + i) : V::zero()).store(dx + i);
  if (i < n) {
    const size_t k = n - i;
    compute(V::loadPartial(x + i, k), V::loadPartial(dy + i, k), HasWeight ? V::loadPartial(w + i, k) : V::zero())
        .storePartial(dx + i, k);
  }
}

template <class T, bool Centered, bool HasWeight>
void backwardRow(const RowNormBackwardArgs<T>& a, size_t row, double* dw, double* db) {
  const size_t n = a.cols, at = row * n;
  const Xhat<T, Centered> xhat(a, row);
  const GradSums s = gradSums<T, Centered, HasWeight>(a.x + at, a.dy + at, a.weight, n, xhat, dw, db);
  writeDx<T, Centered, HasWeight>(a.x + at, a.dy + at, a.weight, a.dx + at, n, xhat, T(s.g / double(n)), T(s.gx / double(n)));
}

// dweight/dbias[j] = Σ over partials p of partial[p·stride + j], in partial order.
template <class T>
void combineColumns(const double* partial, size_t count, size_t stride, size_t n, T* out) {
  for (size_t j = 0; j < n; ++j) {
    double s = 0;
    for (size_t p = 0; p < count; ++p) s += partial[p * stride + j];
    out[j] = T(s);
  }
}

template <class T, bool Centered, bool HasWeight>
bool backwardHugeRows(const RowNormBackwardArgs<T>& a, const Exec& exec) noexcept {
  const size_t n = a.cols, blocks = ceilDiv(n, kBlock);
  // per (row, block): Σg, Σg·x̂; then the column sums dw (n) and db (n)
  ScratchDoubles scratch(a.rows * blocks * 2 + 2 * n);
  if (!scratch.data()) return false;
  double* rowPart = scratch.data();
  double* dw = a.dweight ? rowPart + a.rows * blocks * 2 : nullptr;
  double* db = a.dbias ? rowPart + a.rows * blocks * 2 + n : nullptr;
  const int threads = threadsFor(exec, a.rows * n);
  parallelFor(blocks, 1, threads, [&](size_t b0, size_t b1) {
    for (size_t b = b0; b < b1; ++b) {
      const size_t begin = b * kBlock, len = minSize(kBlock, n - begin);
      if (dw) for (size_t j = 0; j < len; ++j) dw[begin + j] = 0;
      if (db) for (size_t j = 0; j < len; ++j) db[begin + j] = 0;
      for (size_t row = 0; row < a.rows; ++row) {
        const size_t at = row * n + begin;
        const GradSums s = gradSums<T, Centered, HasWeight>(a.x + at, a.dy + at, HasWeight ? a.weight + begin : nullptr, len,
                                                            Xhat<T, Centered>(a, row), dw ? dw + begin : nullptr,
                                                            db ? db + begin : nullptr);
        rowPart[2 * (row * blocks + b)] = s.g;
        rowPart[2 * (row * blocks + b) + 1] = s.gx;
      }
    }
  });
  for (size_t row = 0; row < a.rows; ++row) {  // fold blocks in order; the row's means go to slot 0
    double* q = rowPart + 2 * row * blocks;
    GradSums s{0, 0};
    for (size_t b = 0; b < blocks; ++b) s.g += q[2 * b], s.gx += q[2 * b + 1];
    q[0] = s.g / double(n);
    q[1] = s.gx / double(n);
  }
  parallelFor(a.rows * blocks, 1, threads, [&](size_t t0, size_t t1) {
    for (size_t t = t0; t < t1; ++t) {
      const size_t row = t / blocks, begin = (t % blocks) * kBlock, len = minSize(kBlock, n - begin);
      const size_t at = row * n + begin;
      const double* q = rowPart + 2 * row * blocks;
      writeDx<T, Centered, HasWeight>(a.x + at, a.dy + at, HasWeight ? a.weight + begin : nullptr, a.dx + at, len,
                                      Xhat<T, Centered>(a, row), T(q[0]), T(q[1]));
    }
  });
  if (dw) combineColumns(dw, 1, 0, n, a.dweight);
  if (db) combineColumns(db, 1, 0, n, a.dbias);
  return true;
}

template <class T, bool Centered, bool HasWeight>
bool backwardRows(const RowNormBackwardArgs<T>& a, const Exec& exec) noexcept {
  const size_t n = a.cols, rows = a.rows;
  if (n * sizeof(T) > kRowInCacheBytes) return backwardHugeRows<T, Centered, HasWeight>(a, exec);
  const int threads = threadsFor(exec, rows * n);
  if (!a.dweight && !a.dbias) {
    parallelFor(rows, rowGrain(n), threads, [&](size_t r0, size_t r1) {
      for (size_t row = r0; row < r1; ++row) backwardRow<T, Centered, HasWeight>(a, row, nullptr, nullptr);
    });
    return true;
  }
  // Row blocks fixed by the shape; each accumulates its own dweight/dbias partial row.
  const size_t blockRows = rows / kMaxRowBlocks > kMinBlockRows ? ceilDiv(rows, kMaxRowBlocks) : kMinBlockRows;
  const size_t blocks = ceilDiv(rows, blockRows);
  ScratchDoubles scratch(blocks * 2 * n);
  if (!scratch.data()) return false;
  double* partial = scratch.data();
  parallelFor(blocks, 1, threads, [&](size_t b0, size_t b1) {
    for (size_t b = b0; b < b1; ++b) {
      double* dw = a.dweight ? partial + b * 2 * n : nullptr;
      double* db = a.dbias ? partial + b * 2 * n + n : nullptr;
      for (size_t j = 0; j < n; ++j) partial[b * 2 * n + j] = partial[b * 2 * n + n + j] = 0;
      for (size_t row = b * blockRows; row < minSize(rows, (b + 1) * blockRows); ++row)
        backwardRow<T, Centered, HasWeight>(a, row, dw, db);
    }
  });
  if (a.dweight) combineColumns(partial, blocks, 2 * n, n, a.dweight);
  if (a.dbias) combineColumns(partial + n, blocks, 2 * n, n, a.dbias);
  return true;
}

template <class T, bool Centered>
bool rowNormBackward(const RowNormBackwardArgs<T>& a, const Exec& exec) noexcept {
  if (a.rows == 0 || a.cols == 0) {  // parameter gradients of an empty batch are zero
    for (size_t j = 0; j < a.cols; ++j) {
      if (a.dweight) a.dweight[j] = 0;
      if (a.dbias) a.dbias[j] = 0;
    }
    return true;
  }
  return a.weight ? backwardRows<T, Centered, true>(a, exec) : backwardRows<T, Centered, false>(a, exec);
}

}  // namespace

template <class T> bool layerNormForward(const RowNormForwardArgs<T>& a, const Exec& e) noexcept { return rowNormForward<T, true>(a, e); }
template <class T> bool rmsNormForward(const RowNormForwardArgs<T>& a, const Exec& e) noexcept { return rowNormForward<T, false>(a, e); }
template <class T> bool layerNormBackward(const RowNormBackwardArgs<T>& a, const Exec& e) noexcept { return rowNormBackward<T, true>(a, e); }
template <class T> bool rmsNormBackward(const RowNormBackwardArgs<T>& a, const Exec& e) noexcept { return rowNormBackward<T, false>(a, e); }

#define FASTNORM_INSTANTIATE(T)                                                                    \
  template bool layerNormForward<T>(const RowNormForwardArgs<T>&, const Exec&) noexcept;           \
  template bool rmsNormForward<T>(const RowNormForwardArgs<T>&, const Exec&) noexcept;             \
  template bool layerNormBackward<T>(const RowNormBackwardArgs<T>&, const Exec&) noexcept;         \
  template bool rmsNormBackward<T>(const RowNormBackwardArgs<T>&, const Exec&) noexcept;
FASTNORM_INSTANTIATE(float)
FASTNORM_INSTANTIATE(double)

}  // namespace fastnorm::FASTNORM_ISA_NS
