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
// a concurrent caller runs its job inline, so the machine is never oversubscribed.
void runTasks(size_t tasks, int threads, TaskBody body, void* context) noexcept;

// Number of CPUs this process may run on (affinity mask), at least 1.
int availableCores() noexcept;

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
