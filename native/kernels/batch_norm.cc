// BatchNorm over (N, C, S) ('NCHW') or (N, S, C) ('NHWC'): statistics per channel over N·S
// values, each layout computed in place (no transposing copies).
//
// Reductions are cut into units fixed by the shape; a unit gives, for its channels, a partial
// (count, mean, M2) — or (Σdy, Σdy·(x − μ)) for the backward — and a channel's partials merge in
// unit order (Chan et al. for moments), so results never depend on the thread count:
//   NCHW: unit = a block of ≤ kPlaneBlock values of one (n, c) plane, or for short planes
//         as many planes of one channel as fill a block: two passes in cache. Many units per
//         channel, so C = 3 still uses every thread.
//   NHWC: unit = a tile of rows × channels that fits in cache, two passes over it. When
//         lcm(C, lanes) spans ≤ kMaxPeriodVectors vectors (C = 1, 2, 3, 4, 6, 8, 12, 16, 24, 32,
//         48, 64) each lane of those vectors always holds the same channel, so the tile is read
//         as flat memory and lanes fold into channels at the end; otherwise lanes are channels
//         and rows are walked per vector of channels.
// Elementwise passes (y, dx) take per-channel coefficients: NCHW per plane, NHWC through a
// cyclic coefficient table walked along flat memory, so small C is as fast as large C.
//
// Passes over memory: training forward 2 reads + 1 write (stats, then y); eval forward 1 + 1;
// training backward 2 + 2 reads + 1 write (sums, then dx); eval backward 2 + 1 (+ 2 reads for
// dweight/dbias). Precision: sums in double (float lane blocks of ≤ 16 terms widened), means
// split hi + lo for (x − μ); float tiles whose squares overflow are redone in double.
//
// Half precision (float16/bfloat16 data, HalfCall): x, dy, y, dx are stored as S = Half<F> and
// computed in T = float by the float path's own code (loads widen exactly, stores round once);
// weight and bias are widened once per call (ParamValues), the running statistics and
// dweight/dbias are read and rounded through their storage (ParamArray), mean/rstd are float.
#include <cmath>

#include "../runtime/thread_pool.h"
#include "channel_period.h"
#include "kernels.h"
#include "moments.h"
#include "normalize.h"
#include "schedule.h"

namespace fastnorm::FASTNORM_ISA_NS {
namespace {

using runtime::parallelFor;
using runtime::ScratchDoubles;

constexpr size_t kPlaneBlock = 8192;           // NCHW: values per unit
constexpr size_t kTileValues = 16384;          // NHWC: values per tile (two passes stay in cache)
constexpr size_t kChannelChunk = 256;          // NHWC lane-per-channel path: channels per tile
constexpr size_t kMaxPeriodVectors = 4;        // NHWC flat path: lcm(C, lanes) ≤ 4 vectors

// ---- how a shape's reduction is cut into units ----

template <class T>
struct Units {
  ChannelShape shape;
  size_t planeBlocks = 0;  // NCHW: blocks per (n, c) plane (planes longer than kPlaneBlock)
  size_t planesPerUnit = 1;  // NCHW: short planes of one channel are reduced together
  size_t groups = 0;         // NCHW: plane groups per channel
  size_t tileRows = 0;     // NHWC: rows per tile
  size_t tiles = 0;
  // NHWC flat path: tiles read as periods of lcm(C, lanes) values (channel_period.h)
  ChannelPeriod<T> period = ChannelPeriod<T>::wholeVectors(1);
  bool flat = false;       // NHWC: the flat path (else lane-per-channel)
  size_t chunk = 0;        // NHWC lane-per-channel path: channels per tile
  size_t chunks = 1;

