// GroupNorm / InstanceNorm on (N, C, S) 'NCHW' tensors: the engines of group_norm.cc.
//
// A unit is a group (n, g), one contiguous row of (C/G)·S values, reduced exactly like a
// LayerNorm row (moments.h: one block in cache, kBlock blocks beyond), so GroupNorm with G = 1
// reproduces LayerNorm's bits; outputs are written channel by channel (y exactly as LayerNorm
// writes it: mean split hi + lo), or per element with the per-channel weight and bias expanded
// when S is small. Backward: per (n, c), Σdy and Σdy·(x − μ) in one pass over x and dy with four
// interleaved accumulator chains per sum; dx in the folded form dy·a − (x − μ)·b − c.
#pragma once
#include <cstddef>

#include "group_norm_common.h"

namespace fastnorm::FASTNORM_ISA_NS::groupnorm {

// NCHW: unit u = group (n, g), a row of cg·S values.
template <class C>
class ChannelsFirstForward : public ForwardCommon<C> {
 public:
  using T = ComputeType<C>;
  using S = DataType<C>;
  using ForwardCommon<C>::a;
  using ForwardCommon<C>::geo;
  const T* weightExpanded = nullptr;  // small S: weight/bias per element of a sample (C·S values)
  const T* biasExpanded = nullptr;

  explicit ChannelsFirstForward(const GroupNormForwardArgs<C>& args)
      : ForwardCommon<C>(args), row_(geo.groupValues()), blockLen_(rowBlockLength<T>(row_)), blocks_(ceilDiv(row_, blockLen_)) {}
  bool expands() const { return geo.s < kSmallSpatial; }
  size_t units() const { return geo.n * geo.groups; }
  size_t unitValues() const { return row_; }
  size_t blocks() const { return blocks_; }
  size_t scratchPerUnit() const { return 2 * blocks_ + 1; }  // (mean, M2) per block, then the mean

