// Whole-or-partial vector access for runs of n values, and the output loop every elementwise
// pass uses (with optional streaming stores for outputs much larger than the caches).
#pragma once
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "../simd/vec.h"

namespace fastnorm::FASTNORM_ISA_NS {

// A lane count known to be full at compile time (the `k` of loadLanes: whole-vector loads).
template <class T>
using AllLanes = std::integral_constant<size_t, kLanes<T>>;


// k ≤ L values at p (lanes beyond k are 0).
template <class T>
inline Vec<T> loadLanes(const T* p, size_t k) {
  return k == kLanes<T> ? Vec<T>::load(p) : Vec<T>::loadPartial(p, k);
}

// 16-bit storage (half_format.h): a kernel whose data type S is Half<F> computes in float, so a
// load widens k ≤ 16 halves exactly into float lanes and a store rounds float lanes once to
// nearest-even (the bits of half_scalar.h on every ISA). Everything between is the float path.
using fastnorm::Half;
template <class S> constexpr bool kIsHalf = false;
template <HalfFormat F> constexpr bool kIsHalf<Half<F>> = true;

// Always inlined: an out-of-line call would take AVX2's two-register VF through memory, and GCC
// 12 was seen reading that argument with an aligned load from a frame it had not aligned (a
// crash in the NHWC GroupNorm output pass); inlined, the vectors stay in registers.
template <HalfFormat F>
__attribute__((always_inline)) inline VF loadLanes(const Half<F>* p, size_t k) {
  const auto* bits = reinterpret_cast<const uint16_t*>(p);
  return k == kLanes<float> ? loadHalfs<F>(bits) : loadHalfsPartial<F>(bits, k);
}

template <HalfFormat F>
__attribute__((always_inline)) inline void storeLanes(VF v, Half<F>* p, size_t k) {
  auto* bits = reinterpret_cast<uint16_t*>(p);
  if (k == kLanes<float>) storeHalfs<F>(v, bits);
  else storeHalfsPartial<F>(v, bits, k);
}

// v as storage S holds it: rounded once to the half format and widened back (exactly what a
// store then a load gives: roundTripHalfs), or v itself when S is the computed type.
template <class S>
struct HalfFormatOf;
template <HalfFormat F>
struct HalfFormatOf<Half<F>> {
  static constexpr HalfFormat value = F;
};
template <class S, class V>
__attribute__((always_inline)) inline V asStored(V v) {
  if constexpr (kIsHalf<S>) return roundTripHalfs<HalfFormatOf<S>::value>(v);
  else return v;
}

// A storage type's scalars: a double rounded once into it, and a stored value exactly as a double.
template <class S>
struct Scalar {
  static S round(double v) { return S(v); }
  static double value(S v) { return double(v); }
};
template <HalfFormat F>
struct Scalar<Half<F>> {
  static Half<F> round(double v) { return {narrowToHalf<F>(v)}; }
  static double value(Half<F> v) { return double(widenHalf<F>(v.bits)); }
};

// A per-channel or per-column array a kernel writes or updates in place (a parameter gradient,
// a running statistic), stored as T or, in a half call, as the data's format H: the weight's
// dtype, a run-time choice. Such arrays are touched O(C) times per call, so a branch per access
// costs nothing, and it spares compiling every pass twice (kernel_table.h's InnerCall).
template <class T, class H = T>
class ParamArray {
 public:
  ParamArray(std::nullptr_t = nullptr) {}
  ParamArray(T* p) : p_(p) {}
  template <class Q, std::enable_if_t<std::is_same_v<Q, H> && !std::is_same_v<Q, T>, int> = 0>
  ParamArray(Q* p) : p_(p), half_(true) {}
  explicit operator bool() const { return p_ != nullptr; }
  // Element i exactly, as a double.
  double get(size_t i) const {
    return half_ ? Scalar<H>::value(static_cast<const H*>(p_)[i]) : Scalar<T>::value(static_cast<const T*>(p_)[i]);
  }
  // Element i = v, rounded once into the storage.
  void set(size_t i, double v) const {
    if (half_) static_cast<H*>(p_)[i] = Scalar<H>::round(v);
    else static_cast<T*>(p_)[i] = Scalar<T>::round(v);
  }

 private:
  void* p_ = nullptr;
  bool half_ = false;
};

// A run of values read from memory, as a source of vectors: values(i, k) is the vector at
// value i with k valid lanes (the others 0). Reductions and passes that take a source also read
// values that are computed as they are read (an add-norm's x + residual).
// (T: the stored type; Values<Half<F>> gives float vectors.)
template <class T>
struct Values {
  const T* p;
  auto operator()(size_t i, size_t k) const { return loadLanes(p + i, k); }
};

template <class T>
inline void storeLanes(Vec<T> v, T* p, size_t k) {
  if (k == kLanes<T>) v.store(p);
  else v.storePartial(p, k);
}

// out[i, i + k) = value(i, k) over n values, one vector at a time, in increasing i (value may
// keep state, e.g. a position in a cyclic coefficient table, advanced by k each call). With
// Stream the run is split so full vectors start on 64-byte boundaries and bypass the cache;
// the split changes how values are stored, never which values (callers then end their task
// with streamFence()).
// T is the type computed in; out may be stored as T or, for float, as halves (S = Half<F>:
// plain stores, rounded once per value; Stream is ignored there).
// Scalar math: out[i] = value(i) (each caller's value function says what it computes).
template <class T, bool Stream, class Value, class S>
inline void writeRun(S* out, size_t n, Value value) {
  constexpr size_t L = kLanes<T>;
  size_t i = 0;
  if constexpr (kIsHalf<S>) {
    static_assert(std::is_same_v<T, float>, "halves are computed in float");
    for (; i + L <= n; i += L) storeLanes(value(i, L), out + i, L);
    if (i < n) storeLanes(value(i, n - i), out + i, n - i);
  } else {
    if constexpr (Stream) {
      size_t head = ((64 - (reinterpret_cast<uintptr_t>(out) & 63)) & 63) / sizeof(T);
      if (head > n) head = n;
      if (head > 0) value(0, head).storePartial(out, head);
      for (i = head; i + L <= n; i += L) value(i, L).stream(out + i);
    } else {
      for (; i + L <= n; i += L) value(i, L).store(out + i);
    }
    if (i < n) value(i, n - i).storePartial(out + i, n - i);
  }
}

}  // namespace fastnorm::FASTNORM_ISA_NS