  explicit Units(const ChannelShape& s) : shape(s) {
    if (!s.channelsLast) {
      planeBlocks = maxSize(1, ceilDiv(s.s, kPlaneBlock));
      planesPerUnit = s.s >= kPlaneBlock ? 1 : maxSize(1, kPlaneBlock / maxSize(s.s, 1));
      groups = ceilDiv(s.n, planesPerUnit);
      return;
    }
    const size_t rows = s.n * s.s, c = maxSize(s.c, 1);
    const ChannelPeriod<T> whole = ChannelPeriod<T>::wholeVectors(c);
    if (whole.vectors() <= kMaxPeriodVectors) {
      period = whole;
      flat = true;
      const size_t rowsPerPeriod = whole.rows();  // tiles start on a period so lanes keep their channel
      tileRows = maxSize(rowsPerPeriod, kTileValues / c / rowsPerPeriod * rowsPerPeriod);
    } else {
      chunk = minSize(c, kChannelChunk);
      chunks = ceilDiv(c, chunk);
      tileRows = maxSize(1, kTileValues / chunk);
    }
    tiles = maxSize(1, ceilDiv(rows, tileRows));
  }
  size_t perChannel() const { return shape.channelsLast ? tiles : groups * planeBlocks; }
  size_t tasks() const { return shape.channelsLast ? tiles * chunks : groups * shape.c * planeBlocks; }
  size_t valuesPerTask() const {
    if (!shape.channelsLast) return minSize(maxSize(shape.s, 1), kPlaneBlock) * planesPerUnit;
    return tileRows * (flat ? shape.c : chunk);
  }
  size_t grain() const { return maxSize(1, kGrainValues / maxSize(valuesPerTask(), 1)); }
};

// Partials: two doubles per (channel, unit), channel-major so a channel merges contiguously.
struct Partials {
  double* p;
  size_t perChannel;
  double* at(size_t c, size_t unit) const { return p + 2 * (c * perChannel + unit); }
};

// Lane values of an accumulator, as doubles.
template <class T>
void storeAcc(const Acc<T>& a, double* out) {
  a.store(out);
}

// ---- NHWC flat path: a tile read as periods of K ≤ kMaxPeriodVectors whole vectors ----

// Vectors of per-lane values of one period taken from per-channel values.
template <class T>
void periodVectors(const ChannelPeriod<T>& period, const double* perChannel, Vec<T>* out) {
  T table[(kMaxPeriodVectors + 1) * kLanes<T>];
  period.fillTable(table, [&](size_t c) { return perChannel[c]; });
  for (size_t k = 0; k < period.vectors(); ++k) out[k] = Vec<T>::load(table + k * kLanes<T>);
}

// perChannel[c] += every lane of the period's accumulators that holds channel c, in (vector, lane) order.
template <class T>
void foldLanes(const ChannelPeriod<T>& period, const Acc<T>* acc, double* perChannel) {
  double lanes[kMaxPeriodVectors * kLanes<T>];
  for (size_t k = 0; k < period.vectors(); ++k) storeAcc<T>(acc[k], lanes + k * kLanes<T>);
  period.fold(lanes, perChannel);
}

// Two sums over the flat run [0, n) of a tile: terms(k, i, lanes, a, b) adds the terms of the
// vector at flat offset i (pattern vector k, `lanes` valid, the rest zero-padded) into a and
// b. Lane blocks as in laneSum2; per pattern vector double totals.
template <size_t K, class T, class Terms>
void periodSums2Of(size_t n, Acc<T>* totalA, Acc<T>* totalB, Terms terms) {
  using V = Vec<T>;
  constexpr size_t L = kLanes<T>;
  constexpr size_t P = K * L;
  const size_t periods = n / P;
  for (size_t k = 0; k < K; ++k) totalA[k] = totalB[k] = Acc<T>::zero();
  for (size_t p0 = 0; p0 < periods; p0 += kLaneBlock) {
    const size_t p1 = minSize(periods, p0 + kLaneBlock);
    V a[K], b[K];
    for (size_t k = 0; k < K; ++k) a[k] = b[k] = V::zero();
    // Scalar math, lane by lane: a += termA(x[p·P + lane]), b += termB(x[p·P + lane]) over the periods p
    for (size_t p = p0; p < p1; ++p)
      for (size_t k = 0; k < K; ++k) terms(k, p * P + k * L, L, a[k], b[k]);
    for (size_t k = 0; k < K; ++k) totalA[k] = totalA[k] + Acc<T>::of(a[k]), totalB[k] = totalB[k] + Acc<T>::of(b[k]);
  }
  const size_t rest = n - periods * P;
  for (size_t k = 0; k * L < rest; ++k) {
    V a = V::zero(), b = V::zero();
    terms(k, periods * P + k * L, minSize(L, rest - k * L), a, b);
    totalA[k] = totalA[k] + Acc<T>::of(a);
    totalB[k] = totalB[k] + Acc<T>::of(b);
  }
}

template <class T, class Terms>
void periodSums2(const ChannelPeriod<T>& period, size_t n, Acc<T>* totalA, Acc<T>* totalB, Terms terms) {
  switch (period.vectors()) {  // the vector count as a constant, so the accumulators stay in registers
    case 1: return periodSums2Of<1, T>(n, totalA, totalB, terms);
    case 2: return periodSums2Of<2, T>(n, totalA, totalB, terms);
    case 3: return periodSums2Of<3, T>(n, totalA, totalB, terms);
    default: return periodSums2Of<4, T>(n, totalA, totalB, terms);
  }
}

// ---- unit reductions ----

// Moments of `rows` rows × channels [c0, c0 + cn) of a (rows, C) tile, one channel at a time in
// double: the exact fallback for float tiles whose squares overflow (scalar code).
template <class S>
void scalarTileMoments(const S* x, size_t rows, size_t C, size_t c0, size_t cn, const Partials& out, size_t unit) {
  for (size_t c = c0; c < c0 + cn; ++c) {
    double sum = 0;
    for (size_t r = 0; r < rows; ++r) sum += Scalar<S>::value(x[r * C + c]);
    const double mean0 = sum / double(rows);
    double s1 = 0, s2 = 0;
    for (size_t r = 0; r < rows; ++r) {
      const double d = Scalar<S>::value(x[r * C + c]) - mean0;
      s1 += d;
      s2 += d * d;
    }
    double* p = out.at(c, unit);
    p[0] = mean0 + s1 / double(rows);
    p[1] = s2 - s1 * s1 / double(rows);
  }
}

// NHWC tile moments, flat path.
template <class T, class S>
void periodicTileMoments(const S* x, size_t rows, const ChannelPeriod<T>& period, const Partials& out, size_t unit) {
  using V = Vec<T>;
  using A = Acc<T>;
  constexpr size_t L = kLanes<T>;
  const size_t C = period.channels(), n = rows * C;
  double sums[64] = {0}, s1[64] = {0}, s2[64] = {0}, mean0[64];
  A total1[kMaxPeriodVectors], total2[kMaxPeriodVectors];
  // Scalar math: sum[c] += x, then s1[c] += x − mean0[c], s2[c] += (x − mean0[c])² (c: the channel of x)
  periodSums2(period, n, total1, total2, [&](size_t, size_t i, size_t lanes, V& a, V&) { a = a + loadLanes(x + i, lanes); });
  foldLanes(period, total1, sums);
  for (size_t c = 0; c < C; ++c) mean0[c] = double(T(sums[c] / double(rows)));
  V m[kMaxPeriodVectors];
  periodVectors(period, mean0, m);
  periodSums2(period, n, total1, total2, [&](size_t k, size_t i, size_t lanes, V& a, V& b) {
    V d = loadLanes(x + i, lanes) - m[k];
    if (lanes < L) d = d.keepFirst(lanes);
    a = a + d;
    b = b + d * d;
  });
  foldLanes(period, total1, s1);
  foldLanes(period, total2, s2);
  for (size_t c = 0; c < C; ++c) {
    double* p = out.at(c, unit);
    p[0] = mean0[c] + s1[c] / double(rows);
    p[1] = s2[c] - s1[c] * s1[c] / double(rows);
    if (kIsFloat<T> && (!std::isfinite(p[0]) || floatSquaresLost(p[1], rows))) {
      scalarTileMoments(x, rows, C, 0, C, out, unit);
      return;
    }
  }
}

// Lane-per-channel path: vectors of channels [c0, c0 + cn) of a (rows, C) tile, reduced a group
// of up to kChannelVectors vectors at a time with the rows in the outer loop, so the group's
// additions are independent (one accumulator chain per vector would run at the add latency)
// and each row's group is one contiguous read. Each vector's lanes see the same additions in the
// same order as a walk of that vector alone: lane blocks of kLaneBlock rows, as in laneSum2.
// (8 vectors of accumulators and means fit AVX-512's 32 registers; 4 elsewhere.)
#ifdef FASTNORM_ISA_AVX512
constexpr size_t kChannelVectors = 8;
#else
constexpr size_t kChannelVectors = 4;
#endif

// Calls group(j, std::integral_constant<size_t, K>()) for consecutive groups of K ≤
// kChannelVectors vectors covering channel offsets [0, cn) (j: the group's first offset; the
// last vector may be partial): whole groups, then fewer than kChannelVectors vectors in groups
// of decreasing powers of two.
template <class T, class Group>
void forEachChannelGroup(size_t cn, Group group) {
  constexpr size_t L = kLanes<T>;
  static_assert((kChannelVectors & (kChannelVectors - 1)) == 0 && kChannelVectors <= 8, "a power of two, 8 at most");
  size_t j = 0;
  for (; j < cn && ceilDiv(cn - j, L) >= kChannelVectors; j += kChannelVectors * L)
    group(j, std::integral_constant<size_t, kChannelVectors>());
  auto rest = [&](auto count) {
    constexpr size_t K = decltype(count)::value;
    if constexpr (K < kChannelVectors) {
      if (j < cn && ceilDiv(cn - j, L) >= K) group(j, count), j += K * L;
    }
  };
  rest(std::integral_constant<size_t, 4>());
  rest(std::integral_constant<size_t, 2>());
  rest(std::integral_constant<size_t, 1>());
}

// Two lane sums per vector k < K of a channel group: terms(k, offset, lanes, a, b) adds the terms
// of vector k of the row at element `offset` of the tile (lanes[k] in use) into a and b.
template <class T, size_t K, class Terms>
__attribute__((always_inline)) inline void channelGroupSums2(size_t rows, size_t C, const size_t* lanes, Acc<T>* totalA,
                                                             Acc<T>* totalB, Terms terms) {
  using V = Vec<T>;
  using A = Acc<T>;
  constexpr size_t L = kLanes<T>;
  for (size_t k = 0; k < K; ++k) totalA[k] = totalB[k] = A::zero();
  for (size_t r0 = 0; r0 < rows; r0 += kLaneBlock) {
    V a[K], b[K];
    for (size_t k = 0; k < K; ++k) a[k] = b[k] = V::zero();
    const size_t r1 = minSize(rows, r0 + kLaneBlock);
    for (size_t r = r0; r < r1; ++r)
      for (size_t k = 0; k < K; ++k) terms(k, r * C + k * L, lanes[k], a[k], b[k]);
    for (size_t k = 0; k < K; ++k) totalA[k] = totalA[k] + A::of(a[k]), totalB[k] = totalB[k] + A::of(b[k]);
  }
}

// NHWC tile moments, lanes = channels [c0, c0 + cn), a group of channel vectors at a time.
// Scalar math, per channel c: sum += x[r, c], then s1 += x[r, c] − mean0[c], s2 += (x[r, c] − mean0[c])² over rows r.
template <class T, class S>
void channelTileMoments(const S* x, size_t rows, size_t C, size_t c0, size_t cn, const Partials& out, size_t unit) {
  using V = Vec<T>;
  using A = Acc<T>;
  constexpr size_t L = kLanes<T>;
  forEachChannelGroup<T>(cn, [&](size_t j0, auto count) {
    constexpr size_t K = decltype(count)::value;
    const S* col = x + c0 + j0;
    size_t lanes[K];
    for (size_t k = 0; k < K; ++k) lanes[k] = minSize(L, cn - j0 - k * L);
    A ta[K], tb[K];
    channelGroupSums2<T, K>(rows, C, lanes, ta, tb, [&](size_t, size_t i, size_t n, V& a, V&) __attribute__((always_inline)) {
      a = a + loadLanes(col + i, n);
    });
    V mv[K];
    double mean0[K][L];
    for (size_t k = 0; k < K; ++k) {
      double sums[L];
      storeAcc<T>(ta[k], sums);
      T m[L] = {};
      for (size_t l = 0; l < lanes[k]; ++l) m[l] = T(sums[l] / double(rows)), mean0[k][l] = double(m[l]);
      mv[k] = V::load(m);
    }
    channelGroupSums2<T, K>(rows, C, lanes, ta, tb, [&](size_t k, size_t i, size_t n, V& a, V& b) __attribute__((always_inline)) {
      const V d = (loadLanes(col + i, n) - mv[k]).keepFirst(n);
      a = a + d;
      b = b + d * d;
    });
    for (size_t k = 0; k < K; ++k) {
      double s1[L], s2[L];
      storeAcc<T>(ta[k], s1);
      storeAcc<T>(tb[k], s2);
      bool exact = true;
      for (size_t l = 0; l < lanes[k]; ++l) {
        double* p = out.at(c0 + j0 + k * L + l, unit);
        p[0] = mean0[k][l] + s1[l] / double(rows);
        p[1] = s2[l] - s1[l] * s1[l] / double(rows);
        exact = exact && std::isfinite(p[0]) && !floatSquaresLost(p[1], rows);
      }
      if (kIsFloat<T> && !exact) scalarTileMoments(x, rows, C, c0 + j0 + k * L, lanes[k], out, unit);
    }
  });
}

// NCHW unit of task t = (g·C + c)·planeBlocks + b: planes [n0, n1) of channel c, values
// [begin, begin + len) of each; `unit` is its index among the channel's units.
struct PlaneUnit {
  size_t c, n0, n1, begin, len, unit;
};

template <class T>
PlaneUnit planeUnit(const Units<T>& u, size_t t) {
  const ChannelShape& s = u.shape;
  const size_t b = t % u.planeBlocks, gc = t / u.planeBlocks, c = gc % s.c, g = gc / s.c;
  const size_t n0 = g * u.planesPerUnit, begin = b * kPlaneBlock;
  return {c, n0, minSize(s.n, n0 + u.planesPerUnit), begin, minSize(kPlaneBlock, s.s - begin), g * u.planeBlocks + b};
}

// Two lane sums over vectors drawn from several runs, in blocks of kLaneBlock vectors as
// laneSum2 does for one run.
template <class T>
struct RunSums2 {
  Vec<T> a = Vec<T>::zero(), b = Vec<T>::zero();
  Acc<T> totalA = Acc<T>::zero(), totalB = Acc<T>::zero();
  size_t inBlock = 0;
  // terms(i, k, a, b) for the vectors of a run of len values (k lanes in use).
  template <class Terms>
  void run(size_t len, Terms terms) {
    constexpr size_t L = kLanes<T>;
    for (size_t i = 0; i < len; i += L) {
      terms(i, minSize(L, len - i), a, b);
      if (++inBlock == kLaneBlock) flush();
    }
  }
  void flush() {
    totalA = totalA + Acc<T>::of(a);
    totalB = totalB + Acc<T>::of(b);
    a = b = Vec<T>::zero();
    inBlock = 0;
  }
  void finish(double& sumA, double& sumB) {
    flush();
    sumA = totalA.sum();
    sumB = totalB.sum();
  }
};

// Moments of `runs` runs of len values, run r at x + r·stride: the corrected two-pass
// algorithm of cachedMoments over all of them (one pass when the shift is close enough).
// Scalar math: d = x − center; s1 += d, s2 += d·d over every value of every run.
template <class T, class S>
Moments runsMoments(const S* x, size_t len, size_t runs, size_t stride) {
  using V = Vec<T>;
  constexpr size_t L = kLanes<T>;
  const double count = double(len) * double(runs);
  const size_t head = minSize(len, L);
  const T shift = T(laneSum<T>(head, [&](size_t i, size_t k) { return loadLanes(x + i, k); }) / double(head));
  auto around = [&](T center) {
    const V m = V::broadcast(center);
    RunSums2<T> sums;
    for (size_t r = 0; r < runs; ++r)
      sums.run(len, [&](size_t i, size_t k, V& a, V& b) {
        V d = loadLanes(x + r * stride + i, k) - m;
        if (k < L) d = d.keepFirst(k);
        a = a + d;
        b = b + d * d;
      });
    double s1, s2;
    sums.finish(s1, s2);
    return Moments{double(center) + s1 / count, s2 - s1 * s1 / count};
  };
  Moments m = around(shift);
  const double offset = m.mean - double(shift);
  if (!(std::isfinite(m.m2) && offset * offset * count <= m.m2)) {
    m = around(T(m.mean));
  }
  if (kIsFloat<T> && (!std::isfinite(m.mean) || floatSquaresLost(m.m2, size_t(count)))) {  // in double
    double sum = 0, s1 = 0, s2 = 0;
    for (size_t r = 0; r < runs; ++r)
      for (size_t i = 0; i < len; ++i) sum += Scalar<S>::value(x[r * stride + i]);
    const double mean0 = sum / count;
    for (size_t r = 0; r < runs; ++r)
      for (size_t i = 0; i < len; ++i) {
        const double d = Scalar<S>::value(x[r * stride + i]) - mean0;
        s1 += d;
        s2 += d * d;
      }
    m = {mean0 + s1 / count, s2 - s1 * s1 / count};
  }
  return m;
}

// Per-channel partial moments of every unit (task t covers unit tasks in memory order).
template <class T, class S>
void unitMoments(const S* x, const Units<T>& u, size_t t, const Partials& out) {
  const ChannelShape& s = u.shape;
  if (!s.channelsLast) {
    const PlaneUnit pu = planeUnit(u, t);
    const Moments m = runsMoments<T>(x + (pu.n0 * s.c + pu.c) * s.s + pu.begin, pu.len, pu.n1 - pu.n0, s.c * s.s);
    double* p = out.at(pu.c, pu.unit);
    p[0] = m.mean;
    p[1] = m.m2;
    return;
  }
  const size_t tile = t / u.chunks, q = t % u.chunks, rows = s.n * s.s;
  const size_t r0 = tile * u.tileRows, nr = minSize(u.tileRows, rows - r0);
  const S* base = x + r0 * s.c;
  if (u.flat) periodicTileMoments(base, nr, u.period, out, tile);
  else channelTileMoments<T>(base, nr, s.c, q * u.chunk, minSize(u.chunk, s.c - q * u.chunk), out, tile);
}

// A fused activation's gate: dy → g = dy·act'(z), z = (x − μ)·α + β with the per-channel α = rstd·w
// of the dx pass and β = b, from x − μ (xm) already formed; lanes past k are zeroed (the
// padding's z is not that of a value). None: dy unchanged.
template <class ActT, class T>
__attribute__((always_inline)) inline Vec<T> gateDy(Vec<T> dy, Vec<T> xm, Vec<T> alpha, Vec<T> beta, size_t k) {
  if constexpr (ActT::kind == Activation::None) {
    return dy;
  } else {
    const Vec<T> g = ActT().gate(xm * alpha + beta, dy);
    return k < kLanes<T> ? g.keepFirst(k) : g;
  }
}

// Per-channel partial Σdy and Σdy·(x − mean_c) of one unit (with a fused activation, of
// g = dy·act'(z) instead of dy: alpha, beta per channel, see gateDy).
// Scalar math, per channel c: sd += dy, sdx += dy·(x − mean[c]).
template <class T, class ActT = Act<Activation::None>, class S = T>
void unitGradSums(const S* dy, const S* x, const T* mean, const Units<T>& u, size_t t, const Partials& out,
                  const T* alpha = nullptr, const T* beta = nullptr) {
  using V = Vec<T>;
  using A = Acc<T>;
  constexpr size_t L = kLanes<T>;
  constexpr bool Gated = ActT::kind != Activation::None;
  const ChannelShape& s = u.shape;
  if (!s.channelsLast) {
    const PlaneUnit pu = planeUnit(u, t);
    const V m = V::broadcast(mean[pu.c]);
    const V al = Gated ? V::broadcast(alpha[pu.c]) : V::zero(), be = Gated ? V::broadcast(beta[pu.c]) : V::zero();
    RunSums2<T> sums;
    for (size_t n = pu.n0; n < pu.n1; ++n) {
      const size_t at = (n * s.c + pu.c) * s.s + pu.begin;
      sums.run(pu.len, [&](size_t i, size_t k, V& sd, V& sdx) {
        const V xm = loadLanes(x + at + i, k) - m;
        const V d = gateDy<ActT, T>(loadLanes(dy + at + i, k), xm, al, be, k);
        V dxm = d * xm;
        if (k < L) dxm = dxm.keepFirst(k);
        sd = sd + d;
        sdx = sdx + dxm;
      });
    }
    double* p = out.at(pu.c, pu.unit);
    sums.finish(p[0], p[1]);
    return;
  }
  const size_t tile = t / u.chunks, q = t % u.chunks, rows = s.n * s.s;
  const size_t r0 = tile * u.tileRows, nr = minSize(u.tileRows, rows - r0);
  const S* dyBase = dy + r0 * s.c;
  const S* xBase = x + r0 * s.c;
  if (u.flat) {
    double meanD[64], alphaD[64] = {0}, betaD[64] = {0}, sd[64] = {0}, sdx[64] = {0};
    for (size_t c = 0; c < s.c; ++c) meanD[c] = double(mean[c]);
    if constexpr (Gated)
      for (size_t c = 0; c < s.c; ++c) alphaD[c] = double(alpha[c]), betaD[c] = double(beta[c]);
    V m[kMaxPeriodVectors], al[kMaxPeriodVectors], be[kMaxPeriodVectors];
    periodVectors(u.period, meanD, m);
    if constexpr (Gated) periodVectors(u.period, alphaD, al), periodVectors(u.period, betaD, be);
    A total1[kMaxPeriodVectors], total2[kMaxPeriodVectors];
    // Scalar math: sd[c] += dy, sdx[c] += dy·(x − mean[c]) (c: the channel of x)
    periodSums2(u.period, nr * s.c, total1, total2, [&](size_t k, size_t i, size_t lanes, V& a, V& b) {
      const V xm = loadLanes(xBase + i, lanes) - m[k];
      const V d = Gated ? gateDy<ActT, T>(loadLanes(dyBase + i, lanes), xm, al[k], be[k], lanes) : loadLanes(dyBase + i, lanes);
      V dxm = d * xm;
      if (lanes < L) dxm = dxm.keepFirst(lanes);
      a = a + d;
      b = b + dxm;
    });
    foldLanes(u.period, total1, sd);
    foldLanes(u.period, total2, sdx);
    for (size_t c = 0; c < s.c; ++c) {
      double* p = out.at(c, tile);
      p[0] = sd[c];
      p[1] = sdx[c];
    }
    return;
  }
  const size_t c0 = q * u.chunk, cn = minSize(u.chunk, s.c - c0);
  forEachChannelGroup<T>(cn, [&](size_t j0, auto count) {
    constexpr size_t K = decltype(count)::value;
    size_t lanes[K];
    V m[K], al[K], be[K];
    for (size_t k = 0; k < K; ++k) lanes[k] = minSize(L, cn - j0 - k * L), m[k] = loadLanes(mean + c0 + j0 + k * L, lanes[k]);
    if constexpr (Gated)
      for (size_t k = 0; k < K; ++k) al[k] = loadLanes(alpha + c0 + j0 + k * L, lanes[k]), be[k] = loadLanes(beta + c0 + j0 + k * L, lanes[k]);
    const S* dyCol = dyBase + c0 + j0;
    const S* xCol = xBase + c0 + j0;
    A total[K], total2[K];
    channelGroupSums2<T, K>(nr, s.c, lanes, total, total2, [&](size_t k, size_t i, size_t n, V& a, V& b) __attribute__((always_inline)) {
      if constexpr (Gated) {
        const V xm = loadLanes(xCol + i, n) - m[k];
        const V d = gateDy<ActT, T>(loadLanes(dyCol + i, n), xm, al[k], be[k], n);
        a = a + d;
        b = b + (d * xm).keepFirst(n);
      } else {
        const V d = loadLanes(dyCol + i, n);
        a = a + d;
        b = b + (d * (loadLanes(xCol + i, n) - m[k])).keepFirst(n);
      }
    });
    for (size_t k = 0; k < K; ++k) {
      double sd[L], sdx[L];
      storeAcc<T>(total[k], sd);
      storeAcc<T>(total2[k], sdx);
      for (size_t l = 0; l < lanes[k]; ++l) {
        double* p = out.at(c0 + j0 + k * L + l, tile);
        p[0] = sd[l];
        p[1] = sdx[l];
      }
    }
  });
}

// Units' partials for every channel, computed in parallel (false: no scratch memory).
template <class T, class UnitFn>
bool reduceUnits(const Units<T>& u, const Exec& exec, ScratchDoubles& scratch, UnitFn unitFn) {
  if (!scratch.data()) return false;
  const Partials out{scratch.data(), u.perChannel()};
  parallelFor(u.tasks(), u.grain(), threadsFor(exec, u.shape.size()), [&](size_t t0, size_t t1) {
    for (size_t t = t0; t < t1; ++t) unitFn(t, out);
  });
  return true;
}

// Count of values in unit `unit` of a channel.
template <class T>
double unitCount(const Units<T>& u, size_t unit) {
  const ChannelShape& s = u.shape;
  if (!s.channelsLast) {
    const size_t b = unit % u.planeBlocks, g = unit / u.planeBlocks;
    const size_t planes = minSize(s.n, (g + 1) * u.planesPerUnit) - g * u.planesPerUnit;
    return double(planes) * double(minSize(kPlaneBlock, s.s - b * kPlaneBlock));
  }
  return double(minSize(u.tileRows, s.n * s.s - unit * u.tileRows));
}

// Per-channel moments over N·S values: mean and M2 (double), merged in unit order.
template <class T, class S>
bool channelMoments(const S* x, const ChannelShape& shape, const Exec& exec, double* mean, double* m2) {
  if (shape.c == 0) return true;
  const Units<T> u(shape);
  ScratchDoubles scratch(shape.c * u.perChannel() * 2);
  if (!reduceUnits(u, exec, scratch, [&](size_t t, const Partials& out) { unitMoments(x, u, t, out); })) return false;
  // Each channel merges its units in unit order; the units are the outer loop so that the
  // channels' merge chains (each step waits for the last) run side by side.
  const Partials parts{scratch.data(), u.perChannel()};
  for (size_t c = 0; c < shape.c; ++c) mean[c] = 0, m2[c] = 0;
  double count = 0;  // a unit's count is the same for every channel
  for (size_t k = 0; k < u.perChannel(); ++k) {
    const double n = unitCount(u, k);
    if (n == 0) continue;
    for (size_t c = 0; c < shape.c; ++c) {
      const double* p = parts.at(c, k);
      Moments acc{mean[c], m2[c]};
      double merged = count;
      if (count == 0) acc = {p[0], p[1]};
      else mergeMoments(merged, acc, n, {p[0], p[1]});
      mean[c] = acc.mean;
      m2[c] = acc.m2;
    }
    count += n;
  }
  return true;
}

// Per-channel Σdy and Σdy·(x − mean_c), summed in unit order (a fused activation: of g, see gateDy).
template <class T, class ActT = Act<Activation::None>, class S = T>
bool channelGradSums(const S* dy, const S* x, const T* mean, const ChannelShape& shape, const Exec& exec, double* sumDy,
                     double* sumDyXmu, const T* alpha = nullptr, const T* beta = nullptr) {
  if (shape.c == 0) return true;
  const Units<T> u(shape);
  ScratchDoubles scratch(shape.c * u.perChannel() * 2);
  if (!reduceUnits(u, exec, scratch, [&](size_t t, const Partials& out) { unitGradSums<T, ActT, S>(dy, x, mean, u, t, out, alpha, beta); }))
    return false;
  const Partials parts{scratch.data(), u.perChannel()};
  for (size_t c = 0; c < shape.c; ++c) sumDy[c] = 0, sumDyXmu[c] = 0;
  for (size_t k = 0; k < u.perChannel(); ++k)  // units outer: the channels' sums run side by side
    for (size_t c = 0; c < shape.c; ++c) sumDy[c] += parts.at(c, k)[0], sumDyXmu[c] += parts.at(c, k)[1];
  return true;
}

// ---- elementwise passes with per-channel coefficients ----

// 4 per-channel coefficient arrays, laid out for the layout's walk: per channel in NCHW; in
// NHWC a cyclic table of one period (channel_period.h: lcm(C, lanes) values when C < lanes,
// else C), walked along flat memory.
template <class T>
class Coefficients {
 public:
  static constexpr size_t kMax = 5;
  Coefficients(const ChannelShape& s, T* storage) : shape_(s), period_(periodOf(s)), storage_(storage) {
    if (storage_)  // every table is read, used or not
      for (size_t i = 0; i < kMax * period_.tableLength(); ++i) storage_[i] = T(0);
  }
  // Storage needed, in values of T.
  static size_t storageSize(const ChannelShape& s) { return kMax * periodOf(s).tableLength(); }
  void set(size_t j, size_t c, T v) {
    for (size_t i = c; i < period_.tableLength(); i += shape_.c) storage_[j * period_.tableLength() + i] = v;
  }
  const T* table(size_t j) const { return storage_ + j * period_.tableLength(); }
  const ChannelShape& shape() const { return shape_; }
  size_t cycle() const { return period_.values(); }