  void prepare(size_t, double*) const {}
  void reduceBlock(size_t u, size_t b, double* scratch) const {
    if (this->fromRunning()) return;
    const size_t begin = b * blockLen_;
    const Moments m = cachedMoments<T>(Values<S>{a.x + u * row_ + begin}, minSize(blockLen_, row_ - begin));
    scratch[2 * b] = m.mean;
    scratch[2 * b + 1] = m.m2;
  }
  void finish(size_t u, double* scratch) const {
    const size_t n = u / geo.groups, g = u % geo.groups;
    if (this->fromRunning()) {
      this->storeRunning(n, g);
      scratch[2 * blocks_] = a.runningMean.get(g);
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
    withActivation(a.activation, [&](auto act) {
      withBroadcastMean(SplitMean<T>(scratch[2 * blocks_]), [&](auto hi, auto lo) {
        if (expands()) {
          const size_t e = c0 * S + begin;
          withPerElement(weightExpanded ? weightExpanded + e : nullptr, biasExpanded ? biasExpanded + e : nullptr, [&](auto w, auto bias) {
            normalizeRun<T, Stream>(a.x + at + begin, a.y + at + begin, end - begin, Linear(), hi, lo, r, w, bias, act);
          });
          return;
        }
        for (size_t pos = begin; pos < end;) {
          const size_t cl = pos / S, segEnd = minSize(end, (cl + 1) * S);
          withBroadcast(a.weight, a.bias, c0 + cl, [&](auto w, auto bias) {
            normalizeRun<T, Stream>(a.x + at + pos, a.y + at + pos, segEnd - pos, Linear(), hi, lo, r, w, bias, act);
          });
          pos = segEnd;
        }
      });
    });
  }

 private:
  size_t row_, blockLen_, blocks_;
};

// ---- backward ----

constexpr size_t kSumChains = 4;  // interleaved accumulators per sum

// Σdy and Σdy·(x − mean) over a run of n values (Xhat: Σdy·x̂, x̂ = (x − mean)·rstd): float
// lane sums of at most kLaneBlock vectors widened into double, as laneSum2 does, but spread
// over kSumChains interleaved accumulators (vector v → chain v mod kSumChains), so the
// additions pipeline instead of each waiting for the last. The order is fixed by n alone.
// A fused activation (ActT not None): the sums are of g = dy·act'(z) instead of dy, z =
// ((x − mean)·rstd)·w + b with the run's channel's w and b (ActivationGate's operations).
// Scalar math: sumDy += dy, sumDyDev += dy·(x − mean) (Xhat: dy·((x − mean)·rstd)).
// (x, dy stored as S: T, or halves computed in float.)
template <class T, bool Xhat, class ActT = Act<Activation::None>, class S = T>
void runGradSums(const S* x, const S* dy, size_t n, Vec<T> mean, Vec<T> rstd, double& sumDy, double& sumDyDev,
                 Vec<T> w = Vec<T>::zero(), Vec<T> bias = Vec<T>::zero()) {
  using V = Vec<T>;
  using A = Acc<T>;
  constexpr size_t L = kLanes<T>;
  auto term = [&](size_t i, auto k, V& a, V& b) __attribute__((always_inline)) {
    V d = loadLanes(dy + i, k);
    V dev = loadLanes(x + i, k) - mean;
    if constexpr (ActT::kind != Activation::None) {
      d = ActT().gate((dev * rstd) * w + bias, d);
      if (k < L) d = d.keepFirst(k);  // nor is the padding's z that of a value
    }
    if constexpr (Xhat) dev = dev * rstd;
    V t = d * dev;
    if (k < L) t = t.keepFirst(k);  // the zero padding's x − mean is not 0
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
  finishLaneSums2<T>(n, term, totalA, totalB, sumDy, sumDyDev);
}

// NCHW: unit = group (n, g). Blocks are runs of segments (channel c, kBlock chunk j): one
// chunk of a long channel, or several whole short channels. The sums pass reads x and dy once
// (Σdy and Σdy·(x − μ) per segment, times rstd: Σdy·x̂); dx is written in
// the folded form dy·a − (x − μ)·b − c (writeDxAffineRun: a = rstd·w per channel, b and c per
// group), or unfolded (writeDxRun) where BackwardCommon::unfoldsDx says.
template <class C>
class ChannelsFirstBackward : public BackwardCommon<C> {
 public:
  using T = ComputeType<C>;
  using S = DataType<C>;
  using BackwardCommon<C>::a;
  using BackwardCommon<C>::geo;
  const T* weightExpanded = nullptr;  // small S: weight per element of a sample (C·S values)
  const T* gateWeightExpanded = nullptr;  // small S, fused activation: the gate's w and b per element
  const T* gateBiasExpanded = nullptr;

  explicit ChannelsFirstBackward(const GroupNormBackwardArgs<C>& args) : BackwardCommon<C>(args) {
    segs_ = geo.s >= kBlock ? ceilDiv(geo.s, kBlock) : 1;
    segsPerBlock_ = geo.s >= kBlock ? 1 : maxSize(1, kBlock / maxSize(geo.s, 1));
    blocks_ = ceilDiv(geo.cg * segs_, segsPerBlock_);
  }
  bool expands() const { return geo.s < kSmallSpatial; }
  size_t units() const { return geo.n * geo.groups; }
  size_t unitValues() const { return geo.groupValues(); }
  size_t blocks() const { return blocks_; }
  // (Σdy, Σdy·x̂) per segment, then the group's dx form (DxForm)
  size_t scratchPerUnit() const { return 2 * geo.cg * segs_ + kDxFormValues; }

  void prepare(size_t, double*) const {}
  void reduceBlock(size_t u, size_t b, double* scratch) const {
    using V = Vec<T>;
    if (!this->needSums()) return;
    const V mean = V::broadcast(a.mean[u]), rstd = V::broadcast(a.rstd[u]);
    const double r = double(a.rstd[u]);
    const bool deviations = deviationSumsFit<T>(r);
    const size_t c0 = (u % geo.groups) * geo.cg;
    // Σdy·x̂ of a segment: rstd·Σdy·(x − μ), or summed per value when that is out of range or
    // overflowed (a huge dy); with a fused activation, of g (runGradSums)
    withActivation(a.activation, [&](auto act) {
      using ActT = decltype(act);
      forSegments(b, [&](size_t i, size_t offset, size_t len) {
        const size_t at = u * geo.groupValues() + offset, ch = c0 + i / segs_;
        const V w = V::broadcast(this->gateWeightOf(ch)), bias = V::broadcast(this->gateBiasOf(ch));
        double& sd = scratch[2 * i];
        double& sdx = scratch[2 * i + 1];
        if (deviations) {
          runGradSums<T, false, ActT>(a.x + at, a.dy + at, len, mean, rstd, sd, sdx, w, bias);
          sdx *= r;
          if (std::isfinite(sdx) || !std::isfinite(sd)) return;
        }
        runGradSums<T, true, ActT>(a.x + at, a.dy + at, len, mean, rstd, sd, sdx, w, bias);
      });
    });
  }
  void finish(size_t u, double* scratch) const {
    if (!this->needSums()) return;
    const size_t n = u / geo.groups, g = u % geo.groups;
    const double r = double(a.rstd[u]);
    for (size_t cl = 0; cl < geo.cg; ++cl) {
      double sd = 0, sdx = 0;
      for (size_t j = 0; j < segs_; ++j) sd += scratch[2 * (cl * segs_ + j)], sdx += scratch[2 * (cl * segs_ + j) + 1];
      this->sumDy[n * geo.c + g * geo.cg + cl] = sd;
      this->sumDyXhat[n * geo.c + g * geo.cg + cl] = sdx;
    }
    if (!a.useInputStats) return;
    DxForm& f = dxForm(scratch);
    this->groupMeans(n, g, f.mg, f.mgx);
    f.b = r * r * f.mgx;
    f.c = r * f.mg;
    f.unfolded = this->unfoldsDx(f.b);
  }
  template <bool Stream>
  void writeBlock(size_t u, size_t b, double* scratch) const {
    withActivation(a.activation, [&](auto act) { writeBlockWith<Stream>(u, b, scratch, act); });
  }

 private:
  // dx of block b; a fused activation ActT gates dy with z = x̂·w + b, w and b as reduceBlock takes them.
  template <bool Stream, class ActT>
  void writeBlockWith(size_t u, size_t b, double* scratch, ActT) const {
    const size_t n = u / geo.groups, c0 = (u % geo.groups) * geo.cg, at = u * geo.groupValues();
    const DxForm& f = dxForm(scratch);
    const auto xhat = makeXhat<T>(Broadcast<T>(a.mean[u]), Broadcast<T>(a.rstd[u]));
    // dx over [offset, offset + len) of the unit; w: the weight (Absent, Broadcast, PerElement),
    // scale: a = rstd·w in the same form; gw, gb: the gate's w and b (Broadcast or PerElement).
    auto run = [&](size_t offset, size_t len, auto w, auto scale, auto gw, auto gb) {
      const S* x = a.x + at + offset;
      const S* dy = a.dy + at + offset;
      S* dx = a.dx + at + offset;
      const auto gate = activationGate<T, ActT>(xhat, gw, gb);
      if (!a.useInputStats) {  // constant statistics: dx = dy·a
        writeDxAffineRun<T, Stream>(x, dy, dx, len, Linear(), Broadcast<T>(a.mean[u]), scale, Absent(), Absent(), gate);
      } else if (!f.unfolded) {
        writeDxAffineRun<T, Stream>(x, dy, dx, len, Linear(), Broadcast<T>(a.mean[u]), scale, Broadcast<T>(T(f.b)), Broadcast<T>(T(f.c)),
                                    gate);
      } else {
        writeDxRun<T, Stream>(x, dy, dx, len, Linear(), xhat, w, Broadcast<T>(T(f.mg)), Broadcast<T>(T(f.mgx)), Absent(), Absent(), gate);
      }
    };
    if (expands()) {  // whole short channels: one run, weight per element
      const size_t i0 = b * segsPerBlock_, i1 = minSize(geo.cg, i0 + segsPerBlock_);
      const size_t offset = i0 * geo.s, len = (i1 - i0) * geo.s, e = c0 * geo.s + offset;
      auto withGate = [&](auto w, auto scale) {
        if constexpr (ActT::kind == Activation::None) run(offset, len, w, scale, Absent(), Absent());
        else run(offset, len, w, scale, PerElement<T>(gateWeightExpanded + e), PerElement<T>(gateBiasExpanded + e));
      };
      if (weightExpanded) {
        const T* w = weightExpanded + e;
        withGate(PerElement<T>(w), ScaledElement<T>(w, a.rstd[u]));
      } else {
        withGate(Absent(), Broadcast<T>(a.rstd[u]));
      }
      return;
    }
    forSegments(b, [&](size_t i, size_t offset, size_t len) {
      const size_t ch = c0 + i / segs_;
      const Broadcast<T> gw(this->gateWeightOf(ch)), gb(this->gateBiasOf(ch));
      if (a.weight) run(offset, len, Broadcast<T>(a.weight[ch]), Broadcast<T>(this->channelScale(n, ch)), gw, gb);
      else run(offset, len, Absent(), Broadcast<T>(a.rstd[u]), gw, gb);
    });
  }

  // A group's dx: mean(g), mean(g·x̂), the folded b = rstd²·mean(g·x̂) and c = rstd·mean(g), and
  // whether the unfolded form is used (1.0 or 0.0) — doubles at the end of the unit's scratch.
  struct DxForm {
    double mg, mgx, b, c, unfolded;
  };
  static constexpr size_t kDxFormValues = sizeof(DxForm) / sizeof(double);
  DxForm& dxForm(double* scratch) const { return *reinterpret_cast<DxForm*>(scratch + 2 * geo.cg * segs_); }

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

}  // namespace fastnorm::FASTNORM_ISA_NS::groupnorm
