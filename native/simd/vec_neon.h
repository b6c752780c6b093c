// NEON Vec (arm64): VF = four float32x4, VD = four float64x2. Tails go through a small
// stack buffer so nothing outside the array is touched.
#pragma once
#include <arm_neon.h>
#include <cstddef>
#include <cstdint>

#include "half_scalar.h"

namespace fastnorm::FASTNORM_ISA_NS {

struct VF {
  static constexpr size_t kLanes = 16;
  float32x4_t q[4];
  static VF zero() { return broadcast(0.0f); }
  static VF broadcast(float s) { float32x4_t b = vdupq_n_f32(s); return {{b, b, b, b}}; }
  static VF load(const float* p) { return {{vld1q_f32(p), vld1q_f32(p + 4), vld1q_f32(p + 8), vld1q_f32(p + 12)}}; }
  static VF loadPartial(const float* p, size_t n) {
    float t[16] = {0};
    for (size_t i = 0; i < n; ++i) t[i] = p[i];
    return load(t);
  }
  void store(float* p) const { for (int i = 0; i < 4; ++i) vst1q_f32(p + 4 * i, q[i]); }
  void stream(float* p) const { store(p); }
  void storePartial(float* p, size_t n) const {
    float t[16];
    store(t);
    for (size_t i = 0; i < n; ++i) p[i] = t[i];
  }
  VF keepFirst(size_t n) const {
    float t[16];
    store(t);
    for (size_t i = n; i < 16; ++i) t[i] = 0.0f;
    return load(t);
  }
  friend VF operator+(VF a, VF b) { VF r; for (int i = 0; i < 4; ++i) r.q[i] = vaddq_f32(a.q[i], b.q[i]); return r; }
  friend VF operator-(VF a, VF b) { VF r; for (int i = 0; i < 4; ++i) r.q[i] = vsubq_f32(a.q[i], b.q[i]); return r; }
  friend VF operator*(VF a, VF b) { VF r; for (int i = 0; i < 4; ++i) r.q[i] = vmulq_f32(a.q[i], b.q[i]); return r; }
  friend VF operator/(VF a, VF b) { VF r; for (int i = 0; i < 4; ++i) r.q[i] = vdivq_f32(a.q[i], b.q[i]); return r; }
  // t = n + 1.5·2^23 for an integer n in [-126, 127]: 2^n, built in the exponent bits.
  friend VF pow2OfShifted(VF t) {
    VF r;
    const int32x4_t one = vdupq_n_s32(127 << 23);
    for (int i = 0; i < 4; ++i) r.q[i] = vreinterpretq_f32_s32(vaddq_s32(vshlq_n_s32(vreinterpretq_s32_f32(t.q[i]), 23), one));
    return r;
  }
  // Per lane a < b ? t : f (false when either is NaN).
  friend VF ifLess(VF a, VF b, VF t, VF f) {
    VF r;
    for (int i = 0; i < 4; ++i) r.q[i] = vbslq_f32(vcltq_f32(a.q[i], b.q[i]), t.q[i], f.q[i]);
    return r;
  }
};

struct VD {
  static constexpr size_t kLanes = 8;
  float64x2_t q[4];
  static VD zero() { return broadcast(0.0); }
  static VD broadcast(double s) { float64x2_t b = vdupq_n_f64(s); return {{b, b, b, b}}; }
  static VD load(const double* p) { return {{vld1q_f64(p), vld1q_f64(p + 2), vld1q_f64(p + 4), vld1q_f64(p + 6)}}; }
  static VD loadPartial(const double* p, size_t n) {
    double t[8] = {0};
    for (size_t i = 0; i < n; ++i) t[i] = p[i];
    return load(t);
  }
  void store(double* p) const { for (int i = 0; i < 4; ++i) vst1q_f64(p + 2 * i, q[i]); }
  void stream(double* p) const { store(p); }
  void storePartial(double* p, size_t n) const {
    double t[8];
    store(t);
    for (size_t i = 0; i < n; ++i) p[i] = t[i];
  }
  VD keepFirst(size_t n) const {
    double t[8];
    store(t);
    for (size_t i = n; i < 8; ++i) t[i] = 0.0;
    return load(t);
  }
  friend VD operator+(VD a, VD b) { VD r; for (int i = 0; i < 4; ++i) r.q[i] = vaddq_f64(a.q[i], b.q[i]); return r; }
  friend VD operator-(VD a, VD b) { VD r; for (int i = 0; i < 4; ++i) r.q[i] = vsubq_f64(a.q[i], b.q[i]); return r; }
  friend VD operator*(VD a, VD b) { VD r; for (int i = 0; i < 4; ++i) r.q[i] = vmulq_f64(a.q[i], b.q[i]); return r; }
  friend VD operator/(VD a, VD b) { VD r; for (int i = 0; i < 4; ++i) r.q[i] = vdivq_f64(a.q[i], b.q[i]); return r; }
  friend VD ifLess(VD a, VD b, VD t, VD f) {
    VD r;
    for (int i = 0; i < 4; ++i) r.q[i] = vbslq_f64(vcltq_f64(a.q[i], b.q[i]), t.q[i], f.q[i]);
    return r;
  }
  // t = n + 1.5·2^52 for an integer n in [-1022, 1023]: 2^n, built in the exponent bits.
  friend VD pow2OfShifted(VD t) {
    VD r;
    const int64x2_t one = vdupq_n_s64(int64_t(1023) << 52);
    for (int i = 0; i < 4; ++i) r.q[i] = vreinterpretq_f64_s64(vaddq_s64(vshlq_n_s64(vreinterpretq_s64_f64(t.q[i]), 52), one));
    return r;
  }
  double sumTree() const {
    float64x2_t lo = vaddq_f64(q[0], q[2]), hi = vaddq_f64(q[1], q[3]);  // (i, i+4)
    float64x2_t u = vaddq_f64(lo, hi);                                      // (i, i+2)
    return vgetq_lane_f64(u, 0) + vgetq_lane_f64(u, 1);                     // (0, 1)
  }
};

inline void streamFence() {}

inline VD widenLo(VF x) {
  return {{vcvt_f64_f32(vget_low_f32(x.q[0])), vcvt_high_f64_f32(x.q[0]),
           vcvt_f64_f32(vget_low_f32(x.q[1])), vcvt_high_f64_f32(x.q[1])}};
}
inline VD widenHi(VF x) {
  return {{vcvt_f64_f32(vget_low_f32(x.q[2])), vcvt_high_f64_f32(x.q[2]),
           vcvt_f64_f32(vget_low_f32(x.q[3])), vcvt_high_f64_f32(x.q[3])}};
}

// ---- 16-bit storage: the exact scalar code of half_scalar.h, lane by lane ----
// Out of line: 16 inlined conversions at every load and store site multiplied the half kernels'
// code and compile time; the call costs little beside 16 scalar conversions.
template <HalfFormat F>
__attribute__((noinline)) inline VF loadHalfs(const uint16_t* p) {
  float t[16];
  for (int i = 0; i < 16; ++i) t[i] = widenHalf<F>(p[i]);
  return VF::load(t);
}

template <HalfFormat F>
__attribute__((noinline)) inline void storeHalfs(VF v, uint16_t* p) {
  float t[16];
  v.store(t);
  for (int i = 0; i < 16; ++i) p[i] = narrowToHalf<F>(t[i]);
}

// The 16 floats nearest lo's and hi's 8 doubles (round to nearest even).
inline VF narrow(VD lo, VD hi) {
  return {{vcvt_high_f32_f64(vcvt_f32_f64(lo.q[0]), lo.q[1]), vcvt_high_f32_f64(vcvt_f32_f64(lo.q[2]), lo.q[3]),
           vcvt_high_f32_f64(vcvt_f32_f64(hi.q[0]), hi.q[1]), vcvt_high_f32_f64(vcvt_f32_f64(hi.q[2]), hi.q[3])}};
}

}  // namespace fastnorm::FASTNORM_ISA_NS
