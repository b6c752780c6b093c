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
// Residual add + norm (addLayerNorm, addRmsNorm): the rows normalized are s = x + residual
// (+ residualBias), read as a source of vectors computed from x and residual (normalize.h's
// SumOf), so the statistics pass reads x and residual once from DRAM and the write pass, from
// cache, recomputes s, writes it to `sum` and y = norm(s) (2 reads + 2 writes; huge rows: 4 + 2).
// The operations on s are those of the plain norm on a stored s, so y is bitwise the plain norm
// of the sum. Their backward is the plain one with x = sum, plus dSum added to dx as it is
// written (3 reads + 1 write) and dx summed per column for dresidualBias (a third partial beside
// dweight/dbias, same row blocks). weightOffset: every kernel scales by weight + offset, made
// once per call (ParamValues); offset 0 uses the weight itself.
//
// Precision: statistics and gradient sums in double; the elementwise passes in the data type,
// with the float mean split into hi + lo so (x − μ) keeps the precision of x.
//
// Half precision (float16/bfloat16 data, HalfCall; the add-norms too): the data is stored as
// S = Half<F> and computed in T = float. Loads widen exactly, stores round once to nearest-even (lanes.h); every
// choice between them (blocks, huge-row cut by sizeof(T), lane order, double sums) is the float
// path's, so y/dx are the float32 results on the widened inputs, rounded once. Half weight and
// bias (and residualBias) are widened once per call into float (ParamValues); dweight/dbias/
// dresidualBias round their sums once into the weight's storage; mean/rstd are float. A half
// add-norm normalizes its sum as stored (x + residual rounded once to the half format, SumOf),
// so y is bitwise the half layerNorm/rmsNorm of the `sum` it writes.
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
// An add-norm (residual non-null) normalizes the residual stream s = x + residual (+ residualBias),
// which it also writes to `sum`; its backward adds dSum to dx and sums dx per column.
// T: the type computed in (and of weight, bias, statistics); S: the data's storage (T, or halves).
template <class T, class S = T>
struct RowNormForwardArgs {
  const S* x;
  const S* residual;      // rows*cols or null (plain norm)
  const T* residualBias;  // cols or null (widened once, like weight and bias)
  size_t rows, cols;
  const T* weight;  // cols values or null: the scale, weightOffset already added (ParamValues)
  const T* bias;    // cols values or null (always null for RMSNorm)
  double eps;
  uint8_t activation;  // y = act(x̂·w + b) (activation.h; none for RMSNorm and the add-norms)
  S* y;             // rows*cols, may be x itself
  S* sum;           // rows*cols when residual is given, may be residual itself
  T* mean;          // rows (null for RMSNorm)
  T* rstd;          // rows
};

// T, S as in the forward; dweight/dbias/dresidualBias in their run-time storage (T, or S's half
// format: the weight's dtype).
template <class T, class S = T>
struct RowNormBackwardArgs {
  const S* dy;
  const S* x;       // the normalized input (an add-norm's sum)
  const T* mean;    // rows (null for RMSNorm)
  const T* rstd;    // rows
  size_t rows, cols;
  const T* weight;  // cols values or null: the scale, weightOffset already added
  const S* dSum;    // rows*cols or null: added to dx (an add-norm's gradient from later layers)
  S* dx;            // rows*cols, may be dSum itself
  ParamArray<T, S> dweight;       // cols or null (not requested)
  ParamArray<T, S> dbias;         // cols or null (not requested; always null for RMSNorm)
  ParamArray<T, S> dresidualBias; // cols or null: Σ of dx over rows
  const T* bias = nullptr;   // cols or null: the forward's bias, for z = x̂·w + b (LayerNorm only)
  uint8_t activation = 0;    // the forward's y = act(z): g = dy·act'(z) replaces dy (LayerNorm only)
};

constexpr size_t kMaxRowBlocks = 64;             // dweight/dbias partials per backward call
constexpr size_t kMinBlockRows = 8;

// Scalar math: y = act(((x − μ)·rstd)·w + b) over n values (RMSNorm: y = (x·rstd)·w), w and b per element.
template <class T, bool Centered, class S>
void normalize(const S* x, S* y, size_t n, const T* w, const T* b, SplitMean<T> mean, T rstd, bool stream, uint8_t activation) {
  withStream(stream, [&](auto streamed) {
    constexpr bool Stream = decltype(streamed)::value;
    withPerElement(w, b, [&](auto wv, auto bv) {
      const Broadcast<T> r(rstd);
      if constexpr (Centered)
        withActivation(activation, [&](auto act) {
          withBroadcastMean(mean, [&](auto hi, auto lo) { normalizeRun<T, Stream>(x, y, n, Linear(), hi, lo, r, wv, bv, act); });
        });
      else
        normalizeRun<T, Stream>(x, y, n, Linear(), Absent(), Absent(), r, wv, bv);
    });
  });
}

