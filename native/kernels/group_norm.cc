// GroupNorm and InstanceNorm, forward and backward, on (N, C, S) 'NCHW' or (N, S, C) 'NHWC'
// tensors, each computed in its own layout (no transposing copies). InstanceNorm is GroupNorm
// with groups = C, plus PyTorch's running statistics: updated from the batch (per-(n, c)
// means and unbiased variances averaged over N), or used instead of it (useInputStats false).
//
// Units are what must be reduced before anything can be written:
//   NCHW: a group (n, g) is one contiguous row of (C/G)·S values, reduced exactly like a
//         LayerNorm row (moments.h: one block in cache, kBlock blocks beyond), so GroupNorm with
//         G = 1 reproduces LayerNorm's bits; outputs are written channel by channel.
//   NHWC: a sample n, S rows of C channels, read as periods of q rows (P = q·C values) so that
//         lane l of vector v of every period holds channel (v·L + l) mod C: per-lane sums over
//         the periods (four vectors at a time, prefetched a lane block ahead) fold into
//         channels and groups at the end; the elementwise passes take per-channel tables of
//         one period, held in registers when a period is ≤ 4 vectors and otherwise walked
//         cyclically along the output. Small or odd C fill whole vectors.
// Each unit is cut into blocks fixed by the shape; blocks store partial sums that merge in
// block order, so no result depends on the thread count or on how units are scheduled.
//
// Passes over memory: a unit that fits in L2 (≤ kUnitInCacheBytes) is one task: statistics,
// then y (dx) from cache — 1 read + 1 write forward, 2 reads + 1 write backward. A larger unit
// (an NHWC sample) is re-read from L2/L3: one task per unit when the units split evenly over
// the threads, else waves of ≈ kWaveBytes (every block's partial in parallel, merge, every
// block's output). Outputs of ≥ 8 MiB, or calls touching ≥ 16 MiB, use streaming stores.
// Backward: per (n, c), Σdy and Σdy·x̂ in one pass over x and dy (NCHW: four interleaved
// accumulator chains per sum); per group Σg = Σ_c w_c·Σdy and Σg·x̂ = Σ_c w_c·Σdy·x̂; then
// dx = ((g − Σg/M) − x̂·Σg·x̂/M)·rstd, written as LayerNorm writes it in NCHW; NHWC evaluates it
// as dy·a − (x − μ)·b − c with per-channel a = rstd·w, b = rstd²·Σg·x̂/M, c = rstd·Σg/M (three
// tables instead of five; the unfolded form when b would underflow T, σ ≳ 1e19 in float32).
// With constant running statistics dx = dy·w·rstd. dweight[c] = Σ_n Σdy·x̂ and dbias[c] =
// Σ_n Σdy, summed in n order.
//
// Precision: sums in double (float lane sums of ≤ 16 terms, then widened). NHWC moments are
// taken around a per-group shift (the mean of the group's first ≥ L values), redone around the
// mean when the shift was far from it, and in scalar double when float squares overflow, as
// cachedMoments does along a row. Elementwise passes in the data type; NCHW writes y exactly as
// LayerNorm does (mean split hi + lo), NHWC folds it to (x − hi)·α + β per channel (fewer
// table loads; α = rstd·w, β = b − lo·α).
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "../runtime/thread_pool.h"
#include "kernels.h"
#include "moments.h"
#include "normalize.h"
#include "schedule.h"

namespace fastnorm::FASTNORM_ISA_NS {
namespace {

using runtime::parallelFor;
using runtime::ScratchDoubles;

// What the GroupNorm and InstanceNorm kernels share: GroupNorm's arguments with InstanceNorm's
// running statistics (groups = C for InstanceNorm; GroupNorm has no running statistics).
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

constexpr size_t kUnitInCacheBytes = 512 * 1024;  // units up to this size: one task each (L2 is 1 MiB here)
constexpr size_t kWaveBytes = 1 << 20;            // larger units: waves of about this many bytes
constexpr size_t kChunksPerThread = 8;            // in-cache units: tasks per thread, for balance
constexpr size_t kPeriodBlockValues = 1 << 16;    // NHWC: values per block (partials ≈ 2% of them)
constexpr size_t kSmallSpatial = 64;              // NCHW: below this S, per-channel values expand per element
constexpr size_t kWideChannelVectors = 4;         // NHWC: from C ≥ 4 vectors, one row per period
// Streaming stores also when everything a call touches is this large (a backward's x, dy, dx):
// keeping its inputs in L3 is worth more than the reads for ownership they save (measured).
constexpr size_t kStreamTouchedBytes = size_t(16) << 20;

// Lays one scratch allocation out as 64-byte aligned arrays: measure with a null base, then
// allocate and carve again with the same sequence of take() calls.
class Carver {
 public:
  explicit Carver(double* base = nullptr) : base_(base) {}
  template <class U>
  U* take(size_t count) {
    const size_t at = used_;
    used_ += ceilDiv(count * sizeof(U), 64) * 8;
    return base_ ? reinterpret_cast<U*>(base_ + at) : nullptr;
  }
  size_t used() const { return used_; }