 private:
  static ChannelPeriod<T> periodOf(const ChannelShape& s) {
    return s.channelsLast && s.c < kLanes<T> ? ChannelPeriod<T>::wholeVectors(s.c) : ChannelPeriod<T>::oneRow(s.c);
  }
  ChannelShape shape_;
  ChannelPeriod<T> period_;
  T* storage_;
};

// out = f(in0, in1, k) elementwise over the tensor, k[j] = vector of coefficient j < NK for the
// lanes (in1 may be null). NCHW: per plane, coefficients broadcast; NHWC: flat rows, the
// coefficients read from the cyclic tables at the running channel offset.
// Scalar math: out[i] = f(in0[i], in1[i], coefficients of the channel of i) (f's own comment says what).
// (in0, in1, out stored as S: T, or halves computed in float.)
template <class T, size_t NK, bool Stream, class F, class S>
void channelElementwiseRun(const ChannelShape& s, const S* in0, const NotDeduced<S>* in1, S* out, const Coefficients<T>& coef,
                           const Exec& exec, F f) {
  using V = Vec<T>;
  const int threads = threadsFor(exec, s.size());
  if (!s.channelsLast) {
    const size_t planes = s.n * s.c, grain = maxSize(1, kGrainValues / maxSize(s.s, 1));
    parallelFor(planes, grain, threads, [&](size_t p0, size_t p1) {
      for (size_t plane = p0; plane < p1; ++plane) {
        const size_t c = plane % s.c, at = plane * s.s;
        V k[NK];
        for (size_t j = 0; j < NK; ++j) k[j] = V::broadcast(coef.table(j)[c]);
        writeRun<T, Stream>(out + at, s.s, [&](size_t i, size_t lanes) {
          return f(loadLanes(in0 + at + i, lanes), in1 ? loadLanes(in1 + at + i, lanes) : V::zero(), k);
        });
      }
      if (Stream) streamFence();
    });
    return;
  }
  const size_t rows = s.n * s.s, grain = maxSize(1, kGrainValues / maxSize(s.c, 1));
  parallelFor(rows, grain, threads, [&](size_t r0, size_t r1) {
    const size_t start = r0 * s.c;
    Cyclic channel{coef.cycle(), start % coef.cycle()};
    writeRun<T, Stream>(out + start, (r1 - r0) * s.c, [&](size_t i, size_t lanes) {
      const size_t m = channel(i, lanes);
      V k[NK];
      for (size_t j = 0; j < NK; ++j) k[j] = V::load(coef.table(j) + m);
      return f(loadLanes(in0 + start + i, lanes), in1 ? loadLanes(in1 + start + i, lanes) : V::zero(), k);
    });
    if (Stream) streamFence();
  });
}

template <class T, size_t NK = 4, class F, class S>
void channelElementwise(const ChannelShape& s, const S* in0, const NotDeduced<S>* in1, S* out, const Coefficients<T>& coef,
                        const Exec& exec, F f) {
  static_assert(NK <= Coefficients<T>::kMax, "coefficient tables");
  withStream(streamOutput<T>(s.size()), [&](auto stream) {
    channelElementwiseRun<T, NK, decltype(stream)::value>(s, in0, in1, out, coef, exec, f);
  });
}

// Scratch for a call: 2C doubles of per-channel sums, 2C values of T (a fused activation's
// α and β per channel), then the coefficient tables.
template <class T>
struct CallScratch {
  ScratchDoubles memory;
  double* sums = nullptr;
  T* perChannel = nullptr;
  Coefficients<T> coef;
  explicit CallScratch(const ChannelShape& s) : memory(carve(s, nullptr).used()), coef(s, nullptr) {
    if (!memory.data()) return;
    T* tables = nullptr;
    carve(s, memory.data(), &sums, &perChannel, &tables);
    coef = Coefficients<T>(s, tables);
  }
  bool ok() const { return memory.data() != nullptr; }

