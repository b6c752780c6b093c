// Exhaustive accuracy check of the float32 activations (native/kernels/activation.h) on every
// one of the 2^32 float32 inputs, against a double truth (libm exp/erfc in double: its error,
// ~1e-13 relative at worst after the conditioning of the tails, is ~1e-6 float ulp). Reports
// the max ulp error per function (ulp of the truth in float, 2^-149 below the normal range)
// and the results at ±0, ±∞ and NaN. Too slow for `npm test` (~1 min of CPU per function);
// run it after touching vec_math.h, on each ISA build:
//   g++ -O2 -std=c++17 -ffp-contract=off -DFASTNORM_ISA_NS=avx512 -DFASTNORM_ISA_AVX512 -mavx512f -mavx512dq \
//       -mavx512bw -mavx512vl -Inative/kernels scripts/check-activation-exhaustive.cc -o /tmp/act512 && /tmp/act512
//   (-DFASTNORM_ISA_NS=avx2 -DFASTNORM_ISA_AVX2 -mavx2 -mf16c -mfma, or -DFASTNORM_ISA_NS=scalar for the portable path)
// Optional arguments: the function to check (silu, gelu, gelu-tanh; default all) and a stride. Exits 1 if
// any error exceeds 2 ulp.
#include "activation.h"
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
using namespace fastnorm::FASTNORM_ISA_NS;

static double siluTruth(double x) { return x / (1 + std::exp(-x)); }
static double geluTruth(double x) { return 0.5 * x * std::erfc(-x * 0.70710678118654752440); }
static double geluTanhTruth(double x) {
  const double u = 0.79788456080286535588 * (x + 0.044715 * x * x * x);
  return x / (1 + std::exp(-2 * u));
}
static double ulpOf(double t) {
  const double a = std::fabs(t);
  if (a < 0x1p-126) return 0x1p-149;
  int e;
  std::frexp(a, &e);  // a = m·2^e, m in [0.5, 1)
  return std::ldexp(1.0, e - 24);
}

static uint64_t stride = 1;  // every stride-th block of 16 patterns (a quicker look; default all)

template <Activation A>
static double run(const char* name, double (*truth)(double)) {
  double worst = 0, worstX = 0, worstY = 0;
  float in[16], out[16];
  for (uint64_t base = 0; base < (1ull << 32); base += 16 * stride) {
    for (int i = 0; i < 16; ++i) { uint32_t b = uint32_t(base + i); std::memcpy(&in[i], &b, 4); }
    activate<A, float>(VF::load(in)).store(out);
    for (int i = 0; i < 16; ++i) {
      if (!std::isfinite(in[i])) continue;
      const double t = truth(in[i]);
      const double e = std::fabs(double(out[i]) - t) / ulpOf(t);
      if (!(e <= worst)) worst = e, worstX = in[i], worstY = out[i];
    }
  }
  const float specials[16] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, -NAN, 1e-45f, -1e-45f, 3.4e38f, -3.4e38f, 1, -1, 0, 0, 0, 0};
  activate<A, float>(VF::load(specials)).store(out);
  printf("%-10s max %.4f ulp at x = %.9g (got %.9g, truth %.17g); f(0)=%g f(-0)=%g f(inf)=%g f(-inf)=%g f(nan)=%g f(-3.4e38)=%g\n", name,
         worst, worstX, worstY, truth(worstX), out[0], out[1], out[2], out[3], out[4], out[9]);
  return worst;
}

int main(int argc, char** argv) {
  const std::string only = argc > 1 ? argv[1] : "";
  if (argc > 2) stride = std::stoul(argv[2]);
  double worst = 0;
  if (only.empty() || only == "silu") worst = std::fmax(worst, run<Activation::Silu>("silu", siluTruth));
  if (only.empty() || only == "gelu") worst = std::fmax(worst, run<Activation::Gelu>("gelu", geluTruth));
  if (only.empty() || only == "gelu-tanh") worst = std::fmax(worst, run<Activation::GeluTanh>("gelu-tanh", geluTanhTruth));
  return worst > 2;
}
