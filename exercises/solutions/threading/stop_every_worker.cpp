// SOLUTION stop_every_worker (the exercise is exercises/threading/stop_every_worker.cpp).
//
// Why it works: a worker stops when it reads a sentinel, and reading takes the sentinel out of the
// queue, so one sentinel stops exactly one worker. With one per worker, put after every job, each
// worker first drains the jobs ahead of the sentinels (the queue is first in, first out), then reads
// its own sentinel and leaves; every join() then returns, and by then every job has been processed.
//
// A tempting wrong fix the test rejects: detach() the workers instead of joining them. run_jobs()
// returns at once, before the jobs are done (the test sees a short total), and the detached threads
// go on using the queue and the counters, which died when run_jobs() returned: AddressSanitizer
// reports that use after the end of their lifetime. Putting the sentinels *before* the jobs fails
// too: the workers stop first and the jobs are never done.

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
  long total = 0;
  int jobs_done = 0;
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
        if (!job) break;
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        total.fetch_add(static_cast<long>(*job) * *job);
        jobs_done.fetch_add(1);
      }
    });
  }

  for (int job = 1; job <= jobs; ++job) queue.put(job);
  for (int w = 0; w < workers; ++w) queue.put(std::nullopt);  // one sentinel per worker, after the jobs
  for (auto& thread : threads) thread.join();
  return {total.load(), jobs_done.load()};
}

#ifndef PLAYGROUND_NO_MAIN
int main(int argc, char** argv) {
  int workers = 3;
  int jobs = 100;
  pg::Flags flags("stop_every_worker", "Solution: a worker pool that finishes every job and stops.");
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
