// Large outputs (alloc.ts) in blocks this file maps and recycles. A fresh multi-MiB buffer costs
// a page fault per 4 KiB on first touch, which the kernel pays inside its parallel loop; glibc
// recycles freed chunks only until V8 frees several at once and glibc trims its heap, and
// V8's zero-filled allocation adds a memset. A block released by its ArrayBuffer's finalizer
// stays mapped in a small cache, so the next output of a similar size is already resident.
//
// Bounds: at most kIdleCap bytes sit idle in the cache (larger or older blocks are unmapped),
// and at most kLiveCap bytes are out in ArrayBuffers not yet finalized, of which new mappings
// only up to kFreshCap. Node 20 runs external buffer finalizers on an event-loop turn, after a
// GC, so a synchronous loop of calls gets no block back until it yields (measured: 50 sync
// calls of a 24 MiB output, 0 reused): past the caps allocateOutputBlock refuses and alloc.ts
// falls back to Buffer.allocUnsafeSlow, which V8 frees in the GC itself. So a sync loop costs
// what it did without the cache after a few calls, and code that yields (async, servers) gets
// its blocks back every turn. The live bytes are reported
// to V8 (napi_adjust_external_memory) so that they count towards its GC heuristics as a
// Buffer's do.
//
// The cache is process-wide (worker threads share it) behind a mutex; a finalizer runs on the
// thread of the environment that made the buffer.
#include "output_blocks.h"

#include <sys/mman.h>

#include <mutex>
#include <vector>

namespace fastnorm::binding {
namespace {

constexpr size_t kIdleCap = 128u << 20;
constexpr size_t kLiveCap = 256u << 20;
constexpr size_t kFreshCap = 128u << 20;
constexpr size_t kMaxIdleBlocks = 8;
constexpr size_t kGranule = 64u << 10;  // sizes rounded up to this: near sizes share blocks

struct Block {
  void* data;
  size_t capacity;
};

std::mutex mutex;
std::vector<Block> idle;  // most recently released last
size_t idleBytes = 0;
size_t liveBytes = 0;
double reusedCount = 0, freshCount = 0, refusedCount = 0;

void unmap(const Block& b) { munmap(b.data, b.capacity); }

// A cached block of at least `capacity` bytes and at most 1.5x it (a much larger one would
// pin memory the output does not use), the smallest such; else a fresh mapping.
Block take(size_t capacity) {
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (liveBytes + capacity > kLiveCap) {
      refusedCount++;
      return {nullptr, 0};
    }
    size_t best = idle.size();
    for (size_t i = 0; i < idle.size(); i++)
      if (idle[i].capacity >= capacity && idle[i].capacity <= capacity + capacity / 2 &&
          (best == idle.size() || idle[i].capacity < idle[best].capacity))
        best = i;
    if (best != idle.size()) {
      const Block b = idle[best];
      idle.erase(idle.begin() + long(best));
      idleBytes -= b.capacity;
      liveBytes += b.capacity;
      reusedCount++;
      return b;
    }
    if (liveBytes + capacity > kFreshCap) {
      refusedCount++;
      return {nullptr, 0};
    }
    liveBytes += capacity;
    freshCount++;
  }
  void* p = mmap(nullptr, capacity, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    std::lock_guard<std::mutex> lock(mutex);
    liveBytes -= capacity;
    return {nullptr, 0};
  }
  return {p, capacity};
}

// Back into the cache, evicting the oldest blocks past the idle bounds.
void release(Block b) {
  std::vector<Block> evicted;
  {
    std::lock_guard<std::mutex> lock(mutex);
    liveBytes -= b.capacity;
    if (b.capacity > kIdleCap) {
      evicted.push_back(b);
    } else {
      idle.push_back(b);
      idleBytes += b.capacity;
      while (idleBytes > kIdleCap || idle.size() > kMaxIdleBlocks) {
        evicted.push_back(idle.front());
        idleBytes -= idle.front().capacity;
        idle.erase(idle.begin());
      }
    }
  }
  for (const Block& e : evicted) unmap(e);
}

void finalize(napi_env env, void* data, void* hint) {
  const size_t capacity = reinterpret_cast<size_t>(hint);
  int64_t adjusted = 0;
  napi_adjust_external_memory(env, -int64_t(capacity), &adjusted);
  release({data, capacity});
}

}  // namespace

Napi::Value allocateOutputBlock(Napi::Env env, size_t bytes) {
  const size_t capacity = (bytes + kGranule - 1) / kGranule * kGranule;
  const Block b = take(capacity);
  if (b.data == nullptr) return env.Undefined();
  napi_value buffer = nullptr;
  if (napi_create_external_arraybuffer(env, b.data, bytes, finalize, reinterpret_cast<void*>(b.capacity), &buffer) != napi_ok) {
    release(b);
    return env.Undefined();  // e.g. a runtime without external buffers: the caller falls back
  }
  int64_t adjusted = 0;
  napi_adjust_external_memory(env, int64_t(b.capacity), &adjusted);
  return Napi::Value(env, buffer);
}

OutputBlockStats outputBlockStats(bool reset) {
  std::lock_guard<std::mutex> lock(mutex);
  const OutputBlockStats s{liveBytes, idleBytes, reusedCount, freshCount, refusedCount};
  if (reset) reusedCount = freshCount = refusedCount = 0;
  return s;
}

}  // namespace fastnorm::binding
