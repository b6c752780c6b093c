// Exact scalar conversions between float/double and the 16-bit storage formats float16
// (IEEE binary16: 1 sign, 5 exponent, 10 fraction bits) and bfloat16 (1, 8, 7: the top half of
// a float32), in integer arithmetic so they never depend on MXCSR/FPCR (rounding mode, DAZ/FTZ).
//
// Narrowing rounds once to nearest, ties to even, keeps subnormals (no flush), overflows to
// ±Inf; a NaN stays a quiet NaN with its sign and the top bits of its payload (the quiet bit
// set), which is what F16C's vcvtps2ph does. Widening is exact; a signalling NaN comes back
// quiet. Every vector path (vec_*.h) must give these bits: the addon's tests compare each path
// with this code over all 2^16 half patterns, and a standalone check over all 2^32 floats.
//
// Included inside each ISA's namespace (a header of the Vec layer), so no ISA's build of these
// inline functions can stand in for another's.
#pragma once
#include <cstdint>
#include <cstring>

#include "half_format.h"

namespace fastnorm::FASTNORM_ISA_NS {

using fastnorm::HalfFormat;

// A storage format's bit layout.
template <HalfFormat F>
struct HalfLayout;
template <>
struct HalfLayout<HalfFormat::Float16> {
  static constexpr int kExponentBits = 5, kFractionBits = 10;
};
template <>
struct HalfLayout<HalfFormat::BFloat16> {
  static constexpr int kExponentBits = 8, kFractionBits = 7;
};

// A binary floating-point source: its bits as an unsigned integer and its layout.
template <class T>
struct WideLayout;
template <>
struct WideLayout<float> {
  using Bits = uint32_t;
  static constexpr int kExponentBits = 8, kFractionBits = 23;
};
template <>
struct WideLayout<double> {
  using Bits = uint64_t;
  static constexpr int kExponentBits = 11, kFractionBits = 52;
};

template <class T>
inline typename WideLayout<T>::Bits bitsOf(T v) {
  typename WideLayout<T>::Bits u;
  std::memcpy(&u, &v, sizeof u);
  return u;
}
template <class T>
inline T fromBits(typename WideLayout<T>::Bits u) {
  T v;
  std::memcpy(&v, &u, sizeof v);
  return v;
}

// v rounded to the nearest half of format F (ties to even), as its bits.
template <HalfFormat F, class T>
inline uint16_t narrowToHalf(T v) {
  using W = WideLayout<T>;
  using H = HalfLayout<F>;
  using U = typename W::Bits;
  constexpr int kWideBits = W::kExponentBits + W::kFractionBits;
  constexpr U kWideInf = ((U(1) << W::kExponentBits) - 1) << W::kFractionBits;
  constexpr U kWideFraction = (U(1) << W::kFractionBits) - 1;
  constexpr int kWideBias = (1 << (W::kExponentBits - 1)) - 1, kHalfBias = (1 << (H::kExponentBits - 1)) - 1;
  constexpr int kDrop = W::kFractionBits - H::kFractionBits;  // fraction bits rounded away
  constexpr uint16_t kHalfInf = uint16_t(((1u << H::kExponentBits) - 1) << H::kFractionBits);
  constexpr uint16_t kHalfQuiet = uint16_t(1u << (H::kFractionBits - 1));
  const U u = bitsOf(v);
  const uint16_t sign = uint16_t((u >> kWideBits) << 15);
  const U a = u & ((U(1) << kWideBits) - 1);
  if (a > kWideInf) return uint16_t(sign | kHalfInf | kHalfQuiet | uint16_t((a & kWideFraction) >> kDrop));
  const int wideExponent = int(a >> W::kFractionBits);
  const int exponent = wideExponent - kWideBias + kHalfBias;  // the half's biased exponent
  if (exponent >= (1 << H::kExponentBits) - 1) return uint16_t(sign | kHalfInf);  // Inf, or beyond
  if (exponent >= 1) {  // a normal half, or rounding up into the next binade (even to Inf)
    const U rebased = a - (U(wideExponent - exponent) << W::kFractionBits);
    const U rounded = (rebased + ((U(1) << (kDrop - 1)) - 1) + ((rebased >> kDrop) & 1)) >> kDrop;
    return uint16_t(sign | uint16_t(rounded));
  }
  // A subnormal half (or zero): the significand scaled to units of the least subnormal.
  const U significand = (a & kWideFraction) | (wideExponent ? (U(1) << W::kFractionBits) : 0);
  const int shift = kDrop + 1 - (wideExponent ? exponent : exponent + 1);
  if (shift > W::kFractionBits + 1) return sign;  // below half the least subnormal
  const U q = significand >> shift, rest = significand & ((U(1) << shift) - 1), half = U(1) << (shift - 1);
  return uint16_t(sign | uint16_t(q + ((rest > half || (rest == half && (q & 1))) ? 1 : 0)));
}

// The half h of format F as a float (exact).
template <HalfFormat F>
inline float widenHalf(uint16_t h) {
  if constexpr (F == HalfFormat::BFloat16) {
    uint32_t u = uint32_t(h) << 16;
    if ((u & 0x7fffffffu) > 0x7f800000u) u |= 0x00400000u;  // quiet a signalling NaN
    return fromBits<float>(u);
  } else {
    const uint32_t sign = uint32_t(h & 0x8000u) << 16;
    const uint32_t exponent = (h >> 10) & 0x1fu, fraction = h & 0x3ffu;
    if (exponent == 0x1f) return fromBits<float>(sign | 0x7f800000u | (fraction ? 0x00400000u | (fraction << 13) : 0));
    if (exponent != 0) return fromBits<float>(sign | ((exponent + 112) << 23) | (fraction << 13));
    // ±0 or a subnormal: fraction·2^-24, exact in float
    const float magnitude = float(fraction) * 5.9604644775390625e-8f;
    return fromBits<float>(sign | bitsOf(magnitude));
  }
}

}  // namespace fastnorm::FASTNORM_ISA_NS