 private:
  double* base_;
  size_t used_ = 0;
};

struct GroupGeometry {
  size_t n, c, s, groups, cg;  // cg = channels per group
  GroupGeometry(const ChannelShape& shape, size_t g) : n(shape.n), c(shape.c), s(shape.s), groups(g), cg(g ? shape.c / g : 0) {}
  size_t groupValues() const { return cg * s; }
  size_t groupOf(size_t channel) const { return channel / cg; }
};

// ---- NHWC periods ----

template <class T>
struct Periods {
  static constexpr size_t L = kLanes<T>;
  size_t c = 0, s = 0, q = 1, P = 0, vectors = 0, count = 0, full = 0;
  Periods() = default;
  Periods(size_t channels, size_t spatial) : c(channels), s(spatial) {
    q = (c % L == 0 || c >= kWideChannelVectors * L) ? 1 : L / gcd(c, L);  // P = lcm(C, L) when C is small
    P = q * c;
    vectors = ceilDiv(P, L);
    count = ceilDiv(s, q);
    full = s / q;
  }
  size_t padded() const { return vectors * L; }  // per-lane sums
  size_t tableLength() const { return P + L; }   // per-lane tables: one period, plus one vector to walk cyclically
  size_t values(size_t p) const { return p < full ? P : (s - full * q) * c; }
  // Lanes of vector v in use in a full period.
  size_t fullLanes(size_t v) const { return minSize(L, P - v * L); }
  size_t lanes(size_t p, size_t v) const {
    const size_t n = values(p);
    return n <= v * L ? 0 : minSize(L, n - v * L);
  }
  // Periods per block: a multiple of kLaneBlock, ≈ kPeriodBlockValues values.
  size_t blockPeriods() const { return maxSize(kLaneBlock, kPeriodBlockValues / maxSize(P, 1) / kLaneBlock * kLaneBlock); }
};

constexpr size_t kLaneChunk = 4;  // vectors of a period summed together (2 accumulators each)

template <class T>
using AllLanes = std::integral_constant<size_t, kLanes<T>>;  // a lane count known to be full at compile time

// Lanes of vectors [v0, v0 + R) over periods [q0, q1) (≤ kLaneBlock of them, float sums in
// registers, walking memory period by period), widened into the double lane sums. The chunk's
// vectors are unrolled (index_sequence) so the accumulators stay in registers.
// The inputs a reduction reads, prefetched kLaneBlock periods ahead: the walk strides by a
// period, which the hardware prefetchers follow poorly. (A prefetch never faults, so running
// past the end of the unit is harmless.)
template <class T>
struct Prefetch {
  const T* first;
  const T* second;  // or null
  void operator()(size_t at) const {
    __builtin_prefetch(first + at);
    if (second) __builtin_prefetch(second + at);
  }
};

template <class T, class Terms, size_t... r>
inline void periodLaneChunk(const Periods<T>& ps, size_t q0, size_t q1, size_t v0, double* sumA, double* sumB, Terms& terms,
                            const Prefetch<T>& prefetch, std::index_sequence<r...>) {
  using V = Vec<T>;
  using A = Acc<T>;
  constexpr size_t L = kLanes<T>;
  V a[sizeof...(r)] = {(void(r), V::zero())...};
  V b[sizeof...(r)] = {(void(r), V::zero())...};
  const size_t fullEnd = minSize(q1, ps.full), ahead = kLaneBlock * ps.P;
  if ((v0 + sizeof...(r)) * L <= ps.P) {  // every vector of the chunk is whole in a full period
    for (size_t p = q0; p < fullEnd; ++p) {
      (prefetch(p * ps.P + (v0 + r) * L + ahead), ...);
      (terms(p * ps.P + (v0 + r) * L, (v0 + r) * L, AllLanes<T>(), a[r], b[r]), ...);
    }
  } else {
    for (size_t p = q0; p < fullEnd; ++p) (terms(p * ps.P + (v0 + r) * L, (v0 + r) * L, ps.fullLanes(v0 + r), a[r], b[r]), ...);
  }
  if (fullEnd < q1) {  // the unit's last period, shorter
    auto last = [&](size_t v, V& av, V& bv) __attribute__((always_inline)) {
      const size_t k = ps.lanes(fullEnd, v);
      if (k) terms(fullEnd * ps.P + v * L, v * L, k, av, bv);
    };
    (last(v0 + r, a[r], b[r]), ...);
  }
  auto widen = [&](size_t v, V av, V bv) __attribute__((always_inline)) {
    (A::load(sumA + v * L) + A::of(av)).store(sumA + v * L);
    (A::load(sumB + v * L) + A::of(bv)).store(sumB + v * L);
  };
  (widen(v0 + r, a[r], b[r]), ...);
}

// Per-lane sums over periods [p0, p1) of a unit: terms(offset, lane0, k, a, b) adds two terms
// of the vector at element `offset` of the unit (k lanes in use, lane0 = v·L its index in the
// per-lane tables; terms of unused lanes must be 0) to float accumulators, which every
// kLaneBlock periods widen into sumA/sumB[v·L + lane] — laneSum2's blocking, across periods.
// Each lane's sum is the same whatever the chunking of vectors.
template <class T, class Terms>
void periodLaneSums(const Periods<T>& ps, size_t p0, size_t p1, double* sumA, double* sumB, const Prefetch<T>& prefetch, Terms terms) {
  for (size_t j = 0; j < ps.padded(); ++j) sumA[j] = 0, sumB[j] = 0;
  for (size_t q0 = p0; q0 < p1; q0 += kLaneBlock) {
    const size_t q1 = minSize(p1, q0 + kLaneBlock);
    size_t v0 = 0;
    for (; v0 + kLaneChunk <= ps.vectors; v0 += kLaneChunk)
      periodLaneChunk<T>(ps, q0, q1, v0, sumA, sumB, terms, prefetch, std::make_index_sequence<kLaneChunk>());
    switch (ps.vectors - v0) {
      case 3: periodLaneChunk<T>(ps, q0, q1, v0, sumA, sumB, terms, prefetch, std::make_index_sequence<3>()); break;
      case 2: periodLaneChunk<T>(ps, q0, q1, v0, sumA, sumB, terms, prefetch, std::make_index_sequence<2>()); break;
      case 1: periodLaneChunk<T>(ps, q0, q1, v0, sumA, sumB, terms, prefetch, std::make_index_sequence<1>()); break;
      default: break;
    }
  }
}

// table[j] = value(channel j mod C) over one period and one more vector (see Cyclic).
template <class T, class Value>
void fillPeriodTable(const Periods<T>& ps, T* table, Value value) {
  for (size_t j = 0; j < ps.tableLength(); ++j) table[j] = T(value(j % ps.c));
}

// ---- NHWC output passes over whole periods with the per-lane tables in registers ----
// When a period is at most kRegisterPeriodVectors whole vectors (C ≤ 64 floats, or a small C
// repeated to fill vectors), its tables stay in registers: one load per input and one store
// per output vector, instead of one more load per table. Same operations, same order as
// normalizeRun / writeDxAffineRun, so the same bits.
constexpr size_t kRegisterPeriodVectors = 4;

template <class T>
bool periodFitsRegisters(const Periods<T>& ps) {
  return ps.P % kLanes<T> == 0 && ps.vectors <= kRegisterPeriodVectors;
}

// A vector store; streaming when Stream (the address is then 64-byte aligned).
template <bool Stream, class V, class T>
inline void put(V v, T* p) {
  if constexpr (Stream) v.stream(p);
  else v.store(p);
}

// y = (x − hi)·α + β over `periods` whole periods whose first value sits at `phase` of the
// tables (tables are one vector longer than a period, so any phase < L reads whole windows).
template <bool Stream, class T, size_t... v>
inline void normalizePeriods(const T* x, T* y, size_t periods, size_t P, size_t phase, const T* hiT, const T* alphaT, const T* betaT,
                             std::index_sequence<v...>) {
  using V = Vec<T>;
  constexpr size_t L = kLanes<T>;
  const V hi[] = {V::load(hiT + phase + v * L)...}, alpha[] = {V::load(alphaT + phase + v * L)...},
          beta[] = {V::load(betaT + phase + v * L)...};
  for (size_t p = 0; p < periods; ++p, x += P, y += P) (put<Stream>(((V::load(x + v * L) - hi[v]) * alpha[v]) + beta[v], y + v * L), ...);
}

// dx = dy·a − (x − μ)·b − c over `periods` whole periods starting at `phase` of the tables.
template <bool Stream, class T, size_t... v>
inline void dxAffinePeriods(const T* x, const T* dy, T* dx, size_t periods, size_t P, size_t phase, const T* meanT, const T* aT,
                            const T* bT, const T* cT, std::index_sequence<v...>) {
  using V = Vec<T>;
  constexpr size_t L = kLanes<T>;
  const V mean[] = {V::load(meanT + phase + v * L)...}, a[] = {V::load(aT + phase + v * L)...}, b[] = {V::load(bT + phase + v * L)...},
          c[] = {V::load(cT + phase + v * L)...};
  for (size_t p = 0; p < periods; ++p, x += P, dy += P, dx += P)
    (put<Stream>(((V::load(dy + v * L) * a[v]) - (V::load(x + v * L) - mean[v]) * b[v]) - c[v], dx + v * L), ...);
}

// How a run of `len` outputs at `out` (starting at phase 0 of its period) splits for the
// register path: `head` values first (up to the first 64-byte boundary when streaming, so
// every vector store after it is aligned), then `periods` whole periods at phase `head`.
template <class T>
struct PeriodSplit {
  size_t head, periods;
  PeriodSplit(const T* out, size_t len, size_t P, bool stream) {
    head = stream ? ((64 - (reinterpret_cast<uintptr_t>(out) & 63)) & 63) / sizeof(T) : 0;
    if (head > len) head = len;
    periods = (len - head) / P;
  }
};

// f(std::index_sequence<0..vectors-1>) for 1 to kRegisterPeriodVectors vectors.
template <class F>
void withPeriodVectors(size_t vectors, F f) {
  switch (vectors) {
    case 1: f(std::make_index_sequence<1>()); break;
    case 2: f(std::make_index_sequence<2>()); break;
    case 3: f(std::make_index_sequence<3>()); break;
    default: f(std::make_index_sequence<4>()); break;
  }
}

// ---- scheduling units ----

struct UnitSchedule {
  int threads = 1;
  bool stream = false;
  bool perUnitTasks = true;
  size_t grain = 1;      // per-unit tasks: units per task
  size_t waveUnits = 1;  // waves: units per wave
  size_t slots = 0;      // per-unit scratch slots
};

// An engine describes one op on one layout: units(), unitValues(), bytesPerValue() (bytes read
// per value), blocks() per unit, scratchPerUnit() doubles, and the steps prepare(u, scratch),
// reduceBlock(u, b, scratch), finish(u, scratch), writeBlock<Stream>(u, b, scratch).
template <class Engine>
UnitSchedule scheduleUnits(const Engine& e, const Exec& exec) {
  UnitSchedule s;
  const size_t units = e.units(), values = e.unitValues(), unitBytes = values * e.bytesPerValue();
  s.threads = threadsFor(exec, units * values);
  s.stream = streamOutput<typename Engine::Value>(units * values) ||
             units * values * (e.bytesPerValue() + sizeof(typename Engine::Value)) >= kStreamTouchedBytes;
  // One task per unit when a unit fits in L2, or when the units split evenly enough over the
  // threads (each thread's second read then comes from its own cache, with few dispatches);
  // waves when a few large units would leave threads idle.
  const size_t threads = size_t(s.threads), rounds = ceilDiv(units, threads);
  if (unitBytes <= kUnitInCacheBytes || threads == 1 || rounds * threads * 8 <= units * 9) {
    const size_t chunks = s.threads <= 1 ? 1 : size_t(s.threads) * kChunksPerThread;
    s.grain = maxSize(rowGrain(values), ceilDiv(units, chunks));
    s.slots = ceilDiv(units, s.grain);
  } else {
    s.perUnitTasks = false;
    s.waveUnits = minSize(units, maxSize(1, kWaveBytes / unitBytes));
    s.slots = s.waveUnits;
  }
  return s;
}

// Runs every unit. A unit's results depend only on its own steps, never on the schedule.
template <class Engine>
void runUnits(Engine& e, const UnitSchedule& s, double* slots) {
  const size_t units = e.units(), blocks = e.blocks(), per = e.scratchPerUnit();
  withStream(s.stream, [&](auto streamed) {
    constexpr bool Stream = decltype(streamed)::value;
    if (s.perUnitTasks) {  // one task per chunk of units; a chunk reuses one scratch slot
      parallelFor(units, s.grain, s.threads, [&](size_t u0, size_t u1) {
        double* scratch = slots + (u0 / s.grain) * per;
        for (size_t u = u0; u < u1; ++u) {
          e.prepare(u, scratch);
          for (size_t b = 0; b < blocks; ++b) e.reduceBlock(u, b, scratch);
          e.finish(u, scratch);
          for (size_t b = 0; b < blocks; ++b) e.template writeBlock<Stream>(u, b, scratch);
        }
        if (Stream) streamFence();
      });
      return;
    }
    for (size_t w0 = 0; w0 < units; w0 += s.waveUnits) {  // waves: each step over all blocks of the wave
      const size_t count = minSize(s.waveUnits, units - w0), tasks = count * blocks;
      parallelFor(count, 1, s.threads, [&](size_t i0, size_t i1) {
        for (size_t i = i0; i < i1; ++i) e.prepare(w0 + i, slots + i * per);
      });
      parallelFor(tasks, 1, s.threads, [&](size_t t0, size_t t1) {
        for (size_t t = t0; t < t1; ++t) e.reduceBlock(w0 + t / blocks, t % blocks, slots + (t / blocks) * per);
      });
      parallelFor(count, 1, s.threads, [&](size_t i0, size_t i1) {
        for (size_t i = i0; i < i1; ++i) e.finish(w0 + i, slots + i * per);
      });
      parallelFor(tasks, 1, s.threads, [&](size_t t0, size_t t1) {
        for (size_t t = t0; t < t1; ++t) e.template writeBlock<Stream>(w0 + t / blocks, t % blocks, slots + (t / blocks) * per);
        if (Stream) streamFence();
      });
    }
  });
}

// ---- forward ----

// What both forward engines share: the statistics source and where results go.
template <class T>
struct ForwardCommon {
  using Value = T;
  const GroupNormForwardArgs<T>& a;
  GroupGeometry geo;
  double* running = nullptr;  // per (n, g): batch mean, unbiased variance (running stats update)
  ForwardCommon(const GroupNormForwardArgs<T>& args) : a(args), geo(args.shape, args.groups) {}
  bool fromRunning() const { return !a.useInputStats; }
  // Stores the statistics of group g of sample n; returns the rstd as stored (T).
  T store(size_t n, size_t g, double mean, double m2) const {
    const size_t i = n * geo.groups + g, count = geo.groupValues();
    const T rstd = T(rstdOf(m2 / double(count), a.eps));
    a.mean[i] = T(mean);
    a.rstd[i] = rstd;
    if (running) running[2 * i] = mean, running[2 * i + 1] = m2 / double(count - 1);
    return rstd;
  }
  // Running statistics of channel c (groups == C), stored as this group's statistics.
  T storeRunning(size_t n, size_t c) const {
    const size_t i = n * geo.groups + c;
    const T rstd = T(rstdOf(double(a.runningVar[c]), a.eps));
    a.mean[i] = a.runningMean[c];
    a.rstd[i] = rstd;
    return rstd;
  }
};

// NCHW: unit u = group (n, g), a row of cg·S values.
template <class T>
class ChannelsFirstForward : public ForwardCommon<T> {
 public:
  using ForwardCommon<T>::a;
  using ForwardCommon<T>::geo;
  const T* weightExpanded = nullptr;  // small S: weight/bias per element of a sample (C·S values)
  const T* biasExpanded = nullptr;

