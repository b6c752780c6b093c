// Portable Vec: plain arrays of 16 floats / 8 doubles. The compiler may vectorize the lane
// loops with the baseline ISA; lane-wise IEEE operations give the same results either way.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "half_scalar.h"

namespace fastnorm::FASTNORM_ISA_NS {

template <class T, int N, class Self>
struct ScalarLanes {
  static constexpr size_t kLanes = N;
  T v[N];
  static Self zero() { return broadcast(T(0)); }
  static Self broadcast(T s) { Self r; for (int i = 0; i < N; ++i) r.v[i] = s; return r; }
  static Self load(const T* p) { Self r; for (int i = 0; i < N; ++i) r.v[i] = p[i]; return r; }
  static Self loadPartial(const T* p, size_t n) {
    Self r;
    for (size_t i = 0; i < size_t(N); ++i) r.v[i] = i < n ? p[i] : T(0);
    return r;
  }
  void store(T* p) const { for (int i = 0; i < N; ++i) p[i] = v[i]; }
  void stream(T* p) const { store(p); }  // no portable streaming store
  void storePartial(T* p, size_t n) const { for (size_t i = 0; i < n; ++i) p[i] = v[i]; }
  Self keepFirst(size_t n) const {
    Self r;
    for (size_t i = 0; i < size_t(N); ++i) r.v[i] = i < n ? v[i] : T(0);
    return r;
  }
  friend Self operator+(Self a, Self b) { Self r; for (int i = 0; i < N; ++i) r.v[i] = a.v[i] + b.v[i]; return r; }
  friend Self operator-(Self a, Self b) { Self r; for (int i = 0; i < N; ++i) r.v[i] = a.v[i] - b.v[i]; return r; }
  friend Self operator*(Self a, Self b) { Self r; for (int i = 0; i < N; ++i) r.v[i] = a.v[i] * b.v[i]; return r; }
  friend Self operator/(Self a, Self b) { Self r; for (int i = 0; i < N; ++i) r.v[i] = a.v[i] / b.v[i]; return r; }
  // Per lane a < b ? t : f (false when either is NaN).
  friend Self ifLess(Self a, Self b, Self t, Self f) { Self r; for (int i = 0; i < N; ++i) r.v[i] = a.v[i] < b.v[i] ? t.v[i] : f.v[i]; return r; }
};

struct VF : ScalarLanes<float, 16, VF> {
  // t = n + 1.5·2^23 for an integer n in [-126, 127]: 2^n, built in the exponent bits.
  friend VF pow2OfShifted(VF t) {
    VF r;
    for (int i = 0; i < 16; ++i) {
      uint32_t bits;
      std::memcpy(&bits, &t.v[i], 4);
      bits = (bits << 23) + (uint32_t(127) << 23);
      std::memcpy(&r.v[i], &bits, 4);
    }
    return r;
  }
};

struct VD : ScalarLanes<double, 8, VD> {
  // t = n + 1.5·2^52 for an integer n in [-1022, 1023]: 2^n, built in the exponent bits.
  friend VD pow2OfShifted(VD t) {
    VD r;
    for (int i = 0; i < 8; ++i) {
      uint64_t bits;
      std::memcpy(&bits, &t.v[i], 8);
      bits = (bits << 52) + (uint64_t(1023) << 52);
      std::memcpy(&r.v[i], &bits, 8);
    }
    return r;
  }
  double sumTree() const {
    double t[4], u[2];
    for (int i = 0; i < 4; ++i) t[i] = v[i] + v[i + 4];
    for (int i = 0; i < 2; ++i) u[i] = t[i] + t[i + 2];
    return u[0] + u[1];
  }
};

inline void streamFence() {}

inline VD widenLo(VF x) { VD r; for (int i = 0; i < 8; ++i) r.v[i] = double(x.v[i]); return r; }
inline VD widenHi(VF x) { VD r; for (int i = 0; i < 8; ++i) r.v[i] = double(x.v[i + 8]); return r; }

// ---- 16-bit storage: the exact scalar code of half_scalar.h, lane by lane ----
// Out of line: 16 inlined conversions at every load and store site multiplied the half kernels'
// code and compile time; the call costs little beside 16 scalar conversions.
template <HalfFormat F>
__attribute__((noinline)) inline VF loadHalfs(const uint16_t* p) {
  VF r;
  for (int i = 0; i < 16; ++i) r.v[i] = widenHalf<F>(p[i]);
  return r;
}

template <HalfFormat F>
__attribute__((noinline)) inline void storeHalfs(VF v, uint16_t* p) {
  for (int i = 0; i < 16; ++i) p[i] = narrowToHalf<F>(v.v[i]);
}

// The 16 floats nearest lo's and hi's 8 doubles (round to nearest even).
inline VF narrow(VD lo, VD hi) {
  VF r;
  for (int i = 0; i < 8; ++i) r.v[i] = float(lo.v[i]), r.v[i + 8] = float(hi.v[i]);
  return r;
}

}  // namespace fastnorm::FASTNORM_ISA_NS
