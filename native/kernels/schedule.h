// How kernels size and run their parallel tasks, and lay out their scratch memory. Only the
// split of work over threads depends on these numbers and on the thread count, never a result:
// reductions are cut into blocks fixed by the shape (moments.h) and every task writes its own
// outputs or its own partials. The unit engine (below) is the machinery of a kernel that reduces
// units of data before it can write them (GroupNorm, InstanceNorm).
#pragma once
#include <cstddef>

#include "../runtime/thread_pool.h"
#include "kernel_table.h"
#include "normalize.h"

namespace fastnorm::FASTNORM_ISA_NS {

constexpr size_t kGrainValues = 16384;          // values per parallel task, at least
constexpr size_t kParallelMinValues = 1 << 16;  // smaller jobs run inline: a wake-up costs more

inline size_t minSize(size_t a, size_t b) { return a < b ? a : b; }
inline size_t maxSize(size_t a, size_t b) { return a > b ? a : b; }
inline size_t ceilDiv(size_t a, size_t b) { return (a + b - 1) / b; }
inline size_t gcd(size_t a, size_t b) {
  while (b) {
    const size_t t = a % b;
    a = b;
    b = t;
  }
  return a;
}

// Threads for a job over `values` values.
inline int threadsFor(const Exec& exec, size_t values) { return values < kParallelMinValues ? 1 : exec.threads; }

// Rows of `cols` values per task: at least kGrainValues values, at least one row.
inline size_t rowGrain(size_t cols) { return cols >= kGrainValues ? 1 : kGrainValues / maxSize(cols, 1); }

// Lays one scratch allocation out as 64-byte aligned arrays: measure with a null base, then
// allocate and carve again with the same sequence of take() calls.
class Carver {
 public:
  explicit Carver(double* base = nullptr) : base_(base) {}
  template <class U>
  U* take(size_t count) {
    const size_t at = used_;
    used_ += ceilDiv(count * sizeof(U), 64) * 8;
    return base_ ? reinterpret_cast<U*>(base_ + at) : nullptr;
  }
  // Several arrays of `count` U each, in the order given.
  template <class U, class... More>
  void takeEach(size_t count, U*& first, More*&... more) {
    first = take<U>(count);
    ((more = take<U>(count)), ...);
  }
  size_t used() const { return used_; }

