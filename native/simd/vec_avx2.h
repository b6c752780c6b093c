// AVX2 Vec: VF = two ymm of 8 floats (lanes 0-7, 8-15), VD = two ymm of 4 doubles.
// Tails use vmaskmov, which never faults on the masked-out lanes.
#pragma once
#include <immintrin.h>
#include <cstddef>
#include <cstdint>

#include "half_scalar.h"

namespace fastnorm::FASTNORM_ISA_NS {

// Lane masks for 0..8 leading lanes of a ymm of 32-bit ints (sliding window).
alignas(32) inline constexpr int32_t kMaskWindow32[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
inline __m256i firstLanes32(size_t n) {  // n in 0..8
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kMaskWindow32 + 8 - n));
}
inline __m256i firstLanes64(size_t n) {  // n in 0..4
  return _mm256_cvtepi32_epi64(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kMaskWindow32 + 8 - n)));
}
inline size_t clampLanes(size_t n, size_t skip, size_t width) {
  return n <= skip ? 0 : (n - skip < width ? n - skip : width);
}

struct VF {
  static constexpr size_t kLanes = 16;
  __m256 a, b;
  static VF zero() { return {_mm256_setzero_ps(), _mm256_setzero_ps()}; }
  static VF broadcast(float s) { return {_mm256_set1_ps(s), _mm256_set1_ps(s)}; }
  static VF load(const float* p) { return {_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)}; }
  static VF loadPartial(const float* p, size_t n) {
    return {_mm256_maskload_ps(p, firstLanes32(clampLanes(n, 0, 8))),
            _mm256_maskload_ps(p + 8, firstLanes32(clampLanes(n, 8, 8)))};
  }
  void store(float* p) const { _mm256_storeu_ps(p, a); _mm256_storeu_ps(p + 8, b); }
  void stream(float* p) const { _mm256_stream_ps(p, a); _mm256_stream_ps(p + 8, b); }  // p 64-byte aligned
  void storePartial(float* p, size_t n) const {
    _mm256_maskstore_ps(p, firstLanes32(clampLanes(n, 0, 8)), a);
    _mm256_maskstore_ps(p + 8, firstLanes32(clampLanes(n, 8, 8)), b);
  }
  VF keepFirst(size_t n) const {
    return {_mm256_and_ps(a, _mm256_castsi256_ps(firstLanes32(clampLanes(n, 0, 8)))),
            _mm256_and_ps(b, _mm256_castsi256_ps(firstLanes32(clampLanes(n, 8, 8))))};
  }
  friend VF operator+(VF x, VF y) { return {_mm256_add_ps(x.a, y.a), _mm256_add_ps(x.b, y.b)}; }
  friend VF operator-(VF x, VF y) { return {_mm256_sub_ps(x.a, y.a), _mm256_sub_ps(x.b, y.b)}; }
  friend VF operator*(VF x, VF y) { return {_mm256_mul_ps(x.a, y.a), _mm256_mul_ps(x.b, y.b)}; }
  friend VF operator/(VF x, VF y) { return {_mm256_div_ps(x.a, y.a), _mm256_div_ps(x.b, y.b)}; }
  // t = n + 1.5·2^23 for an integer n in [-126, 127]: 2^n, built in the exponent bits.
  friend VF pow2OfShifted(VF t) {
    const __m256i one = _mm256_set1_epi32(127 << 23);
    return {_mm256_castsi256_ps(_mm256_add_epi32(_mm256_slli_epi32(_mm256_castps_si256(t.a), 23), one)),
            _mm256_castsi256_ps(_mm256_add_epi32(_mm256_slli_epi32(_mm256_castps_si256(t.b), 23), one))};
  }
  // Per lane p < q ? t : f (false when either is NaN).
  friend VF ifLess(VF p, VF q, VF t, VF f) {
    return {_mm256_blendv_ps(f.a, t.a, _mm256_cmp_ps(p.a, q.a, _CMP_LT_OQ)), _mm256_blendv_ps(f.b, t.b, _mm256_cmp_ps(p.b, q.b, _CMP_LT_OQ))};
  }
};

