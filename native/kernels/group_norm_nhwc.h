// GroupNorm / InstanceNorm on (N, S, C) 'NHWC' tensors: the engines of group_norm.cc.
//
// A unit is a sample n, S rows of C channels, read as periods (channel_period.h: lcm(C, L)
// values when C is small, one row from C ≥ kWideChannelVectors vectors): per-lane sums over the
// periods (four vectors at a time, prefetched a lane block ahead) fold into channels and groups
// at the end; the elementwise passes take per-channel tables of one period, held in registers
// when a period is ≤ 4 whole vectors and otherwise walked cyclically along the output. Moments
// are taken around a per-group shift (the mean of the group's first ≥ L values), redone around
// the mean when the shift was far from it, and in scalar double when float squares overflow,
// as cachedMoments does along a row. y is folded to (x − hi)·α + β per channel (α = rstd·w,
// β = b − lo·α: three table loads instead of five); dx is dy·a − (x − μ)·b − c with per-channel
// a = rstd·w, b = rstd²·Σg·x̂/M, c = rstd·Σg/M (the unfolded form when b would underflow T,
// σ ≳ 1e19 in float32, and for groups of one value: BackwardCommon::unfoldsDx).
#pragma once
#include <cmath>
#include <cstdint>
#include <utility>

#include "channel_period.h"
#include "group_norm_common.h"

