// Process-wide tuning settings read by the kernels of every ISA path (they live outside the ISA
// namespaces, so one value serves all). Each changes only how memory is written, never a result.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace fastnorm::runtime {

// Outputs at least this large are written with streaming (non-temporal) stores; SIZE_MAX: never.
// The addon's _setStreamingBytes hook changes it, so that the benchmark can time both kinds of
// store interleaved in one process (bench/diagnose/streaming.mjs).
inline std::atomic<size_t> streamingBytesSetting{size_t(8) << 20};

inline size_t streamingBytes() { return streamingBytesSetting.load(std::memory_order_relaxed); }

}  // namespace fastnorm::runtime
