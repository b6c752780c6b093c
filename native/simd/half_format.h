// The 16-bit storage formats (ISA-independent: the kernel table indexes conversions by them).
#pragma once
#include <cstdint>

namespace fastnorm {

// float16: IEEE binary16 (1 sign, 5 exponent, 10 fraction bits); bfloat16: 1, 8, 7 (the top
// half of a float32).
enum class HalfFormat : uint8_t { Float16, BFloat16 };
constexpr int kHalfFormats = 2;

// One value stored in format F: its bit pattern. A distinct type per format, so a kernel's
// storage type says how its loads widen and its stores round (lanes.h).
template <HalfFormat F>
struct Half {
  uint16_t bits;
};

// A half-precision call of a kernel: data stored in format F, parameters stored as P (Half<F> or
// float), computed in float with float statistics (kernel_table.h's FieldType).
template <HalfFormat F, class P>
struct HalfCall {};

// The P of a half call inside the kernels (kernel_table.h's InnerCall): the parameters' storage
// is known only at run time there (ParamArray), so both storages share one compiled kernel.
// Never defined: nothing can be stored as it.
struct AnyParams;

}  // namespace fastnorm