 private:
  double* base_;
  size_t used_ = 0;
};

// ---- the unit engine ----
// A unit is what must be reduced before any of it can be written (a GroupNorm group in NCHW, a
// sample in NHWC), cut into blocks fixed by the shape. An engine describes one op on one layout:
// units(), unitValues(), bytesPerValue() (bytes read per value), blocks() per unit,
// scratchPerUnit() doubles, and the steps prepare(u, scratch), reduceBlock(u, b, scratch),
// finish(u, scratch) (the blocks' partials merged in block order), writeBlock<Stream>(u, b,
// scratch). The schedule decides only which thread runs which step, so no result depends on it.

constexpr size_t kUnitInCacheBytes = 512 * 1024;  // units up to this size: one task each (L2 is 1 MiB here)
constexpr size_t kWaveBytes = 1 << 20;            // larger units: waves of about this many bytes
constexpr size_t kChunksPerThread = 8;            // in-cache units: tasks per thread, for balance
// Streaming stores also when everything a call touches is twice the streaming threshold (a
// backward's x, dy, dx): keeping its inputs in L3 is worth more than the reads for ownership
// they save (measured).
inline bool streamTouched(size_t bytes) {
  const size_t threshold = runtime::streamingBytes();
  return threshold <= SIZE_MAX / 2 && bytes >= 2 * threshold;
}

struct UnitSchedule {
  int threads = 1;
  bool stream = false;
  bool perUnitTasks = true;
  size_t grain = 1;      // per-unit tasks: units per task
  size_t waveUnits = 1;  // waves: units per wave
  size_t slots = 0;      // per-unit scratch slots
};

// How an engine's units run: one task per (chunk of) units when a unit fits in cache, else waves.
template <class Engine>
UnitSchedule scheduleUnits(const Engine& e, const Exec& exec) {
  UnitSchedule s;
  const size_t units = e.units(), values = e.unitValues(), unitBytes = values * e.bytesPerValue();
  s.threads = threadsFor(exec, units * values);
  s.stream = streamOutput<typename Engine::Value>(units * values) ||
             streamTouched(units * values * (e.bytesPerValue() + sizeof(typename Engine::Value)));
  // One task per unit when a unit fits in L2, or when the units split evenly enough over the
  // threads (each thread's second read then comes from its own cache, with few dispatches);
  // waves when a few large units would leave threads idle.
  const size_t threads = size_t(s.threads), rounds = ceilDiv(units, threads);
  if (unitBytes <= kUnitInCacheBytes || threads == 1 || rounds * threads * 8 <= units * 9) {
    const size_t chunks = s.threads <= 1 ? 1 : size_t(s.threads) * kChunksPerThread;
    s.grain = maxSize(rowGrain(values), ceilDiv(units, chunks));
    s.slots = ceilDiv(units, s.grain);
  } else {
    s.perUnitTasks = false;
    s.waveUnits = minSize(units, maxSize(1, kWaveBytes / unitBytes));
    s.slots = s.waveUnits;
  }
  return s;
}

// Runs every unit. A unit's results depend only on its own steps, never on the schedule.
template <class Engine>
void runUnits(Engine& e, const UnitSchedule& s, double* slots) {
  const size_t units = e.units(), blocks = e.blocks(), per = e.scratchPerUnit();
  withStream(s.stream, [&](auto streamed) {
    constexpr bool Stream = decltype(streamed)::value;
    if (s.perUnitTasks) {  // one task per chunk of units; a chunk reuses one scratch slot
      runtime::parallelFor(units, s.grain, s.threads, [&](size_t u0, size_t u1) {
        double* scratch = slots + (u0 / s.grain) * per;
        for (size_t u = u0; u < u1; ++u) {
          e.prepare(u, scratch);
          for (size_t b = 0; b < blocks; ++b) e.reduceBlock(u, b, scratch);
          e.finish(u, scratch);
          for (size_t b = 0; b < blocks; ++b) e.template writeBlock<Stream>(u, b, scratch);
        }
        if (Stream) streamFence();
      });
      return;
    }
    for (size_t w0 = 0; w0 < units; w0 += s.waveUnits) {  // waves: each step over all blocks of the wave
      const size_t count = minSize(s.waveUnits, units - w0), tasks = count * blocks;
      runtime::parallelFor(count, 1, s.threads, [&](size_t i0, size_t i1) {
        for (size_t i = i0; i < i1; ++i) e.prepare(w0 + i, slots + i * per);
      });
      runtime::parallelFor(tasks, 1, s.threads, [&](size_t t0, size_t t1) {
        for (size_t t = t0; t < t1; ++t) e.reduceBlock(w0 + t / blocks, t % blocks, slots + (t / blocks) * per);
      });
      runtime::parallelFor(count, 1, s.threads, [&](size_t i0, size_t i1) {
        for (size_t i = i0; i < i1; ++i) e.finish(w0 + i, slots + i * per);
      });
      runtime::parallelFor(tasks, 1, s.threads, [&](size_t t0, size_t t1) {
        for (size_t t = t0; t < t1; ++t) e.template writeBlock<Stream>(w0 + t / blocks, t % blocks, slots + (t / blocks) * per);
        if (Stream) streamFence();
      });
    }
  });
}

// Allocates the call's scratch (the arrays `shared` lays out, then the schedule's unit slots),
// runs the engine, then `after` (the scratch is still alive); false when there was no memory.
template <class Engine, class Shared, class After>
bool runEngine(Engine& e, const Exec& exec, Shared shared, After after) {
  const UnitSchedule schedule = scheduleUnits(e, exec);
  const size_t per = e.scratchPerUnit();
  Carver measure;
  shared(measure);
  runtime::ScratchDoubles scratch(measure.used() + schedule.slots * per);
  if (!scratch.data()) return false;
  Carver carver(scratch.data());
  shared(carver);
  runUnits(e, schedule, scratch.data() + measure.used());
  after();
  return true;
}

}  // namespace fastnorm::FASTNORM_ISA_NS
