// Activation math on Vec, written once for every ISA: x·sigmoid, GELU (erf form) and
// GELU-tanh, from an exp with Cody-Waite reduction and a Chebyshev erfc. Only lane-wise IEEE
// operations (+ − × ÷, compare-select, exponent-bit scaling): no libm, no FMA (the build has
// -ffp-contract=off), so every ISA path gives the same bits.
//
// The first part computes in double. double data uses the Double grade (truncation < 1e-17);
// float data that has no float-lane version below (GELU, erf form, and its slope) is widened,
// computed with the Float grade (lower polynomial degrees whose truncation error, < 1e-10
// relative, is far below a float ulp) and rounded once to float: within 0.5 ulp + 1e-10
// relative of the true value, subnormal results included (double covers float's whole range).
// The last part is the float-lane versions of silu and GELU-tanh and their gradients.
// test/activation.test.ts and test/activation-backward.test.ts measure all of them.
#pragma once
#include "vec.h"

namespace fastnorm::FASTNORM_ISA_NS::vmath {

// Polynomial degrees per precision: exp's Taylor degree on |r| ≤ ln2/2 and the number of
// Chebyshev terms of erfc (kErfcCheb).
struct FloatGrade {
  static constexpr int kExpDegree = 8;   // r^9/9! < 2.1e-10
  static constexpr int kErfcTerms = 16;  // dropped terms < 6e-12
};
struct DoubleGrade {
  static constexpr int kExpDegree = 13;  // r^14/14! < 4.5e-18
  static constexpr int kErfcTerms = 29;  // dropped terms < 1e-19
};

// e^z as (p·s1)·s2: p in [0.7, 1.42], s1 and s2 normal powers of two whose product is 2^n. Kept
// apart so that a caller multiplies its other factors into p first and the result rounds once
// even when it is subnormal (x·e^z with e^z below the normal range, x·e^z not).
struct ExpParts {
  VD p, s1, s2;
  VD value() const { return (p * s1) * s2; }
  // (v·p·s1)·s2: v·e^z, rounded once at the end.
  VD times(VD v) const { return ((v * p) * s1) * s2; }
};

// Per lane max(lo, v), NaN kept.
inline VD atLeast(VD v, double lo) { const VD l = VD::broadcast(lo); return ifLess(v, l, l, v); }
// Per lane min(v, hi), NaN kept.
inline VD atMost(VD v, double hi) { const VD h = VD::broadcast(hi); return ifLess(h, v, h, v); }

template <class Grade>
inline ExpParts expParts(VD z) {
  // e^-760 and e^710 are already 0 and ∞ in double; the clamp keeps n, and so n/2, in range.
  z = atMost(atLeast(z, -760.0), 710.0);
  const VD shift = VD::broadcast(6755399441055744.0);  // 1.5·2^52: adding it rounds to an integer
  const VD n = (z * VD::broadcast(1.4426950408889634) + shift) - shift;
  // ln2 = kLn2Hi + kLn2Lo, kLn2Hi with 32 significant bits: n·kLn2Hi is exact for |n| < 2^21.
  const VD r = (z - n * VD::broadcast(6.93147180369123816490e-01)) - n * VD::broadcast(1.90821492927058770002e-10);
  // Taylor series of e^r, Horner from the highest degree.
  double inv = 1.0;
  double c[Grade::kExpDegree + 1];
  for (int k = 0; k <= Grade::kExpDegree; ++k) c[k] = inv, inv /= double(k + 1);
  VD q = VD::broadcast(c[Grade::kExpDegree]);
  for (int k = Grade::kExpDegree - 1; k >= 0; --k) q = q * r + VD::broadcast(c[k]);
  // 2^n = 2^a·2^b, a = n/2 rounded, both within the normal exponents for |n| ≤ 1100.
  const VD a = (n * VD::broadcast(0.5) + shift) - shift;
  return {q, pow2OfShifted(a + shift), pow2OfShifted((n - a) + shift)};
}

// x·sigmoid(v) for v of x's sign (silu: v = x; GELU-tanh: v = 2·√(2/π)·(x + 0.044715·x³)), from
// e = e^−|v| ≤ 1, so nothing overflows: x/(1 + e) for v ≥ 0, x·e/(1 + e) for v < 0 (one
// division for both: (x·p)/(1 + e), then ·s1·s2 for v < 0).
template <class Grade>
inline VD timesSigmoid(VD x, VD v) {
  const VD zero = VD::zero(), one = VD::broadcast(1.0);
  const VD negAbs = ifLess(v, zero, v, zero - v);
  const ExpParts e = expParts<Grade>(negAbs);
  // Below −760 the product is 0 in double; the clamp keeps x = −∞ from giving −∞·0.
  const VD q = ifLess(v, zero, atLeast(x, -760.0) * e.p, x) / (one + e.value());
  return ifLess(v, zero, (q * e.s1) * e.s2, q);
}

// Chebyshev coefficients of g(t) = ln(erfc(a)/t) + a², t = 2/(2 + a), over a in [0, 28.5],
// in s = (t − kErfcMid)/kErfcHalf ∈ [−1, 1] (fitted in 50-digit arithmetic; erfc = t·e^(g − a²),
// the form of Numerical Recipes' erfccheb).
constexpr double kErfcMid = 0.5327868852459016393, kErfcHalf = 0.4672131147540983607, kErfcMaxA = 28.5;
constexpr double kErfcCheb[29] = {
    -6.12764890692151232e-01, 6.07203263553592221e-01,  1.41554374330412781e-02,  -8.33027375238849614e-03,
    -5.59178650994481973e-04, 2.92490824255145054e-04,  1.66573976054233306e-05,  -1.41082440424472895e-05,
    -5.36266650560546586e-08, 7.40849341141262131e-07,  -5.65719461102600535e-08, -3.61950267123411322e-08,
    6.88483214392554826e-09,  1.32688536543407656e-09,  -5.58061377193093368e-10, -6.42819983802591796e-12,
    3.33549262332265981e-11,  -4.36185110317548888e-12, -1.26450955152830764e-12, 4.44178084862048717e-13,
    -1.96010108440073850e-15, -2.38480969847510340e-14, 4.35164359458419062e-15,  4.07421876684567724e-16,
    -2.96225923333740758e-16, 4.43718009722158422e-17,  3.22222027029875756e-18,  -3.05671362544271368e-18,
    8.33496903135984339e-19,
};

// GELU, erf form: 0.5·x·(1 + erf(x/√2)) = x − 0.5·x·erfc(a) for x ≥ 0, 0.5·x·erfc(a) for x < 0,
// a = |x|/√2: erfc(a) = t·e^(g(t) − x²/2), with x² split exactly (Veltkamp) and the rounding
// of g − x²/2 carried (two-sum), so the large exponent of the tails costs no precision.
template <class Grade>
inline VD gelu(VD x) {
  const VD zero = VD::zero(), one = VD::broadcast(1.0), half = VD::broadcast(0.5);
  const VD ax = ifLess(x, zero, zero - x, x);
  const VD a = atMost(ax * VD::broadcast(0.70710678118654752440), kErfcMaxA);
  const VD t = VD::broadcast(2.0) / (VD::broadcast(2.0) + a);
  const VD s = (t - VD::broadcast(kErfcMid)) * VD::broadcast(1.0 / kErfcHalf);
  // Clenshaw: b_k = 2s·b_{k+1} − b_{k+2} + c_k; g = s·b_1 − b_2 + c_0.
  const VD s2 = s + s;
  VD b1 = zero, b2 = zero;
  for (int k = Grade::kErfcTerms - 1; k >= 1; --k) {
    const VD b0 = (s2 * b1 - b2) + VD::broadcast(kErfcCheb[k]);
    b2 = b1;
    b1 = b0;
  }
  const VD g = (s * b1 - b2) + VD::broadcast(kErfcCheb[0]);
  // x²/2 = h + l exactly for |x| ≤ 40 (beyond, erfc underflows whatever the low part).
  const VD xs = atMost(ax, 40.0);
  const VD split = xs * VD::broadcast(134217729.0);  // 2^27 + 1
  const VD hi = split - (split - xs), lo = xs - hi;
  const VD h = (hi * hi) * half, l = ((hi * lo + hi * lo) + lo * lo) * half;
  // z = (g − l) − h exactly as zs + ze (Knuth's two-sum): |ze| ≤ ulp(zs)/2, while l (up to
  // 1e-5 for double x) must stay inside the exponent.
  const VD gl = g - l, mh = zero - h, zs = gl + mh, bv = zs - gl, av = zs - bv;
  const VD ze = (gl - av) + (mh - bv);
  const ExpParts e = expParts<Grade>(zs);
  // erfc(a)·(1 + ze): e^ze to first order, |ze| < 1e-13.
  const VD tc = t * (one + ze);
  const VD xc = atMost(atLeast(x, -760.0), 760.0);
  const VD negative = e.times((half * xc) * tc);     // 0.5·x·erfc(a), rounded once
  const VD positive = x * (one - e.times(half * tc));  // x·(1 − 0.5·erfc(a)), 0.5·erfc ≤ 0.5
  return ifLess(x, zero, negative, positive);
}

// GELU-tanh (PyTorch's approximate='tanh'): 0.5·x·(1 + tanh(u)) = x·sigmoid(2u), u =
// √(2/π)·(x + 0.044715·x³).
template <class Grade>
inline VD geluTanh(VD x) {
  const VD v = x * (VD::broadcast(1.5957691216057308) + VD::broadcast(0.07135481627260025) * (x * x));
  return timesSigmoid<Grade>(x, v);
}

// ---- Derivatives of the activations, for the fused backwards (g = dy·act'(z)) ----
// Built only on the primitives above (expParts, gelu, the Grade structs), in double like them.
// Accuracy (test/activation-backward.test.ts measures it against float64 references written
// by composition): float data (GELU only; silu and GELU-tanh have float-lane gradients below)
// within 1 ulp (near GELU's zero z ≈ −0.75, 1e-10 absolute: the Float grade's truncation); double data within a few ulp of max(|act'(z)|, 1), the size of
// the terms Φ + z·φ and σ + z·σ(1 − σ) add, i.e. to its condition number near GELU's zero.

// σ(v) and 1 − σ(v) from one e = e^−|v| ≤ 1: 1/(1 + e) and e/(1 + e), the larger on v's side,
// so neither is a cancellation.
struct SigmoidPair {
  VD s, complement;
};
template <class Grade>
inline SigmoidPair sigmoidPair(VD v) {
  const VD zero = VD::zero(), one = VD::broadcast(1.0);
  const VD e = expParts<Grade>(ifLess(v, zero, v, zero - v)).value();
  const VD large = one / (one + e), small = e * large;
  return {ifLess(v, zero, small, large), ifLess(v, zero, large, small)};
}

// d/dx of x·σ(v(x)) = σ(v) + (x·v'(x))·σ(v)(1 − σ(v)). x is clamped to ±800, where σ(1 − σ) is
// already 0 in double (for silu and GELU-tanh alike), so x = ±∞ gives σ's limit, not ∞·0.
template <class Grade>
inline VD timesSigmoidSlope(VD x, VD v, VD dv) {
  const SigmoidPair p = sigmoidPair<Grade>(v);
  return p.s + ((x * dv) * p.s) * p.complement;
}

inline VD clampSlopeArgument(VD x, double limit) { return atMost(atLeast(x, -limit), limit); }

// silu'(x) = σ(x)(1 + x(1 − σ(x))).
template <class Grade>
inline VD siluSlope(VD x) {
  const VD xc = clampSlopeArgument(x, 800.0);
  return timesSigmoidSlope<Grade>(xc, xc, VD::broadcast(1.0));
}

// GELU-tanh'(x): x·σ(v), v = x·(c1 + c3·x²) (geluTanh's constants), v' = c1 + 3·c3·x².
template <class Grade>
inline VD geluTanhSlope(VD x) {
  const VD xc = clampSlopeArgument(x, 800.0), x2 = xc * xc;
  const VD c1 = VD::broadcast(1.5957691216057308), c3 = VD::broadcast(0.07135481627260025);
  return timesSigmoidSlope<Grade>(xc, xc * (c1 + c3 * x2), c1 + (VD::broadcast(3.0) * c3) * x2);
}

// GELU'(x) = Φ(x) + x·φ(x). Φ(x) = gelu(x)/x (gelu's few-ulp relative accuracy carries over;
// 1/2 for |x| < 1e-300, where gelu(x) would round in the subnormals). φ(x) = e^(−x²/2)/√(2π),
// x²/2 = h + l split exactly (Veltkamp) and e^−l taken to first order (|l| ≤ ulp(h)), so the
// tails keep their relative precision. |x| is clamped to 40, where Φ is 0 or 1 and φ is 0.
template <class Grade>
inline VD geluSlope(VD x) {
  const VD zero = VD::zero(), one = VD::broadcast(1.0), half = VD::broadcast(0.5);
  const VD xc = clampSlopeArgument(x, 40.0);
  const VD ax = ifLess(xc, zero, zero - xc, xc);
  const VD cdf = ifLess(ax, VD::broadcast(1e-300), half, gelu<Grade>(xc) / xc);
  const VD split = xc * VD::broadcast(134217729.0);  // 2^27 + 1
  const VD hi = split - (split - xc), lo = xc - hi;
  const VD h = (hi * hi) * half, l = ((hi * lo + hi * lo) + lo * lo) * half;
  const ExpParts e = expParts<Grade>(zero - h);
  const VD xDensity = e.times((xc * (one - l)) * VD::broadcast(0.39894228040143267794));  // 1/√(2π)
  return cdf + xDensity;
}

// ---- float32 data: the same functions in float lanes ----
// exp, x·sigmoid and GELU-tanh for float data compute in float (16 lanes per vector, float
// division), with the extra precision where the conditioning asks for it: e^(zh + zl) takes its
// argument as a float pair, and GELU-tanh's argument 2u, whose rounding the result multiplies
// by |2u| (up to ~110 before the tail underflows), comes from double (exact widening, three
// operations, one split back into a float pair). Measured over every float32 input
// (scripts/check-activation-exhaustive.cc, double truth): silu ≤ 1.62 ulp, gelu-tanh ≤ 1.59
// ulp (all 2^32 inputs; GELU's erf form stays on the double path for now), subnormals included.

// e^z = (1 + m)·2^n, 2^n = s1·s2, in float lanes. m is kept apart from the 1 so that a caller
// rounds 1 + m only inside its own sum (the sigmoid's denominator, x + x·m): one rounding fewer.
struct ExpPartsF {
  VF m, n, a, s1, s2;  // a = n/2 rounded: s1 = 2^a, s2 = 2^(n−a)
  VF value() const { return ((VF::broadcast(1.0f) + m) * s1) * s2; }
  // v·e^z, rounded once after v + v·m.
  VF times(VF v) const { return ((v + v * m) * s1) * s2; }
};

inline VF atLeast(VF v, float lo) { const VF l = VF::broadcast(lo); return ifLess(v, l, l, v); }
inline VF atMost(VF v, float hi) { const VF h = VF::broadcast(hi); return ifLess(h, v, h, v); }

constexpr float kShiftF = 12582912.0f;  // 1.5·2^23: adding it rounds a float to an integer

// e^(zh + zl), |zl| ≲ ulp(zh). e^-110 times any factor the callers pass (|x| ≤ 110) is below
// float's smallest subnormal, e^89 is ∞: the clamp keeps n within [-159, 129], so both halves
// of 2^n are normal.
// The reduction and polynomial of expParts on an argument the caller has clamped (n within
// what its scaling takes): e^(zh + zl) = (1 + m)·2^n.
struct ExpCoreF {
  VF m, n;
};
inline ExpCoreF expCore(VF zh, VF zl) {
  const VF shift = VF::broadcast(kShiftF);
  const VF n = (zh * VF::broadcast(1.44269502f) + shift) - shift;
  // ln2 = kLn2Hi + kLn2Lo, kLn2Hi with 15 significant bits: n·kLn2Hi and t = zh − n·kLn2Hi are
  // exact; r = t + c rounded, and its rounding error rl (Fast2Sum, |t| ≥ |c|) added back in m.
  const VF t = zh - n * VF::broadcast(0.693145751953125f);
  const VF c = zl - n * VF::broadcast(1.42860677e-6f);
  const VF r = t + c, rl = c - (r - t);
  // e^r − 1 = r + r²·P(r) on |r| ≤ ln2/2, P fitted (Lawson-weighted least squares, near
  // minimax) for the relative error of e^r: 3.8e-9 with these float coefficients.
  VF q = VF::broadcast(1.38146104e-3f);
  q = q * r + VF::broadcast(8.36871006e-3f);
  q = q * r + VF::broadcast(4.16683890e-2f);
  q = q * r + VF::broadcast(1.66665211e-1f);
  q = q * r + VF::broadcast(4.99999940e-1f);
  return {r + (rl + (r * r) * q), n};
}

inline ExpPartsF expParts(VF zh, VF zl) {
  const ExpCoreF e = expCore(atMost(atLeast(zh, -110.0f), 89.0f), zl);
  const VF shift = VF::broadcast(kShiftF);
  const VF a = (e.n * VF::broadcast(0.5f) + shift) - shift;
  return {e.m, e.n, a, pow2OfShifted(a + shift), pow2OfShifted((e.n - a) + shift)};
}

// x·sigmoid(vh + vl) with one division: x/(1 + e^−v), the denominator D summed with one
// rounding — D = (1 + 2^n) + m·2^n for n ≤ 23 (1 + 2^n exact, or its rounding negligible for
// n < −23; m·2^n exact), ((1 + m) + (m's rounding + 2^−n))·2^n for n > 23. Below v = −24, where 1 + e^v is 1 to
// 2^-34, x·e^v: no division, and the result rounds once however deep in the subnormals. x is
// clamped there to −110 (below it x·e^v is 0; x = −∞ would give −∞·0).
inline VF timesSigmoid(VF x, VF vh, VF vl) {
  const VF zero = VF::zero(), one = VF::broadcast(1.0f), shift = VF::broadcast(kShiftF);
  const VF tailAt = VF::broadcast(-24.0f);
  const VF zh = ifLess(vh, tailAt, vh, zero - vh), zl = ifLess(vh, tailAt, vl, zero - vl);
  const ExpPartsF e = expParts(zh, zl);
  const VF pw = e.s1 * e.s2;
  const VF inv = pow2OfShifted(shift - e.a) * pow2OfShifted(shift - (e.n - e.a));  // 2^−n, used for 23 < n ≤ 35
  const VF dSmall = (one + pw) + (e.m * e.s1) * e.s2;
  const VF onePlusM = one + e.m, mLow = e.m - (onePlusM - one);  // Fast2Sum: 1 + m exactly
  const VF dLarge = (onePlusM + (mLow + inv)) * pw;
  const VF q = x / ifLess(e.n, VF::broadcast(23.5f), dSmall, dLarge);
  return ifLess(vh, tailAt, e.times(atLeast(x, -110.0f)), q);
}

inline VF silu(VF x) { return timesSigmoid(x, x, VF::zero()); }

// GELU-tanh: x·sigmoid(2u), 2u in double, clamped to ±200 (the sigmoid is 0 or 1 in float long
// before) so that the float pair stays finite, then split into vh + vl.
inline VF geluTanh(VF x) {
  const auto twoU = [](VD d) {
    const VD v = d * (VD::broadcast(1.5957691216057308) + VD::broadcast(0.07135481627260025) * (d * d));
    return atMost(atLeast(v, -200.0), 200.0);
  };
  const VD lo = twoU(widenLo(x)), hi = twoU(widenHi(x));
  const VF vh = narrow(lo, hi);
  const VF vl = narrow(lo - widenLo(vh), hi - widenHi(vh));
  return timesSigmoid(x, vh, vl);
}

// ---- float32 gradients: g = dy·act'(z) in float lanes ----
// d/dx[x·σ(v)] = σ(v) + w·σ(v)(1 − σ(v)), w = x·v'(x). e^−|v| = (1 + m)·2^n comes from the float
// exp above (16 lanes; the reduction and polynomial are most of the work); the few operations
// that combine it run in double (exact widening), so that the result rounds once, to float:
// a float-only combination compounds ~6 roundings (D = 1 + e, 1/D, its square, the products)
// into up to 4 ulp. With e = e^−|v|, D = 1 + e, q = 1/D: q + w·e·q² for v ≥ 0 (all terms
// positive) and e·q²·(D + w) for v < 0, where D + w = (1 + w) + e vanishes at the slope's zero
// (silu: x ≈ −1.2785, GELU-tanh: x ≈ −0.7525): there 1 + w is exact and the sum is as accurate
// as e, whose float error (~1e-9 absolute) bounds act'(z)'s error near the zero — below what
// the float rounding of z itself moves act'(z) by (|act''(z)·z|·2^-24 ≈ 4e-8). dy is multiplied
// in double too, so g rounds once, subnormal or not. The callers clamp x so that |v| ≤ 250,
// where dy·w·e is 0 for every finite dy. scripts/check-activation-slopes.cc measures these
// over all 2^32 z.
inline VD timesSigmoidSlopeHalf(VD m, VD n, VD w, VD negative) {
  const VD one = VD::broadcast(1.0), e = [&] {
    const VD pw = pow2OfShifted(n + VD::broadcast(6755399441055744.0));  // 2^n, n in [−361, 0]
    return pw + pw * m;
  }();
  const VD d = one + e, q = one / d, qq = q * q;
  return ifLess(negative, VD::zero(), (e * qq) * ((one + w) + e), q + (w * e) * qq);
}

inline VF timesSigmoidGate(VF vh, VF vl, VF wh, VF wl, VF dy) {
  const VF zero = VF::zero();
  const VF zh = ifLess(vh, zero, vh, zero - vh), zl = ifLess(vh, zero, vl, zero - vl);
  const ExpCoreF e = expCore(atLeast(zh, -250.0f), zl);
  const VD lo = timesSigmoidSlopeHalf(widenLo(e.m), widenLo(e.n), widenLo(wh) + widenLo(wl), widenLo(vh)) * widenLo(dy);
  const VD hi = timesSigmoidSlopeHalf(widenHi(e.m), widenHi(e.n), widenHi(wh) + widenHi(wl), widenHi(vh)) * widenHi(dy);
  return narrow(lo, hi);
}

// dy·silu'(x): v = w = x, clamped to ±200 (σ and x·σ(1 − σ) are at their limits long before;
// x = ±∞ gives dy's limit, not ∞·0).
inline VF siluGate(VF x, VF dy) {
  const VF xc = atMost(atLeast(x, -200.0f), 200.0f), zero = VF::zero();
  return timesSigmoidGate(xc, zero, xc, zero, dy);
}

// dy·GELU-tanh'(x): v = x·(c1 + c3·x²) (geluTanh's 2u), w = x·v' = x·(c1 + 3·c3·x²), both in
// double from the exact widening and split into float pairs (like geluTanh's argument). x is
// clamped to ±14.5 (|v| ≤ 241, within timesSigmoidGate's range; the slope is 1 or 0 there).
inline VF geluTanhGate(VF x, VF dy) {
  const VF xc = atMost(atLeast(x, -14.5f), 14.5f);
  const VD c1 = VD::broadcast(1.5957691216057308), c3 = VD::broadcast(0.07135481627260025);
  const VD c33 = VD::broadcast(3.0 * 0.07135481627260025);
  const VD lo = widenLo(xc), hi = widenHi(xc), lo2 = lo * lo, hi2 = hi * hi;
  const VD vLo = lo * (c1 + c3 * lo2), vHi = hi * (c1 + c3 * hi2);
  const VD wLo = lo * (c1 + c33 * lo2), wHi = hi * (c1 + c33 * hi2);
  const VF vh = narrow(vLo, vHi), wh = narrow(wLo, wHi);
  const VF vl = narrow(vLo - widenLo(vh), vHi - widenHi(vh)), wl = narrow(wLo - widenLo(wh), wHi - widenHi(wh));
  return timesSigmoidGate(vh, vl, wh, wl, dy);
}

}  // namespace fastnorm::FASTNORM_ISA_NS::vmath
