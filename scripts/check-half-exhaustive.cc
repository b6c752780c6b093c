// Exhaustive check of the Vec layer's half loads and stores (native/simd/vec_*.h) against the
// exact scalar code (native/simd/half_scalar.h): every one of the 2^32 float32 inputs narrowed
// to float16 and bfloat16, every one of the 2^16 halves widened, per ISA build. Too slow for
// `npm test` (about 20 s of CPU per ISA); run it after touching the conversions:
//   g++ -O2 -std=c++17 -DFASTNORM_ISA_NS=avx512 -DFASTNORM_ISA_AVX512 -mavx512f -mavx512dq -mavx512bw \
//       -mavx512vl -Inative/simd scripts/check-half-exhaustive.cc -o /tmp/half512 && /tmp/half512
//   g++ -O2 -std=c++17 -DFASTNORM_ISA_NS=avx2 -DFASTNORM_ISA_AVX2 -mavx2 -mf16c -Inative/simd \
//       scripts/check-half-exhaustive.cc -o /tmp/half2 && /tmp/half2
// Prints the mismatches (none expected) and exits 1 on any.
#include "vec.h"
#include <cstdio>
using namespace fastnorm::FASTNORM_ISA_NS;
template <HalfFormat F> int run(const char* name) {
  long bad = 0;
  alignas(64) uint32_t in[16]; alignas(64) uint16_t out[16];
  for (uint64_t base = 0; base < (1ull << 32); base += 16) {
    for (int i = 0; i < 16; ++i) in[i] = uint32_t(base + i);
    VF v; std::memcpy(&v, in, 64);
    storeHalfs<F>(v, out);
    for (int i = 0; i < 16; ++i) {
      uint16_t want = narrowToHalf<F>(fromBits<float>(in[i]));
      if (out[i] != want && bad++ < 5) printf("%s narrow %08x: simd %04x scalar %04x\n", name, in[i], out[i], want);
    }
  }
  for (uint32_t h0 = 0; h0 < 65536; h0 += 16) {
    uint16_t hs[16]; for (int i = 0; i < 16; ++i) hs[i] = uint16_t(h0 + i);
    VF v = loadHalfs<F>(hs); uint32_t got[16]; std::memcpy(got, &v, 64);
    for (int i = 0; i < 16; ++i) { uint32_t want = bitsOf(widenHalf<F>(hs[i])); if (got[i] != want && bad++ < 10) printf("%s widen %04x: simd %08x scalar %08x\n", name, hs[i], got[i], want); }
  }
  printf("%s: %ld mismatches\n", name, bad);
  return bad != 0;
}
int main() { return run<HalfFormat::Float16>("f16") | run<HalfFormat::BFloat16>("bf16"); }
