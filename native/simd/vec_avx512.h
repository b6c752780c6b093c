// AVX-512 Vec: VF = one zmm of 16 floats, VD = one zmm of 8 doubles.
// Tails use masked loads/stores, which never touch memory outside the array.
#pragma once
#include <immintrin.h>
#include <cstddef>
#include <cstdint>

#include "half_scalar.h"

namespace fastnorm::FASTNORM_ISA_NS {

inline __mmask16 firstLanes16(size_t n) { return __mmask16((1u << n) - 1u); }
inline __mmask8 firstLanes8(size_t n) { return __mmask8((1u << n) - 1u); }

struct VF {
  static constexpr size_t kLanes = 16;
  __m512 v;
  static VF zero() { return {_mm512_setzero_ps()}; }
  static VF broadcast(float s) { return {_mm512_set1_ps(s)}; }
  static VF load(const float* p) { return {_mm512_loadu_ps(p)}; }
  static VF loadPartial(const float* p, size_t n) { return {_mm512_maskz_loadu_ps(firstLanes16(n), p)}; }
  void store(float* p) const { _mm512_storeu_ps(p, v); }
  void stream(float* p) const { _mm512_stream_ps(p, v); }  // p 64-byte aligned; bypasses the cache
  void storePartial(float* p, size_t n) const { _mm512_mask_storeu_ps(p, firstLanes16(n), v); }
  VF keepFirst(size_t n) const { return {_mm512_maskz_mov_ps(firstLanes16(n), v)}; }
  friend VF operator+(VF a, VF b) { return {_mm512_add_ps(a.v, b.v)}; }
  friend VF operator-(VF a, VF b) { return {_mm512_sub_ps(a.v, b.v)}; }
  friend VF operator*(VF a, VF b) { return {_mm512_mul_ps(a.v, b.v)}; }
  friend VF operator/(VF a, VF b) { return {_mm512_div_ps(a.v, b.v)}; }
  // t = n + 1.5·2^23 for an integer n in [-126, 127]: 2^n, built in the exponent bits.
  friend VF pow2OfShifted(VF t) {
    return {_mm512_castsi512_ps(_mm512_add_epi32(_mm512_slli_epi32(_mm512_castps_si512(t.v), 23), _mm512_set1_epi32(127 << 23)))};
  }
  // Per lane a < b ? t : f (false when either is NaN).
  friend VF ifLess(VF a, VF b, VF t, VF f) { return {_mm512_mask_blend_ps(_mm512_cmp_ps_mask(a.v, b.v, _CMP_LT_OQ), f.v, t.v)}; }
};

struct VD {
  static constexpr size_t kLanes = 8;
  __m512d v;
  static VD zero() { return {_mm512_setzero_pd()}; }
  static VD broadcast(double s) { return {_mm512_set1_pd(s)}; }
  static VD load(const double* p) { return {_mm512_loadu_pd(p)}; }
  static VD loadPartial(const double* p, size_t n) { return {_mm512_maskz_loadu_pd(firstLanes8(n), p)}; }
  void store(double* p) const { _mm512_storeu_pd(p, v); }
  void stream(double* p) const { _mm512_stream_pd(p, v); }
  void storePartial(double* p, size_t n) const { _mm512_mask_storeu_pd(p, firstLanes8(n), v); }
  VD keepFirst(size_t n) const { return {_mm512_maskz_mov_pd(firstLanes8(n), v)}; }
  friend VD operator+(VD a, VD b) { return {_mm512_add_pd(a.v, b.v)}; }
  friend VD operator-(VD a, VD b) { return {_mm512_sub_pd(a.v, b.v)}; }
  friend VD operator*(VD a, VD b) { return {_mm512_mul_pd(a.v, b.v)}; }
  friend VD operator/(VD a, VD b) { return {_mm512_div_pd(a.v, b.v)}; }
  friend VD ifLess(VD a, VD b, VD t, VD f) { return {_mm512_mask_blend_pd(_mm512_cmp_pd_mask(a.v, b.v, _CMP_LT_OQ), f.v, t.v)}; }
  // t = n + 1.5·2^52 for an integer n in [-1022, 1023]: 2^n, built in the exponent bits.
  friend VD pow2OfShifted(VD t) {
    return {_mm512_castsi512_pd(_mm512_add_epi64(_mm512_slli_epi64(_mm512_castpd_si512(t.v), 52), _mm512_set1_epi64(int64_t(1023) << 52)))};
  }
  double sumTree() const {
    __m256d t = _mm256_add_pd(_mm512_castpd512_pd256(v), _mm512_extractf64x4_pd(v, 1));  // (i, i+4)
    __m128d u = _mm_add_pd(_mm256_castpd256_pd128(t), _mm256_extractf128_pd(t, 1));      // (i, i+2)
    return _mm_cvtsd_f64(_mm_add_sd(u, _mm_unpackhi_pd(u, u)));                          // (0, 1)
  }
};

// Orders this thread's streaming stores before whatever it does next (e.g. signalling done).
inline void streamFence() { _mm_sfence(); }

inline VD widenLo(VF x) { return {_mm512_cvtps_pd(_mm512_castps512_ps256(x.v))}; }
inline VD widenHi(VF x) {
  return {_mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x.v), 1)))};
}