  explicit ChannelsFirstForward(const GroupNormForwardArgs<T>& args)
      : ForwardCommon<T>(args), row_(geo.groupValues()), blockLen_(rowBlockLength<T>(row_)), blocks_(ceilDiv(row_, blockLen_)) {}
  bool expands() const { return geo.s < kSmallSpatial; }
  size_t units() const { return geo.n * geo.groups; }
  size_t unitValues() const { return row_; }
  size_t bytesPerValue() const { return sizeof(T); }
  size_t blocks() const { return blocks_; }
  size_t scratchPerUnit() const { return 2 * blocks_ + 1; }  // (mean, M2) per block, then the mean

  void prepare(size_t, double*) const {}
  void reduceBlock(size_t u, size_t b, double* scratch) const {
    if (this->fromRunning()) return;
    const size_t begin = b * blockLen_;
    const Moments m = cachedMoments(a.x + u * row_ + begin, minSize(blockLen_, row_ - begin));
    scratch[2 * b] = m.mean;
    scratch[2 * b + 1] = m.m2;
  }
  void finish(size_t u, double* scratch) const {
    const size_t n = u / geo.groups, g = u % geo.groups;
    if (this->fromRunning()) {
      this->storeRunning(n, g);
      scratch[2 * blocks_] = double(a.runningMean[g]);
      return;
    }
    const Moments m = mergeBlockMoments(scratch, row_, blockLen_);
    this->store(n, g, m.mean, m.m2);
    scratch[2 * blocks_] = m.mean;
  }
  // y over [begin, end) of the row, channel by channel (or per element for small S).
  template <bool Stream>
  void writeBlock(size_t u, size_t b, const double* scratch) const {
    const size_t begin = b * blockLen_, end = minSize(row_, begin + blockLen_), at = u * row_;
    const size_t c0 = (u % geo.groups) * geo.cg, S = geo.s;
    const Broadcast<T> r(a.rstd[u]);
    withBroadcastMean(SplitMean<T>(scratch[2 * blocks_]), [&](auto hi, auto lo) {
      if (expands()) {
        const size_t e = c0 * S + begin;
        withPerElement(weightExpanded ? weightExpanded + e : nullptr, biasExpanded ? biasExpanded + e : nullptr,
                       [&](auto w, auto bias) { normalizeRun<T, Stream>(a.x + at + begin, a.y + at + begin, end - begin, Linear(), hi, lo, r, w, bias); });
        return;
      }
      for (size_t pos = begin; pos < end;) {
        const size_t cl = pos / S, segEnd = minSize(end, (cl + 1) * S);
        withBroadcast(a.weight, a.bias, c0 + cl, [&](auto w, auto bias) {
          normalizeRun<T, Stream>(a.x + at + pos, a.y + at + pos, segEnd - pos, Linear(), hi, lo, r, w, bias);
        });
        pos = segEnd;
      }
    });
  }

