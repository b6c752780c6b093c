// GroupNorm and InstanceNorm, forward and backward, on (N, C, S) 'NCHW' or (N, S, C) 'NHWC'
// tensors, each computed in its own layout (no transposing copies): the engines of
// group_norm_nchw.h and group_norm_nhwc.h, run by the unit engine of schedule.h. InstanceNorm is
// GroupNorm with groups = C, plus PyTorch's running statistics: updated from the batch
// (per-(n, c) means and unbiased variances averaged over N), or used instead of it
// (useInputStats false).
//
// Each unit (what must be reduced before anything can be written) is cut into blocks fixed by
// the shape; blocks store partial sums that merge in block order, so no result depends on the
// thread count or on how units are scheduled.
//
// Passes over memory: a unit that fits in L2 (≤ kUnitInCacheBytes) is one task: statistics,
// then y (dx) from cache — 1 read + 1 write forward, 2 reads + 1 write backward. A larger unit
// (an NHWC sample) is re-read from L2/L3: one task per unit when the units split evenly over
// the threads, else waves of ≈ kWaveBytes (every block's partial in parallel, merge, every
// block's output). Outputs of ≥ 8 MiB, or calls touching ≥ 16 MiB, use streaming stores.
// Backward: per (n, c), Σdy and Σdy·x̂ in one pass over x and dy (NCHW sums Σdy·(x − μ) and
// applies rstd per run); per group Σg = Σ_c w_c·Σdy and Σg·x̂ = Σ_c w_c·Σdy·x̂; then dx in the
// folded form dy·a − (x − μ)·b − c with a = rstd·w per channel, b = rstd²·Σg·x̂/M and
// c = rstd·Σg/M per group (= ((g − Σg/M) − x̂·Σg·x̂/M)·rstd, g = dy·w). With constant running
// statistics dx = dy·a. dweight[c] = Σ_n Σdy·x̂ and dbias[c] = Σ_n Σdy, summed in n order.
//
// Precision: sums in double (float lane sums of ≤ 16 terms, then widened); elementwise passes in
// the data type.
//
// Half precision (float16/bfloat16 data, HalfCall): x, dy, y, dx are stored as Half<F> and
// computed in float by the float path's own code (loads widen exactly, stores round once);
// weight and bias are widened once per call (ParamValues), the running statistics and
// dweight/dbias are read and rounded through their storage, mean/rstd are float.
#include "group_norm_nchw.h"
#include "group_norm_nhwc.h"
#include "kernels.h"

namespace fastnorm::FASTNORM_ISA_NS {
namespace {

using namespace groupnorm;

// Per-element copies of per-channel values for NCHW with small S: out[c·S + i] = v[c].
template <class T>
void expandPerElement(const T* v, size_t c, size_t s, T* out) {
  for (size_t ch = 0; ch < c; ++ch)
    for (size_t i = 0; i < s; ++i) out[ch * s + i] = v[ch];
}

template <class C>
bool groupNormForwardImpl(const GroupNormForwardArgs<C>& a, const Exec& exec) {
  using T = ComputeType<C>;
  const GroupGeometry geo(a.shape, a.groups);
  if (geo.n == 0) return true;
  if (geo.groupValues() == 0) {  // statistics of empty groups: NaN (the mean of nothing), or the running ones
    for (size_t n = 0; n < geo.n; ++n)
      for (size_t g = 0; g < geo.groups; ++g) {
        const size_t i = n * geo.groups + g;
        a.mean[i] = a.useInputStats ? T(NAN) : T(a.runningMean.get(g));
        a.rstd[i] = a.useInputStats ? T(NAN) : T(rstdOf(a.runningVar.get(g), a.eps));
      }
    return true;
  }
  const bool updatesRunning = a.useInputStats && a.runningMean && a.runningVar;
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
      updateRunning(a.runningMean, c, a.momentum, mean);
      updateRunning(a.runningVar, c, a.momentum, var);
    }
  };
  bool ok;
  if (a.shape.channelsLast) {
    ChannelsLastForward<C> e(a);
    ok = runEngine(e, exec, [&](Carver& c) {
      running = updatesRunning ? c.take<double>(2 * geo.n * geo.groups) : nullptr;
      e.running = running;
    }, updateRunningStats);
  } else {
    ChannelsFirstForward<C> e(a);
    ok = runEngine(e, exec, [&](Carver& c) {
      running = updatesRunning ? c.take<double>(2 * geo.n * geo.groups) : nullptr;
      T* w = a.weight && e.expands() ? c.take<T>(geo.c * geo.s) : nullptr;
      T* b = a.bias && e.expands() ? c.take<T>(geo.c * geo.s) : nullptr;
      if (w) expandPerElement(a.weight, geo.c, geo.s, w);
      if (b) expandPerElement(a.bias, geo.c, geo.s, b);
      e.weightExpanded = w, e.biasExpanded = b, e.running = running;
    }, updateRunningStats);
  }
  return ok;
}

