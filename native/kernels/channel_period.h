// Channels-last data read as periods. A run of rows of C channel values (NHWC) is flat memory in
// which channel j sits at every offset ≡ j (mod C). Cut into periods of P values, P a multiple of
// C, lane l of vector v of every period holds the same channel, (v·L + l) mod C: so a
// reduction adds whole vectors into per-lane sums and folds lanes into channels at the end, and
// an elementwise pass takes its per-channel operands from per-lane tables of one period. Both
// BatchNorm and GroupNorm NHWC read memory this way; they choose the period:
//   wholeVectors(C)  lcm(C, L) values, a whole number of vectors (C = 3 floats: 48 values, 16 rows)
//   oneRow(C)        C values, one row (its last vector partial unless L divides C): for wide C,
//                    where lcm(C, L) would be many vectors
#pragma once
#include <cstddef>
#include <type_traits>
#include <utility>

#include "lanes.h"
#include "moments.h"
#include "schedule.h"

namespace fastnorm::FASTNORM_ISA_NS {

template <class T>
class ChannelPeriod {
 public:
  static constexpr size_t L = kLanes<T>;
  static ChannelPeriod wholeVectors(size_t channels) {
    const size_t c = maxSize(channels, 1);
    return ChannelPeriod(c, L / gcd(c, L));
  }
  static ChannelPeriod oneRow(size_t channels) { return ChannelPeriod(maxSize(channels, 1), 1); }

  size_t channels() const { return c_; }
  size_t rows() const { return rows_; }      // rows of C values per period
  size_t values() const { return values_; }  // P = rows·C
  size_t vectors() const { return vectors_; }
  size_t padded() const { return vectors_ * L; }  // per-lane sums: whole vectors
  // Lanes in use of vector v of a period.
  size_t lanes(size_t v) const { return minSize(L, values_ - v * L); }
  // Per-lane tables hold one period and one more vector, so that a window starting anywhere in
  // the period loads whole (the offsets of Cyclic).
  size_t tableLength() const { return values_ + L; }
  // table[j] = value(the channel of lane j), over a table's length.
  template <class U, class Value>
  void fillTable(U* table, Value value) const {
    for (size_t j = 0; j < tableLength(); ++j) table[j] = U(value(j % c_));
  }
  // perChannel[c] += every lane sum of channel c, in lane order.
  void fold(const double* laneSums, double* perChannel) const {
    for (size_t j = 0; j < values_; ++j) perChannel[j % c_] += laneSums[j];
  }