 private:
  size_t row_, blockLen_, blocks_;
};

// NHWC: unit u = sample n; statistics of its G groups from per-lane sums over periods.
template <class T>
class ChannelsLastForward : public ForwardCommon<T> {
 public:
  using ForwardCommon<T>::a;
  using ForwardCommon<T>::geo;

  explicit ChannelsLastForward(const GroupNormForwardArgs<T>& args)
      : ForwardCommon<T>(args), ps_(geo.c, geo.s), blockPeriods_(ps_.blockPeriods()), blocks_(ceilDiv(ps_.count, blockPeriods_)) {}
  const Periods<T>& periods() const { return ps_; }
  size_t units() const { return geo.n; }
  size_t unitValues() const { return geo.s * geo.c; }
  size_t bytesPerValue() const { return sizeof(T); }
  size_t blocks() const { return blocks_; }
  size_t scratchPerUnit() const { return carve(nullptr).used(); }

  void prepare(size_t u, double* scratch) const {
    if (this->fromRunning()) return;
    Slot s = slot(scratch);
    for (size_t g = 0; g < geo.groups; ++g) s.shift[g] = initialShift(u, g);
    fillPeriodTable(ps_, s.shiftTable, [&](size_t c) { return s.shift[geo.groupOf(c)]; });
  }
  void reduceBlock(size_t u, size_t b, double* scratch) const {
    if (this->fromRunning()) return;
    const Slot s = slot(scratch);
    laneMoments(u, b, s.shiftTable, s.sumD + b * 2 * ps_.padded(), s.sumD + b * 2 * ps_.padded() + ps_.padded());
  }
  void finish(size_t u, double* scratch) const {
    Slot s = slot(scratch);
    if (this->fromRunning()) {
      for (size_t c = 0; c < geo.c; ++c) s.mean[c] = double(a.runningMean[c]), s.rstd[c] = this->storeRunning(u, c);
    } else {
      groupMoments(u, s);
    }
    // y = ((x − hi) − lo)·rstd·w + b folded per channel into (x − hi)·α + β, α = rstd·w and
    // β = b − lo·α (lo·α is below an ulp of the mean's scale): three table loads per vector
    // instead of five, which is what bounds a channels-last pass.
    fillPeriodTable(ps_, s.hi, [&](size_t c) { return T(s.mean[geo.groupOf(c)]); });
    fillPeriodTable(ps_, s.alpha, [&](size_t c) { return alphaOf(s, c); });
    fillPeriodTable(ps_, s.beta, [&](size_t c) {
      const double b = a.bias ? double(a.bias[c]) : 0.0;
      return kIsFloat<T> ? T(b - double(SplitMean<T>(s.mean[geo.groupOf(c)]).lo) * double(alphaOf(s, c))) : T(b);
    });
  }
  template <bool Stream>
  void writeBlock(size_t u, size_t b, double* scratch) const {
    const Slot s = slot(scratch);
    const size_t p1 = minSize(ps_.count, (b + 1) * blockPeriods_);
    const size_t begin = b * blockPeriods_ * ps_.P, at = u * geo.s * geo.c + begin;
    const size_t len = minSize(p1 * ps_.P, geo.s * geo.c) - begin;
    const PerElement<T> hi(s.hi), alpha(s.alpha), beta(s.beta);
    if (!periodFitsRegisters(ps_)) {  // one run: the tables cycle
      normalizeRun<T, Stream>(a.x + at, a.y + at, len, Cyclic{ps_.P}, hi, Absent(), alpha, Absent(), beta);
      return;
    }
    // head (to alignment), whole periods from registers, then the tail: the same values as one run
    const PeriodSplit<T> split(a.y + at, len, ps_.P, Stream);
    const size_t body = split.head + split.periods * ps_.P;
    normalizeRun<T, false>(a.x + at, a.y + at, split.head, Cyclic{ps_.P}, hi, Absent(), alpha, Absent(), beta);
    withPeriodVectors(ps_.vectors, [&](auto v) {
      normalizePeriods<Stream>(a.x + at + split.head, a.y + at + split.head, split.periods, ps_.P, split.head, s.hi, s.alpha, s.beta, v);
    });
    normalizeRun<T, Stream>(a.x + at + body, a.y + at + body, len - body, Cyclic{ps_.P, split.head}, hi, Absent(), alpha, Absent(), beta);
  }

 private:
  // A unit's scratch: per-block lane sums Σd, Σd² (padded doubles each); per group (C entries:
  // InstanceNorm's running path stores per channel) the shift, mean, M2, rstd and a redo flag;
  // then per-lane tables (T): shift, and hi, α, β of the output pass.
  struct Slot {
    double* sumD;
    double *shift, *mean, *m2;
    T* rstd;
    unsigned char* redo;
    T *shiftTable, *hi, *alpha, *beta;
  };
  Carver carve(double* base, Slot* s = nullptr) const {
    Carver c(base);
    Slot t;
    t.sumD = c.take<double>(blocks_ * 2 * ps_.padded());
    t.shift = c.take<double>(geo.c);  // groups ≤ C; InstanceNorm's running path uses C entries
    t.mean = c.take<double>(geo.c);
    t.m2 = c.take<double>(geo.c);
    t.rstd = c.take<T>(geo.c);
    t.redo = c.take<unsigned char>(geo.c);
    t.shiftTable = c.take<T>(ps_.tableLength());
    t.hi = c.take<T>(ps_.tableLength());
    t.alpha = c.take<T>(ps_.tableLength());
    t.beta = c.take<T>(ps_.tableLength());
    if (s) *s = t;
    return c;
  }
  Slot slot(double* scratch) const {
    Slot s;
    carve(scratch, &s);
    return s;
  }

  const T* sample(size_t u) const { return a.x + u * geo.s * geo.c; }

  T alphaOf(const Slot& s, size_t c) const {
    const double r = double(s.rstd[geo.groupOf(c)]);
    return T(a.weight ? r * double(a.weight[c]) : r);
  }

