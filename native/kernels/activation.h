// The activation a forward applies after its affine, y = act(x̂·w + b): the index of the
// `activation` choice of kernel_list.h, and its per-vector math (vec_math.h).
#pragma once
#include <cstdint>
#include <type_traits>

#include "../simd/vec_math.h"

namespace fastnorm::FASTNORM_ISA_NS {

// In the order of the row's choices "none|relu|silu|gelu|gelu-tanh".
enum class Activation : uint8_t { None, Relu, Silu, Gelu, GeluTanh };

template <Activation A, class Grade>
inline VD activateDouble(VD x) {
  if constexpr (A == Activation::Silu) return vmath::timesSigmoid<Grade>(x, x);
  else if constexpr (A == Activation::Gelu) return vmath::gelu<Grade>(x);
  else return vmath::geluTanh<Grade>(x);
}

// act(v) per lane. relu: v < 0 ? 0 : v (NaN and −0 kept). The others in double: float data
// widened, computed to float's precision and rounded once.
template <Activation A, class T>
inline Vec<T> activate(Vec<T> v) {
  if constexpr (A == Activation::None) {
    return v;
  } else if constexpr (A == Activation::Relu) {
    return ifLess(v, Vec<T>::zero(), Vec<T>::zero(), v);
  } else if constexpr (sizeof(T) == 4 && A == Activation::Silu) {
    return vmath::silu(v);
  } else if constexpr (sizeof(T) == 4 && A == Activation::GeluTanh) {
    return vmath::geluTanh(v);
  } else if constexpr (sizeof(T) == 4) {
    return narrow(activateDouble<A, vmath::FloatGrade>(widenLo(v)), activateDouble<A, vmath::FloatGrade>(widenHi(v)));
  } else {
    return activateDouble<A, vmath::DoubleGrade>(v);
  }
}

template <Activation A, class Grade>
inline VD slopeDouble(VD z) {
  if constexpr (A == Activation::Silu) return vmath::siluSlope<Grade>(z);
  else if constexpr (A == Activation::Gelu) return vmath::geluSlope<Grade>(z);
  else return vmath::geluTanhSlope<Grade>(z);
}

// g = dy·act'(z) per lane, the gradient a fused backward uses in place of dy. relu: dy where
// z > 0, else 0 (PyTorch's slope 0 at z = 0; NaN z gives 0). silu and GELU-tanh on float data in
// float lanes (vec_math.h's timesSigmoidGate); the others in double, rounded once.
template <Activation A, class T>
inline Vec<T> gateGradient(Vec<T> z, Vec<T> dy) {
  if constexpr (A == Activation::None) {
    return dy;
  } else if constexpr (A == Activation::Relu) {
    return ifLess(Vec<T>::zero(), z, dy, Vec<T>::zero());
  } else if constexpr (sizeof(T) == 4 && A == Activation::Silu) {
    return vmath::siluGate(z, dy);
  } else if constexpr (sizeof(T) == 4 && A == Activation::GeluTanh) {
    return vmath::geluTanhGate(z, dy);
  } else if constexpr (sizeof(T) == 4) {
    return narrow(slopeDouble<A, vmath::FloatGrade>(widenLo(z)) * widenLo(dy),
                  slopeDouble<A, vmath::FloatGrade>(widenHi(z)) * widenHi(dy));
  } else {
    return slopeDouble<A, vmath::DoubleGrade>(z) * dy;
  }
}

// The activation as a type: act(v) applies it, act.gate(z, dy) is dy·act'(z).
template <Activation A>
struct Act {
  static constexpr Activation kind = A;
  template <class V>
  V operator()(V v) const {
    using T = std::conditional_t<std::is_same_v<V, VF>, float, double>;
    return activate<A, T>(v);
  }
  template <class V>
  V gate(V z, V dy) const {
    using T = std::conditional_t<std::is_same_v<V, VF>, float, double>;
    return gateGradient<A, T>(z, dy);
  }
};

// f(Act<A>()) for the activation of index `a` (the binding guarantees a valid index).
template <class F>
void withActivation(uint8_t a, F&& f) {
  switch (Activation(a)) {
    case Activation::Relu: f(Act<Activation::Relu>()); break;
    case Activation::Silu: f(Act<Activation::Silu>()); break;
    case Activation::Gelu: f(Act<Activation::Gelu>()); break;
    case Activation::GeluTanh: f(Act<Activation::GeluTanh>()); break;
    default: f(Act<Activation::None>()); break;
  }
}

}  // namespace fastnorm::FASTNORM_ISA_NS