struct VD {
  static constexpr size_t kLanes = 8;
  __m256d a, b;  // lanes 0-3, 4-7
  static VD zero() { return {_mm256_setzero_pd(), _mm256_setzero_pd()}; }
  static VD broadcast(double s) { return {_mm256_set1_pd(s), _mm256_set1_pd(s)}; }
  static VD load(const double* p) { return {_mm256_loadu_pd(p), _mm256_loadu_pd(p + 4)}; }
  static VD loadPartial(const double* p, size_t n) {
    return {_mm256_maskload_pd(p, firstLanes64(clampLanes(n, 0, 4))),
            _mm256_maskload_pd(p + 4, firstLanes64(clampLanes(n, 4, 4)))};
  }
  void store(double* p) const { _mm256_storeu_pd(p, a); _mm256_storeu_pd(p + 4, b); }
  void stream(double* p) const { _mm256_stream_pd(p, a); _mm256_stream_pd(p + 4, b); }
  void storePartial(double* p, size_t n) const {
    _mm256_maskstore_pd(p, firstLanes64(clampLanes(n, 0, 4)), a);
    _mm256_maskstore_pd(p + 4, firstLanes64(clampLanes(n, 4, 4)), b);
  }
  VD keepFirst(size_t n) const {
    return {_mm256_and_pd(a, _mm256_castsi256_pd(firstLanes64(clampLanes(n, 0, 4)))),
            _mm256_and_pd(b, _mm256_castsi256_pd(firstLanes64(clampLanes(n, 4, 4))))};
  }
  friend VD operator+(VD x, VD y) { return {_mm256_add_pd(x.a, y.a), _mm256_add_pd(x.b, y.b)}; }
  friend VD operator-(VD x, VD y) { return {_mm256_sub_pd(x.a, y.a), _mm256_sub_pd(x.b, y.b)}; }
  friend VD operator*(VD x, VD y) { return {_mm256_mul_pd(x.a, y.a), _mm256_mul_pd(x.b, y.b)}; }
  friend VD operator/(VD x, VD y) { return {_mm256_div_pd(x.a, y.a), _mm256_div_pd(x.b, y.b)}; }
  friend VD ifLess(VD p, VD q, VD t, VD f) {
    return {_mm256_blendv_pd(f.a, t.a, _mm256_cmp_pd(p.a, q.a, _CMP_LT_OQ)), _mm256_blendv_pd(f.b, t.b, _mm256_cmp_pd(p.b, q.b, _CMP_LT_OQ))};
  }
  // t = n + 1.5·2^52 for an integer n in [-1022, 1023]: 2^n, built in the exponent bits.
  friend VD pow2OfShifted(VD t) {
    const __m256i one = _mm256_set1_epi64x(int64_t(1023) << 52);
    return {_mm256_castsi256_pd(_mm256_add_epi64(_mm256_slli_epi64(_mm256_castpd_si256(t.a), 52), one)),
            _mm256_castsi256_pd(_mm256_add_epi64(_mm256_slli_epi64(_mm256_castpd_si256(t.b), 52), one))};
  }
  double sumTree() const {
    __m256d t = _mm256_add_pd(a, b);                                                   // (i, i+4)
    __m128d u = _mm_add_pd(_mm256_castpd256_pd128(t), _mm256_extractf128_pd(t, 1));  // (i, i+2)
    return _mm_cvtsd_f64(_mm_add_sd(u, _mm_unpackhi_pd(u, u)));                      // (0, 1)
  }
};

inline void streamFence() { _mm_sfence(); }

inline VD widenLo(VF x) {
  return {_mm256_cvtps_pd(_mm256_castps256_ps128(x.a)), _mm256_cvtps_pd(_mm256_extractf128_ps(x.a, 1))};
}
inline VD widenHi(VF x) {
  return {_mm256_cvtps_pd(_mm256_castps256_ps128(x.b)), _mm256_cvtps_pd(_mm256_extractf128_ps(x.b, 1))};
}