  // The mean of group g's first rows (≥ L values when S allows), as T: the shift of its sums.
  T initialShift(size_t u, size_t g) const {
    const size_t rows = minSize(geo.s, ceilDiv(kLanes<T>, geo.cg));
    const T* x = sample(u);
    double sum = 0;
    for (size_t r = 0; r < rows; ++r)
      for (size_t c = g * geo.cg; c < (g + 1) * geo.cg; ++c) sum += double(x[r * geo.c + c]);
    return T(sum / double(rows * geo.cg));
  }

  // Per-lane Σd and Σd² (d = x − shift) over the periods of block b.
  void laneMoments(size_t u, size_t b, const T* shiftTable, double* sumD, double* sumD2) const {
    using V = Vec<T>;
    const T* x = sample(u);
    const PerElement<T> shift(shiftTable);
    periodLaneSums(ps_, b * blockPeriods_, minSize(ps_.count, (b + 1) * blockPeriods_), sumD, sumD2,
                   Prefetch<T>{x, nullptr}, [&](size_t at, size_t lane0, auto k, V& s1, V& s2) __attribute__((always_inline)) {
                     V d = loadLanes(x + at, k) - shift.at(lane0, k);
                     if (k < kLanes<T>) d = d.keepFirst(k);
                     s1 = s1 + d;
                     s2 = s2 + d * d;
                   });
  }

  // Σd and Σd² per group from the blocks' lane sums, in (block, lane) order.
  void foldGroups(const double* sumD, double* s1, double* s2) const {
    for (size_t g = 0; g < geo.groups; ++g) s1[g] = 0, s2[g] = 0;
    const size_t padded = ps_.padded();
    for (size_t b = 0; b < blocks_; ++b) {
      const double* d = sumD + b * 2 * padded;
      for (size_t j = 0; j < ps_.P; ++j) {
        const size_t g = geo.groupOf(j % geo.c);
        s1[g] += d[j];
        s2[g] += d[padded + j];
      }
    }
  }

  // Moments of group g in scalar double: the fallback when float squares overflow.
  Moments scalarGroupMoments(size_t u, size_t g) const {
    const T* x = sample(u);
    const double count = double(geo.groupValues());
    double sum = 0;
    for (size_t r = 0; r < geo.s; ++r)
      for (size_t c = g * geo.cg; c < (g + 1) * geo.cg; ++c) sum += double(x[r * geo.c + c]);
    const double mean0 = sum / count;
    double s1 = 0, s2 = 0;
    for (size_t r = 0; r < geo.s; ++r)
      for (size_t c = g * geo.cg; c < (g + 1) * geo.cg; ++c) {
        const double d = double(x[r * geo.c + c]) - mean0;
        s1 += d;
        s2 += d * d;
      }
    return {mean0 + s1 / count, s2 - s1 * s1 / count};
  }

  // Group statistics of sample u from the block sums; groups whose shift was far from their
  // mean are summed again around it (a rare second pass), as cachedMoments does for a row.
  void groupMoments(size_t u, Slot& s) const {
    const size_t G = geo.groups;
    const double count = double(geo.groupValues());
    double* s1 = s.mean;  // the sums, then mean and M2 in place
    double* s2 = s.m2;
    foldGroups(s.sumD, s1, s2);
    bool redo = false;
    for (size_t g = 0; g < G; ++g) {
      const double offset = s1[g] / count;
      const double m2 = s2[g] - s1[g] * offset;
      s.mean[g] = s.shift[g] + offset;
      s.m2[g] = m2;
      s.redo[g] = !(std::isfinite(m2) && offset * offset * count <= m2);
      redo = redo || s.redo[g];
    }
    if (redo) {
      for (size_t g = 0; g < G; ++g) if (s.redo[g]) s.shift[g] = double(T(s.mean[g]));
      fillPeriodTable(ps_, s.shiftTable, [&](size_t c) { return s.shift[geo.groupOf(c)]; });
      for (size_t b = 0; b < blocks_; ++b)
        laneMoments(u, b, s.shiftTable, s.sumD + b * 2 * ps_.padded(), s.sumD + b * 2 * ps_.padded() + ps_.padded());
      redoGroups(u, s);
    }
    for (size_t g = 0; g < G; ++g) s.rstd[g] = this->store(u, g, s.mean[g], s.m2[g]);
  }

  // The flagged groups' moments from sums around their new shift (their mean), in double
  // when float squares overflowed.
  void redoGroups(size_t u, Slot& s) const {
    const double count = double(geo.groupValues());
    const size_t padded = ps_.padded();
    for (size_t g = 0; g < geo.groups; ++g) {
      if (!s.redo[g]) continue;
      const double shift = s.shift[g];
      double s1 = 0, s2 = 0;
      for (size_t b = 0; b < blocks_; ++b) {
        const double* d = s.sumD + b * 2 * padded;
        for (size_t j = 0; j < ps_.P; ++j) {
          if (geo.groupOf(j % geo.c) != g) continue;
          s1 += d[j];
          s2 += d[padded + j];
        }
      }
      Moments m{shift + s1 / count, s2 - s1 * s1 / count};
      if (kIsFloat<T> && !(std::isfinite(m.mean) && std::isfinite(m.m2))) m = scalarGroupMoments(u, g);
      s.mean[g] = m.mean;
      s.m2[g] = m.m2;
    }
  }

