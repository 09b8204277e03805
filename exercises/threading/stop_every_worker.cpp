// EXERCISE stop_every_worker: shut a pool of worker threads down so every job is done and nothing hangs.
//
// Follows threading/queues_and_worker_threads.cpp, sections 2 and 3 (the stop sentinel).
//
// run_jobs() starts `workers` threads that take jobs from a blocking queue, puts `jobs` jobs in it,
// then tells the workers to stop and joins them. A job is a number; its worker adds the number's
// square to a shared total. std::nullopt in the queue means "no more jobs" (Python's None sentinel).
// As shipped, run_jobs() hangs when there is more than one worker: it never returns.
//
// Your goal: run_jobs() returns only after every job is done (the total is the sum of all squares),
// with every worker thread stopped and joined, for any number of workers.
//
// clang-format off
// Check:  cmake --build build/exercises --target test_stop_every_worker
//         build/exercises/exercises/test_stop_every_worker
//         (an unsolved exercise is stopped by the test's watchdog after a few seconds)
// Run:    build/exercises/exercises/stop_every_worker --workers 1   (works; try --workers 3: Ctrl-C)
// clang-format on
//
// Hint 1: the main thread waits in join(). Which workers can it be waiting for, and what are they
//         waiting for themselves?
// Hint 2: a worker reads the sentinel, leaves its loop, and the sentinel is gone from the queue. How
//         many sentinels do `workers` workers need?
// Hint 3: put one std::nullopt per worker, after the jobs.

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "playground.hpp"

// An unbounded blocking queue, as in the lesson: get() waits until an item is there.
template <class T>
class BlockingQueue {
 public:
  void put(T item) {
    std::lock_guard lock(mutex_);
    items_.push_back(std::move(item));
    not_empty_.notify_one();
  }
  T get() {
    std::unique_lock lock(mutex_);
    not_empty_.wait(lock, [&] { return !items_.empty(); });
    T item = std::move(items_.front());
    items_.pop_front();
    return item;
  }

 private:
  std::mutex mutex_;  // guards items_
  std::condition_variable not_empty_;
  std::deque<T> items_;
};

struct JobsReport {
  long total = 0;     // the sum of every job's square
  int jobs_done = 0;  // how many jobs the workers processed
};

JobsReport run_jobs(int workers, int jobs) {
  BlockingQueue<std::optional<int>> queue;
  std::atomic<long> total{0};
  std::atomic<int> jobs_done{0};

  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&] {
      while (true) {
        const std::optional<int> job = queue.get();
        if (!job) break;                                              // the sentinel: no more jobs for this worker
        std::this_thread::sleep_for(std::chrono::microseconds(200));  // the job's work
        total.fetch_add(static_cast<long>(*job) * *job);
        jobs_done.fetch_add(1);
      }
    });
  }

  for (int job = 1; job <= jobs; ++job) queue.put(job);
  queue.put(std::nullopt);  // "no more jobs"
  for (auto& thread : threads) thread.join();
  return {total.load(), jobs_done.load()};
}

#ifndef PLAYGROUND_NO_MAIN  // the test includes this file and brings its own main
int main(int argc, char** argv) {
  int workers = 3;
  int jobs = 100;
  pg::Flags flags("stop_every_worker", "Exercise: a worker pool that must finish every job and stop.");
  flags.add("--workers", workers, "worker threads", 1, 64);
  flags.add("--jobs", jobs, "jobs to run", 0, 100'000);
  if (auto status = flags.parse(argc, argv)) return *status;
  pg::Stopwatch clock;
  const JobsReport report = run_jobs(workers, jobs);
  fmt::print("{} workers did {} of {} jobs in {:.0f} ms, total {}\n", workers, report.jobs_done, jobs,
             clock.elapsed_ms(), report.total);
  return report.jobs_done == jobs ? 0 : 1;
}
#endif
