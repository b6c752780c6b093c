// Conversions between float32/float64 arrays and 16-bit storage (float16, bfloat16): the
// exported toFloat16/fromFloat16/toBFloat16/fromBFloat16. One rounding to nearest-even, the bits
// of half_scalar.h on every ISA (float runs through the Vec layer's half loads and stores;
// double runs are the exact scalar code, which rounds once from double, never through float).
// Outputs of 8 MiB and more (the norms' streaming threshold) are written with streaming stores.
// Cut into fixed chunks over the threads; each value is converted independently, so neither
// the ISA nor the thread count changes a bit.
#include <type_traits>

#include "../runtime/thread_pool.h"
#include "kernels.h"
#include "normalize.h"
#include "schedule.h"

namespace fastnorm::FASTNORM_ISA_NS {
namespace {

constexpr size_t kConvertGrain = 64 * 1024;  // values per task

// Stream: outputs past the streaming threshold bypass the cache, as the norms' outputs do (the
// stores' read-for-ownership would be a third of a widening's traffic, half of a narrowing's).
template <HalfFormat F, bool Stream, class T>
void narrowRun(const T* src, uint16_t* dst, size_t n) {
  if constexpr (std::is_same_v<T, float>) {
    // Scalar math: dst[i] = round-to-nearest-even of src[i] in format F.
    // Its own loop, as writeRun keeps the ops' half outputs on plain stores (bench/ANALYSIS.md §8).
    // Streaming: a vector of halves is 32 bytes, so the stores start at dst's first 32-byte boundary.
    size_t i = 0;
    if constexpr (Stream) {
      const size_t head = minSize(n, ((32 - (reinterpret_cast<uintptr_t>(dst) & 31)) & 31) / sizeof(uint16_t));
      if (head > 0) storeHalfsPartial<F>(VF::loadPartial(src, head), dst, head);
      for (i = head; i + 16 <= n; i += 16) streamHalfs<F>(VF::load(src + i), dst + i);
      streamFence();
    } else {
      for (; i + 16 <= n; i += 16) storeHalfs<F>(VF::load(src + i), dst + i);
    }
    if (i < n) storeHalfsPartial<F>(VF::loadPartial(src + i, n - i), dst + i, n - i);
  } else {
    for (size_t i = 0; i < n; ++i) dst[i] = narrowToHalf<F>(src[i]);
  }
}

template <HalfFormat F, bool Stream, class T>
void widenRun(const uint16_t* src, T* dst, size_t n) {
  if constexpr (std::is_same_v<T, float>) {
    // Scalar math: dst[i] = src[i] exactly.
    writeRun<float, Stream>(dst, n, [&](size_t i, size_t k) __attribute__((always_inline)) {
      return k == kLanes<float> ? loadHalfs<F>(src + i) : loadHalfsPartial<F>(src + i, k);
    });
    if (Stream) streamFence();
  } else {
    for (size_t i = 0; i < n; ++i) dst[i] = T(widenHalf<F>(src[i]));
  }
}

template <HalfFormat F, class T>
void narrow(const T* src, uint16_t* dst, size_t n, const Exec& exec) noexcept {
  withStream(streamOutput<uint16_t>(n), [&](auto stream) {
    runtime::parallelFor(n, kConvertGrain, threadsFor(exec, n), [&](size_t begin, size_t end) {
      narrowRun<F, decltype(stream)::value>(src + begin, dst + begin, end - begin);
    });
  });
}

template <HalfFormat F, class T>
void widen(const uint16_t* src, T* dst, size_t n, const Exec& exec) noexcept {
  withStream(streamOutput<T>(n), [&](auto stream) {
    runtime::parallelFor(n, kConvertGrain, threadsFor(exec, n), [&](size_t begin, size_t end) {
      widenRun<F, decltype(stream)::value>(src + begin, dst + begin, end - begin);
    });
  });
}

}  // namespace

template <class T>
HalfConversions<T> halfConversions() {
  return {{&narrow<HalfFormat::Float16, T>, &narrow<HalfFormat::BFloat16, T>},
          {&widen<HalfFormat::Float16, T>, &widen<HalfFormat::BFloat16, T>}};
}
template HalfConversions<float> halfConversions<float>();
template HalfConversions<double> halfConversions<double>();

}  // namespace fastnorm::FASTNORM_ISA_NS