// ---- 16-bit storage (half_scalar.h defines the bits; these give the same ones) ----
// float16: vcvtph2ps is exact (subnormals included; DAZ does not apply to it) and quiets a
// signalling NaN; vcvtps2ph with an immediate round-to-nearest-even ignores MXCSR's rounding
// mode, keeps subnormal results (FTZ does not apply) and keeps a NaN's sign and top payload
// bits, quiet. bfloat16 is integer arithmetic: vcvtneps2bf16 (AVX512-BF16) would flush
// subnormal inputs to zero, which round-to-nearest-even of the bits does not.
template <HalfFormat F>
__attribute__((always_inline)) inline VF loadHalfs(const uint16_t* p) {
  const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  if constexpr (F == HalfFormat::Float16) {
    return {_mm512_cvtph_ps(h)};
  } else {
    const __m512i u = _mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16);
    const __mmask16 nan = _mm512_cmpgt_epi32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)), _mm512_set1_epi32(0x7f800000));
    return {_mm512_castsi512_ps(_mm512_mask_or_epi32(u, nan, u, _mm512_set1_epi32(0x00400000)))};
  }
}

// 16 bfloat16 bit patterns of v in 32-bit lanes: round-to-nearest-even of the bits, a NaN
// truncated and quieted (sign and top payload bits kept).
inline __m512i bf16Bits(__m512 v) {
  const __m512i u = _mm512_castps_si512(v);
  const __m512i top = _mm512_srli_epi32(u, 16);
  const __m512i odd = _mm512_and_si512(top, _mm512_set1_epi32(1));
  const __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(odd, _mm512_set1_epi32(0x7fff))), 16);
  const __mmask16 nan = _mm512_cmpgt_epi32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)), _mm512_set1_epi32(0x7f800000));
  return _mm512_mask_or_epi32(rounded, nan, top, _mm512_set1_epi32(0x0040));
}

// The 16 halves of v, rounded to nearest-even, as one 256-bit vector (vec.h stores it).
#define FASTNORM_HALF_BITS_256 1
template <HalfFormat F>
__attribute__((always_inline)) inline __m256i halfBits(VF v) {
  if constexpr (F == HalfFormat::Float16) return _mm512_cvtps_ph(v.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  else return _mm512_cvtepi32_epi16(bf16Bits(v.v));
}


// v rounded to format F and widened back, in registers: the bits storeHalfs then loadHalfs give
// (a stored bfloat16 NaN is quiet already, so the load's quieting changes nothing).
#define FASTNORM_HALF_ROUND_TRIP_IN_REGISTERS 1
template <HalfFormat F>
__attribute__((always_inline)) inline VF roundTripHalfs(VF v) {
  if constexpr (F == HalfFormat::Float16) {
    return {_mm512_cvtph_ps(_mm512_cvtps_ph(v.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC))};
  } else {
    return {_mm512_castsi512_ps(_mm512_slli_epi32(bf16Bits(v.v), 16))};
  }
}

// The 16 floats nearest lo's and hi's 8 doubles (round to nearest even).
inline VF narrow(VD lo, VD hi) {
  const __m512 l = _mm512_castps256_ps512(_mm512_cvtpd_ps(lo.v));
  return {_mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(l), _mm256_castps_pd(_mm512_cvtpd_ps(hi.v)), 1))};
}

}  // namespace fastnorm::FASTNORM_ISA_NS
