// Persistent worker threads, created lazily as jobs ask for them and kept for the life of the
// process (never destroyed: joining at exit would race with Node's own teardown).
//
// Waking a sleeping thread through a condition variable costs tens of microseconds here, more
// than a whole medium-sized op, so a worker that finishes a job spins for a short while
// (kSpinTime) watching for the next one before it goes to sleep. Back-to-back calls, the
// common case in a model or a benchmark, then start in well under a microsecond.
#include "thread_pool.h"

#if defined(__linux__)
#include <sched.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace fastnorm::runtime {
namespace {

constexpr auto kSpinTime = std::chrono::microseconds(200);

inline void cpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// A job is announced by bumping `epoch_`, whose low 16 bits carry how many workers it uses,
// so a worker learns "is this job for me" from the same atomic load that tells it a job exists.
class ThreadPool {
 public:
  void run(size_t tasks, int threads, TaskBody body, void* context) {
    std::unique_lock<std::mutex> entry(entry_, std::try_to_lock);
    if (!entry.owns_lock()) {  // another thread's job holds the pool: run this one inline
      for (size_t t = 0; t < tasks; ++t) body(context, t);
      return;
    }
    const size_t wanted = size_t(threads - 1) < tasks - 1 ? size_t(threads - 1) : tasks - 1;
    const uint64_t helpers = uint64_t(ensureWorkers(int(wanted < kMaxHelpers ? wanted : kMaxHelpers)));
    body_ = body;
    context_ = context;
    tasks_ = tasks;
    next_.store(0, std::memory_order_relaxed);
    pending_.store(int(helpers), std::memory_order_relaxed);
    const uint64_t epoch = ((epoch_.load(std::memory_order_relaxed) >> 16) + 1) << 16 | helpers;
    epoch_.store(epoch, std::memory_order_release);
    {
      std::lock_guard<std::mutex> lock(sleepMutex_);
      if (sleepers_ > 0) wake_.notify_all();
    }
    work();
    for (unsigned spins = 0; pending_.load(std::memory_order_acquire) != 0; ++spins) {
      if (spins < 4096) cpuRelax();
      else std::this_thread::yield();  // a helper lost its core: let it run
    }
  }

 private:
  static constexpr size_t kMaxHelpers = 0xFFFF;

  void work() {
    for (size_t t; (t = next_.fetch_add(1, std::memory_order_relaxed)) < tasks_;) body_(context_, t);
  }

  // Returns how many workers exist (fewer than asked if the system refuses new threads).
  int ensureWorkers(int count) {
    try {
      while (int(workers_.size()) < count) {
        const int index = int(workers_.size());
        const uint64_t seen = epoch_.load(std::memory_order_relaxed);
        workers_.emplace_back([this, index, seen] { workerLoop(index, seen); });
        workers_.back().detach();
      }
    } catch (...) {
    }
    return int(workers_.size()) < count ? int(workers_.size()) : count;
  }

  uint64_t waitForEpoch(uint64_t seen) {
    const auto until = std::chrono::steady_clock::now() + kSpinTime;
    for (unsigned spins = 0;; ++spins) {
      const uint64_t epoch = epoch_.load(std::memory_order_acquire);
      if (epoch != seen) return epoch;
      cpuRelax();
      if ((spins & 255) == 255 && std::chrono::steady_clock::now() > until) break;
    }
    std::unique_lock<std::mutex> lock(sleepMutex_);
    ++sleepers_;
    wake_.wait(lock, [&] { return epoch_.load(std::memory_order_acquire) != seen; });
    --sleepers_;
    return epoch_.load(std::memory_order_acquire);
  }

  void workerLoop(int index, uint64_t seen) {
    for (;;) {
      seen = waitForEpoch(seen);
      if (uint64_t(index) >= (seen & 0xFFFF)) continue;  // this job does not use this worker
      work();
      pending_.fetch_sub(1, std::memory_order_release);
    }
  }

  std::mutex entry_;  // held by the one job that owns the pool
  std::vector<std::thread> workers_;
  std::atomic<uint64_t> epoch_{0};
  std::atomic<int> pending_{0};  // workers of the current job that have not finished
  TaskBody body_ = nullptr;      // job fields: written before epoch_ is published
  void* context_ = nullptr;
  size_t tasks_ = 0;
  std::atomic<size_t> next_{0};
  std::mutex sleepMutex_;
  std::condition_variable wake_;
  int sleepers_ = 0;
};

ThreadPool& pool() {
  static ThreadPool* instance = new ThreadPool();  // intentionally leaked, see above
  return *instance;
}

}  // namespace

void runTasks(size_t tasks, int threads, TaskBody body, void* context) noexcept {
  if (tasks == 0) return;
  if (threads <= 1 || tasks == 1) {
    for (size_t t = 0; t < tasks; ++t) body(context, t);
    return;
  }
  pool().run(tasks, threads, body, context);
}

int availableCores() noexcept {
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int count = CPU_COUNT(&set);
    if (count > 0) return count;
  }
#endif
  const unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? int(hw) : 1;
}

ScratchDoubles::ScratchDoubles(size_t count) noexcept : data_(nullptr) {
  if (count == 0) count = 1;
  if (count > (SIZE_MAX - 63) / sizeof(double)) return;
  data_ = static_cast<double*>(std::aligned_alloc(64, (count * sizeof(double) + 63) / 64 * 64));
}

ScratchDoubles::~ScratchDoubles() { std::free(data_); }

}  // namespace fastnorm::runtime
