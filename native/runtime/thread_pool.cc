// Persistent worker threads, created lazily as jobs ask for them and kept for the life of the
// process (never destroyed: joining at exit would race with Node's own teardown).
//
// Waking a sleeping thread through a condition variable costs tens of microseconds here, more
// than a whole medium-sized op, so a worker that finishes a job spins for a short while
// (kSpinTime) watching for the next one before it goes to sleep. Back-to-back calls, the
// common case in a model or a benchmark, then start in well under a microsecond. A worker
// stops spinning early when every compute slot is taken: then its core is in use by a call.
#include "thread_pool.h"

#if defined(__linux__)
#include <sched.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include <algorithm>
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

// The compute slots behind ComputeSlot: a counting semaphore whose uncontended take and give
// are one atomic operation each (the sync path of a small op must stay in the nanoseconds).
// Waiting is rare (more computing threads than cores), so it uses a mutex and condition
// variable; `waiters_` tells a giver whether anyone needs a notify. Both sides use seq_cst so
// that a waiter that just saw "full" and a giver that just freed a slot cannot miss each other.
class Slots {
 public:
  explicit Slots(int limit) : limit_(limit) {}

  int limit() const { return limit_; }
  bool full() const { return used_.load(std::memory_order_relaxed) >= limit_; }

  // Takes up to `wanted` free slots without waiting; returns how many it took.
  int tryTake(int wanted) {
    int used = used_.load();
    for (;;) {
      const int take = std::min(wanted, limit_ - used);
      if (take <= 0) return 0;
      if (used_.compare_exchange_weak(used, used + take)) return take;
    }
  }

  void take() {
    if (tryTake(1) == 1) return;
    std::unique_lock<std::mutex> lock(mutex_);
    waiters_.fetch_add(1);
    waits_.fetch_add(1, std::memory_order_relaxed);
    freed_.wait(lock, [&] { return tryTake(1) == 1; });
    waiters_.fetch_sub(1);
  }

  void give(int count) {
    if (count <= 0) return;
    used_.fetch_sub(count);
    if (waiters_.load() > 0) {
      std::lock_guard<std::mutex> lock(mutex_);
      freed_.notify_all();
    }
  }

  // Threads computing right now (slot holders and helpers inside a job), and the peak.
  void enter() {
    const int busy = busy_.fetch_add(1, std::memory_order_relaxed) + 1;
    for (int peak = peak_.load(std::memory_order_relaxed); busy > peak;)
      if (peak_.compare_exchange_weak(peak, busy, std::memory_order_relaxed)) break;
  }
  void leave() { busy_.fetch_sub(1, std::memory_order_relaxed); }

  ComputeStats stats(bool reset) {
    ComputeStats s{limit_, peak_.load(std::memory_order_relaxed), waits_.load(std::memory_order_relaxed)};
    if (reset) {
      peak_.store(busy_.load(std::memory_order_relaxed), std::memory_order_relaxed);
      waits_.store(0, std::memory_order_relaxed);
    }
    return s;
  }

 private:
  const int limit_;
  std::atomic<int> used_{0};
  std::atomic<int> waiters_{0};
  std::mutex mutex_;
  std::condition_variable freed_;
  std::atomic<int> busy_{0};
  std::atomic<int> peak_{0};
  std::atomic<long long> waits_{0};
};

Slots& slots() {
  static Slots* instance = new Slots(availableCores());  // intentionally leaked, like the pool
  return *instance;
}

// A job is announced by bumping `epoch_`, whose low 16 bits carry how many workers it uses,
// so a worker learns "is this job for me" from the same atomic load that tells it a job exists.
class ThreadPool {
 public:
  void run(size_t tasks, int threads, TaskBody body, void* context) {
    std::unique_lock<std::mutex> entry(entry_, std::try_to_lock);
    // Helpers only for free slots: the caller already holds one, other calls hold the rest.
    const size_t wanted = std::min({size_t(threads - 1), tasks - 1, size_t(slots().limit())});
    const int lent = entry.owns_lock() ? slots().tryTake(int(wanted)) : 0;
    if (lent == 0) {  // the pool is busy with another job, or every core is: run this one inline
      if (entry.owns_lock()) entry.unlock();
      for (size_t t = 0; t < tasks; ++t) body(context, t);
      return;
    }
    const uint64_t helpers = uint64_t(ensureWorkers(lent));
    slots().give(lent - int(helpers));  // the system refused threads: return their slots
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
    slots().give(int(helpers));
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
      // every core is computing for some call: spinning on one would slow that call down
      if ((spins & 255) == 255 && (slots().full() || std::chrono::steady_clock::now() > until)) break;
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
      slots().enter();
      work();
      slots().leave();
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

ComputeSlot::ComputeSlot() noexcept {
  slots().take();
  slots().enter();
}

ComputeSlot::~ComputeSlot() {
  slots().leave();
  slots().give(1);
}

ComputeStats computeStats(bool reset) noexcept { return slots().stats(reset); }

ScratchDoubles::ScratchDoubles(size_t count) noexcept : data_(nullptr) {
  if (count == 0) count = 1;
  if (count > (SIZE_MAX - 63) / sizeof(double)) return;
  data_ = static_cast<double*>(std::aligned_alloc(64, (count * sizeof(double) + 63) / 64 * 64));
}

ScratchDoubles::~ScratchDoubles() { std::free(data_); }

}  // namespace fastnorm::runtime