  Periods<T> ps_;
  size_t blockPeriods_, blocks_;
};

// ---- backward ----

constexpr size_t kSumChains = 4;  // interleaved accumulators per sum

// Σdy and Σdy·x̂ (x̂ = (x − mean)·rstd) over a run of n values: float lane sums of at most
// kLaneBlock vectors widened into double, as laneSum2 does, but spread over kSumChains
// interleaved accumulators (vector v → chain v mod kSumChains), so the additions pipeline
// instead of each waiting for the last. The order is fixed by n alone.
template <class T>
void runGradSums(const T* x, const T* dy, size_t n, Vec<T> mean, Vec<T> rstd, double& sumDy, double& sumDyXhat) {
  using V = Vec<T>;
  using A = Acc<T>;
  constexpr size_t L = kLanes<T>;
  auto term = [&](size_t i, auto k, V& a, V& b) __attribute__((always_inline)) {
    const V d = loadLanes(dy + i, k);
    V t = d * ((loadLanes(x + i, k) - mean) * rstd);
    if (k < L) t = t.keepFirst(k);  // x̂ of the zero padding is not 0
    a = a + d;
    b = b + t;
  };
  A totalA = A::zero(), totalB = A::zero();
  const size_t full = n / L;
  for (size_t v0 = 0; v0 < full; v0 += kSumChains * kLaneBlock) {
    const size_t v1 = minSize(full, v0 + kSumChains * kLaneBlock);
    V a0 = V::zero(), a1 = V::zero(), a2 = V::zero(), a3 = V::zero();
    V b0 = V::zero(), b1 = V::zero(), b2 = V::zero(), b3 = V::zero();
    size_t v = v0;
    for (; v + kSumChains <= v1; v += kSumChains) {
      term(v * L, AllLanes<T>(), a0, b0);
      term((v + 1) * L, AllLanes<T>(), a1, b1);
      term((v + 2) * L, AllLanes<T>(), a2, b2);
      term((v + 3) * L, AllLanes<T>(), a3, b3);
    }
    if (v < v1) term(v * L, AllLanes<T>(), a0, b0), ++v;
    if (v < v1) term(v * L, AllLanes<T>(), a1, b1), ++v;
    if (v < v1) term(v * L, AllLanes<T>(), a2, b2);
    totalA = totalA + A::of(a0) + A::of(a1) + A::of(a2) + A::of(a3);
    totalB = totalB + A::of(b0) + A::of(b1) + A::of(b2) + A::of(b3);
  }
  if (full * L < n) {
    V a = V::zero(), b = V::zero();
    term(full * L, n - full * L, a, b);
    totalA = totalA + A::of(a);
    totalB = totalB + A::of(b);
  }
  sumDy = totalA.sum();
  sumDyXhat = totalB.sum();
}

template <class T>
struct BackwardCommon {
  using Value = T;
  const GroupNormBackwardArgs<T>& a;
  GroupGeometry geo;
  double* sumDy = nullptr;      // per (n, c): Σdy
  double* sumDyXhat = nullptr;  // per (n, c): Σdy·x̂
  BackwardCommon(const GroupNormBackwardArgs<T>& args) : a(args), geo(args.shape, args.groups) {}
  bool needSums() const { return a.useInputStats || a.dweight || a.dbias; }
  double weightOf(size_t c) const { return a.weight ? double(a.weight[c]) : 1.0; }
  // mean(g) and mean(g·x̂) of group g of sample n (g = dy·w) from its channels' sums, in channel order.
  void groupMeans(size_t n, size_t g, double& mg, double& mgx) const {
    double sg = 0, sgx = 0;
    for (size_t ch = g * geo.cg; ch < (g + 1) * geo.cg; ++ch) {
      sg += weightOf(ch) * sumDy[n * geo.c + ch];
      sgx += weightOf(ch) * sumDyXhat[n * geo.c + ch];
    }
    mg = sg / double(geo.groupValues());
    mgx = sgx / double(geo.groupValues());
  }
  // The per-channel coefficient a = rstd·w of writeDxAffineRun.
  T channelScale(size_t n, size_t ch) const { return T(double(a.rstd[n * geo.groups + geo.groupOf(ch)]) * weightOf(ch)); }
};

// NCHW: unit = group (n, g). Blocks are runs of segments (channel c, kBlock chunk j): one
// chunk of a long channel, or several whole short channels. dx is written as LayerNorm writes
// it (writeDxRun), the statistics and channel weight broadcast.
template <class T>
class ChannelsFirstBackward : public BackwardCommon<T> {
 public:
  using BackwardCommon<T>::a;
  using BackwardCommon<T>::geo;
  const T* weightExpanded = nullptr;  // small S: weight per element of a sample (C·S values)

  explicit ChannelsFirstBackward(const GroupNormBackwardArgs<T>& args) : BackwardCommon<T>(args) {
    segs_ = geo.s >= kBlock ? ceilDiv(geo.s, kBlock) : 1;
    segsPerBlock_ = geo.s >= kBlock ? 1 : maxSize(1, kBlock / maxSize(geo.s, 1));
    blocks_ = ceilDiv(geo.cg * segs_, segsPerBlock_);
  }
  bool expands() const { return geo.s < kSmallSpatial; }
  size_t units() const { return geo.n * geo.groups; }
  size_t unitValues() const { return geo.groupValues(); }
  size_t bytesPerValue() const { return 2 * sizeof(T); }
  size_t blocks() const { return blocks_; }
  size_t scratchPerUnit() const { return 2 * geo.cg * segs_ + 2; }  // (Σdy, Σdy·x̂) per segment; mean(g), mean(g·x̂)

  void prepare(size_t, double*) const {}
  void reduceBlock(size_t u, size_t b, double* scratch) const {
    using V = Vec<T>;
    if (!this->needSums()) return;
    const V mean = V::broadcast(a.mean[u]), rstd = V::broadcast(a.rstd[u]);
    forSegments(b, [&](size_t i, size_t offset, size_t len) {
      const size_t at = u * geo.groupValues() + offset;
      runGradSums(a.x + at, a.dy + at, len, mean, rstd, scratch[2 * i], scratch[2 * i + 1]);
    });
  }
  void finish(size_t u, double* scratch) const {
    if (!this->needSums()) return;
    const size_t n = u / geo.groups, g = u % geo.groups;
    for (size_t cl = 0; cl < geo.cg; ++cl) {
      double sd = 0, sdx = 0;
      for (size_t j = 0; j < segs_; ++j) sd += scratch[2 * (cl * segs_ + j)], sdx += scratch[2 * (cl * segs_ + j) + 1];
      this->sumDy[n * geo.c + g * geo.cg + cl] = sd;
      this->sumDyXhat[n * geo.c + g * geo.cg + cl] = sdx;
    }
    if (a.useInputStats) this->groupMeans(n, g, scratch[meansAt()], scratch[meansAt() + 1]);
  }
  template <bool Stream>
  void writeBlock(size_t u, size_t b, const double* scratch) const {
    const size_t c0 = (u % geo.groups) * geo.cg, at = u * geo.groupValues();
    const auto xhat = makeXhat<T>(Broadcast<T>(a.mean[u]), Broadcast<T>(a.rstd[u]));
    auto run = [&](size_t offset, size_t len, auto w) {
      if (a.useInputStats) {
        const Broadcast<T> mg{T(scratch[meansAt()])}, mgx{T(scratch[meansAt() + 1])};
        writeDxRun<T, Stream>(a.x + at + offset, a.dy + at + offset, a.dx + at + offset, len, Linear(), xhat, w, mg, mgx);
      } else {
        writeDxRun<T, Stream>(a.x + at + offset, a.dy + at + offset, a.dx + at + offset, len, Linear(), xhat, w, Absent(), Absent());
      }
    };
    if (expands()) {  // whole short channels: one run, weight per element
      const size_t i0 = b * segsPerBlock_, i1 = minSize(geo.cg, i0 + segsPerBlock_);
      const size_t offset = i0 * geo.s, len = (i1 - i0) * geo.s;
      if (weightExpanded) run(offset, len, PerElement<T>(weightExpanded + c0 * geo.s + offset));
      else run(offset, len, Absent());
      return;
    }
    forSegments(b, [&](size_t i, size_t offset, size_t len) {
      if (a.weight) run(offset, len, Broadcast<T>(a.weight[c0 + i / segs_]));
      else run(offset, len, Absent());
    });
  }

 private:
  size_t meansAt() const { return 2 * geo.cg * segs_; }

  // f(segment index, offset in the unit, length) for the segments of block b.
  template <class F>
  void forSegments(size_t b, F f) const {
    const size_t i0 = b * segsPerBlock_, i1 = minSize(geo.cg * segs_, i0 + segsPerBlock_);
    for (size_t i = i0; i < i1; ++i) {
      const size_t cl = i / segs_, j = i % segs_, begin = j * kBlock;
      f(i, cl * geo.s + begin, minSize(segs_ == 1 ? geo.s : kBlock, geo.s - begin));
    }
  }
  size_t segs_, segsPerBlock_, blocks_;
};

// NHWC: unit = sample n; per-lane Σdy and Σdy·x̂ over periods, folded into channels.
template <class T>
class ChannelsLastBackward : public BackwardCommon<T> {
 public:
  using BackwardCommon<T>::a;
  using BackwardCommon<T>::geo;

  explicit ChannelsLastBackward(const GroupNormBackwardArgs<T>& args)
      : BackwardCommon<T>(args), ps_(geo.c, geo.s), blockPeriods_(ps_.blockPeriods()), blocks_(ceilDiv(ps_.count, blockPeriods_)) {}
  const Periods<T>& periods() const { return ps_; }
  size_t units() const { return geo.n; }
  size_t unitValues() const { return geo.s * geo.c; }
  size_t bytesPerValue() const { return 2 * sizeof(T); }
  size_t blocks() const { return blocks_; }
  size_t scratchPerUnit() const { return carve(nullptr).used(); }

