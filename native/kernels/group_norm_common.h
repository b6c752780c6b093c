// What the GroupNorm / InstanceNorm kernels (group_norm.cc) share between their layouts
// (group_norm_nchw.h, group_norm_nhwc.h): the internal form of their arguments, a call's
// geometry, and the engines' common parts. Included by group_norm.cc only.
#pragma once
#include <cmath>

#include "kernel_table.h"
#include "moments.h"
#include "normalize.h"
#include "schedule.h"

namespace fastnorm::FASTNORM_ISA_NS::groupnorm {

// What the GroupNorm and InstanceNorm kernels share: GroupNorm's arguments with InstanceNorm's
// running statistics (groups = C for InstanceNorm; GroupNorm has no running statistics).
// C: the internal call type (kernel_table.h's InnerCall): computed in T, data stored as S (T, or
// halves), running statistics and parameter gradients in their run-time storage (ParamArray);
// weight and bias arrive widened to T (ParamValues).
template <class C>
struct GroupNormForwardArgs {
  using T = ComputeType<C>;
  using S = DataType<C>;
  const S* x;
  ChannelShape shape;
  size_t groups;       // ≥ 1, divides shape.c
  const T* weight;     // C or null
  const T* bias;       // C or null
  ParamArray<T, S> runningMean;  // C or null (groups == C only): updated in place when useInputStats
  ParamArray<T, S> runningVar;   // C or null: updated with the unbiased variance, averaged over N
  double momentum, eps;
  bool useInputStats;  // false: normalize with the running statistics (then required)
  uint8_t activation;  // y = act(x̂·w + b) (activation.h)
  S* y;                // may be x itself
  T* mean;             // N·groups, n-major (useInputStats false: the running mean, tiled over N)
  T* rstd;             // N·groups
};

template <class C>
struct GroupNormBackwardArgs {
  using T = ComputeType<C>;
  using S = DataType<C>;
  const S* dy;
  const S* x;
  const T* mean;       // N·groups, saved by the forward
  const T* rstd;       // N·groups
  ChannelShape shape;
  size_t groups;
  const T* weight;     // C or null
  bool useInputStats;  // false: the statistics were constants (running stats): dx = dy·w·rstd
  const T* bias;       // C or null: the forward's bias, for z = x̂·w + b
  uint8_t activation;  // the forward's y = act(z): g = dy·act'(z) replaces dy in every pass
  S* dx;
  ParamArray<T, S> dweight;  // C or null (not requested)
  ParamArray<T, S> dbias;    // C or null
};

constexpr size_t kSmallSpatial = 64;  // NCHW: below this S, per-channel values expand per element

struct GroupGeometry {
  size_t n, c, s, groups, cg;  // cg = channels per group
  GroupGeometry(const ChannelShape& shape, size_t g) : n(shape.n), c(shape.c), s(shape.s), groups(g), cg(g ? shape.c / g : 0) {}
  size_t groupValues() const { return cg * s; }
  size_t groupOf(size_t channel) const { return channel / cg; }
};

// ---- forward ----

// What both forward engines share: the statistics source and where results go.
template <class C>
struct ForwardCommon {
  using T = ComputeType<C>;
  using S = DataType<C>;
  using Value = T;
  const GroupNormForwardArgs<C>& a;
  GroupGeometry geo;
  double* running = nullptr;  // per (n, g): batch mean, unbiased variance (running stats update)
  ForwardCommon(const GroupNormForwardArgs<C>& args) : a(args), geo(args.shape, args.groups) {}
  size_t bytesPerValue() const { return sizeof(S); }  // x
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
    const T rstd = T(rstdOf(a.runningVar.get(c), a.eps));
    a.mean[i] = T(a.runningMean.get(c));
    a.rstd[i] = rstd;
    return rstd;
  }
};

// ---- backward ----

template <class C>
struct BackwardCommon {
  using T = ComputeType<C>;
  using S = DataType<C>;
  using Value = T;
  const GroupNormBackwardArgs<C>& a;
  GroupGeometry geo;
  double* sumDy = nullptr;      // per (n, c): Σdy
  double* sumDyXhat = nullptr;  // per (n, c): Σdy·x̂
  BackwardCommon(const GroupNormBackwardArgs<C>& args) : a(args), geo(args.shape, args.groups) {}
  size_t bytesPerValue() const { return 2 * sizeof(S); }  // dy and x
  bool needSums() const { return a.useInputStats || a.dweight || a.dbias; }
  double weightOf(size_t c) const { return a.weight ? double(a.weight[c]) : 1.0; }
  // The fused activation's z = x̂·w + b takes w = 1 and b = 0 when absent (the same z: x̂·1 and
  // x̂ + 0 differ from x̂ only in the sign of a zero, where every act' is the same).
  T gateWeightOf(size_t c) const { return a.weight ? a.weight[c] : T(1); }
  T gateBiasOf(size_t c) const { return a.bias ? a.bias[c] : T(0); }
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
  // Whether a group's dx is written unfolded (writeDxRun) rather than as dy·a − (x − μ)·b − c
  // (writeDxAffineRun), b = rstd²·mean(g·x̂): when b is not a normal number of T (rstd extreme:
  // σ beyond ~1e19 in float32), and for groups of one value, whose dx the unfolded form gives
  // as exactly 0 (g − mean(g) = 0, x̂ = 0) where the folded one leaves the rounding of dy·a and c
  // (|rstd·g| large: rstd is 1/sqrt(eps) there).
  bool unfoldsDx(double b) const {
    return geo.groupValues() == 1 || (b != 0 && std::isfinite(b) && !std::isnormal(T(b)));
  }
};

// Whether a group's Σdy·(x − μ) may be summed in T instead of Σdy·x̂ (one multiply less per
// value; rstd applied once per run): rstd within 2^±40 (float32; 2^±400 for float64) keeps
// the terms |dy·(x − μ)| ≤ |dy|·σ·√M far from T's denormal range, and from its overflow unless
// dy is huge (the caller redoes a run whose sum overflowed). Outside it (and for a NaN or zero
// rstd) the sums are Σdy·x̂, rstd applied per value.
template <class T>
bool deviationSumsFit(double rstd) {
  constexpr double range = kIsFloat<T> ? 0x1p40 : 0x1p400;
  return rstd >= 1 / range && rstd <= range;
}

}  // namespace fastnorm::FASTNORM_ISA_NS::groupnorm
