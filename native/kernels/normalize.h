// The elementwise passes every normalization shares, written once:
//   forward   y  = (((x − μhi) − μlo)·rstd)·w + b
//   backward  dx = ((g − mean(g)) − x̂·mean(g·x̂))·rstd,   g = dy·w,   x̂ = (x − μ)·rstd
// over a run of n values, each operand supplied as one of
//   Broadcast   one value for the whole run (a row's statistics; a channel's weight in NCHW)
//   PerElement  one value per element, read from an array (LayerNorm's weight; the per-channel
//               tables of a channels-last period)
//   Absent      left out at compile time (no weight or bias; RMSNorm's mean; μlo of double data)
// The operations and their order do not depend on how an operand is supplied, so a value gets
// the same bits from every kernel that normalizes it with the same statistics: GroupNorm(G = 1)
// in NCHW reproduces LayerNorm with the per-channel weight expanded per element, bit for bit.
#pragma once
#include <cstdlib>
#include <type_traits>

#include "../runtime/tuning.h"
#include "activation.h"
#include "lanes.h"

namespace fastnorm::FASTNORM_ISA_NS {

template <class T> constexpr bool kIsFloat = sizeof(T) == 4;

// X itself, in a context template argument deduction skips (so a null argument there need not
// match the type the other arguments deduce).
template <class X>
struct NotDeducedOf {
  using type = X;
};
template <class X>
using NotDeduced = typename NotDeducedOf<X>::type;

// A parameter row in T: the scale of a layer, weight + weightOffset (Gemma's zero-centered
// weights use offset 1), rounded once to T, or a bias (offset 0); stored as P (T, or halves,
// widened exactly). The array itself, with no allocation, when it is T already and the offset
// is 0, or when there is none (the planner rejects an offset without a weight).
template <class T>
class ParamValues {
 public:
  template <class P>
  ParamValues(const P* values, double offset, size_t n) : given_(values != nullptr) {
    if constexpr (std::is_same_v<P, T>) {
      values_ = values;
      if (!values || offset == 0) return;
    } else {
      if (!values) return;
    }
    owned_ = static_cast<T*>(std::malloc((n > 0 ? n : 1) * sizeof(T)));
    values_ = owned_;
    if (owned_)
      for (size_t j = 0; j < n; ++j) owned_[j] = T(Scalar<P>::value(values[j]) + offset);
  }
  ~ParamValues() { std::free(owned_); }
  ParamValues(const ParamValues&) = delete;
  ParamValues& operator=(const ParamValues&) = delete;
  // false: the row could not be allocated (the kernel then returns false).
  bool ok() const { return values_ || !given_; }
  const T* get() const { return values_; }

