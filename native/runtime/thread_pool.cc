// Persistent worker threads, created lazily as jobs ask for them and kept for the life of the
// process (never destroyed: joining at exit would race with Node's own teardown).
#include "thread_pool.h"

#if defined(__linux__)
#include <sched.h>
#endif

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace fastnorm::runtime {
namespace {

class ThreadPool {
 public:
  void run(size_t tasks, int threads, TaskBody body, void* context) {
    std::unique_lock<std::mutex> entry(entry_, std::try_to_lock);
    if (!entry.owns_lock()) {  // another thread's job holds the pool: run this one inline
      for (size_t t = 0; t < tasks; ++t) body(context, t);
      return;
    }
    const size_t wanted = size_t(threads - 1) < tasks - 1 ? size_t(threads - 1) : tasks - 1;
    const int helpers = ensureWorkers(int(wanted));
    {
      std::lock_guard<std::mutex> lock(mutex_);
      body_ = body;
      context_ = context;
      tasks_ = tasks;
      next_.store(0, std::memory_order_relaxed);
      helpers_ = helpers;
      active_ = helpers;
      ++generation_;
    }
    wake_.notify_all();
    work();
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [&] { return active_ == 0; });
  }

 private:
  void work() {
    for (size_t t; (t = next_.fetch_add(1, std::memory_order_relaxed)) < tasks_;) body_(context_, t);
  }

  // Returns how many workers exist (fewer than asked if the system refuses new threads).
  int ensureWorkers(int count) {
    try {
      while (int(workers_.size()) < count) {
        const int index = int(workers_.size());
        uint64_t seen;  // the job about to be published is the first this worker must see
        {
          std::lock_guard<std::mutex> lock(mutex_);
          seen = generation_;
        }
        workers_.emplace_back([this, index, seen] { workerLoop(index, seen); });
        workers_.back().detach();
      }
    } catch (...) {
    }
    return int(workers_.size()) < count ? int(workers_.size()) : count;
  }

  void workerLoop(int index, uint64_t seen) {
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return generation_ != seen; });
        seen = generation_;
        if (index >= helpers_) continue;  // this job does not need this worker
      }
      work();
      std::lock_guard<std::mutex> lock(mutex_);
      if (--active_ == 0) done_.notify_one();
    }
  }

  std::mutex entry_;  // held by the one job that owns the pool
  std::mutex mutex_;  // guards the job fields below
  std::condition_variable wake_, done_;
  std::vector<std::thread> workers_;
  uint64_t generation_ = 0;
  int helpers_ = 0, active_ = 0;
  TaskBody body_ = nullptr;
  void* context_ = nullptr;
  size_t tasks_ = 0;
  std::atomic<size_t> next_{0};
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
