// AVX-512 Vec: VF = one zmm of 16 floats, VD = one zmm of 8 doubles.
// Tails use masked loads/stores, which never touch memory outside the array.
#pragma once
#include <immintrin.h>
#include <cstddef>

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

}  // namespace fastnorm::FASTNORM_ISA_NS