 private:
  static Carver carve(const ChannelShape& s, double* base, double** sums = nullptr, T** perChannel = nullptr, T** tables = nullptr) {
    Carver c(base);
    double* d = c.take<double>(2 * s.c);
    T* p = c.take<T>(2 * s.c);
    T* t = c.take<T>(Coefficients<T>::storageSize(s));
    if (sums) *sums = d, *perChannel = p, *tables = t;
    return c;
  }
};

// Scalar math: y = act(((x − μhi) − μlo)·α + β), with α = rstd·w, β = b (per channel).
template <class T, class S>
void applyNormalize(const ChannelShape& s, const S* x, S* y, CallScratch<T>& cs, const double* mean, const double* rstd,
                    const T* weight, const T* bias, uint8_t activation, const Exec& exec) {
  using V = Vec<T>;
  for (size_t c = 0; c < s.c; ++c) {
    const SplitMean<T> m(mean[c]);
    cs.coef.set(0, c, m.hi);
    cs.coef.set(1, c, m.lo);
    cs.coef.set(2, c, T(weight ? rstd[c] * double(weight[c]) : rstd[c]));
    cs.coef.set(3, c, bias ? bias[c] : T(0));
  }
  if (s.size() == 0) return;
  withActivation(activation, [&](auto act) {
    channelElementwise<T>(s, x, nullptr, y, cs.coef, exec, [act](V v, V, const V* k) {
      V d = v - k[0];
      if constexpr (kIsFloat<T>) d = d - k[1];
      return act(d * k[2] + k[3]);
    });
  });
}

// Scalar math: dx = ((dy − Σdy/M) − (x − μ)·rstd²·Σdy(x − μ)/M)·(w·rstd); a fused activation:
// g = dy·act'((x − μ)·(w·rstd) + b) in place of dy, its sums in sumDy, sumDyXmu (gateDy).
template <class T, class ActT = Act<Activation::None>, class S = T>
void applyTrainingGrad(const ChannelShape& s, const S* dy, const S* x, S* dx, CallScratch<T>& cs, const T* mean,
                       const T* rstd, const T* weight, const double* sumDy, const double* sumDyXmu, double count,
                       const Exec& exec, const T* beta = nullptr) {
  using V = Vec<T>;
  constexpr bool Gated = ActT::kind != Activation::None;
  for (size_t c = 0; c < s.c; ++c) {
    const double r = double(rstd[c]);
    cs.coef.set(0, c, mean[c]);
    cs.coef.set(1, c, T(sumDy[c] / count));
    cs.coef.set(2, c, T(r * r * sumDyXmu[c] / count));
    cs.coef.set(3, c, T(weight ? r * double(weight[c]) : r));
    if (Gated) cs.coef.set(4, c, beta[c]);
  }
  if (s.size() == 0) return;
  if constexpr (Gated) {
    channelElementwise<T, 5>(s, dy, x, dx, cs.coef, exec, [](V d, V xv, const V* k) {
      const V xm = xv - k[0];
      return ((gateDy<ActT, T>(d, xm, k[3], k[4], kLanes<T>) - k[1]) - xm * k[2]) * k[3];
    });
  } else {
    channelElementwise<T>(s, dy, x, dx, cs.coef, exec,
                          [](V d, V xv, const V* k) { return ((d - k[1]) - (xv - k[0]) * k[2]) * k[3]; });
  }
}

// A fused activation's per-channel α = T(rstd·w) (the dx pass's coefficient, bit for bit) and
// β = b (0 without a bias), in cs.perChannel.
template <class T>
void gateCoefficients(size_t channels, const T* rstd, const T* weight, const T* bias, CallScratch<T>& cs) {
  for (size_t c = 0; c < channels; ++c) {
    const double r = double(rstd[c]);
    cs.perChannel[c] = T(weight ? r * double(weight[c]) : r);
    cs.perChannel[channels + c] = bias ? bias[c] : T(0);
  }
}

// The parameter gradients from the per-channel sums: dweight = Σdy·(x − μ)·rstd, dbias = Σdy
// (either may be null: not requested), rounded once into their storage.
template <class T, class H>
void paramGrads(size_t channels, const double* sumDy, const double* sumDyXmu, const T* rstd, const ParamArray<T, H>& dweight,
                const ParamArray<T, H>& dbias) {
  for (size_t c = 0; c < channels; ++c) {
    if (dbias) dbias.set(c, sumDy[c]);
    if (dweight) dweight.set(c, sumDyXmu[c] * double(rstd[c]));
  }
}

// A kernel's body(s, cs) with the call's (N, C, S) view and scratch; false when there is no memory.
template <class T, class KernelArgs, class Body>
bool withCallScratch(const KernelArgs& a, Body body) {
  const ChannelShape s = channelShapeOf(a);
  CallScratch<T> cs(s);
  return cs.ok() && body(s, cs);
}

}  // namespace

// Each entry point's C is the call type: float, double, or HalfCall (data Half<F>, computed in
// float; weight/bias widened once into T, running statistics and dweight/dbias kept as P).
template <class C>
bool batchNormForward(const Args<Kernel::batchNormForward, C>& a, const Exec& exec) noexcept {
  using T = ComputeType<C>;
  using Running = ParamArray<T, DataType<C>>;
  const Running runningMean(a.runningMean), runningVar(a.runningVar);
  const ParamValues<T> weight(a.weight, 0, a.c), bias(a.bias, 0, a.c);
  if (!weight.ok() || !bias.ok()) return false;
  return withCallScratch<T>(a, [&](const ChannelShape& s, CallScratch<T>& cs) {
    double* mean = cs.sums;
    double* rstd = cs.sums + s.c;
    if (a.training) {
      if (!channelMoments<T>(a.x, s, exec, mean, rstd)) return false;  // rstd holds M2 until below
      const double count = double(s.n * s.s);
      for (size_t c = 0; c < s.c; ++c) {
        const double m2 = rstd[c];
        rstd[c] = rstdOf(m2 / count, a.eps);
        if (runningMean) updateRunning(runningMean, c, a.momentum, mean[c]);
        if (runningVar) updateRunning(runningVar, c, a.momentum, m2 / (count - 1));
      }
    } else {
      for (size_t c = 0; c < s.c; ++c) {
        mean[c] = runningMean.get(c);
        rstd[c] = rstdOf(runningVar.get(c), a.eps);
      }
    }
    for (size_t c = 0; c < s.c; ++c) a.mean[c] = T(mean[c]), a.rstd[c] = T(rstd[c]);
    // normalize with the statistics as stored (T), as a later batchNormElemt would
    for (size_t c = 0; c < s.c; ++c) rstd[c] = double(a.rstd[c]);
    applyNormalize(s, a.x, a.y, cs, mean, rstd, weight.get(), bias.get(), a.activation, exec);
    return true;
  });
}

template <class C>
bool batchNormElemt(const Args<Kernel::batchNormElemt, C>& a, const Exec& exec) noexcept {
  using T = ComputeType<C>;
  const ParamValues<T> weight(a.weight, 0, a.c), bias(a.bias, 0, a.c);
  if (!weight.ok() || !bias.ok()) return false;
  return withCallScratch<T>(a, [&](const ChannelShape& s, CallScratch<T>& cs) {
    for (size_t c = 0; c < s.c; ++c) cs.sums[c] = double(a.mean[c]), cs.sums[s.c + c] = double(a.rstd[c]);
    applyNormalize(s, a.x, a.y, cs, cs.sums, cs.sums + s.c, weight.get(), bias.get(), 0, exec);
    return true;
  });
}

// A fused activation (the forward's y = act((x − μ)·rstd·w + b)): every pass takes
// g = dy·act'(z) for dy, z recomputed from x, the saved statistics, weight and bias (gateDy).
template <class C>
bool batchNormBackward(const Args<Kernel::batchNormBackward, C>& a, const Exec& exec) noexcept {
  using T = ComputeType<C>;
  const ParamValues<T> weights(a.weight, 0, a.c), biases(a.bias, 0, a.c);
  if (!weights.ok() || !biases.ok()) return false;
  const T* weight = weights.get();
  return withCallScratch<T>(a, [&](const ChannelShape& s, CallScratch<T>& cs) {
    double* sumDy = cs.sums;
    double* sumDyXmu = cs.sums + s.c;
    const bool sums = a.training || a.dweight || a.dbias;
    if (a.activation != 0) gateCoefficients(s.c, a.rstd, weight, biases.get(), cs);
    const T* alpha = cs.perChannel;
    const T* beta = cs.perChannel + s.c;
    bool ok = true;
    withActivation(a.activation, [&](auto act) {
      using ActT = decltype(act);
      if (sums) {
        if (s.size() == 0) {
          for (size_t c = 0; c < 2 * s.c; ++c) cs.sums[c] = 0;
        } else if (!channelGradSums<T, ActT>(a.dy, a.x, a.mean, s, exec, sumDy, sumDyXmu, alpha, beta)) {
          ok = false;
          return;
        }
      }
      paramGrads<T, DataType<C>>(s.c, sumDy, sumDyXmu, a.rstd, a.dweight, a.dbias);
      if (a.training) {
        applyTrainingGrad<T, ActT>(s, a.dy, a.x, a.dx, cs, a.mean, a.rstd, weight, sumDy, sumDyXmu, double(s.n * s.s), exec, beta);
        return;
      }
      // eval: the statistics are constants, so dx = dy·w·rstd
      using V = Vec<T>;
      for (size_t c = 0; c < s.c; ++c) cs.coef.set(0, c, T(weight ? double(a.rstd[c]) * double(weight[c]) : double(a.rstd[c])));
      if (s.size() == 0) return;
      if constexpr (ActT::kind != Activation::None) {
        for (size_t c = 0; c < s.c; ++c) cs.coef.set(1, c, a.mean[c]), cs.coef.set(2, c, beta[c]);
        // Scalar math: dx = dy·act'((x − μ)·(w·rstd) + b)·(w·rstd)
        channelElementwise<T, 3>(s, a.dy, a.x, a.dx, cs.coef, exec,
                                 [](V d, V xv, const V* k) { return gateDy<ActT, T>(d, xv - k[1], k[0], k[2], kLanes<T>) * k[0]; });
      } else {
        // Scalar math: dx = dy·(w·rstd)
        channelElementwise<T>(s, a.dy, nullptr, a.dx, cs.coef, exec, [](V d, V, const V* k) { return d * k[0]; });
      }
    });
    return ok;
  });
}

template <class C>
bool batchNormBackwardElemt(const Args<Kernel::batchNormBackwardElemt, C>& a, const Exec& exec) noexcept {
  using T = ComputeType<C>;
  const ParamValues<T> weight(a.weight, 0, a.c);
  if (!weight.ok()) return false;
  return withCallScratch<T>(a, [&](const ChannelShape& s, CallScratch<T>& cs) {
    paramGrads<T, DataType<C>>(s.c, a.sumDy, a.sumDyXmu, a.rstd, a.dweight, a.dbias);
    applyTrainingGrad<T>(s, a.dy, a.x, a.dx, cs, a.mean, a.rstd, weight.get(), a.sumDy, a.sumDyXmu, a.count, exec);
    return true;
  });
}

template <class C>
bool batchNormStats(const Args<Kernel::batchNormStats, C>& a, const Exec& e) noexcept {
  if (a.n * a.s == 0) {  // moments of nothing
    for (size_t c = 0; c < a.c; ++c) a.mean[c] = 0, a.m2[c] = 0;
    return true;
  }
  return channelMoments<ComputeType<C>>(a.x, channelShapeOf(a), e, a.mean, a.m2);
}

// Scalar math, per channel j over the parts in order (empty parts skipped), Chan et al.:
//   δ = mean_p − mean,  mean += δ·(n_p/n),  M2 += M2_p + δ²·(count·n_p/n),  n = count + n_p
// then rstd = 1/sqrt(M2/count + eps) and the running statistics' update with the unbiased
// variance M2/(count − 1). Exact in double; C values, so one thread.
template <class T>
bool batchNormGatherStats(const Args<Kernel::batchNormGatherStats, T>& a, const Exec&) noexcept {
  const size_t C = a.c;
  ScratchDoubles merged(2 * C);  // mean, M2
  if (!merged.data() && C > 0) return false;
  double* mean = merged.data();
  double* m2 = mean + C;
  for (size_t j = 0; j < 2 * C; ++j) mean[j] = 0;
  double count = 0;
  for (size_t p = 0; p < a.parts; ++p) {
    const double n = a.counts[p];
    if (n == 0) continue;
    const double total = count + n;
    const double* pm = a.means + p * C;
    const double* pm2 = a.m2s + p * C;
    for (size_t j = 0; j < C; ++j) {
      if (count == 0) {
        mean[j] = pm[j];
        m2[j] = pm2[j];
        continue;
      }
      const double delta = pm[j] - mean[j];
      mean[j] += delta * (n / total);
      m2[j] += pm2[j] + delta * delta * ((count * n) / total);
    }
    count = total;
  }
  for (size_t j = 0; j < C; ++j) {
    a.mean[j] = T(mean[j]);
    a.rstd[j] = T(rstdOf(m2[j] / count, a.eps));
    if (a.runningMean && a.runningVar) {
      updateRunning(ParamArray<T>(a.runningMean), j, a.momentum, mean[j]);
      updateRunning(ParamArray<T>(a.runningVar), j, a.momentum, m2[j] / (count - 1));
    }
  }
  return true;
}

template <class C>
bool batchNormBackwardReduce(const Args<Kernel::batchNormBackwardReduce, C>& a, const Exec& e) noexcept {
  const ChannelShape s = channelShapeOf(a);
  if (s.size() == 0) {
    for (size_t c = 0; c < s.c; ++c) a.sumDy[c] = 0, a.sumDyXmu[c] = 0;
    return true;
  }
  return channelGradSums<ComputeType<C>>(a.dy, a.x, a.mean, s, e, a.sumDy, a.sumDyXmu);
}

FASTNORM_INSTANTIATE_KERNEL(batchNormForward)
FASTNORM_INSTANTIATE_KERNEL(batchNormBackward)
FASTNORM_INSTANTIATE_KERNEL(batchNormStats)
FASTNORM_INSTANTIATE_KERNEL(batchNormGatherStats)
FASTNORM_INSTANTIATE_KERNEL(batchNormElemt)
FASTNORM_INSTANTIATE_KERNEL(batchNormBackwardReduce)
FASTNORM_INSTANTIATE_KERNEL(batchNormBackwardElemt)
FASTNORM_HALF_BATCH_KERNELS(FASTNORM_INSTANTIATE_HALF_KERNEL)

}  // namespace fastnorm::FASTNORM_ISA_NS
