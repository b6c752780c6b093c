// Deterministic parallel-for over a persistent, process-wide thread pool.
//
// Determinism is the caller's job and is easy to keep: kernels cut work into tasks whose
// boundaries depend only on the tensor shape, and every task writes its own outputs or its
// own partial; threads merely choose which tasks they run. So results never depend on the
// thread count, and running the whole job inline on the calling thread is always correct.
#pragma once
#include <cstddef>

namespace fastnorm::runtime {

using TaskBody = void (*)(void* context, size_t task);

// Runs body(context, t) for every t in [0, tasks) using up to `threads` threads, the calling
// thread included. Safe to call from several threads at once: while one job owns the pool,
// a concurrent caller runs its job inline. Helpers join only for compute slots that are free
// (see ComputeSlot), so a job gets fewer threads, never more, when other calls are running.
void runTasks(size_t tasks, int threads, TaskBody body, void* context) noexcept;

// Number of CPUs this process may run on (affinity mask), at least 1.
int availableCores() noexcept;

// The process-wide limit on threads computing kernels at once: availableCores() slots shared
// by every caller (sync and async, every addon instance, every worker_thread) and the pool's
// helpers. Each kernel call holds one slot for its whole run, waiting for one when all are
// taken (e.g. more libuv threads than cores), and runTasks lends a job only the slots still
// free as helpers. So N concurrent calls never run more than availableCores() threads, and
// results do not change: they never depend on how many threads a call gets.
class ComputeSlot {
 public:
  ComputeSlot() noexcept;  // blocks until a slot is free
  ~ComputeSlot();
  ComputeSlot(const ComputeSlot&) = delete;
  ComputeSlot& operator=(const ComputeSlot&) = delete;
};

// What the limit did, for tests: `limit` slots; `peakBusy` the most threads seen computing at
// once (slot holders plus helpers inside a job) since the last reset; `waits` how many calls
// had to wait for a slot.
struct ComputeStats {
  int limit;
  int peakBusy;
  long long waits;
};
ComputeStats computeStats(bool reset) noexcept;

// parallelFor(count, grain, threads, f): calls f(begin, end) on consecutive chunks of `grain`
// indices (the last one shorter). Chunks are fixed by (count, grain), not by the threads.
template <class F>
void parallelFor(size_t count, size_t grain, int threads, F&& f) noexcept {
  if (count == 0) return;
  if (grain == 0) grain = 1;
  const size_t chunks = (count + grain - 1) / grain;
  if (threads <= 1 || chunks == 1) {
    for (size_t begin = 0; begin < count; begin += grain) f(begin, begin + grain < count ? begin + grain : count);
    return;
  }
  struct Job { F* f; size_t count, grain; } job{&f, count, grain};
  runTasks(chunks, threads, [](void* p, size_t t) {
    auto* j = static_cast<Job*>(p);
    const size_t begin = t * j->grain, end = begin + j->grain < j->count ? begin + j->grain : j->count;
    (*j->f)(begin, end);
  }, &job);
}

// Scratch memory for partial sums (never on the JS heap, never a full-size temporary).
// Aligned to 64 bytes; data() is null if the allocation failed.
class ScratchDoubles {
 public:
  explicit ScratchDoubles(size_t count) noexcept;
  ~ScratchDoubles();
  ScratchDoubles(const ScratchDoubles&) = delete;
  ScratchDoubles& operator=(const ScratchDoubles&) = delete;
  double* data() const noexcept { return data_; }
 private:
  double* data_;
};

}  // namespace fastnorm::runtime
