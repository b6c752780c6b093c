// The 16-bit storage formats (ISA-independent: the kernel table indexes conversions by them).
#pragma once
#include <cstdint>

namespace fastnorm {

// float16: IEEE binary16 (1 sign, 5 exponent, 10 fraction bits); bfloat16: 1, 8, 7 (the top
// half of a float32).
enum class HalfFormat : uint8_t { Float16, BFloat16 };
constexpr int kHalfFormats = 2;

}  // namespace fastnorm