 private:
  ChannelPeriod(size_t c, size_t rows) : c_(c), rows_(rows), values_(c * rows), vectors_(ceilDiv(c * rows, L)) {}
  size_t c_, rows_, values_, vectors_;
};

// `rows` rows read as periods: `count` of them, the last one shorter when the rows do not fill it.
template <class T>
struct PeriodRun {
  ChannelPeriod<T> period;
  size_t rows, count, full;
  PeriodRun(ChannelPeriod<T> p, size_t rowCount)
      : period(p), rows(rowCount), count(ceilDiv(rowCount, p.rows())), full(rowCount / p.rows()) {}
  // Values of period q.
  size_t values(size_t q) const { return q < full ? period.values() : (rows - full * period.rows()) * period.channels(); }
  // Lanes in use of vector v of period q.
  size_t lanes(size_t q, size_t v) const {
    const size_t n = values(q);
    return n <= v * kLanes<T> ? 0 : minSize(kLanes<T>, n - v * kLanes<T>);
  }
};

// ---- per-lane sums over the periods of a run ----

constexpr size_t kLaneChunk = 4;  // vectors of a period summed together (2 accumulators each)

// The inputs a reduction reads, prefetched kLaneBlock periods ahead: the walk strides by a
// period, which the hardware prefetchers follow poorly. (A prefetch never faults, so running
// past the end of the run is harmless.) T: the inputs' storage.
template <class T>
struct Prefetch {
  const T* first;
  const T* second;  // or null
  void operator()(size_t at) const {
    __builtin_prefetch(first + at);
    if (second) __builtin_prefetch(second + at);
  }
};

// Lanes of vectors [v0, v0 + R) over periods [q0, q1) (≤ kLaneBlock of them, float sums in
// registers, walking memory period by period), widened into the double lane sums. The chunk's
// vectors are unrolled (index_sequence) so the accumulators stay in registers.
template <class T, class Terms, class S, size_t... r>
inline void periodLaneChunk(const PeriodRun<T>& run, size_t q0, size_t q1, size_t v0, double* sumA, double* sumB, Terms& terms,
                            const Prefetch<S>& prefetch, std::index_sequence<r...>) {
  using V = Vec<T>;
  using A = Acc<T>;
  constexpr size_t L = kLanes<T>;
  const size_t P = run.period.values();
  V a[sizeof...(r)] = {(void(r), V::zero())...};
  V b[sizeof...(r)] = {(void(r), V::zero())...};
  const size_t fullEnd = minSize(q1, run.full), ahead = kLaneBlock * P;
  if ((v0 + sizeof...(r)) * L <= P) {  // every vector of the chunk is whole in a full period
    // Scalar math, lane by lane: a += termA(x[p·P + lane]), b += termB(x[p·P + lane]) over the periods p
    for (size_t p = q0; p < fullEnd; ++p) {
      (prefetch(p * P + (v0 + r) * L + ahead), ...);
      (terms(p * P + (v0 + r) * L, (v0 + r) * L, AllLanes<T>(), a[r], b[r]), ...);
    }
  } else {
    for (size_t p = q0; p < fullEnd; ++p) (terms(p * P + (v0 + r) * L, (v0 + r) * L, run.period.lanes(v0 + r), a[r], b[r]), ...);
  }
  if (fullEnd < q1) {  // the run's last period, shorter
    auto last = [&](size_t v, V& av, V& bv) __attribute__((always_inline)) {
      const size_t k = run.lanes(fullEnd, v);
      if (k) terms(fullEnd * P + v * L, v * L, k, av, bv);
    };
    (last(v0 + r, a[r], b[r]), ...);
  }
  auto widen = [&](size_t v, V av, V bv) __attribute__((always_inline)) {
    (A::load(sumA + v * L) + A::of(av)).store(sumA + v * L);
    (A::load(sumB + v * L) + A::of(bv)).store(sumB + v * L);
  };
  (widen(v0 + r, a[r], b[r]), ...);
}

// Per-lane sums over periods [p0, p1) of a run: terms(offset, lane0, k, a, b) adds two terms
// of the vector at element `offset` of the run (k lanes in use, lane0 = v·L its index in the
// per-lane tables; terms of unused lanes must be 0) to float accumulators, which every
// kLaneBlock periods widen into sumA/sumB[v·L + lane] — laneSum2's blocking, across periods.
// Each lane's sum is the same whatever the chunking of vectors.
template <class T, class Terms, class S>
void periodLaneSums(const PeriodRun<T>& run, size_t p0, size_t p1, double* sumA, double* sumB, const Prefetch<S>& prefetch,
                    Terms terms) {
  const size_t vectors = run.period.vectors();
  for (size_t j = 0; j < run.period.padded(); ++j) sumA[j] = 0, sumB[j] = 0;
  for (size_t q0 = p0; q0 < p1; q0 += kLaneBlock) {
    const size_t q1 = minSize(p1, q0 + kLaneBlock);
    size_t v0 = 0;
    for (; v0 + kLaneChunk <= vectors; v0 += kLaneChunk)
      periodLaneChunk<T>(run, q0, q1, v0, sumA, sumB, terms, prefetch, std::make_index_sequence<kLaneChunk>());
    switch (vectors - v0) {
      case 3: periodLaneChunk<T>(run, q0, q1, v0, sumA, sumB, terms, prefetch, std::make_index_sequence<3>()); break;
      case 2: periodLaneChunk<T>(run, q0, q1, v0, sumA, sumB, terms, prefetch, std::make_index_sequence<2>()); break;
      case 1: periodLaneChunk<T>(run, q0, q1, v0, sumA, sumB, terms, prefetch, std::make_index_sequence<1>()); break;
      default: break;
    }
  }
}

}  // namespace fastnorm::FASTNORM_ISA_NS