// Row statistics in double: mean (0 for RMSNorm) and rstd.
struct RowStats {
  double mean, rstd;
};

template <class T, bool Centered, class Source>
RowStats cachedRowStats(Source x, size_t n, double eps) {
  if constexpr (Centered) {
    const Moments m = cachedMoments<T>(x, n);
    return {m.mean, rstdOf(m.m2 / double(n), eps)};
  } else {
    return {0, rstdOf(sumSquares<T>(x, n) / double(n), eps)};
  }
}

template <class T, bool Centered, class S>
void storeStats(const RowNormForwardArgs<T, S>& a, size_t row, RowStats s) {
  if constexpr (Centered) a.mean[row] = T(s.mean);
  a.rstd[row] = T(s.rstd);
}

// What a forward reads, as a source of values at element `at` (column `begin`): x, or an
// add-norm's x + residual (+ residualBias); f(source) is called with a maker of them.
template <class T, class S, class F>
bool withRowSource(const RowNormForwardArgs<T, S>& a, F&& f) {
  if (!a.residual) return f([&](size_t at, size_t) { return Values<S>{a.x + at}; });
  if (a.residualBias)
    return f([&](size_t at, size_t begin) {
      return SumOf<T, PerElement<T>, S>{a.x + at, a.residual + at, PerElement<T>(a.residualBias + begin)};
    });
  return f([&](size_t at, size_t) { return SumOf<T, Absent, S>{a.x + at, a.residual + at, Absent()}; });
}

// y (and an add-norm's sum) of len values at element `at`, column `begin`, of one row.
template <class T, bool Centered, class S, class Source>
void writeRow(const RowNormForwardArgs<T, S>& a, Source src, size_t at, size_t begin, size_t len, SplitMean<T> mean, T rstd,
              bool stream) {
  const T* w = a.weight ? a.weight + begin : nullptr;
  const T* b = a.bias ? a.bias + begin : nullptr;
  if constexpr (std::is_same_v<Source, Values<S>>) {
    normalize<T, Centered>(src.p, a.y + at, len, w, b, mean, rstd, stream, a.activation);
  } else {
    S* sum = a.sum + at;
    S* y = a.y + at;
    // streaming stores need both outputs aligned alike; otherwise plain stores
    const bool streamBoth = stream && ((reinterpret_cast<uintptr_t>(sum) ^ reinterpret_cast<uintptr_t>(y)) & 63) == 0;
    withStream(streamBoth, [&](auto streamed) {
      constexpr bool Stream = decltype(streamed)::value;
      withPerElement(w, b, [&](auto wv, auto bv) {
        const Broadcast<T> r(rstd);
        if constexpr (Centered)
          withBroadcastMean(mean, [&](auto hi, auto lo) { sumNormalizeRun<T, Stream>(src, sum, y, len, hi, lo, r, wv, bv); });
        else
          sumNormalizeRun<T, Stream>(src, sum, y, len, Absent(), Absent(), r, wv, bv);
      });
    });
  }
}

