// AVX2 Vec: VF = two ymm of 8 floats (lanes 0-7, 8-15), VD = two ymm of 4 doubles.
// Tails use vmaskmov, which never faults on the masked-out lanes.
#pragma once
#include <immintrin.h>
#include <cstddef>
#include <cstdint>

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

}  // namespace fastnorm::FASTNORM_ISA_NS