namespace fastnorm::FASTNORM_ISA_NS::groupnorm {

constexpr size_t kPeriodBlockValues = 1 << 16;  // values per block (partials ≈ 2% of them)
constexpr size_t kWideChannelVectors = 4;       // from C ≥ 4 vectors, one row per period

// The period a sample is read in: lcm(C, L) values for small C, one row for wide C.
template <class T>
ChannelPeriod<T> periodOf(size_t c) {
  return c >= kWideChannelVectors * kLanes<T> ? ChannelPeriod<T>::oneRow(c) : ChannelPeriod<T>::wholeVectors(c);
}

// Periods per block: a multiple of kLaneBlock, ≈ kPeriodBlockValues values.
template <class T>
size_t blockPeriods(const ChannelPeriod<T>& period) {
  return maxSize(kLaneBlock, kPeriodBlockValues / maxSize(period.values(), 1) / kLaneBlock * kLaneBlock);
}

// ---- NHWC output passes over whole periods with the per-lane tables in registers ----
// When a period is at most kRegisterPeriodVectors whole vectors (C ≤ 64 floats, or a small C
// repeated to fill vectors), its tables stay in registers: one load per input and one store
// per output vector, instead of one more load per table. Same operations, same order as
// normalizeRun / writeDxAffineRun, so the same bits.
constexpr size_t kRegisterPeriodVectors = 4;

template <class T>
bool periodFitsRegisters(const ChannelPeriod<T>& period) {
  return period.values() % kLanes<T> == 0 && period.vectors() <= kRegisterPeriodVectors;
}

// A vector store; streaming when Stream (the address is then 64-byte aligned); halves: a plain
// store, rounded once.
template <bool Stream, class V, class S>
__attribute__((always_inline)) inline void put(V v, S* p) {
  if constexpr (kIsHalf<S>) storeLanes(v, p, kLanes<float>);
  else if constexpr (Stream) v.stream(p);
  else v.store(p);
}

// y = (x − hi)·α + β over `periods` whole periods whose first value sits at `phase` of the
// tables (tables are one vector longer than a period, so any phase < L reads whole windows).
// Scalar math: y = act((x − hi[c])·α[c] + β[c]) (c: the channel of x).
template <bool Stream, class T, class A, class S, size_t... v>
inline void normalizePeriods(const S* x, S* y, size_t periods, size_t P, size_t phase, const T* hiT, const T* alphaT, const T* betaT,
                             A act, std::index_sequence<v...>) {
  using V = Vec<T>;
  constexpr size_t L = kLanes<T>;
  const V hi[] = {V::load(hiT + phase + v * L)...}, alpha[] = {V::load(alphaT + phase + v * L)...},
          beta[] = {V::load(betaT + phase + v * L)...};
  for (size_t p = 0; p < periods; ++p, x += P, y += P)
    (put<Stream>(act(((loadLanes(x + v * L, L) - hi[v]) * alpha[v]) + beta[v]), y + v * L), ...);
}

// dx = dy·a − (x − μ)·b − c over `periods` whole periods starting at `phase` of the tables.
// Scalar math: dx = (dy·a[c] − (x − μ[c])·b[c]) − c[c] (c: the channel of x).
template <bool Stream, class T, class S, size_t... v>
inline void dxAffinePeriods(const S* x, const S* dy, S* dx, size_t periods, size_t P, size_t phase, const T* meanT, const T* aT,
                            const T* bT, const T* cT, std::index_sequence<v...>) {
  using V = Vec<T>;
  constexpr size_t L = kLanes<T>;
  const V mean[] = {V::load(meanT + phase + v * L)...}, a[] = {V::load(aT + phase + v * L)...}, b[] = {V::load(bT + phase + v * L)...},
          c[] = {V::load(cT + phase + v * L)...};
  for (size_t p = 0; p < periods; ++p, x += P, dy += P, dx += P)
    (put<Stream>(((loadLanes(dy + v * L, L) * a[v]) - (loadLanes(x + v * L, L) - mean[v]) * b[v]) - c[v], dx + v * L), ...);
}

// How a run of `len` outputs at `out` (starting at phase 0 of its period) splits for the
// register path: `head` values first (up to the first 64-byte boundary when streaming, so
// every vector store after it is aligned), then `periods` whole periods at phase `head`.
template <class S>
struct PeriodSplit {
  size_t head, periods;
  PeriodSplit(const S* out, size_t len, size_t P, bool stream) {
    head = stream && !kIsHalf<S> ? ((64 - (reinterpret_cast<uintptr_t>(out) & 63)) & 63) / sizeof(S) : 0;
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

// What both engines share: a unit is a sample of S rows, read as periods and cut into blocks
// of blockPeriods periods.
template <class T>
struct SampleBlocks {
  PeriodRun<T> run;
  size_t blockPeriods, blocks, sampleValues;
  explicit SampleBlocks(const GroupGeometry& geo)
      : run(periodOf<T>(geo.c), geo.s), blockPeriods(groupnorm::blockPeriods(run.period)), blocks(ceilDiv(run.count, blockPeriods)),
        sampleValues(geo.s * geo.c) {}
  size_t firstPeriod(size_t b) const { return b * blockPeriods; }
  size_t endPeriod(size_t b) const { return minSize(run.count, (b + 1) * blockPeriods); }
  // Block b's values: its offset in the sample, and how many.
  size_t begin(size_t b) const { return b * blockPeriods * run.period.values(); }
  size_t length(size_t b) const { return minSize(endPeriod(b) * run.period.values(), sampleValues) - begin(b); }
};

// The unit-engine surface both NHWC engines share (schedule.h): units are samples, cut into
// sb_'s blocks; a unit's scratch is the Slot that Engine::carve(Carver&) lays out.
template <class Engine, class Common>
class SampleEngine : public Common {
  using T = typename Common::Value;

 public:
  template <class KernelArgs>
  explicit SampleEngine(const KernelArgs& args) : Common(args), sb_(this->geo) {}
  size_t units() const { return this->geo.n; }
  size_t unitValues() const { return this->geo.s * this->geo.c; }
  size_t blocks() const { return sb_.blocks; }
  size_t scratchPerUnit() const {
    Carver c;
    self().carve(c);
    return c.used();
  }

 protected:
  auto slot(double* scratch) const {
    Carver c(scratch);
    return self().carve(c);
  }
  const Engine& self() const { return static_cast<const Engine&>(*this); }

  SampleBlocks<T> sb_;
};

// ---- forward ----

// NHWC: unit u = sample n; statistics of its G groups from per-lane sums over periods.
template <class C>
class ChannelsLastForward : public SampleEngine<ChannelsLastForward<C>, ForwardCommon<C>> {
 public:
  using T = ComputeType<C>;
  using S = DataType<C>;
  using SampleEngine<ChannelsLastForward<C>, ForwardCommon<C>>::SampleEngine;

  void prepare(size_t u, double* scratch) const {
    if (this->fromRunning()) return;
    Slot s = slot(scratch);
    for (size_t g = 0; g < geo.groups; ++g) s.shift[g] = initialShift(u, g);
    sb_.run.period.fillTable(s.shiftTable, [&](size_t c) { return s.shift[geo.groupOf(c)]; });
  }
  void reduceBlock(size_t u, size_t b, double* scratch) const {
    if (this->fromRunning()) return;
    const Slot s = slot(scratch);
    laneMoments(u, b, s.shiftTable, s.sumD + b * 2 * sb_.run.period.padded(), s.sumD + b * 2 * sb_.run.period.padded() + sb_.run.period.padded());
  }
  void finish(size_t u, double* scratch) const {
    Slot s = slot(scratch);
    if (this->fromRunning()) {
      for (size_t c = 0; c < geo.c; ++c) s.mean[c] = a.runningMean.get(c), s.rstd[c] = this->storeRunning(u, c);
    } else {
      groupMoments(u, s);
    }
    // y = ((x − hi) − lo)·rstd·w + b folded per channel into (x − hi)·α + β, α = rstd·w and
    // β = b − lo·α (lo·α is below an ulp of the mean's scale): three table loads per vector
    // instead of five, which is what bounds a channels-last pass.
    sb_.run.period.fillTable(s.hi, [&](size_t c) { return T(s.mean[geo.groupOf(c)]); });
    sb_.run.period.fillTable(s.alpha, [&](size_t c) { return alphaOf(s, c); });
    sb_.run.period.fillTable(s.beta, [&](size_t c) {
      const double b = a.bias ? double(a.bias[c]) : 0.0;
      return kIsFloat<T> ? T(b - double(SplitMean<T>(s.mean[geo.groupOf(c)]).lo) * double(alphaOf(s, c))) : T(b);
    });
  }
  template <bool Stream>
  void writeBlock(size_t u, size_t b, double* scratch) const {
    const Slot s = slot(scratch);
    const size_t at = u * geo.s * geo.c + sb_.begin(b), len = sb_.length(b);
    const PerElement<T> hi(s.hi), alpha(s.alpha), beta(s.beta);
    withActivation(a.activation, [&](auto act) {
      if (!periodFitsRegisters(sb_.run.period)) {  // one run: the tables cycle
        normalizeRun<T, Stream>(a.x + at, a.y + at, len, Cyclic{sb_.run.period.values()}, hi, Absent(), alpha, Absent(), beta, act);
        return;
      }
      // head (to alignment), whole periods from registers, then the tail: the same values as one run
      const PeriodSplit<S> split(a.y + at, len, sb_.run.period.values(), Stream);
      const size_t body = split.head + split.periods * sb_.run.period.values();
      normalizeRun<T, false>(a.x + at, a.y + at, split.head, Cyclic{sb_.run.period.values()}, hi, Absent(), alpha, Absent(), beta, act);
      withPeriodVectors(sb_.run.period.vectors(), [&](auto v) {
        normalizePeriods<Stream>(a.x + at + split.head, a.y + at + split.head, split.periods, sb_.run.period.values(), split.head, s.hi,
                                 s.alpha, s.beta, act, v);
      });
      normalizeRun<T, Stream>(a.x + at + body, a.y + at + body, len - body, Cyclic{sb_.run.period.values(), split.head}, hi, Absent(),
                              alpha, Absent(), beta, act);
    });
  }

 private:
  using Base = SampleEngine<ChannelsLastForward<C>, ForwardCommon<C>>;
  friend Base;
  using Base::a, Base::geo, Base::sb_, Base::slot;

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
  Slot carve(Carver& c) const {
    Slot t;
    t.sumD = c.take<double>(sb_.blocks * 2 * sb_.run.period.padded());
    c.takeEach(geo.c, t.shift, t.mean, t.m2);  // groups ≤ C; InstanceNorm's running path uses C entries
    t.rstd = c.take<T>(geo.c);
    t.redo = c.take<unsigned char>(geo.c);
    c.takeEach(sb_.run.period.tableLength(), t.shiftTable, t.hi, t.alpha, t.beta);
    return t;
  }

  const S* sample(size_t u) const { return a.x + u * geo.s * geo.c; }

  T alphaOf(const Slot& s, size_t c) const {
    const double r = double(s.rstd[geo.groupOf(c)]);
    return T(a.weight ? r * double(a.weight[c]) : r);
  }

  // The mean of group g's first rows (≥ L values when S allows), as T: the shift of its sums.
  T initialShift(size_t u, size_t g) const {
    const size_t rows = minSize(geo.s, ceilDiv(kLanes<T>, geo.cg));
    const S* x = sample(u);
    double sum = 0;
    for (size_t r = 0; r < rows; ++r)
      for (size_t c = g * geo.cg; c < (g + 1) * geo.cg; ++c) sum += Scalar<S>::value(x[r * geo.c + c]);
    return T(sum / double(rows * geo.cg));
  }

  // Per-lane Σd and Σd² (d = x − shift) over the periods of block b.
  // Scalar math: d = x − shift[g(c)]; s1 += d, s2 += d·d (c: the channel of x, g(c) its group).
  void laneMoments(size_t u, size_t b, const T* shiftTable, double* sumD, double* sumD2) const {
    using V = Vec<T>;
    const S* x = sample(u);
    const PerElement<T> shift(shiftTable);
    periodLaneSums(sb_.run, sb_.firstPeriod(b), sb_.endPeriod(b), sumD, sumD2,
                   Prefetch<S>{x, nullptr}, [&](size_t at, size_t lane0, auto k, V& s1, V& s2) __attribute__((always_inline)) {
                     V d = loadLanes(x + at, k) - shift.at(lane0, k);
                     if (k < kLanes<T>) d = d.keepFirst(k);
                     s1 = s1 + d;
                     s2 = s2 + d * d;
                   });
  }

  // Σd and Σd² per group from the blocks' lane sums, in (block, lane) order.
  void foldGroups(const double* sumD, double* s1, double* s2) const {
    for (size_t g = 0; g < geo.groups; ++g) s1[g] = 0, s2[g] = 0;
    const size_t padded = sb_.run.period.padded();
    for (size_t b = 0; b < sb_.blocks; ++b) {
      const double* d = sumD + b * 2 * padded;
      for (size_t j = 0; j < sb_.run.period.values(); ++j) {
        const size_t g = geo.groupOf(j % geo.c);
        s1[g] += d[j];
        s2[g] += d[padded + j];
      }
    }
  }

  // Moments of group g in scalar double: the fallback when float squares overflow.
  Moments scalarGroupMoments(size_t u, size_t g) const {
    const S* x = sample(u);
    const double count = double(geo.groupValues());
    double sum = 0;
    for (size_t r = 0; r < geo.s; ++r)
      for (size_t c = g * geo.cg; c < (g + 1) * geo.cg; ++c) sum += Scalar<S>::value(x[r * geo.c + c]);
    const double mean0 = sum / count;
    double s1 = 0, s2 = 0;
    for (size_t r = 0; r < geo.s; ++r)
      for (size_t c = g * geo.cg; c < (g + 1) * geo.cg; ++c) {
        const double d = Scalar<S>::value(x[r * geo.c + c]) - mean0;
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
      sb_.run.period.fillTable(s.shiftTable, [&](size_t c) { return s.shift[geo.groupOf(c)]; });
      for (size_t b = 0; b < sb_.blocks; ++b)
        laneMoments(u, b, s.shiftTable, s.sumD + b * 2 * sb_.run.period.padded(), s.sumD + b * 2 * sb_.run.period.padded() + sb_.run.period.padded());
      redoGroups(u, s);
    }
    for (size_t g = 0; g < G; ++g) s.rstd[g] = this->store(u, g, s.mean[g], s.m2[g]);
  }

  // The flagged groups' moments from sums around their new shift (their mean), in double
  // when float squares overflowed.
  void redoGroups(size_t u, Slot& s) const {
    const double count = double(geo.groupValues());
    const size_t padded = sb_.run.period.padded();
    for (size_t g = 0; g < geo.groups; ++g) {
      if (!s.redo[g]) continue;
      const double shift = s.shift[g];
      double s1 = 0, s2 = 0;
      for (size_t b = 0; b < sb_.blocks; ++b) {
        const double* d = s.sumD + b * 2 * padded;
        for (size_t j = 0; j < sb_.run.period.values(); ++j) {
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
};

// NHWC: unit = sample n; per-lane Σdy and Σdy·x̂ over periods, folded into channels.
template <class C>
class ChannelsLastBackward : public SampleEngine<ChannelsLastBackward<C>, BackwardCommon<C>> {
 public:
  using T = ComputeType<C>;
  using S = DataType<C>;
  using SampleEngine<ChannelsLastBackward<C>, BackwardCommon<C>>::SampleEngine;

  void prepare(size_t u, double* scratch) const {
    const Slot s = slot(scratch);
    const size_t i = u * geo.groups;
    sb_.run.period.fillTable(s.mean, [&](size_t c) { return a.mean[i + geo.groupOf(c)]; });
    sb_.run.period.fillTable(s.rstd, [&](size_t c) { return a.rstd[i + geo.groupOf(c)]; });
    if (a.activation != 0) {  // the gate's w and b (1 and 0 when absent)
      sb_.run.period.fillTable(s.gateW, [&](size_t c) { return this->gateWeightOf(c); });
      sb_.run.period.fillTable(s.gateB, [&](size_t c) { return this->gateBiasOf(c); });
    }
  }
  // Scalar math: sd += dy, sdx += dy·((x − mean[c])·rstd[c]) per lane (c: the channel of x); a
  // fused activation: of g = dy·act'(z), z = ((x − mean[c])·rstd[c])·w[c] + b[c], instead of dy.
  void reduceBlock(size_t u, size_t b, double* scratch) const {
    using V = Vec<T>;
    if (!this->needSums()) return;
    const Slot s = slot(scratch);
    const size_t at = u * geo.s * geo.c;
    const S* x = a.x + at;
    const S* dy = a.dy + at;
    const PerElement<T> mean(s.mean), rstd(s.rstd), gw(s.gateW), gb(s.gateB);
    double* sums = s.sums + b * 2 * sb_.run.period.padded();
    withActivation(a.activation, [&](auto act) {
      using ActT = decltype(act);
      periodLaneSums(sb_.run, sb_.firstPeriod(b), sb_.endPeriod(b), sums, sums + sb_.run.period.padded(),
                     Prefetch<S>{x, dy}, [&](size_t i, size_t lane0, auto k, V& sd, V& sdx) __attribute__((always_inline)) {
                       V d = loadLanes(dy + i, k);
                       const V xh = (loadLanes(x + i, k) - mean.at(lane0, k)) * rstd.at(lane0, k);
                       if constexpr (ActT::kind != Activation::None) {
                         d = ActT().gate(xh * gw.at(lane0, k) + gb.at(lane0, k), d);
                         if (k < kLanes<T>) d = d.keepFirst(k);
                       }
                       V t = d * xh;
                       if (k < kLanes<T>) t = t.keepFirst(k);
                       sd = sd + d;
                       sdx = sdx + t;
                     });
    });
  }
  void finish(size_t u, double* scratch) const {
    const Slot s = slot(scratch);
    if (this->needSums()) {
      double* sd = this->sumDy + u * geo.c;
      double* sdx = this->sumDyXhat + u * geo.c;
      for (size_t c = 0; c < geo.c; ++c) sd[c] = 0, sdx[c] = 0;
      const size_t padded = sb_.run.period.padded();
      for (size_t b = 0; b < sb_.blocks; ++b) {  // lanes fold into channels in (block, lane) order
        const double* p = s.sums + b * 2 * padded;
        for (size_t j = 0; j < sb_.run.period.values(); ++j) sd[j % geo.c] += p[j], sdx[j % geo.c] += p[padded + j];
      }
    }
    s.flags[0] = 0;
    if (!a.useInputStats) {  // constant statistics: dx = dy·a
      sb_.run.period.fillTable(s.t1, [&](size_t c) { return this->channelScale(u, c); });
      return;
    }
    // dx as dy·a − (x − μ)·b − c: three per-channel tables (a = rstd·w, b = rstd²·mean(g·x̂),
    // c = rstd·mean(g)) instead of five, unless unfoldsDx: then the tables of the unfolded form.
    bool unfold = false;
    for (size_t g = 0; g < geo.groups; ++g) {
      this->groupMeans(u, g, s.groupMg[g], s.groupMgx[g]);
      const double r = double(a.rstd[u * geo.groups + g]), b = r * r * s.groupMgx[g];
      unfold = unfold || this->unfoldsDx(b);
    }
    s.flags[0] = unfold;
    if (unfold) {  // w, mean(g), mean(g·x̂)
      sb_.run.period.fillTable(s.t1, [&](size_t c) { return T(this->weightOf(c)); });
      sb_.run.period.fillTable(s.t2, [&](size_t c) { return s.groupMg[geo.groupOf(c)]; });
      sb_.run.period.fillTable(s.t3, [&](size_t c) { return s.groupMgx[geo.groupOf(c)]; });
      return;
    }
    sb_.run.period.fillTable(s.t1, [&](size_t c) { return this->channelScale(u, c); });
    sb_.run.period.fillTable(s.t2, [&](size_t c) {
      const size_t g = geo.groupOf(c);
      const double r = double(a.rstd[u * geo.groups + g]);
      return r * r * s.groupMgx[g];
    });
    sb_.run.period.fillTable(s.t3, [&](size_t c) {
      const size_t g = geo.groupOf(c);
      return double(a.rstd[u * geo.groups + g]) * s.groupMg[g];
    });
  }
  template <bool Stream>
  void writeBlock(size_t u, size_t b, double* scratch) const {
    const Slot s = slot(scratch);
    const size_t at = u * geo.s * geo.c + sb_.begin(b), len = sb_.length(b);
    const S* x = a.x + at;
    const S* dy = a.dy + at;
    S* dx = a.dx + at;
    const PerElement<T> t1(s.t1), t2(s.t2), t3(s.t3);
    if (a.activation != 0) {  // one run, the tables cycle (the gate's five tables do not fit the register path)
      withActivation(a.activation, [&](auto act) {
        const Cyclic index{sb_.run.period.values()};
        const auto xhat = makeXhat<T>(PerElement<T>(s.mean), PerElement<T>(s.rstd));
        const auto gate = activationGate<T, decltype(act)>(xhat, PerElement<T>(s.gateW), PerElement<T>(s.gateB));
        if (!a.useInputStats)
          writeDxAffineRun<T, Stream>(x, dy, dx, len, index, PerElement<T>(s.mean), t1, Absent(), Absent(), gate);
        else if (s.flags[0])
          writeDxRun<T, Stream>(x, dy, dx, len, index, xhat, t1, t2, t3, Absent(), Absent(), gate);
        else
          writeDxAffineRun<T, Stream>(x, dy, dx, len, index, PerElement<T>(s.mean), t1, t2, t3, gate);
      });
      return;
    }
    if (a.useInputStats && !s.flags[0] && periodFitsRegisters(sb_.run.period)) {
      // head (to alignment), whole periods from registers, then the tail: the same values as one run
      const PerElement<T> mean(s.mean);
      const PeriodSplit<S> split(dx, len, sb_.run.period.values(), Stream);
      const size_t body = split.head + split.periods * sb_.run.period.values();
      writeDxAffineRun<T, false>(x, dy, dx, split.head, Cyclic{sb_.run.period.values()}, mean, t1, t2, t3);
      withPeriodVectors(sb_.run.period.vectors(), [&](auto v) {
        dxAffinePeriods<Stream>(x + split.head, dy + split.head, dx + split.head, split.periods, sb_.run.period.values(), split.head, s.mean, s.t1, s.t2,
                                s.t3, v);
      });
      writeDxAffineRun<T, Stream>(x + body, dy + body, dx + body, len - body, Cyclic{sb_.run.period.values(), split.head}, mean, t1, t2, t3);
      return;
    }
    // one run: the tables cycle
    if (!a.useInputStats) {
      writeDxAffineRun<T, Stream>(x, dy, dx, len, Cyclic{sb_.run.period.values()}, Absent(), t1, Absent(), Absent());
    } else if (s.flags[0]) {
      const auto xhat = makeXhat<T>(PerElement<T>(s.mean), PerElement<T>(s.rstd));
      writeDxRun<T, Stream>(x, dy, dx, len, Cyclic{sb_.run.period.values()}, xhat, t1, t2, t3);
    } else {
      writeDxAffineRun<T, Stream>(x, dy, dx, len, Cyclic{sb_.run.period.values()}, PerElement<T>(s.mean), t1, t2, t3);
    }
  }

 private:
  using Base = SampleEngine<ChannelsLastBackward<C>, BackwardCommon<C>>;
  friend Base;
  using Base::a, Base::geo, Base::sb_, Base::slot;

  // A unit's scratch: per-block lane sums Σdy, Σdy·x̂ (padded doubles each), per group mean(g)
  // and mean(g·x̂), the form of dx (flags[0]: unfolded); then per-lane tables (T): mean, rstd
  // (for x̂), the three of dx (affine: a, b, c; unfolded: w, mean(g), mean(g·x̂)) and, with a
  // fused activation, the gate's w and b.
  struct Slot {
    double *sums, *groupMg, *groupMgx;
    unsigned char* flags;
    T *mean, *rstd, *t1, *t2, *t3, *gateW = nullptr, *gateB = nullptr;
  };
  Slot carve(Carver& c) const {
    Slot t;
    t.sums = c.take<double>(sb_.blocks * 2 * sb_.run.period.padded());
    c.takeEach(geo.groups, t.groupMg, t.groupMgx);
    t.flags = c.take<unsigned char>(1);
    c.takeEach(sb_.run.period.tableLength(), t.mean, t.rstd, t.t1, t.t2, t.t3);
    if (a.activation != 0) c.takeEach(sb_.run.period.tableLength(), t.gateW, t.gateB);
    return t;
  }
};

}  // namespace fastnorm::FASTNORM_ISA_NS::groupnorm