  void prepare(size_t u, double* scratch) const {
    const Slot s = slot(scratch);
    const size_t i = u * geo.groups;
    fillPeriodTable(ps_, s.mean, [&](size_t c) { return a.mean[i + geo.groupOf(c)]; });
    fillPeriodTable(ps_, s.rstd, [&](size_t c) { return a.rstd[i + geo.groupOf(c)]; });
  }
  void reduceBlock(size_t u, size_t b, double* scratch) const {
    using V = Vec<T>;
    if (!this->needSums()) return;
    const Slot s = slot(scratch);
    const size_t at = u * geo.s * geo.c;
    const T* x = a.x + at;
    const T* dy = a.dy + at;
    const PerElement<T> mean(s.mean), rstd(s.rstd);
    double* sums = s.sums + b * 2 * ps_.padded();
    periodLaneSums(ps_, b * blockPeriods_, minSize(ps_.count, (b + 1) * blockPeriods_), sums, sums + ps_.padded(),
                   Prefetch<T>{x, dy}, [&](size_t i, size_t lane0, auto k, V& sd, V& sdx) __attribute__((always_inline)) {
                     const V d = loadLanes(dy + i, k);
                     V t = d * ((loadLanes(x + i, k) - mean.at(lane0, k)) * rstd.at(lane0, k));
                     if (k < kLanes<T>) t = t.keepFirst(k);
                     sd = sd + d;
                     sdx = sdx + t;
                   });
  }
  void finish(size_t u, double* scratch) const {
    const Slot s = slot(scratch);
    if (this->needSums()) {
      double* sd = this->sumDy + u * geo.c;
      double* sdx = this->sumDyXhat + u * geo.c;
      for (size_t c = 0; c < geo.c; ++c) sd[c] = 0, sdx[c] = 0;
      const size_t padded = ps_.padded();
      for (size_t b = 0; b < blocks_; ++b) {  // lanes fold into channels in (block, lane) order
        const double* p = s.sums + b * 2 * padded;
        for (size_t j = 0; j < ps_.P; ++j) sd[j % geo.c] += p[j], sdx[j % geo.c] += p[padded + j];
      }
    }
    s.flags[0] = 0;
    if (!a.useInputStats) {  // constant statistics: dx = dy·a
      fillPeriodTable(ps_, s.t1, [&](size_t c) { return this->channelScale(u, c); });
      return;
    }
    // dx as dy·a − (x − μ)·b − c: three per-channel tables (a = rstd·w, b = rstd²·mean(g·x̂),
    // c = rstd·mean(g)) instead of five. b is a normal number of T unless rstd is extreme
    // (σ beyond ~1e19 in float32): then the tables of the unfolded form are used instead.
    bool unfold = false;
    for (size_t g = 0; g < geo.groups; ++g) {
      this->groupMeans(u, g, s.groupMg[g], s.groupMgx[g]);
      const double r = double(a.rstd[u * geo.groups + g]), b = r * r * s.groupMgx[g];
      unfold = unfold || (b != 0 && std::isfinite(b) && !std::isnormal(T(b)));
    }
    s.flags[0] = unfold;
    if (unfold) {  // w, mean(g), mean(g·x̂)
      fillPeriodTable(ps_, s.t1, [&](size_t c) { return T(this->weightOf(c)); });
      fillPeriodTable(ps_, s.t2, [&](size_t c) { return s.groupMg[geo.groupOf(c)]; });
      fillPeriodTable(ps_, s.t3, [&](size_t c) { return s.groupMgx[geo.groupOf(c)]; });
      return;
    }
    fillPeriodTable(ps_, s.t1, [&](size_t c) { return this->channelScale(u, c); });
    fillPeriodTable(ps_, s.t2, [&](size_t c) {
      const size_t g = geo.groupOf(c);
      const double r = double(a.rstd[u * geo.groups + g]);
      return r * r * s.groupMgx[g];
    });
    fillPeriodTable(ps_, s.t3, [&](size_t c) {
      const size_t g = geo.groupOf(c);
      return double(a.rstd[u * geo.groups + g]) * s.groupMg[g];
    });
  }
  template <bool Stream>
  void writeBlock(size_t u, size_t b, double* scratch) const {
    const Slot s = slot(scratch);
    const size_t p1 = minSize(ps_.count, (b + 1) * blockPeriods_);
    const size_t begin = b * blockPeriods_ * ps_.P, at = u * geo.s * geo.c + begin;
    const size_t len = minSize(p1 * ps_.P, geo.s * geo.c) - begin;
    const T* x = a.x + at;
    const T* dy = a.dy + at;
    T* dx = a.dx + at;
    const PerElement<T> t1(s.t1), t2(s.t2), t3(s.t3);
    if (a.useInputStats && !s.flags[0] && periodFitsRegisters(ps_)) {
      // head (to alignment), whole periods from registers, then the tail: the same values as one run
      const PerElement<T> mean(s.mean);
      const PeriodSplit<T> split(dx, len, ps_.P, Stream);
      const size_t body = split.head + split.periods * ps_.P;
      writeDxAffineRun<T, false>(x, dy, dx, split.head, Cyclic{ps_.P}, mean, t1, t2, t3);
      withPeriodVectors(ps_.vectors, [&](auto v) {
        dxAffinePeriods<Stream>(x + split.head, dy + split.head, dx + split.head, split.periods, ps_.P, split.head, s.mean, s.t1, s.t2,
                                s.t3, v);
      });
      writeDxAffineRun<T, Stream>(x + body, dy + body, dx + body, len - body, Cyclic{ps_.P, split.head}, mean, t1, t2, t3);
      return;
    }
    // one run: the tables cycle
    if (!a.useInputStats) {
      writeDxAffineRun<T, Stream>(x, dy, dx, len, Cyclic{ps_.P}, Absent(), t1, Absent(), Absent());
    } else if (s.flags[0]) {
      const auto xhat = makeXhat<T>(PerElement<T>(s.mean), PerElement<T>(s.rstd));
      writeDxRun<T, Stream>(x, dy, dx, len, Cyclic{ps_.P}, xhat, t1, t2, t3);
    } else {
      writeDxAffineRun<T, Stream>(x, dy, dx, len, Cyclic{ps_.P}, PerElement<T>(s.mean), t1, t2, t3);
    }
  }

 private:
  // A unit's scratch: per-block lane sums Σdy, Σdy·x̂ (padded doubles each), per group mean(g)
  // and mean(g·x̂), the form of dx (flags[0]: unfolded); then per-lane tables (T): mean, rstd
  // (for x̂) and the three of dx (affine: a, b, c; unfolded: w, mean(g), mean(g·x̂)).
  struct Slot {
    double *sums, *groupMg, *groupMgx;
    unsigned char* flags;
    T *mean, *rstd, *t1, *t2, *t3;
  };
  Carver carve(double* base, Slot* s = nullptr) const {
    Carver c(base);
    Slot t;
    t.sums = c.take<double>(blocks_ * 2 * ps_.padded());
    t.groupMg = c.take<double>(geo.groups);
    t.groupMgx = c.take<double>(geo.groups);
    t.flags = c.take<unsigned char>(1);
    t.mean = c.take<T>(ps_.tableLength());
    t.rstd = c.take<T>(ps_.tableLength());
    t.t1 = c.take<T>(ps_.tableLength());
    t.t2 = c.take<T>(ps_.tableLength());
    t.t3 = c.take<T>(ps_.tableLength());
    if (s) *s = t;
    return c;
  }
  Slot slot(double* scratch) const {
    Slot s;
    carve(scratch, &s);
    return s;
  }

