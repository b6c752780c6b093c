// Exhaustive accuracy check of the float32 activation gradients g = dy·act'(z)
// (native/kernels/activation.h gateGradient) on every one of the 2^32 float32 z, against a
// truth in long double (x87 80-bit) near the slope's zero, where σ + w·σ(1 − σ) cancels, in
// double elsewhere. Per function it reports, in ulp of the true g (2^-149 below
// the normal range): dy = 1 (g = act'(z) itself) and dy with a pseudo-random mantissa and an
// exponent in [−20, 20] per z (the product's rounding included). Also the absolute error of
// act'(z) in units of 2^-24 (the ulp of 1/2..1) within 1/16 of the slope's zero, where the
// relative error of any float computation grows without bound. Run after touching vec_math.h,
// on each ISA build (flags as in check-activation-exhaustive.cc):
//   g++ -O2 -std=c++17 -ffp-contract=off -DFASTNORM_ISA_NS=avx512 -DFASTNORM_ISA_AVX512 -mavx512f -mavx512dq \
//       -mavx512bw -mavx512vl -Inative/kernels scripts/check-activation-slopes.cc -o /tmp/slope512 && /tmp/slope512
// Optional arguments: the function (silu, gelu, gelu-tanh; default all) and a stride.
// Exits 1 if any ulp error exceeds 2.
#include "activation.h"
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
using namespace fastnorm::FASTNORM_ISA_NS;

typedef long double LD;
// x·σ(v)' = σ(v) + w·σ(v)(1 − σ(v)), w = x·v': in long double where 1 + w + e cancels
// (−2.5 < w < −0.3), in double elsewhere (no cancellation: ~1e-16 relative, and 10× faster).
template <class R>
static R sigmoidSlopeIn(R v, R w) {
  const R e = std::exp(-std::fabs(v)), d = 1 + e;
  return v >= 0 ? (d + w * e) / (d * d) : e * (d + w) / (d * d);
}
static LD sigmoidSlope(LD v, LD w) {
  return w > -2.5L && w < -0.3L ? sigmoidSlopeIn<LD>(v, w) : LD(sigmoidSlopeIn<double>(double(v), double(w)));
}
static LD siluTruth(LD x) { return sigmoidSlope(x, x); }
static LD geluTanhTruth(LD x) {
  const LD c1 = 1.5957691216057308L, c3 = 0.07135481627260025L;  // the kernel's 2·√(2/π) and 2·√(2/π)·0.044715
  return sigmoidSlope(x * (c1 + c3 * x * x), x * (c1 + 3 * c3 * x * x));
}
static LD geluTruth(LD x) {
  return 0.5L * std::erfc(-x * 0.70710678118654752440084436L) + x * std::exp(-x * x / 2) * 0.398942280401432677939946L;
}
static double ulpOf(LD t) {
  const double a = std::fabs(double(t));
  if (a < 0x1p-126) return 0x1p-149;
  int e;
  std::frexp(a, &e);
  return std::ldexp(1.0, e - 24);
}

static uint64_t stride = 1;

// Outside [z0 − kWindow, z0 + kWindow] around the slope's zero z0 the ulp figures are
// reported; inside it the absolute error (the relative one is unbounded at z0 for any
// float formula: see vec_math.h).
static const double kWindow = 1.0 / 16;

template <Activation A>
static double run(const char* name, LD (*truth)(LD), double z0) {
  double worst1 = 0, worstR = 0, worstAbs = 0, w1x = 0, wRx = 0, wAx = 0, w1y = 0, wRdy = 0;
  float in[16], dy[16], one[16], out1[16], outR[16];
  for (int i = 0; i < 16; ++i) one[i] = 1;
  uint32_t h = 12345;
  uint64_t bitsHash = 1469598103934665603ull;  // FNV-1a over every result's bits: equal across ISA builds
  for (uint64_t base = 0; base < (1ull << 32); base += 16 * stride) {
    for (int i = 0; i < 16; ++i) {
      uint32_t b = uint32_t(base + i);
      std::memcpy(&in[i], &b, 4);
      h = h * 1664525u + 1013904223u;  // dy: random mantissa, exponent in [−20, 20], random sign
      uint32_t d = (h >> 9) | (uint32_t(127 - 20 + (h >> 3) % 41) << 23) | (h & 1u) << 31;
      std::memcpy(&dy[i], &d, 4);
    }
    gateGradient<A, float>(VF::load(in), VF::load(one)).store(out1);
    gateGradient<A, float>(VF::load(in), VF::load(dy)).store(outR);
    for (int i = 0; i < 16; ++i) {
      uint32_t r[2];
      std::memcpy(&r[0], &out1[i], 4);
      std::memcpy(&r[1], &outR[i], 4);
      bitsHash = ((bitsHash ^ r[0]) * 1099511628211ull ^ r[1]) * 1099511628211ull;
      if (!std::isfinite(in[i])) continue;
      const LD t = truth(in[i]);
      const double e1 = double(std::fabs(LD(out1[i]) - t)) / ulpOf(t);
      const LD tr = t * dy[i];
      const double eR = double(std::fabs(LD(outR[i]) - tr)) / ulpOf(tr);
      const double ea = double(std::fabs(LD(out1[i]) - t)) / 0x1p-24;
      if (std::fabs(in[i] - z0) < kWindow) {
        if (!(ea <= worstAbs)) worstAbs = ea, wAx = in[i];
        continue;
      }
      if (!(e1 <= worst1)) worst1 = e1, w1x = in[i], w1y = out1[i];
      if (!(eR <= worstR)) worstR = eR, wRx = in[i], wRdy = dy[i];
    }
  }
  const float specials[16] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1e-45f, -1e-45f, 3.4e38f, -3.4e38f, 1, -1, 0, 0, 0, 0, 0};
  gateGradient<A, float>(VF::load(specials), VF::load(one)).store(out1);
  printf("%-10s |z - %.4f| >= 1/16: dy=1 max %.4f ulp at z = %.9g (got %.9g, truth %.12Lg), dy random max %.4f ulp at z = %.9g,"
         " dy = %.9g; inside: |act' error| max %.5f·2^-24 at z = %.9g\n",
         name, z0, worst1, w1x, w1y, truth(w1x), worstR, wRx, wRdy, worstAbs, wAx);
  printf("           result hash %016llx\n", (unsigned long long)bitsHash);
  printf("           slope(0)=%g (-0)=%g (inf)=%g (-inf)=%g (nan)=%g (1e-45)=%g (-1e-45)=%g (3.4e38)=%g (-3.4e38)=%g\n", out1[0], out1[1],
         out1[2], out1[3], out1[4], out1[5], out1[6], out1[7], out1[8]);
  return std::fmax(worst1, worstR);
}

int main(int argc, char** argv) {
  const std::string only = argc > 1 ? argv[1] : "";
  if (argc > 2) stride = std::stoul(argv[2]);
  double worst = 0;
  if (only.empty() || only == "silu") worst = std::fmax(worst, run<Activation::Silu>("silu'", siluTruth, -1.27846454));
  if (only.empty() || only == "gelu-tanh") worst = std::fmax(worst, run<Activation::GeluTanh>("gelu-tanh'", geluTanhTruth, -0.75247));
  if (only.empty() || only == "gelu") worst = std::fmax(worst, run<Activation::Gelu>("gelu'", geluTruth, -0.75179));
  return worst > 2;
}