template <class T, bool Centered, class S, class Sources>
bool forwardHugeRows(const RowNormForwardArgs<T, S>& a, const Exec& exec, Sources source) noexcept {
  const size_t n = a.cols, blocks = ceilDiv(n, kBlock), tasks = a.rows * blocks;
  ScratchDoubles partial(tasks * 2);  // per (row, block): mean, M2 (RMSNorm: Σx²)
  if (!partial.data()) return false;
  double* p = partial.data();
  const int threads = threadsFor(exec, a.rows * n);
  parallelFor(tasks, 1, threads, [&](size_t t0, size_t t1) {
    for (size_t t = t0; t < t1; ++t) {
      const size_t row = t / blocks, begin = (t % blocks) * kBlock, len = minSize(kBlock, n - begin);
      const auto x = source(row * n + begin, begin);
      if constexpr (Centered) {
        const Moments m = cachedMoments<T>(x, len);
        p[2 * t] = m.mean;
        p[2 * t + 1] = m.m2;
      } else {
        p[2 * t] = sumSquares<T>(x, len);
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
      writeRow<T, Centered>(a, source(at, begin), at, begin, len, SplitMean<T>(p[2 * row * blocks]), a.rstd[row], stream);
    }
    if (stream) streamFence();
  });
  return true;
}

// A row that fits in cache: its statistics from one read of its inputs, then y (and an
// add-norm's sum) from cache, so DRAM sees each input read once and each output written once.
template <class T, bool Centered, class S>
bool rowNormForward(const RowNormForwardArgs<T, S>& a, const Exec& exec) noexcept {
  const size_t n = a.cols;
  if (a.rows == 0) return true;
  if (n == 0) {  // statistics of an empty set: NaN, as the mean of nothing
    for (size_t row = 0; row < a.rows; ++row) storeStats<T, Centered>(a, row, {NAN, NAN});
    return true;
  }
  return withRowSource(a, [&](auto source) {
    if (n * sizeof(T) > kRowInCacheBytes) return forwardHugeRows<T, Centered>(a, exec, source);
    const bool stream = streamOutput<T>(a.rows * n);
    parallelFor(a.rows, rowGrain(n), threadsFor(exec, a.rows * n), [&](size_t r0, size_t r1) {
      for (size_t row = r0; row < r1; ++row) {
        const auto x = source(row * n, 0);
        if constexpr (kIsHalf<S> && !std::is_same_v<std::decay_t<decltype(x)>, Values<S>>) {
          // A half add-norm: the sum is rounded and stored once, then the row is normalized from
          // the stored sum in cache, as a plain norm (the same values SumOf gives each read, so
          // the same bits, without widening two inputs, adding and rounding in every pass).
          S* sum = a.sum + row * n;
          writeRun<T, false>(sum, n, [&](size_t i, size_t k) { return x.exact(i, k); });
          const Values<S> stored{sum};
          const RowStats s = cachedRowStats<T, Centered>(stored, n, a.eps);
          storeStats<T, Centered>(a, row, s);
          writeRow<T, Centered>(a, stored, row * n, 0, n, SplitMean<T>(s.mean), T(s.rstd), stream);
        } else {
          const RowStats s = cachedRowStats<T, Centered>(x, n, a.eps);
          storeStats<T, Centered>(a, row, s);
          writeRow<T, Centered>(a, x, row * n, 0, n, SplitMean<T>(s.mean), T(s.rstd), stream);
        }
      }
      if (stream) streamFence();
    });
    return true;
  });
}

// ---- backward ----

// Saved statistics of one row, broadcast: x̂ = (x − mean)·rstd (RMSNorm: x·rstd).
template <class T, bool Centered>
using RowXhat = Xhat<T, std::conditional_t<Centered, Broadcast<T>, Absent>, Broadcast<T>>;

template <class T, bool Centered, class S>
RowXhat<T, Centered> rowXhat(const RowNormBackwardArgs<T, S>& a, size_t row) {
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
// additions happen row after row, exactly as one row at a time would do them, so this number
// changes speed only. One row at a time is the fastest here: a group of 4 rows walks 8 input
// streams at once, which ran ~25% slower at one thread than 2 streams and a dweight/dbias
// partial row reloaded from L1 per row (measured on [8192, 768]).
constexpr size_t kRowsPerGroup = 1;

// Scalar math, for rows j of a group over columns [begin, begin + len):
//   Σg_j, Σg_j·x̂_j (g = dy·w) → sums[j];  dw[i] += dy_j·x̂_j,  db[i] += dy_j  (dw/db optional).
// A fused activation first makes dy ← dy·act'(z), z = x̂·w + b (the same operations as writeDx's gate);
// gated (non-null: R rows of len) receives that dy, so the dx pass need not compute act' again.
// Each row's sums use the lane blocking of laneSum2, written out so stores to dw/db cannot
// force the compiler to reload the other pointers every vector.
template <class T, bool Centered, bool HasWeight, size_t R, class ActT = Act<Activation::None>, bool HasBias = false, class S>
void gradSumsRows(const RowNormBackwardArgs<T, S>& a, size_t row0, size_t begin, size_t len, T* __restrict dw,
                  T* __restrict db, GradSums* sums, T* __restrict gated = nullptr) {
  using V = Vec<T>;
  using A = Acc<T>;
  constexpr size_t L = kLanes<T>;
  const S* x[R];
  const S* dy[R];
  RowXhat<T, Centered> xhat[R];
  for (size_t j = 0; j < R; ++j) {
    x[j] = a.x + (row0 + j) * a.cols + begin;
    dy[j] = a.dy + (row0 + j) * a.cols + begin;
    xhat[j] = rowXhat<T, Centered>(a, row0 + j);
  }
  const T* __restrict w = HasWeight ? a.weight + begin : nullptr;
  const T* __restrict bias = HasBias ? a.bias + begin : nullptr;
  A totalG[R], totalGx[R];
  for (size_t j = 0; j < R; ++j) totalG[j] = totalGx[j] = A::zero();
  auto step = [&](size_t i, size_t k, V* sg, V* sgx) __attribute__((always_inline)) {
    V sumDxh = dw ? loadLanes(dw + i, k) : V::zero();
    V sumD = db ? loadLanes(db + i, k) : V::zero();
    const V wv = HasWeight ? loadLanes(w + i, k) : V::zero();
    for (size_t j = 0; j < R; ++j) {
      const V xh = xhat[j](loadLanes(x[j] + i, k), i, k);
      V d = loadLanes(dy[j] + i, k);
      if constexpr (ActT::kind != Activation::None) {
        V z = HasWeight ? xh * wv : xh;
        if constexpr (HasBias) z = z + loadLanes(bias + i, k);
        d = ActT().gate(z, d);
        if (gated) storeLanes(d, gated + j * len + i, k);
      }
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

// Calls f(row0, std::integral_constant<size_t, R>) for consecutive groups of kRowsPerGroup rows of
// [rowBegin, rowEnd), then one group of the rows left (R < kRowsPerGroup). Only the R that can occur
// are instantiated: each R compiles every backward variant once more.
template <size_t R, class F>
void rowGroupTail(size_t row, size_t left, F& f) {
  if constexpr (R > 0) {
    if (left == R) f(row, std::integral_constant<size_t, R>());
    else rowGroupTail<R - 1>(row, left, f);
  }
}
template <class F>
void forEachRowGroup(size_t rowBegin, size_t rowEnd, F f) {
  size_t row = rowBegin;
  for (; row + kRowsPerGroup <= rowEnd; row += kRowsPerGroup) f(row, std::integral_constant<size_t, kRowsPerGroup>());
  rowGroupTail<kRowsPerGroup - 1>(row, rowEnd - row, f);
}

// dweight/dbias (and an add-norm's dresidualBias) sums over the rows of one task. Rows add into
// sums of the data type (cheap); every kRowGroup rows these move into double sums, so float sums
// stay accurate to ~1e-6.
template <class T>
class ParamGradSums {
 public:
  // Rows added in T before the move to double: fixed, whatever kRowsPerGroup is (a multiple of it).
  static constexpr size_t kRowGroup = 16;
  static_assert(kRowGroup % kRowsPerGroup == 0, "row groups end on a flush boundary");
  static constexpr size_t kSlots = 3;  // dweight, dbias, dresidualBias
  // Sums of n columns; sums[s]/group[s] are null when that gradient is not requested.
  ParamGradSums(size_t n, double* dw, double* db, double* drb, T* groupDw, T* groupDb, T* groupDrb)
      : n_(n), sums_{dw, db, drb}, group_{groupDw, groupDb, groupDrb} {
    for (size_t s = 0; s < kSlots; ++s)
      if (sums_[s]) zero(sums_[s], group_[s]);
  }
  T* rowDw() const { return sums_[0] ? group_[0] : nullptr; }
  T* rowDb() const { return sums_[1] ? group_[1] : nullptr; }
  T* rowDrb() const { return sums_[2] ? group_[2] : nullptr; }
  // Called after every row group (kRowGroup is a multiple of kRowsPerGroup).
  void rowsDone(size_t count) {
    rows_ += count;
    if (rows_ >= kRowGroup) flush();
  }
  void flush() {
    if (rows_ == 0) return;
    for (size_t s = 0; s < kSlots; ++s)
      if (sums_[s]) moveToDouble(group_[s], sums_[s]);
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
  double* sums_[kSlots];
  T* group_[kSlots];
};

// Scalar math: dx = ((g − mean(g)) − x̂·mean(g·x̂))·rstd (RMSNorm: (g − x̂·mean(g·x̂))·rstd), w per element;
// Added: dx += dSum; drb (non-null): drb[i] += dx.
template <class T, bool Centered, bool HasWeight, bool Added, class ActT = Act<Activation::None>, bool HasBias = false, class S>
void writeDx(const S* x, const S* dy, const T* w, const S* dSum, S* dx, T* drb, size_t n, const RowXhat<T, Centered>& xhat,
             T meanG, T meanGx, bool stream, const T* bias = nullptr) {
  withStream(stream, [&](auto streamed) {
    constexpr bool Stream = decltype(streamed)::value;
    const Broadcast<T> mgx(meanGx);
    const auto mg = [&] {
      if constexpr (Centered) return Broadcast<T>(meanG);
      else return Absent();
    }();
    const auto wv = [&] {
      if constexpr (HasWeight) return PerElement<T>(w);
      else return Absent();
    }();
    const auto add = [&] {
      if constexpr (Added) return PerElement<T, S>(dSum);
      else return Absent();
    }();
    const auto gate = [&] {
      if constexpr (ActT::kind == Activation::None) return Absent();
      else if constexpr (HasBias) return ActivationGate<T, RowXhat<T, Centered>, std::remove_cv_t<decltype(wv)>, PerElement<T>, ActT>{xhat, wv, PerElement<T>(bias)};
      else return ActivationGate<T, RowXhat<T, Centered>, std::remove_cv_t<decltype(wv)>, Absent, ActT>{xhat, wv, Absent()};
    }();
    if (drb) writeDxRun<T, Stream>(x, dy, dx, n, Linear(), xhat, wv, mg, mgx, add, ColumnSums<T>{drb}, gate);
    else writeDxRun<T, Stream>(x, dy, dx, n, Linear(), xhat, wv, mg, mgx, add, Absent(), gate);
  });
}

// A fused activation's gated dy = dy·act'(z) of one row group (kRowsPerGroup rows that fit in
// cache), kept from the sums pass for the dx pass: act' is computed once per element, not twice,
// with the same bits. get() is null without an activation, for half data (their dy is 16-bit),
// or when there is no memory (then both passes compute act').
template <class T, class S, class ActT, bool Used = ActT::kind != Activation::None && std::is_same_v<S, T>>
class GatedRows {
 public:
  static constexpr bool kUsed = false;
  explicit GatedRows(size_t) noexcept {}
  T* get() const noexcept { return nullptr; }
};
template <class T, class S, class ActT>
class GatedRows<T, S, ActT, true> {
 public:
  static constexpr bool kUsed = true;
  explicit GatedRows(size_t cols) noexcept : scratch_(ceilDiv(kRowsPerGroup * cols * sizeof(T), sizeof(double))) {}
  T* get() const noexcept { return reinterpret_cast<T*>(scratch_.data()); }

 private:
  ScratchDoubles scratch_;
};

// Backward of R consecutive full rows: the sums of one read of x and dy, then dx from cache
// (with gated, GatedRows' buffer, in place of dy and its gate).
template <class T, bool Centered, bool HasWeight, bool Added, size_t R, class ActT, bool HasBias, class S>
void backwardRowGroup(const RowNormBackwardArgs<T, S>& a, size_t row0, T* dw, T* db, T* drb, bool stream,
                      T* gated = nullptr) {
  const size_t n = a.cols;
  GradSums sums[R];
  gradSumsRows<T, Centered, HasWeight, R, ActT, HasBias>(a, row0, 0, n, dw, db, sums, gated);
  for (size_t j = 0; j < R; ++j) {
    const size_t at = (row0 + j) * n;
    if constexpr (GatedRows<T, S, ActT>::kUsed) {
      if (gated) {
        writeDx<T, Centered, HasWeight, Added>(a.x + at, gated + j * n, a.weight, Added ? a.dSum + at : nullptr, a.dx + at, drb, n,
                                               rowXhat<T, Centered>(a, row0 + j), T(sums[j].g / double(n)),
                                               T(sums[j].gx / double(n)), stream);
        continue;
      }
    }
    writeDx<T, Centered, HasWeight, Added, ActT, HasBias>(a.x + at, a.dy + at, a.weight, Added ? a.dSum + at : nullptr,
                                                         a.dx + at, drb, n, rowXhat<T, Centered>(a, row0 + j),
                                                         T(sums[j].g / double(n)), T(sums[j].gx / double(n)), stream, a.bias);
  }
}

template <class T, bool Centered, bool HasWeight, bool Added, class ActT, bool HasBias, class S>
bool backwardHugeRows(const RowNormBackwardArgs<T, S>& a, const Exec& exec) noexcept {
  const size_t n = a.cols, blocks = ceilDiv(n, kBlock);
  // per (row, block): Σg, Σg·x̂; then per column: dw, db, drb (double) and their row-group sums (T)
  double* rowPart = nullptr;
  double* columns = nullptr;  // dw: [0, n), db: [n, 2n), drb: [2n, 3n)
  T* group = nullptr;
  const auto carve = [&](Carver c) {
    rowPart = c.take<double>(a.rows * blocks * 2);
    columns = c.take<double>(3 * n);
    group = c.take<T>(3 * n);
    return c.used();
  };
  ScratchDoubles scratch(carve(Carver()));
  if (!scratch.data()) return false;
  carve(Carver(scratch.data()));
  const int threads = threadsFor(exec, a.rows * n);
  parallelFor(blocks, 1, threads, [&](size_t b0, size_t b1) {
    for (size_t b = b0; b < b1; ++b) {  // column block b: every row, in row order
      const size_t begin = b * kBlock, len = minSize(kBlock, n - begin);
      ParamGradSums<T> params(len, a.dweight ? columns + begin : nullptr, a.dbias ? columns + n + begin : nullptr, nullptr,
                              group + begin, group + n + begin, nullptr);
      forEachRowGroup(0, a.rows, [&](size_t row0, auto rowCount) {
        constexpr size_t R = decltype(rowCount)::value;
        GradSums sums[R];
        gradSumsRows<T, Centered, HasWeight, R, ActT, HasBias>(a, row0, begin, len, params.rowDw(), params.rowDb(), sums);
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
  const auto dxBlock = [&](size_t row, size_t b, T* drb) {
    const size_t begin = b * kBlock, len = minSize(kBlock, n - begin);
    const size_t at = row * n + begin;
    const double* q = rowPart + 2 * row * blocks;
    writeDx<T, Centered, HasWeight, Added, ActT, HasBias>(a.x + at, a.dy + at, HasWeight ? a.weight + begin : nullptr,
                                                         Added ? a.dSum + at : nullptr, a.dx + at, drb, len,
                                                         rowXhat<T, Centered>(a, row), T(q[0]), T(q[1]), stream,
                                                         HasBias ? a.bias + begin : nullptr);
  };
  if (a.dresidualBias) {  // column block b sums its dx over every row, in row order
    parallelFor(blocks, 1, threads, [&](size_t b0, size_t b1) {
      for (size_t b = b0; b < b1; ++b) {
        const size_t begin = b * kBlock, len = minSize(kBlock, n - begin);
        ParamGradSums<T> params(len, nullptr, nullptr, columns + 2 * n + begin, nullptr, nullptr, group + 2 * n + begin);
        for (size_t row = 0; row < a.rows; ++row) {
          dxBlock(row, b, params.rowDrb());
          params.rowsDone(1);
        }
        params.flush();
      }
      if (stream) streamFence();
    });
  } else {
    parallelFor(a.rows * blocks, 1, threads, [&](size_t t0, size_t t1) {
      for (size_t t = t0; t < t1; ++t) dxBlock(t / blocks, t % blocks, nullptr);
      if (stream) streamFence();
    });
  }
  if (a.dweight) combineColumns(columns, 1, 0, n, a.dweight);
  if (a.dbias) combineColumns(columns + n, 1, 0, n, a.dbias);
  if (a.dresidualBias) combineColumns(columns + 2 * n, 1, 0, n, a.dresidualBias);
  return true;
}

template <class T, bool Centered, bool HasWeight, bool Added, class ActT = Act<Activation::None>, bool HasBias = false, class S>
bool backwardRows(const RowNormBackwardArgs<T, S>& a, const Exec& exec) noexcept {
  const size_t n = a.cols, rows = a.rows;
  if (n * sizeof(T) > kRowInCacheBytes) return backwardHugeRows<T, Centered, HasWeight, Added, ActT, HasBias>(a, exec);
  const int threads = threadsFor(exec, rows * n);
  const bool stream = streamOutput<T>(rows * n);
  if (!a.dweight && !a.dbias && !a.dresidualBias) {
    parallelFor(rows, rowGrain(n), threads, [&](size_t r0, size_t r1) {
      const GatedRows<T, S, ActT> gated(n);
      for (size_t row = r0; row < r1; ++row)
        backwardRowGroup<T, Centered, HasWeight, Added, 1, ActT, HasBias>(a, row, nullptr, nullptr, nullptr, stream, gated.get());
      if (stream) streamFence();
    });
    return true;
  }
  // Row blocks fixed by the shape; each accumulates its own dweight/dbias/dresidualBias partial row.
  constexpr size_t kSlots = ParamGradSums<T>::kSlots;
  const size_t blockRows = rows / kMaxRowBlocks > kMinBlockRows ? ceilDiv(rows, kMaxRowBlocks) : kMinBlockRows;
  const size_t blocks = ceilDiv(rows, blockRows);
  const size_t stride = kSlots * n + ceilDiv(kSlots * n * sizeof(T), sizeof(double));  // [dw | db | drb] doubles, then T
  ScratchDoubles scratch(blocks * stride);
  if (!scratch.data()) return false;
  double* partial = scratch.data();
  parallelFor(blocks, 1, threads, [&](size_t b0, size_t b1) {
    const GatedRows<T, S, ActT> gated(n);
    for (size_t b = b0; b < b1; ++b) {
      double* sums = partial + b * stride;
      T* group = reinterpret_cast<T*>(sums + kSlots * n);
      ParamGradSums<T> params(n, a.dweight ? sums : nullptr, a.dbias ? sums + n : nullptr,
                              a.dresidualBias ? sums + 2 * n : nullptr, group, group + n, group + 2 * n);
      forEachRowGroup(b * blockRows, minSize(rows, (b + 1) * blockRows), [&](size_t row0, auto rowCount) {
        constexpr size_t R = decltype(rowCount)::value;
        backwardRowGroup<T, Centered, HasWeight, Added, R, ActT, HasBias>(a, row0, params.rowDw(), params.rowDb(), params.rowDrb(),
                                                                        stream, gated.get());
        params.rowsDone(R);
      });
      params.flush();
    }
    if (stream) streamFence();
  });
  if (a.dweight) combineColumns(partial, blocks, stride, n, a.dweight);
  if (a.dbias) combineColumns(partial + n, blocks, stride, n, a.dbias);
  if (a.dresidualBias) combineColumns(partial + 2 * n, blocks, stride, n, a.dresidualBias);
  return true;
}

template <class T, bool Centered, class S>
bool rowNormBackward(const RowNormBackwardArgs<T, S>& a, const Exec& exec) noexcept {
  if (a.rows == 0 || a.cols == 0) {  // parameter gradients of an empty batch are zero
    for (size_t j = 0; j < a.cols; ++j) {
      if (a.dweight) a.dweight.set(j, 0);
      if (a.dbias) a.dbias.set(j, 0);
      if (a.dresidualBias) a.dresidualBias.set(j, 0);
    }
    return true;
  }
  if constexpr (Centered) {
    // A fused activation (LayerNorm only; the add-norms have none): z needs the bias too.
    if (a.activation != 0 && !a.dSum) {
      bool ok = true;
      withActivation(a.activation, [&](auto act) {
        using A = decltype(act);
        if constexpr (A::kind != Activation::None) {
          if (a.bias)
            ok = a.weight ? backwardRows<T, true, true, false, A, true>(a, exec) : backwardRows<T, true, false, false, A, true>(a, exec);
          else
            ok = a.weight ? backwardRows<T, true, true, false, A, false>(a, exec) : backwardRows<T, true, false, false, A, false>(a, exec);
        }
      });
      return ok;
    }
  }
  if (a.dSum) return a.weight ? backwardRows<T, Centered, true, true>(a, exec) : backwardRows<T, Centered, false, true>(a, exec);
  return a.weight ? backwardRows<T, Centered, true, false>(a, exec) : backwardRows<T, Centered, false, false>(a, exec);
}

}  // namespace

// Each entry point scales by weight + weightOffset (ParamValues): dweight is Σ dy·x̂ whatever the
// offset. C is the call type: float, double, or HalfCall (then the data is Half<F>, the
// statistics float, weight/bias/dweight/dbias Half<F> or float).

template <class C>
bool layerNormForward(const Args<Kernel::layerNormForward, C>& a, const Exec& e) noexcept {
  using T = ComputeType<C>;
  const ParamValues<T> w(a.weight, a.weightOffset, a.cols), b(a.bias, 0, a.cols);
  return w.ok() && b.ok() &&
         rowNormForward<T, true>(RowNormForwardArgs<T, DataType<C>>{a.x, nullptr, nullptr, a.rows, a.cols, w.get(), b.get(), a.eps,
                                                                  a.activation, a.y, nullptr, a.mean, a.rstd}, e);
}
template <class C>
bool rmsNormForward(const Args<Kernel::rmsNormForward, C>& a, const Exec& e) noexcept {
  using T = ComputeType<C>;
  const ParamValues<T> w(a.weight, a.weightOffset, a.cols);
  return w.ok() && rowNormForward<T, false>(RowNormForwardArgs<T, DataType<C>>{a.x, nullptr, nullptr, a.rows, a.cols, w.get(),
                                                                               nullptr, a.eps, 0, a.y, nullptr, nullptr, a.rstd}, e);
}
template <class C>
bool addLayerNormForward(const Args<Kernel::addLayerNormForward, C>& a, const Exec& e) noexcept {
  using T = ComputeType<C>;
  const ParamValues<T> w(a.weight, a.weightOffset, a.cols), b(a.bias, 0, a.cols), rb(a.residualBias, 0, a.cols);
  return w.ok() && b.ok() && rb.ok() &&
         rowNormForward<T, true>(RowNormForwardArgs<T, DataType<C>>{a.x, a.residual, rb.get(), a.rows, a.cols, w.get(), b.get(), a.eps,
                                                                  0, a.y, a.sum, a.mean, a.rstd}, e);
}
template <class C>
bool addRmsNormForward(const Args<Kernel::addRmsNormForward, C>& a, const Exec& e) noexcept {
  using T = ComputeType<C>;
  const ParamValues<T> w(a.weight, a.weightOffset, a.cols), rb(a.residualBias, 0, a.cols);
  return w.ok() && rb.ok() &&
         rowNormForward<T, false>(RowNormForwardArgs<T, DataType<C>>{a.x, a.residual, rb.get(), a.rows, a.cols, w.get(), nullptr, a.eps,
                                                                   0, a.y, a.sum, nullptr, a.rstd}, e);
}
template <class C>
bool layerNormBackward(const Args<Kernel::layerNormBackward, C>& a, const Exec& e) noexcept {
  using T = ComputeType<C>;
  const ParamValues<T> w(a.weight, a.weightOffset, a.cols), b(a.bias, 0, a.cols);
  return w.ok() && b.ok() &&
         rowNormBackward<T, true>(RowNormBackwardArgs<T, DataType<C>>{a.dy, a.x, a.mean, a.rstd, a.rows, a.cols, w.get(),
                                                                                nullptr, a.dx, a.dweight, a.dbias, nullptr, b.get(),
                                                                                a.activation}, e);
}
template <class C>
bool rmsNormBackward(const Args<Kernel::rmsNormBackward, C>& a, const Exec& e) noexcept {
  using T = ComputeType<C>;
  const ParamValues<T> w(a.weight, a.weightOffset, a.cols);
  return w.ok() && rowNormBackward<T, false>(RowNormBackwardArgs<T, DataType<C>>{a.dy, a.x, nullptr, a.rstd, a.rows, a.cols,
                                                                                             w.get(), nullptr, a.dx, a.dweight,
                                                                                             nullptr, nullptr}, e);
}
template <class C>
bool addLayerNormBackward(const Args<Kernel::addLayerNormBackward, C>& a, const Exec& e) noexcept {
  using T = ComputeType<C>;
  const ParamValues<T> w(a.weight, a.weightOffset, a.cols);
  return w.ok() && rowNormBackward<T, true>(RowNormBackwardArgs<T, DataType<C>>{a.dy, a.sum, a.mean, a.rstd, a.rows, a.cols,
                                                                                            w.get(), a.dSum, a.dx, a.dweight, a.dbias,
                                                                                            a.dresidualBias}, e);
}
template <class C>
bool addRmsNormBackward(const Args<Kernel::addRmsNormBackward, C>& a, const Exec& e) noexcept {
  using T = ComputeType<C>;
  const ParamValues<T> w(a.weight, a.weightOffset, a.cols);
  return w.ok() && rowNormBackward<T, false>(RowNormBackwardArgs<T, DataType<C>>{a.dy, a.sum, nullptr, a.rstd, a.rows, a.cols,
                                                                                             w.get(), a.dSum, a.dx, a.dweight, nullptr,
                                                                                             a.dresidualBias}, e);
}

FASTNORM_INSTANTIATE_KERNEL(layerNormForward)
FASTNORM_INSTANTIATE_KERNEL(rmsNormForward)
FASTNORM_INSTANTIATE_KERNEL(layerNormBackward)
FASTNORM_INSTANTIATE_KERNEL(rmsNormBackward)
FASTNORM_INSTANTIATE_KERNEL(addLayerNormForward)
FASTNORM_INSTANTIATE_KERNEL(addRmsNormForward)
FASTNORM_INSTANTIATE_KERNEL(addLayerNormBackward)
FASTNORM_INSTANTIATE_KERNEL(addRmsNormBackward)
FASTNORM_HALF_ROW_KERNELS(FASTNORM_INSTANTIATE_HALF_KERNEL)

}  // namespace fastnorm::FASTNORM_ISA_NS