  Periods<T> ps_;
  size_t blockPeriods_, blocks_;
};

// Allocates the call's scratch (the arrays `shared` lays out, then the schedule's unit slots),
// runs the engine, then `after` (the scratch is still alive); false when there was no memory.
template <class Engine, class Shared, class After>
bool runEngine(Engine& e, const Exec& exec, Shared shared, After after) {
  const UnitSchedule schedule = scheduleUnits(e, exec);
  const size_t per = e.scratchPerUnit();
  Carver measure;
  shared(measure);
  ScratchDoubles scratch(measure.used() + schedule.slots * per);
  if (!scratch.data()) return false;
  Carver carver(scratch.data());
  shared(carver);
  runUnits(e, schedule, scratch.data() + measure.used());
  after();
  return true;
}

// Per-element copies of per-channel values for NCHW with small S: out[c·S + i] = v[c].
template <class T>
void expandPerElement(const T* v, size_t c, size_t s, T* out) {
  for (size_t ch = 0; ch < c; ++ch)
    for (size_t i = 0; i < s; ++i) out[ch * s + i] = v[ch];
}

template <class T>
bool groupNormForwardImpl(const GroupNormForwardArgs<T>& a, const Exec& exec) {
  const GroupGeometry geo(a.shape, a.groups);
  if (geo.n == 0) return true;
  if (geo.groupValues() == 0) {  // statistics of empty groups: NaN (the mean of nothing), or the running ones
    for (size_t n = 0; n < geo.n; ++n)
      for (size_t g = 0; g < geo.groups; ++g) {
        const size_t i = n * geo.groups + g;
        a.mean[i] = a.useInputStats ? T(NAN) : a.runningMean[g];
        a.rstd[i] = a.useInputStats ? T(NAN) : T(rstdOf(double(a.runningVar[g]), a.eps));
      }
    return true;
  }
  const bool updateRunning = a.useInputStats && a.runningMean && a.runningVar;
  double* running = nullptr;
  // PyTorch's instance norm: each sample's statistics update its own copy of the running
  // statistics, and the copies are averaged over N.
  auto updateRunningStats = [&] {
    if (!running) return;
    for (size_t c = 0; c < geo.c; ++c) {
      double mean = 0, var = 0;
      for (size_t n = 0; n < geo.n; ++n) mean += running[2 * (n * geo.c + c)], var += running[2 * (n * geo.c + c) + 1];
      mean /= double(geo.n);
      var /= double(geo.n);
      a.runningMean[c] = T((1 - a.momentum) * double(a.runningMean[c]) + a.momentum * mean);
      a.runningVar[c] = T((1 - a.momentum) * double(a.runningVar[c]) + a.momentum * var);
    }
  };
  bool ok;
  if (a.shape.channelsLast) {
    ChannelsLastForward<T> e(a);
    ok = runEngine(e, exec, [&](Carver& c) {
      running = updateRunning ? c.take<double>(2 * geo.n * geo.groups) : nullptr;
      e.running = running;
    }, updateRunningStats);
  } else {
    ChannelsFirstForward<T> e(a);
    ok = runEngine(e, exec, [&](Carver& c) {
      running = updateRunning ? c.take<double>(2 * geo.n * geo.groups) : nullptr;
      T* w = a.weight && e.expands() ? c.take<T>(geo.c * geo.s) : nullptr;
      T* b = a.bias && e.expands() ? c.take<T>(geo.c * geo.s) : nullptr;
      if (w) expandPerElement(a.weight, geo.c, geo.s, w);
      if (b) expandPerElement(a.bias, geo.c, geo.s, b);
      e.weightExpanded = w, e.biasExpanded = b, e.running = running;
    }, updateRunningStats);
  }
  return ok;
}

template <class T>
bool groupNormBackwardImpl(const GroupNormBackwardArgs<T>& a, const Exec& exec) {
  const GroupGeometry geo(a.shape, a.groups);
  auto zeroGrads = [&] {
    for (size_t c = 0; c < geo.c; ++c) {
      if (a.dweight) a.dweight[c] = 0;
      if (a.dbias) a.dbias[c] = 0;
    }
  };
  if (geo.n == 0 || geo.groupValues() == 0) {  // parameter gradients of an empty batch are zero
    zeroGrads();
    return true;
  }
  double* sumDy = nullptr;
  double* sumDyXhat = nullptr;
  auto sums = [&](Carver& c, auto& e) {
    if (!e.needSums()) return;
    sumDy = c.take<double>(geo.n * geo.c);
    sumDyXhat = c.take<double>(geo.n * geo.c);
    e.sumDy = sumDy, e.sumDyXhat = sumDyXhat;
  };
  auto paramGrads = [&] {  // Σ over samples, in sample order
    if (a.dweight) combineColumns(sumDyXhat, geo.n, geo.c, geo.c, a.dweight);
    if (a.dbias) combineColumns(sumDy, geo.n, geo.c, geo.c, a.dbias);
  };
  bool ok;
  if (a.shape.channelsLast) {
    ChannelsLastBackward<T> e(a);
    ok = runEngine(e, exec, [&](Carver& c) { sums(c, e); }, paramGrads);
  } else {
    ChannelsFirstBackward<T> e(a);
    ok = runEngine(e, exec, [&](Carver& c) {
      sums(c, e);
      T* w = a.weight && e.expands() ? c.take<T>(geo.c * geo.s) : nullptr;
      if (w) expandPerElement(a.weight, geo.c, geo.s, w);
      e.weightExpanded = w;
    }, paramGrads);
  }
  return ok;
}

}  // namespace

template <class T>
bool groupNormForward(const Args<Kernel::groupNormForward, T>& a, const Exec& e) noexcept {
  return groupNormForwardImpl<T>({a.x, channelShapeOf(a), a.groups, a.weight, a.bias, nullptr, nullptr, 0, a.eps, true, a.y, a.mean,
                                  a.rstd}, e);
}
template <class T>
bool instanceNormForward(const Args<Kernel::instanceNormForward, T>& a, const Exec& e) noexcept {
  return groupNormForwardImpl<T>({a.x, channelShapeOf(a), a.c, a.weight, a.bias, a.runningMean, a.runningVar, a.momentum, a.eps,
                                  a.useInputStats, a.y, a.mean, a.rstd}, e);
}
template <class T>
bool groupNormBackward(const Args<Kernel::groupNormBackward, T>& a, const Exec& e) noexcept {
  return groupNormBackwardImpl<T>({a.dy, a.x, a.mean, a.rstd, channelShapeOf(a), a.groups, a.weight, true, a.dx, a.dweight, a.dbias}, e);
}
template <class T>
bool instanceNormBackward(const Args<Kernel::instanceNormBackward, T>& a, const Exec& e) noexcept {
  return groupNormBackwardImpl<T>({a.dy, a.x, a.mean, a.rstd, channelShapeOf(a), a.c, a.weight, a.useInputStats, a.dx, a.dweight,
                                   a.dbias}, e);
}

FASTNORM_INSTANTIATE_KERNEL(groupNormForward)
FASTNORM_INSTANTIATE_KERNEL(instanceNormForward)
FASTNORM_INSTANTIATE_KERNEL(groupNormBackward)
FASTNORM_INSTANTIATE_KERNEL(instanceNormBackward)

}  // namespace fastnorm::FASTNORM_ISA_NS