 private:
  T* owned_ = nullptr;
  const T* values_ = nullptr;
  bool given_;
};


struct Absent {};

template <class T>
struct Broadcast {
  Vec<T> v;
  Broadcast() = default;
  explicit Broadcast(T value) : v(Vec<T>::broadcast(value)) {}
  Vec<T> at(size_t, size_t) const { return v; }
};

// (S: the array's storage, T or halves widened into float lanes: an add-norm's half dSum.)
template <class T, class S = T>
struct PerElement {
  const S* p;
  explicit PerElement(const S* values) : p(values) {}
  Vec<T> at(size_t i, size_t k) const { return loadLanes(p + i, k); }
};

// One value per element times one value for the whole run, rounded once in T (a per-element
// weight times a group's rstd: the same bits as T(double(w)·rstd) for float and double data,
// whose products of two values are exact in double).
template <class T>
struct ScaledElement {
  const T* p;
  Vec<T> scale;
  ScaledElement(const T* values, T s) : p(values), scale(Vec<T>::broadcast(s)) {}
  Vec<T> at(size_t i, size_t k) const { return loadLanes(p + i, k) * scale; }
};

template <class Operand> constexpr bool kPresent = !std::is_same_v<Operand, Absent>;

// Where the operands of element i of a run are read, called once per vector in increasing i:
// Linear at i itself; Cyclic walks a table of `period` values (per-channel values repeating
// along a channels-last run) that is extended by one vector, so a window never wraps.
struct Linear {
  size_t operator()(size_t i, size_t) const { return i; }
};

struct Cyclic {
  size_t period, at = 0;
  size_t operator()(size_t, size_t k) {
    const size_t j = at;
    at += k;
    if (at >= period) at -= period;
    return j;
  }
};

// The mean as hi + lo in T, so that (x − hi) − lo is as exact as x − mean in double.
template <class T>
struct SplitMean {
  T hi, lo;
  explicit SplitMean(double mean) : hi(T(mean)), lo(kIsFloat<T> ? T(mean - double(T(mean))) : T(0)) {}
};

// Outputs at least runtime::streamingBytes() large are written with streaming stores: they
// cannot stay in cache anyway, and skipping the read-for-ownership saves a third of the memory
// traffic.
template <class T>
bool streamOutput(size_t values) { return values * sizeof(T) >= runtime::streamingBytes(); }

// f(std::true_type / std::false_type): a runtime streaming choice as a template argument.
template <class F>
void withStream(bool stream, F&& f) {
  if (stream) f(std::true_type());
  else f(std::false_type());
}

// f(hi, lo) for a mean broadcast over a run: lo only for float data.
template <class T, class F>
void withBroadcastMean(SplitMean<T> mean, F&& f) {
  if constexpr (kIsFloat<T>) f(Broadcast<T>(mean.hi), Broadcast<T>(mean.lo));
  else f(Broadcast<T>(mean.hi), Absent());
}

// f(w, b) for optional per-element arrays: PerElement where given, Absent where null.
template <class T, class F>
void withPerElement(const T* w, const T* b, F&& f) {
  if (w && b) f(PerElement<T>(w), PerElement<T>(b));
  else if (w) f(PerElement<T>(w), Absent());
  else if (b) f(Absent(), PerElement<T>(b));
  else f(Absent(), Absent());
}

// f(w, b) for optional per-channel values w[c], b[c] broadcast over a run.
template <class T, class F>
void withBroadcast(const T* w, const T* b, size_t c, F&& f) {
  if (w && b) f(Broadcast<T>(w[c]), Broadcast<T>(b[c]));
  else if (w) f(Broadcast<T>(w[c]), Absent());
  else if (b) f(Absent(), Broadcast<T>(b[c]));
  else f(Absent(), Absent());
}

// Operands are taken and captured by value: the build has -fno-strict-aliasing (node-gyp), so
// an operand reached through a reference would be reloaded after every store to the output.

// Scalar math: y = (((v − hi) − lo)·r)·w + b for one vector v whose operands are at j.
template <class T, class Hi, class Lo, class R, class W, class B>
__attribute__((always_inline)) inline Vec<T> normalizeValue(Vec<T> v, size_t j, size_t k, Hi hi, Lo lo, R r, W w, B b) {
  if constexpr (kPresent<Hi>) v = v - hi.at(j, k);
  if constexpr (kPresent<Lo>) v = v - lo.at(j, k);
  v = v * r.at(j, k);
  if constexpr (kPresent<W>) v = v * w.at(j, k);
  if constexpr (kPresent<B>) v = v + b.at(j, k);
  return v;
}

// Scalar math: y = act((((x − hi) − lo)·r)·w + b) over n values; operands are read at index(i).
// x and y are stored as S: T itself, or halves computed in float (lanes.h).
template <class T, bool Stream, class Index, class Hi, class Lo, class R, class W, class B, class A = Act<Activation::None>,
          class S = T>
inline void normalizeRun(const S* x, S* y, size_t n, Index index, Hi hi, Lo lo, R r, W w, B b, A act = A()) {
  writeRun<T, Stream>(y, n, [=](size_t i, size_t k) mutable {
    const size_t j = index(i, k);
    return act(normalizeValue<T>(loadLanes(x + i, k), j, k, hi, lo, r, w, b));
  });
}

// The values of an add-norm's residual stream: s = (x + residual) + residualBias (rb Absent or
// PerElement), in T, as a source of vectors (lanes.h's Values). x and residual are stored as S;
// for halves s is computed in float and taken as the stored sum holds it (rounded once to the
// half format), so y is the norm of the `sum` written, bit for bit the plain norm's of it.
// Scalar math: s = x + res (+ rb).
template <class T, class RB, class S = T>
struct SumOf {
  const S* x;
  const S* res;
  RB rb;
  Vec<T> operator()(size_t i, size_t k) const { return asStored<S>(exact(i, k)); }
  // s before it is stored (what a store of the sum rounds)
  Vec<T> exact(size_t i, size_t k) const {
    Vec<T> v = loadLanes(x + i, k) + loadLanes(res + i, k);
    if constexpr (kPresent<RB>) v = v + rb.at(i, k);
    return v;
  }
};

// Scalar math: s = source(i); sum = s; y = (((s − hi) − lo)·r)·w + b over n values (Linear
// operands). sum and y may be the source's own inputs (each element is read before it is
// written). With Stream both outputs must have the same address mod 64 (the caller checks);
// halves (S = Half<F>) ignore Stream and are stored rounded once, as in writeRun.
template <class T, bool Stream, class Source, class Hi, class Lo, class R, class W, class B, class S>
inline void sumNormalizeRun(Source src, S* sum, S* y, size_t n, Hi hi, Lo lo, R r, W w, B b) {
  constexpr size_t L = kLanes<T>;
  size_t i = 0;
  auto both = [&](size_t at, size_t k, auto store) __attribute__((always_inline)) {
    const Vec<T> s = src(at, k);
    const Vec<T> v = normalizeValue<T>(s, at, k, hi, lo, r, w, b);
    store(s, sum + at, k);
    store(v, y + at, k);
  };
  const auto plain = [](Vec<T> v, S* p, size_t k) { storeLanes(v, p, k); };
  if constexpr (Stream && !kIsHalf<S>) {
    size_t head = ((64 - (reinterpret_cast<uintptr_t>(y) & 63)) & 63) / sizeof(T);
    if (head > n) head = n;
    if (head > 0) both(0, head, plain);
    for (i = head; i + L <= n; i += L) both(i, L, [](Vec<T> v, T* p, size_t) { v.stream(p); });
  } else {
    for (; i + L <= n; i += L) both(i, L, plain);
  }
  if (i < n) both(i, n - i, plain);
}

// x̂ = (x − mean)·rstd of the saved statistics (mean Absent: x·rstd, RMSNorm).
template <class T, class Mean, class Rstd>
struct Xhat {
  Mean mean;
  Rstd rstd;
  Vec<T> operator()(Vec<T> x, size_t i, size_t k) const {
    if constexpr (kPresent<Mean>) x = x - mean.at(i, k);
    return x * rstd.at(i, k);
  }
};

template <class T, class Mean, class Rstd>
Xhat<T, Mean, Rstd> makeXhat(Mean mean, Rstd rstd) { return {mean, rstd}; }

// A fused-activation backward's dy → g = dy·act'(z), z = x̂·w + b recomputed from x (w, b Absent,
// Broadcast or PerElement, read at the operand index j); Absent in writeDxRun: g = dy.
// Scalar math: z = ((x − mean)·rstd)·w + b; g = dy·act'(z).
template <class T, class XH, class W, class B, class A>
struct ActivationGate {
  XH xhat;
  W w;
  B b;
  Vec<T> operator()(Vec<T> dy, Vec<T> x, size_t j, size_t k) const {
    Vec<T> z = xhat(x, j, k);
    if constexpr (kPresent<W>) z = z * w.at(j, k);
    if constexpr (kPresent<B>) z = z + b.at(j, k);
    return A().gate(z, dy);
  }
};

// The gate of a fused activation A (Absent for none): the type writeDxRun / writeDxAffineRun take.
template <class T, class A, class XH, class W, class B>
auto activationGate(XH xhat, W w, B b) {
  if constexpr (A::kind == Activation::None) return Absent();
  else return ActivationGate<T, XH, W, B, A>{xhat, w, b};
}

// Column sums of a run's outputs: acc[i] += v (a backward's dresidualBias partial), or Absent.
template <class T>
struct ColumnSums {
  T* acc;
  void add(Vec<T> v, size_t i, size_t k) const { storeLanes(loadLanes(acc + i, k) + v, acc + i, k); }
};

// Scalar math: dx = ((g − mg) − x̂·mgx)·rstd (+ add) with g = dy·w, mg = mean(g), mgx = mean(g·x̂);
// mg Absent: RMSNorm; mg and mgx Absent: constant statistics, dx = g·rstd. `add` (an add-norm's
// dSum, PerElement) is added last; `sums` (ColumnSums) adds each dx into its column's sum;
// `gate` (ActivationGate) first turns dy into dy·act'(z). x, dy, dx are stored as S (T, or
// halves computed in float).
template <class T, bool Stream, class Index, class Mean, class Rstd, class W, class MG, class MGX, class Add = Absent,
          class Sums = Absent, class Gate = Absent, class S = T>
inline void writeDxRun(const S* x, const S* dy, S* dx, size_t n, Index index, Xhat<T, Mean, Rstd> xhat, W w, MG mg, MGX mgx,
                       Add add = Absent(), Sums sums = Absent(), Gate gate = Absent()) {
  writeRun<T, Stream>(dx, n, [=](size_t i, size_t k) mutable {
    const size_t j = index(i, k);
    Vec<T> v = loadLanes(dy + i, k);
    if constexpr (kPresent<Gate>) v = gate(v, loadLanes(x + i, k), j, k);
    if constexpr (kPresent<W>) v = v * w.at(j, k);
    if constexpr (kPresent<MG>) v = v - mg.at(j, k);
    if constexpr (kPresent<MGX>) v = v - xhat(loadLanes(x + i, k), j, k) * mgx.at(j, k);
    v = v * xhat.rstd.at(j, k);
    if constexpr (kPresent<Add>) v = v + add.at(i, k);
    if constexpr (kPresent<Sums>) sums.add(v, i, k);
    return v;
  });
}

// The same dx with the per-run constants folded: dx = dy·a − (x − mean)·b − c, where
// a = rstd·w, b = rstd²·mean(g·x̂), c = rstd·mean(g) (mean/b/c Absent: constant statistics,
// dx = dy·a). Fewer operands and operations per element than writeDxRun, for kernels whose
// operands come from per-channel tables; the rounding differs from writeDxRun's, the size of
// the error does not. `gate` (ActivationGate) first turns dy into dy·act'(z), as in writeDxRun.
// x, dy, dx stored as S (T, or halves computed in float).
template <class T, bool Stream, class Index, class Mean, class A, class B, class C, class Gate = Absent, class S = T>
inline void writeDxAffineRun(const S* x, const S* dy, S* dx, size_t n, Index index, Mean mean, A a, B b, C c, Gate gate = Absent()) {
  writeRun<T, Stream>(dx, n, [=](size_t i, size_t k) mutable {
    const size_t j = index(i, k);
    Vec<T> d = loadLanes(dy + i, k);
    if constexpr (kPresent<Gate>) d = gate(d, loadLanes(x + i, k), j, k);
    Vec<T> v = d * a.at(j, k);
    if constexpr (kPresent<B>) v = v - (loadLanes(x + i, k) - mean.at(j, k)) * b.at(j, k);
    if constexpr (kPresent<C>) v = v - c.at(j, k);
    return v;
  });
}

}  // namespace fastnorm::FASTNORM_ISA_NS