// ---- 16-bit storage (half_scalar.h defines the bits; these give the same ones) ----
// float16 through F16C (the AVX2 path requires it, runtime/dispatch.cc): vcvtph2ps is exact
// and quiets a signalling NaN; vcvtps2ph with an immediate round-to-nearest-even ignores
// MXCSR, keeps subnormal results and a NaN's sign and top payload bits. bfloat16: integer
// round-to-nearest-even of the bits.
inline __m256i bf16Quiet(__m256i u) {
  const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff)), _mm256_set1_epi32(0x7f800000));
  return _mm256_or_si256(u, _mm256_and_si256(nan, _mm256_set1_epi32(0x00400000)));
}
inline __m256i bf16Round(__m256 v) {  // 8 bfloat16 bit patterns in 32-bit lanes
  const __m256i u = _mm256_castps_si256(v);
  const __m256i top = _mm256_srli_epi32(u, 16);
  const __m256i odd = _mm256_and_si256(top, _mm256_set1_epi32(1));
  const __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(odd, _mm256_set1_epi32(0x7fff))), 16);
  const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff)), _mm256_set1_epi32(0x7f800000));
  return _mm256_blendv_epi8(rounded, _mm256_or_si256(top, _mm256_set1_epi32(0x0040)), nan);
}

template <HalfFormat F>
__attribute__((always_inline)) inline VF loadHalfs(const uint16_t* p) {
  const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128i hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 8));
  if constexpr (F == HalfFormat::Float16) {
    return {_mm256_cvtph_ps(lo), _mm256_cvtph_ps(hi)};
  } else {
    return {_mm256_castsi256_ps(bf16Quiet(_mm256_slli_epi32(_mm256_cvtepu16_epi32(lo), 16))),
            _mm256_castsi256_ps(bf16Quiet(_mm256_slli_epi32(_mm256_cvtepu16_epi32(hi), 16)))};
  }
}

// The 16 halves of v, rounded to nearest-even, as one 256-bit vector (vec.h stores it).
#define FASTNORM_HALF_BITS_256 1
template <HalfFormat F>
__attribute__((always_inline)) inline __m256i halfBits(VF v) {
  if constexpr (F == HalfFormat::Float16) {
    constexpr int rne = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
    return _mm256_set_m128i(_mm256_cvtps_ph(v.b, rne), _mm256_cvtps_ph(v.a, rne));
  } else {
    // packus interleaves 128-bit halves: lanes 0-3 of a, 0-3 of b, 4-7 of a, 4-7 of b
    const __m256i packed = _mm256_packus_epi32(bf16Round(v.a), bf16Round(v.b));
    return _mm256_permute4x64_epi64(packed, 0xd8);
  }
}


// v rounded to format F and widened back, in registers: the bits storeHalfs then loadHalfs give
// (a stored bfloat16 NaN is quiet already, so the load's quieting changes nothing).
#define FASTNORM_HALF_ROUND_TRIP_IN_REGISTERS 1
template <HalfFormat F>
__attribute__((always_inline)) inline VF roundTripHalfs(VF v) {
  if constexpr (F == HalfFormat::Float16) {
    constexpr int rne = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
    return {_mm256_cvtph_ps(_mm256_cvtps_ph(v.a, rne)), _mm256_cvtph_ps(_mm256_cvtps_ph(v.b, rne))};
  } else {
    return {_mm256_castsi256_ps(_mm256_slli_epi32(bf16Round(v.a), 16)), _mm256_castsi256_ps(_mm256_slli_epi32(bf16Round(v.b), 16))};
  }
}

// The 16 floats nearest lo's and hi's 8 doubles (round to nearest even).
inline VF narrow(VD lo, VD hi) {
  return {_mm256_set_m128(_mm256_cvtpd_ps(lo.b), _mm256_cvtpd_ps(lo.a)), _mm256_set_m128(_mm256_cvtpd_ps(hi.b), _mm256_cvtpd_ps(hi.a))};
}

}  // namespace fastnorm::FASTNORM_ISA_NS