template <class C>
bool groupNormBackwardImpl(const GroupNormBackwardArgs<C>& a, const Exec& exec) {
  using T = ComputeType<C>;
  const GroupGeometry geo(a.shape, a.groups);
  auto zeroGrads = [&] {
    for (size_t c = 0; c < geo.c; ++c) {
      if (a.dweight) a.dweight.set(c, 0);
      if (a.dbias) a.dbias.set(c, 0);
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
    ChannelsLastBackward<C> e(a);
    ok = runEngine(e, exec, [&](Carver& c) { sums(c, e); }, paramGrads);
  } else {
    ChannelsFirstBackward<C> e(a);
    ok = runEngine(e, exec, [&](Carver& c) {
      sums(c, e);
      T* w = a.weight && e.expands() ? c.take<T>(geo.c * geo.s) : nullptr;
      if (w) expandPerElement(a.weight, geo.c, geo.s, w);
      e.weightExpanded = w;
      if (a.activation != 0 && e.expands()) {  // the gate's w and b (1 and 0 when absent), per element
        T* gw = c.take<T>(geo.c * geo.s);
        T* gb = c.take<T>(geo.c * geo.s);
        if (gw)  // null while the carver measures
          for (size_t ch = 0; ch < geo.c; ++ch)
            for (size_t i = 0; i < geo.s; ++i) gw[ch * geo.s + i] = e.gateWeightOf(ch), gb[ch * geo.s + i] = e.gateBiasOf(ch);
        e.gateWeightExpanded = gw, e.gateBiasExpanded = gb;
      }
    }, paramGrads);
  }
  return ok;
}

}  // namespace

// C: the call type (float, double, or HalfCall); weight and bias widened once into the compute type.
template <class C>
bool groupNormForward(const Args<Kernel::groupNormForward, C>& a, const Exec& e) noexcept {
  const ParamValues<ComputeType<C>> w(a.weight, 0, a.c), b(a.bias, 0, a.c);
  return w.ok() && b.ok() &&
         groupNormForwardImpl<InnerCall<C>>({a.x, channelShapeOf(a), a.groups, w.get(), b.get(), nullptr, nullptr, 0, a.eps, true, a.activation,
                                  a.y, a.mean, a.rstd}, e);
}
template <class C>
bool instanceNormForward(const Args<Kernel::instanceNormForward, C>& a, const Exec& e) noexcept {
  const ParamValues<ComputeType<C>> w(a.weight, 0, a.c), b(a.bias, 0, a.c);
  return w.ok() && b.ok() &&
         groupNormForwardImpl<InnerCall<C>>({a.x, channelShapeOf(a), a.c, w.get(), b.get(), a.runningMean, a.runningVar, a.momentum, a.eps,
                                  a.useInputStats, a.activation, a.y, a.mean, a.rstd}, e);
}
template <class C>
bool groupNormBackward(const Args<Kernel::groupNormBackward, C>& a, const Exec& e) noexcept {
  const ParamValues<ComputeType<C>> w(a.weight, 0, a.c), b(a.bias, 0, a.c);
  return w.ok() && b.ok() &&
         groupNormBackwardImpl<InnerCall<C>>({a.dy, a.x, a.mean, a.rstd, channelShapeOf(a), a.groups, w.get(), true, b.get(), a.activation, a.dx,
                                   a.dweight, a.dbias}, e);
}
template <class C>
bool instanceNormBackward(const Args<Kernel::instanceNormBackward, C>& a, const Exec& e) noexcept {
  const ParamValues<ComputeType<C>> w(a.weight, 0, a.c), b(a.bias, 0, a.c);
  return w.ok() && b.ok() &&
         groupNormBackwardImpl<InnerCall<C>>({a.dy, a.x, a.mean, a.rstd, channelShapeOf(a), a.c, w.get(), a.useInputStats, b.get(), a.activation,
                                   a.dx, a.dweight, a.dbias}, e);
}

FASTNORM_INSTANTIATE_KERNEL(groupNormForward)
FASTNORM_INSTANTIATE_KERNEL(instanceNormForward)
FASTNORM_INSTANTIATE_KERNEL(groupNormBackward)
FASTNORM_INSTANTIATE_KERNEL(instanceNormBackward)
FASTNORM_HALF_GROUP_KERNELS(FASTNORM_INSTANTIATE_HALF_KERNEL)

}  // namespace fastnorm::FASTNORM_ISA_NS
