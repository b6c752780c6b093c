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
#include <type_traits>

#include "../runtime/thread_pool.h"
#include "kernels.h"
#include "moments.h"
#include "normalize.h"
#include "schedule.h"

namespace fastnorm::FASTNORM_ISA_NS {
namespace {

using runtime::parallelFor;
using runtime::ScratchDoubles;

// What the LayerNorm (centered) and RMSNorm kernels share: their arguments, RMSNorm's mean and
// bias null.
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

constexpr size_t kMaxRowBlocks = 64;             // dweight/dbias partials per backward call
constexpr size_t kMinBlockRows = 8;

// Scalar math: y = ((x − μ)·rstd)·w + b over n values (RMSNorm: y = (x·rstd)·w), w and b per element.
template <class T, bool Centered>
void normalize(const T* x, T* y, size_t n, const T* w, const T* b, SplitMean<T> mean, T rstd, bool stream) {
  withStream(stream, [&](auto streamed) {
    constexpr bool Stream = decltype(streamed)::value;
    withPerElement(w, b, [&](auto wv, auto bv) {
      const Broadcast<T> r(rstd);
      if constexpr (Centered)
        withBroadcastMean(mean, [&](auto hi, auto lo) { normalizeRun<T, Stream>(x, y, n, Linear(), hi, lo, r, wv, bv); });
      else
        normalizeRun<T, Stream>(x, y, n, Linear(), Absent(), Absent(), r, wv, bv);
    });
  });
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
      const Moments m = mergeBlockMoments(q, n, kBlock);
      s = {m.mean, rstdOf(m.m2 / double(n), a.eps)};
    } else {
      double squares = 0;
      for (size_t b = 0; b < blocks; ++b) squares += q[2 * b];
      s = {0, rstdOf(squares / double(n), a.eps)};
    }
    storeStats<T, Centered>(a, row, s);
    q[0] = s.mean;
  }
  const bool stream = streamOutput<T>(a.rows * n);
  parallelFor(tasks, 1, threads, [&](size_t t0, size_t t1) {
    for (size_t t = t0; t < t1; ++t) {
      const size_t row = t / blocks, begin = (t % blocks) * kBlock, len = minSize(kBlock, n - begin);
      const size_t at = row * n + begin;
      normalize<T, Centered>(a.x + at, a.y + at, len, a.weight ? a.weight + begin : nullptr,
                             a.bias ? a.bias + begin : nullptr, SplitMean<T>(p[2 * row * blocks]), a.rstd[row], stream);
    }
    if (stream) streamFence();
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
  const bool stream = streamOutput<T>(a.rows * n);
  parallelFor(a.rows, rowGrain(n), threadsFor(exec, a.rows * n), [&](size_t r0, size_t r1) {
    for (size_t row = r0; row < r1; ++row) {
      const T* x = a.x + row * n;
      const RowStats s = cachedRowStats<T, Centered>(x, n, a.eps);
      storeStats<T, Centered>(a, row, s);
      normalize<T, Centered>(x, a.y + row * n, n, a.weight, a.bias, SplitMean<T>(s.mean), T(s.rstd), stream);
    }
    if (stream) streamFence();
  });
  return true;
}

// ---- backward ----

// Saved statistics of one row, broadcast: x̂ = (x − mean)·rstd (RMSNorm: x·rstd).
template <class T, bool Centered>
using RowXhat = Xhat<T, std::conditional_t<Centered, Broadcast<T>, Absent>, Broadcast<T>>;

template <class T, bool Centered>
RowXhat<T, Centered> rowXhat(const RowNormBackwardArgs<T>& a, size_t row) {
  RowXhat<T, Centered> xhat;
  if constexpr (Centered) xhat.mean = Broadcast<T>(a.mean[row]);
  xhat.rstd = Broadcast<T>(a.rstd[row]);
  return xhat;
}

struct GradSums {
  double g, gx;  // Σg and Σg·x̂, g = dy·w
};

// Rows processed together by the backward: their dy·x̂ and dy are added into dweight/dbias
// while one vector of the sums is in registers (one load/store per group, not per row). The
// additions happen row after row, exactly as one row at a time would do them.
constexpr size_t kRowsPerGroup = 4;

// Scalar math, for rows j of a group over columns [begin, begin + len):
//   Σg_j, Σg_j·x̂_j (g = dy·w) → sums[j];  dw[i] += dy_j·x̂_j,  db[i] += dy_j  (dw/db optional).
// Each row's sums use the lane blocking of laneSum2, written out so stores to dw/db cannot
// force the compiler to reload the other pointers every vector.
template <class T, bool Centered, bool HasWeight, size_t R>
void gradSumsRows(const RowNormBackwardArgs<T>& a, size_t row0, size_t begin, size_t len, T* __restrict dw,
                  T* __restrict db, GradSums* sums) {
  using V = Vec<T>;
  using A = Acc<T>;
  constexpr size_t L = kLanes<T>;
  const T* x[R];
  const T* dy[R];
  RowXhat<T, Centered> xhat[R];
  for (size_t j = 0; j < R; ++j) {
    x[j] = a.x + (row0 + j) * a.cols + begin;
    dy[j] = a.dy + (row0 + j) * a.cols + begin;
    xhat[j] = rowXhat<T, Centered>(a, row0 + j);
  }
  const T* __restrict w = HasWeight ? a.weight + begin : nullptr;
  A totalG[R], totalGx[R];
  for (size_t j = 0; j < R; ++j) totalG[j] = totalGx[j] = A::zero();
  auto step = [&](size_t i, size_t k, V* sg, V* sgx) __attribute__((always_inline)) {
    V sumDxh = dw ? loadLanes(dw + i, k) : V::zero();
    V sumD = db ? loadLanes(db + i, k) : V::zero();
    const V wv = HasWeight ? loadLanes(w + i, k) : V::zero();
    for (size_t j = 0; j < R; ++j) {
      const V xh = xhat[j](loadLanes(x[j] + i, k), i, k);
      const V d = loadLanes(dy[j] + i, k);
      const V g = HasWeight ? d * wv : d;
      V gx = g * xh, dxh = d * xh;
      if (k < L) gx = gx.keepFirst(k), dxh = dxh.keepFirst(k);  // x̂ of the zero padding is not 0
      sg[j] = sg[j] + g;
      sgx[j] = sgx[j] + gx;
      sumDxh = sumDxh + dxh;
      sumD = sumD + d;
    }
    if (dw) storeLanes(sumDxh, dw + i, k);
    if (db) storeLanes(sumD, db + i, k);
  };
  auto flushLanes = [&](const V* sg, const V* sgx) __attribute__((always_inline)) {
    for (size_t j = 0; j < R; ++j) totalG[j] = totalG[j] + A::of(sg[j]), totalGx[j] = totalGx[j] + A::of(sgx[j]);
  };
  const size_t full = len / L;
  for (size_t v0 = 0; v0 < full; v0 += kLaneBlock) {
    const size_t v1 = v0 + kLaneBlock < full ? v0 + kLaneBlock : full;
    V sg[R], sgx[R];
    for (size_t j = 0; j < R; ++j) sg[j] = sgx[j] = V::zero();
    for (size_t v = v0; v < v1; ++v) step(v * L, L, sg, sgx);
    flushLanes(sg, sgx);
  }
  if (full * L < len) {
    V sg[R], sgx[R];
    for (size_t j = 0; j < R; ++j) sg[j] = sgx[j] = V::zero();
    step(full * L, len - full * L, sg, sgx);
    flushLanes(sg, sgx);
  }
  for (size_t j = 0; j < R; ++j) sums[j] = {totalG[j].sum(), totalGx[j].sum()};
}

// Calls f(row0, std::integral_constant<size_t, R>) for consecutive groups of up to
// kRowsPerGroup rows of [rowBegin, rowEnd).
template <class F>
void forEachRowGroup(size_t rowBegin, size_t rowEnd, F f) {
  size_t row = rowBegin;
  for (; row + kRowsPerGroup <= rowEnd; row += kRowsPerGroup) f(row, std::integral_constant<size_t, kRowsPerGroup>());
  switch (rowEnd - row) {
    case 3: f(row, std::integral_constant<size_t, 3>()); break;
    case 2: f(row, std::integral_constant<size_t, 2>()); break;
    case 1: f(row, std::integral_constant<size_t, 1>()); break;
    default: break;
  }
}

// dweight/dbias sums over the rows of one task. Rows add into sums of the data type (cheap);
// every kRowGroup rows these move into double sums, so float sums stay accurate to ~1e-6.
template <class T>
class ParamGradSums {
 public:
  static constexpr size_t kRowGroup = 4 * kRowsPerGroup;
  // Sums of n columns; dw/groupDw (db/groupDb) are null when that gradient is not requested.
  ParamGradSums(size_t n, double* dw, double* db, T* groupDw, T* groupDb)
      : n_(n), dw_(dw), db_(db), groupDw_(groupDw), groupDb_(groupDb) {
    if (dw_) zero(dw_, groupDw_);
    if (db_) zero(db_, groupDb_);
  }
  T* rowDw() const { return groupDw_; }
  T* rowDb() const { return groupDb_; }
  // Called after every row group (kRowGroup is a multiple of kRowsPerGroup).
  void rowsDone(size_t count) {
    rows_ += count;
    if (rows_ >= kRowGroup) flush();
  }
  void flush() {
    if (rows_ == 0) return;
    if (dw_) moveToDouble(groupDw_, dw_);
    if (db_) moveToDouble(groupDb_, db_);
    rows_ = 0;
  }

 private:
  void zero(double* sums, T* group) {
    for (size_t j = 0; j < n_; ++j) sums[j] = 0;
    for (size_t j = 0; j < n_; ++j) group[j] = T(0);
  }
  void moveToDouble(T* __restrict group, double* __restrict sums) {
    for (size_t j = 0; j < n_; ++j) sums[j] += double(group[j]);
    for (size_t j = 0; j < n_; ++j) group[j] = T(0);
  }

  size_t n_, rows_ = 0;
  double *dw_, *db_;
  T *groupDw_, *groupDb_;
};

// Scalar math: dx = ((g − mean(g)) − x̂·mean(g·x̂))·rstd (RMSNorm: (g − x̂·mean(g·x̂))·rstd), w per element.
template <class T, bool Centered, bool HasWeight>
void writeDx(const T* x, const T* dy, const T* w, T* dx, size_t n, const RowXhat<T, Centered>& xhat, T meanG, T meanGx,
             bool stream) {
  withStream(stream, [&](auto streamed) {
    constexpr bool Stream = decltype(streamed)::value;
    const Broadcast<T> mgx(meanGx);
    const auto mg = [&] {
      if constexpr (Centered) return Broadcast<T>(meanG);
      else return Absent();
    }();
    if constexpr (HasWeight) writeDxRun<T, Stream>(x, dy, dx, n, Linear(), xhat, PerElement<T>(w), mg, mgx);
    else writeDxRun<T, Stream>(x, dy, dx, n, Linear(), xhat, Absent(), mg, mgx);
  });
}

// Backward of R consecutive full rows: the sums of one read of x and dy, then dx from cache.
template <class T, bool Centered, bool HasWeight, size_t R>
void backwardRowGroup(const RowNormBackwardArgs<T>& a, size_t row0, T* dw, T* db, bool stream) {
  const size_t n = a.cols;
  GradSums sums[R];
  gradSumsRows<T, Centered, HasWeight, R>(a, row0, 0, n, dw, db, sums);
  for (size_t j = 0; j < R; ++j) {
    const size_t at = (row0 + j) * n;
    writeDx<T, Centered, HasWeight>(a.x + at, a.dy + at, a.weight, a.dx + at, n, rowXhat<T, Centered>(a, row0 + j),
                                    T(sums[j].g / double(n)), T(sums[j].gx / double(n)), stream);
  }
}

template <class T, bool Centered, bool HasWeight>
bool backwardHugeRows(const RowNormBackwardArgs<T>& a, const Exec& exec) noexcept {
  const size_t n = a.cols, blocks = ceilDiv(n, kBlock);
  // per (row, block): Σg, Σg·x̂; then per column: dw, db (double) and their row-group sums (T)
  double* rowPart = nullptr;
  double* columns = nullptr;  // dw: [0, n), db: [n, 2n)
  T* group = nullptr;
  const auto carve = [&](Carver c) {
    rowPart = c.take<double>(a.rows * blocks * 2);
    columns = c.take<double>(2 * n);
    group = c.take<T>(2 * n);
    return c.used();
  };
  ScratchDoubles scratch(carve(Carver()));
  if (!scratch.data()) return false;
  carve(Carver(scratch.data()));
  const int threads = threadsFor(exec, a.rows * n);
  parallelFor(blocks, 1, threads, [&](size_t b0, size_t b1) {
    for (size_t b = b0; b < b1; ++b) {  // column block b: every row, in row order
      const size_t begin = b * kBlock, len = minSize(kBlock, n - begin);
      ParamGradSums<T> params(len, a.dweight ? columns + begin : nullptr, a.dbias ? columns + n + begin : nullptr,
                              group + begin, group + n + begin);
      forEachRowGroup(0, a.rows, [&](size_t row0, auto rowCount) {
        constexpr size_t R = decltype(rowCount)::value;
        GradSums sums[R];
        gradSumsRows<T, Centered, HasWeight, R>(a, row0, begin, len, params.rowDw(), params.rowDb(), sums);
        params.rowsDone(R);
        for (size_t j = 0; j < R; ++j) {
          rowPart[2 * ((row0 + j) * blocks + b)] = sums[j].g;
          rowPart[2 * ((row0 + j) * blocks + b) + 1] = sums[j].gx;
        }
      });
      params.flush();
    }
  });
  for (size_t row = 0; row < a.rows; ++row) {  // fold blocks in order; the row's means go to slot 0
    double* q = rowPart + 2 * row * blocks;
    GradSums s{0, 0};
    for (size_t b = 0; b < blocks; ++b) s.g += q[2 * b], s.gx += q[2 * b + 1];
    q[0] = s.g / double(n);
    q[1] = s.gx / double(n);
  }
  const bool stream = streamOutput<T>(a.rows * n);
  parallelFor(a.rows * blocks, 1, threads, [&](size_t t0, size_t t1) {
    for (size_t t = t0; t < t1; ++t) {
      const size_t row = t / blocks, begin = (t % blocks) * kBlock, len = minSize(kBlock, n - begin);
      const size_t at = row * n + begin;
      const double* q = rowPart + 2 * row * blocks;
      writeDx<T, Centered, HasWeight>(a.x + at, a.dy + at, HasWeight ? a.weight + begin : nullptr, a.dx + at, len,
                                      rowXhat<T, Centered>(a, row), T(q[0]), T(q[1]), stream);
    }
    if (stream) streamFence();
  });
  if (a.dweight) combineColumns(columns, 1, 0, n, a.dweight);
  if (a.dbias) combineColumns(columns + n, 1, 0, n, a.dbias);
  return true;
}

template <class T, bool Centered, bool HasWeight>
bool backwardRows(const RowNormBackwardArgs<T>& a, const Exec& exec) noexcept {
  const size_t n = a.cols, rows = a.rows;
  if (n * sizeof(T) > kRowInCacheBytes) return backwardHugeRows<T, Centered, HasWeight>(a, exec);
  const int threads = threadsFor(exec, rows * n);
  const bool stream = streamOutput<T>(rows * n);
  if (!a.dweight && !a.dbias) {
    parallelFor(rows, rowGrain(n), threads, [&](size_t r0, size_t r1) {
      for (size_t row = r0; row < r1; ++row) backwardRowGroup<T, Centered, HasWeight, 1>(a, row, nullptr, nullptr, stream);
      if (stream) streamFence();
    });
    return true;
  }
  // Row blocks fixed by the shape; each accumulates its own dweight/dbias partial row.
  const size_t blockRows = rows / kMaxRowBlocks > kMinBlockRows ? ceilDiv(rows, kMaxRowBlocks) : kMinBlockRows;
  const size_t blocks = ceilDiv(rows, blockRows);
  const size_t stride = 2 * n + ceilDiv(2 * n * sizeof(T), sizeof(double));  // [dw | db] doubles, then [dw | db] T
  ScratchDoubles scratch(blocks * stride);
  if (!scratch.data()) return false;
  double* partial = scratch.data();
  parallelFor(blocks, 1, threads, [&](size_t b0, size_t b1) {
    for (size_t b = b0; b < b1; ++b) {
      double* sums = partial + b * stride;
      T* group = reinterpret_cast<T*>(sums + 2 * n);
      ParamGradSums<T> params(n, a.dweight ? sums : nullptr, a.dbias ? sums + n : nullptr, group, group + n);
      forEachRowGroup(b * blockRows, minSize(rows, (b + 1) * blockRows), [&](size_t row0, auto rowCount) {
        constexpr size_t R = decltype(rowCount)::value;
        backwardRowGroup<T, Centered, HasWeight, R>(a, row0, params.rowDw(), params.rowDb(), stream);
        params.rowsDone(R);
      });
      params.flush();
    }
    if (stream) streamFence();
  });
  if (a.dweight) combineColumns(partial, blocks, stride, n, a.dweight);
  if (a.dbias) combineColumns(partial + n, blocks, stride, n, a.dbias);
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

template <class T>
bool layerNormForward(const Args<Kernel::layerNormForward, T>& a, const Exec& e) noexcept {
  return rowNormForward<T, true>({a.x, a.rows, a.cols, a.weight, a.bias, a.eps, a.y, a.mean, a.rstd}, e);
}
template <class T>
bool rmsNormForward(const Args<Kernel::rmsNormForward, T>& a, const Exec& e) noexcept {
  return rowNormForward<T, false>({a.x, a.rows, a.cols, a.weight, nullptr, a.eps, a.y, nullptr, a.rstd}, e);
}
template <class T>
bool layerNormBackward(const Args<Kernel::layerNormBackward, T>& a, const Exec& e) noexcept {
  return rowNormBackward<T, true>({a.dy, a.x, a.mean, a.rstd, a.rows, a.cols, a.weight, a.dx, a.dweight, a.dbias}, e);
}
template <class T>
bool rmsNormBackward(const Args<Kernel::rmsNormBackward, T>& a, const Exec& e) noexcept {
  return rowNormBackward<T, false>({a.dy, a.x, nullptr, a.rstd, a.rows, a.cols, a.weight, a.dx, a.dweight, nullptr}, e);
}

FASTNORM_INSTANTIATE_KERNEL(layerNormForward)
FASTNORM_INSTANTIATE_KERNEL(rmsNormForward)
FASTNORM_INSTANTIATE_KERNEL(layerNormBackward)
FASTNORM_INSTANTIATE_KERNEL(rmsNormBackward)

}  // namespace fastnorm::FASTNORM_ISA_NS
