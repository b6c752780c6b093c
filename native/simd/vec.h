// Vec layer: one logical vector is 16 float lanes or 8 double lanes on every ISA
// (1 zmm, 2 ymm, 4 NEON q-registers or 16 scalars). Kernels are written once against it
// and compiled once per ISA, each build inside its own namespace fastnorm::FASTNORM_ISA_NS,
// so the ISA-specific inline code of one build never leaks into another (ODR).
//
// Every path performs the same IEEE operations in the same order (lane-wise ops, a fixed
// horizontal tree, no FMA contraction), which makes results bitwise identical across ISAs.
#pragma once
#include <cstddef>
#include <cstdint>

#ifndef FASTNORM_ISA_NS
#error "kernel sources must be compiled with -DFASTNORM_ISA_NS=<isa> (see binding.gyp)"
#endif

#if defined(FASTNORM_ISA_AVX512)
#include "vec_avx512.h"
#elif defined(FASTNORM_ISA_AVX2)
#include "vec_avx2.h"
#elif defined(FASTNORM_ISA_NEON)
#include "vec_neon.h"
#else
#include "vec_scalar.h"
#endif

namespace fastnorm::FASTNORM_ISA_NS {

// Vec<T>: the SIMD vector of the data type.
template <class T> struct VecOf;
template <> struct VecOf<float> { using type = VF; };
template <> struct VecOf<double> { using type = VD; };
template <class T> using Vec = typename VecOf<T>::type;
template <class T> constexpr size_t kLanes = Vec<T>::kLanes;

// 16 halves stored, and streamHalfs: the same bypassing the cache (p 32-byte aligned), for
// outputs past the streaming threshold. x86 forms the halves in one 256-bit vector (halfBits);
// NEON and the portable path store them lane by lane (their storeHalfs), without streaming.
#ifdef FASTNORM_HALF_BITS_256
template <HalfFormat F>
__attribute__((always_inline)) inline void storeHalfs(VF v, uint16_t* p) {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), halfBits<F>(v));
}
template <HalfFormat F>
__attribute__((always_inline)) inline void streamHalfs(VF v, uint16_t* p) {
  _mm256_stream_si256(reinterpret_cast<__m256i*>(p), halfBits<F>(v));
}
#else
template <HalfFormat F>
__attribute__((always_inline)) inline void streamHalfs(VF v, uint16_t* p) {
  storeHalfs<F>(v, p);
}
#endif

// k ≤ 16 halves at p as floats (lanes beyond k are 0), and their stores: through a small
// buffer, so nothing outside the array is touched, on every ISA alike.
template <HalfFormat F>
__attribute__((always_inline)) inline VF loadHalfsPartial(const uint16_t* p, size_t k) {
  uint16_t t[16] = {0};
  for (size_t i = 0; i < k; ++i) t[i] = p[i];
  return loadHalfs<F>(t);
}
template <HalfFormat F>
__attribute__((always_inline)) inline void storeHalfsPartial(VF v, uint16_t* p, size_t k) {
  uint16_t t[16];
  storeHalfs<F>(v, t);
  for (size_t i = 0; i < k; ++i) p[i] = t[i];
}


#ifndef FASTNORM_HALF_ROUND_TRIP_IN_REGISTERS
// v rounded to format F and widened back (the ISA has no register form: through a buffer).
template <HalfFormat F>
__attribute__((always_inline)) inline VF roundTripHalfs(VF v) {
  uint16_t t[16];
  storeHalfs<F>(v, t);
  return loadHalfs<F>(t);
}
#endif

// Acc<T>: double-precision accumulator with one lane per lane of Vec<T>. For float data it is
// two VD (lanes 0-7 and 8-15), so float sums and squares neither lose precision nor overflow
// (|x| up to ~1e30 squares to 1e60, far beyond float's 3.4e38).
template <class T> struct Acc;

template <> struct Acc<double> {
  VD v;
  static Acc zero() { return {VD::zero()}; }
  static Acc broadcast(double s) { return {VD::broadcast(s)}; }
  static Acc of(VD x) { return {x}; }
  static Acc load(const double* p) { return {VD::load(p)}; }
  static Acc loadPartial(const double* p, size_t n) { return {VD::loadPartial(p, n)}; }
  void store(double* p) const { v.store(p); }
  void storePartial(double* p, size_t n) const { v.storePartial(p, n); }
  Acc keepFirst(size_t n) const { return {v.keepFirst(n)}; }
  friend Acc operator+(Acc a, Acc b) { return {a.v + b.v}; }
  friend Acc operator-(Acc a, Acc b) { return {a.v - b.v}; }
  friend Acc operator*(Acc a, Acc b) { return {a.v * b.v}; }
  // Fixed tree over 8 lanes: (i, i+4), (i, i+2), (i, i+1).
  double sum() const { return v.sumTree(); }
};

template <> struct Acc<float> {
  VD lo, hi;  // lanes 0-7 and 8-15 of the float vector
  static Acc zero() { return {VD::zero(), VD::zero()}; }
  static Acc broadcast(double s) { return {VD::broadcast(s), VD::broadcast(s)}; }
  static Acc of(VF x) { return {widenLo(x), widenHi(x)}; }
  static Acc load(const double* p) { return {VD::load(p), VD::load(p + 8)}; }
  static Acc loadPartial(const double* p, size_t n) {
    return {VD::loadPartial(p, n < 8 ? n : 8), VD::loadPartial(p + 8, n > 8 ? n - 8 : 0)};
  }
  void store(double* p) const { lo.store(p); hi.store(p + 8); }
  void storePartial(double* p, size_t n) const {
    lo.storePartial(p, n < 8 ? n : 8);
    if (n > 8) hi.storePartial(p + 8, n - 8);
  }
  Acc keepFirst(size_t n) const { return {lo.keepFirst(n < 8 ? n : 8), hi.keepFirst(n > 8 ? n - 8 : 0)}; }
  friend Acc operator+(Acc a, Acc b) { return {a.lo + b.lo, a.hi + b.hi}; }
  friend Acc operator-(Acc a, Acc b) { return {a.lo - b.lo, a.hi - b.hi}; }
  friend Acc operator*(Acc a, Acc b) { return {a.lo * b.lo, a.hi * b.hi}; }
  // Fixed tree over 16 lanes: (i, i+8), then the 8-lane tree.
  double sum() const { return (lo + hi).sumTree(); }
};

}  // namespace fastnorm::FASTNORM_ISA_NS
