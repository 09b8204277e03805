// queues_and_worker_threads: a blocking queue hands jobs from producers to worker threads, safely and in order.
//
// What you will see: a small BlockingQueue (Python's queue.Queue) built from a mutex and condition
// variables; worker threads pulling jobs from it, the timeline showing which worker ran which job;
// join() waiting until every job is done; one job that throws, reported while its worker carries on;
// shutdown with one "no more jobs" sentinel per worker; and a bounded queue that makes a fast producer
// wait for a slow consumer (backpressure).
//
// Run it:   build/default/threading/queues_and_worker_threads --workers 3 --jobs 9 --job-ms 50
// Build it by hand:
//   g++ -std=c++20 -O2 -I common threading/queues_and_worker_threads.cpp -lfmt -pthread -o queues_and_worker_threads
//
// Mirrors queues_and_worker_threads.py from the Python playground:
//   queue.Queue(maxsize=n)      -> BlockingQueue<T> queue(n)   (0: unbounded, as in Python)
//   q.put(x) / q.get()          -> queue.put(x) / queue.get()  (both block: when full / when empty)
//   q.task_done() / q.join()    -> queue.task_done() / queue.join()
//   None as a stop sentinel     -> std::nullopt in a BlockingQueue<std::optional<Job>>
//
// What differs in C++: the standard library has no thread-safe queue, so we write one: a std::deque
// guarded by a std::mutex, plus condition variables to sleep on until something changes. Once it is
// written, the rest of the program needs no locks of its own, exactly as in Python: the queue is the
// only shared object, and it hands each job to exactly one worker. (There is no GIL, so the workers
// of section 2 would run CPU-heavy jobs in parallel too.)

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "playground.hpp"

using namespace std::chrono_literals;

// -------------------------------------------------------------------------------------------------
// 1. BlockingQueue<T>: a mutex, a deque, and three condition variables
// -------------------------------------------------------------------------------------------------
// Every member function locks the one mutex, so the deque is only ever touched by one thread at a
// time. A thread that must wait (get() on an empty queue, put() on a full one, join() while jobs are
// unfinished) waits on a std::condition_variable: wait() unlocks the mutex, sleeps until notified,
// and locks it again. The predicate overload `wait(lock, [&]{ return condition; })` loops until the
// condition holds, which also handles spurious wake-ups. Whoever changes the state notifies the
// threads that may now proceed.
//
// task_done() and join() work as in Python: every put() adds one unfinished job, every task_done()
// removes one, and join() returns when none are left. That is "every job has been *processed*",
// which is later than "the queue is empty": the last jobs may still be running after get().

template <class T>
class BlockingQueue {
 public:
  // capacity 0 means unbounded; otherwise put() blocks while `capacity` items are waiting.
  explicit BlockingQueue(std::size_t capacity = 0) : capacity_(capacity) {}

  void put(T item) {
    std::unique_lock lock(mutex_);
    not_full_.wait(lock, [&] { return capacity_ == 0 || items_.size() < capacity_; });  // backpressure
    items_.push_back(std::move(item));
    peak_ = std::max(peak_, items_.size());
    ++unfinished_;
    not_empty_.notify_one();  // wake one waiting get()
  }

  T get() {
    std::unique_lock lock(mutex_);
    not_empty_.wait(lock, [&] { return !items_.empty(); });
    T item = std::move(items_.front());
    items_.pop_front();
    not_full_.notify_one();  // a slot is free: wake one waiting put()
    return item;
  }

  // Call once per get(), when that item has been fully handled.
  void task_done() {
    std::lock_guard lock(mutex_);
    if (unfinished_ == 0) throw std::logic_error("task_done() called more times than there were items");
    if (--unfinished_ == 0) all_done_.notify_all();  // wake every join()
  }

  // Block until every item put so far has been matched by a task_done().
  void join() {
    std::unique_lock lock(mutex_);
    all_done_.wait(lock, [&] { return unfinished_ == 0; });
  }

  [[nodiscard]] std::size_t size() const {
    std::lock_guard lock(mutex_);
    return items_.size();
  }
  // The most items that were ever waiting at once.
  [[nodiscard]] std::size_t peak_size() const {
    std::lock_guard lock(mutex_);
    return peak_;
  }

 private:
  mutable std::mutex mutex_;  // guards everything below
  std::condition_variable not_empty_;
  std::condition_variable not_full_;
  std::condition_variable all_done_;
  std::deque<T> items_;
  std::size_t capacity_;
  std::size_t unfinished_ = 0;
  std::size_t peak_ = 0;
};

// -------------------------------------------------------------------------------------------------
// 2. Worker threads pull jobs; a failing job is reported and the worker carries on
// -------------------------------------------------------------------------------------------------
// A worker loops: get a job, process it, task_done(). Processing happens outside the queue's lock,
// so the workers run their jobs at the same time. The workers do not know how many jobs there are;
// they stop when they receive the sentinel (section 3).
//
// A job that throws must not end its worker: an exception escaping a thread's function calls
// std::terminate and ends the whole program (Python would only print a traceback and lose the
// thread). So the worker catches it, records the failure as a result, and takes the next job.
// task_done() is called in both cases, or join() would wait forever.

struct Job {
  int id = 0;
  int value = 0;  // a negative value makes the job fail
  std::chrono::milliseconds work{0};
};

struct Outcome {
  int job = 0;
  int worker = 0;  // which worker processed it (0, 1, ...)
  int thread = 0;  // that worker's thread on the timeline (pg::thread_number(): 1 is main; the others are
                   // numbered in the order they first record a span, so worker 0 need not be thread 2)
  std::optional<int> result;
  std::string error;  // set when the job threw
};

int process_job(const Job& job) {
  std::this_thread::sleep_for(job.work);  // stands for real work: a download, a resize, a query
  if (job.value < 0) throw std::invalid_argument(fmt::format("job {}: negative value {}", job.id, job.value));
  return job.value * job.value;
}

// What the workers report back. It is written by several threads, so it has its own mutex; the
// caller reads it only after joining the workers.
class Outcomes {
 public:
  void add(Outcome outcome) {
    std::lock_guard lock(mutex_);
    outcomes_.push_back(std::move(outcome));
  }
  [[nodiscard]] std::vector<Outcome> all() const {
    std::lock_guard lock(mutex_);
    return outcomes_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<Outcome> outcomes_;
};

using JobQueue = BlockingQueue<std::optional<Job>>;  // std::nullopt is the sentinel: "no more jobs"

void worker_loop(int worker, JobQueue& queue, Outcomes& outcomes, pg::Timeline& timeline) {
  while (true) {
    std::optional<Job> job = queue.get();
    if (!job) {  // the sentinel: this worker is done
      queue.task_done();
      return;
    }
    Outcome outcome{job->id, worker, pg::thread_number(), std::nullopt, {}};
    {
      auto span = timeline.scope(fmt::format("job {}", job->id));
      try {
        outcome.result = process_job(*job);
      } catch (const std::exception& error) {
        outcome.error = error.what();  // reported, and the loop goes on
      }
    }
    outcomes.add(std::move(outcome));
    queue.task_done();
  }
}

// -------------------------------------------------------------------------------------------------
// 3. The whole pipeline, and shutdown with one sentinel per worker
// -------------------------------------------------------------------------------------------------
// The producer (here the calling thread) puts every job, then calls join() to wait until all of them
// have been processed. To stop the workers it puts one sentinel per worker: each worker takes exactly
// one sentinel and returns, so after `workers` sentinels every worker has stopped and the threads
// can be joined. (One sentinel for all would stop one worker and leave the others waiting forever.)

struct PipelineReport {
  std::vector<Outcome> outcomes;  // in the order the jobs finished
  double join_returned_ms = 0;    // when queue.join() returned, from the start
  pg::Clock::time_point join_returned_at{};
  int workers_exited = 0;  // workers whose loop returned after a sentinel
};

PipelineReport run_pipeline(const std::vector<int>& values, int workers, std::chrono::milliseconds job_work,
                            pg::Timeline& timeline) {
  JobQueue queue;
  Outcomes outcomes;
  std::atomic<int> exited{0};
  pg::Stopwatch clock;
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&, w] {
      worker_loop(w, queue, outcomes, timeline);
      exited.fetch_add(1);
    });
  }
  for (std::size_t i = 0; i < values.size(); ++i) queue.put(Job{static_cast<int>(i), values[i], job_work});
  queue.join();  // every job processed (not merely taken)
  PipelineReport report;
  report.join_returned_at = pg::Clock::now();
  report.join_returned_ms = clock.elapsed_ms();
  for (int w = 0; w < workers; ++w) queue.put(std::nullopt);  // one sentinel per worker
  for (auto& t : threads) t.join();
  report.outcomes = outcomes.all();
  report.workers_exited = exited.load();
  return report;
}

// -------------------------------------------------------------------------------------------------
// 4. Backpressure: a bounded queue makes a fast producer wait
// -------------------------------------------------------------------------------------------------
// With an unbounded queue, a producer faster than its consumers fills memory without limit. With a
// capacity, put() blocks while the queue is full, so the producer runs at the consumers' pace and at
// most `capacity` items wait in between. The timeline shows the producer's put() calls stretching to
// the length of one consume once the queue has filled.

struct BackpressureReport {
  std::size_t max_waiting = 0;  // the most items seen waiting in the queue
  double producer_ms = 0;       // how long the producer took to put every item
};

BackpressureReport run_backpressure(int items, std::size_t capacity, std::chrono::milliseconds consume_time,
                                    pg::Timeline& timeline) {
  BlockingQueue<std::optional<int>> queue(capacity);
  std::thread consumer([&] {
    while (true) {
      std::optional<int> item = queue.get();
      if (!item) return;
      auto span = timeline.scope(fmt::format("consume {}", *item));
      std::this_thread::sleep_for(consume_time);
    }
  });
  pg::Stopwatch producer_clock;
  for (int i = 0; i < items; ++i) {
    auto span = timeline.scope(fmt::format("put {}", i));
    queue.put(i);  // returns at once while there is room, then only when the consumer takes one
  }
  const double producer_ms = producer_clock.elapsed_ms();
  queue.put(std::nullopt);
  consumer.join();
  return {queue.peak_size(), producer_ms};
}

// ---- Plumbing for main (skip on a first reading) -------------------------------------------------
// One line per job, but with many jobs only the first and last few, and a count of the rest: a run
// with --jobs 100000 should not print 100,000 lines.
void print_outcomes(const std::vector<Outcome>& outcomes, std::size_t shown_at_each_end = 5) {
  const auto print_one = [](const Outcome& o) {
    if (o.result) {
      fmt::print("  job {} -> {} (worker {}, thread {})\n", o.job, *o.result, o.worker, o.thread);
    } else {
      fmt::print("  job {} FAILED: {} (worker {}, thread {}, reported it and carried on)\n", o.job, o.error, o.worker,
                 o.thread);
    }
  };
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    if (outcomes.size() > 2 * shown_at_each_end + 1 && i == shown_at_each_end) {
      const std::size_t hidden = outcomes.size() - 2 * shown_at_each_end;
      const auto failed = std::count_if(outcomes.begin() + static_cast<std::ptrdiff_t>(i),
                                        outcomes.end() - static_cast<std::ptrdiff_t>(shown_at_each_end),
                                        [](const Outcome& o) { return !o.result; });
      fmt::print("  ... {} more jobs not shown ({} of them failed) ...\n", hidden, failed);
      i = outcomes.size() - shown_at_each_end - 1;
      continue;
    }
    print_one(outcomes[i]);
  }
}

// -------------------------------------------------------------------------------------------------
// main: run the sections in order
// -------------------------------------------------------------------------------------------------

#ifndef PLAYGROUND_NO_MAIN  // the tests include this file and bring their own main
int main(int argc, char** argv) {
  int workers = 3;
  int jobs = 9;
  int job_ms = 50;
  int failing_job = 4;
  int items = 8;
  int capacity = 2;
  int consume_ms = 30;
  pg::TraceFile trace;
  pg::Flags flags("queues_and_worker_threads",
                  "A blocking queue feeding worker threads: join, sentinels, backpressure.");
  flags.add("--workers", workers, "worker threads in sections 2 and 3", 1, 256);
  flags.add("--jobs", jobs, "jobs put on the queue", 0, 100'000);
  flags.add("--job-ms", job_ms, "how long each job works, in milliseconds", 0, 10'000);
  flags.add("--failing-job", failing_job, "the id of the job that throws (-1: none)", -1, 100'000);
  flags.add("--items", items, "items the producer puts in section 4", 0, 100'000);
  flags.add("--capacity", capacity, "capacity of the bounded queue in section 4", 1, 100'000);
  flags.add("--consume-ms", consume_ms, "how long the consumer of section 4 takes per item", 0, 10'000);
  trace.add_flags(flags);  // --trace FILE and --html FILE
  if (auto status = flags.parse(argc, argv)) return *status;
  if (auto status = trace.open()) return *status;

  // Look for: `workers` jobs run at a time, each worker taking the next job as soon as it is free;
  // the failing job is reported and its worker goes on to other jobs; join() returns after the last
  // job's span ends; every worker exits after its sentinel.
  pg::banner(fmt::format("2 and 3. {} jobs x {} ms on {} workers; job {} throws", jobs, job_ms, workers, failing_job));
  const long expected_ms = (static_cast<long>(jobs) + workers - 1) / workers * job_ms;
  if (expected_ms >= 1'000) fmt::print("  this takes about {:.0f} s (jobs / workers x job-ms)\n", expected_ms / 1e3);
  std::vector<int> values;
  for (int i = 0; i < jobs; ++i) values.push_back(i == failing_job ? -i : i);
  pg::Timeline pipeline("workers");
  const auto report = run_pipeline(values, workers, std::chrono::milliseconds(job_ms), pipeline);
  pipeline.print();
  trace.add(pipeline);
  print_outcomes(report.outcomes);
  fmt::print(
      "  (worker N is the index run_pipeline gave the worker; thread N is the timeline's number for its\n"
      "  thread: 1 is main, the others are numbered in the order they first record a span, and the workers\n"
      "  start together, so worker 0 need not be thread 2)\n");
  fmt::print("  join() returned after {:.0f} ms, when all {} jobs were done (about jobs / workers x {} ms = {} ms)\n",
             report.join_returned_ms, report.outcomes.size(), job_ms, expected_ms);
  fmt::print("  {} sentinels sent, {} of {} workers exited\n", workers, report.workers_exited, workers);

  // Look for: the first puts return at once (the queue has room); after that each put lasts as long as
  // one consume, so the producer advances only as fast as the consumer.
  pg::banner(fmt::format("4. Backpressure: {} items into a queue of capacity {}, consumer takes {} ms each", items,
                         capacity, consume_ms));
  const long pressure_ms = static_cast<long>(items) * consume_ms;
  if (pressure_ms >= 1'000) fmt::print("  this takes about {:.0f} s (items x consume-ms)\n", pressure_ms / 1e3);
  pg::Timeline pressure("backpressure");
  const auto bp =
      run_backpressure(items, static_cast<std::size_t>(capacity), std::chrono::milliseconds(consume_ms), pressure);
  pressure.print(2 * static_cast<std::size_t>(items));
  trace.add(pressure);
  fmt::print("  at most {} items waited in the queue; the producer needed {:.0f} ms to put {} items:\n", bp.max_waiting,
             bp.producer_ms, items);
  fmt::print("  once the queue was full, each put() waited for the consumer to take one\n");
  fmt::print(
      "  (up to {} puts may return at once although only {} fit: the consumer may take item 0 as soon as\n"
      "  it arrives, leaving room for items 1 to {} before a put() has to wait)\n",
      capacity + 1, capacity, capacity);

  if (!trace.write()) return 1;
  fmt::print(
      "\nTakeaway: share a queue, not variables: it hands each job to one worker, join() waits for them all,\n"
      "a sentinel per worker stops them, and a capacity makes producers wait instead of piling up work.\n");
  return 0;
}
#endif

// -------------------------------------------------------------------------------------------------
// Try this: change one thing, predict what the output will show, then run it. The answers below were
// checked with g++ 12 on Linux. Rebuild with `cmake --build build/default --target
// queues_and_worker_threads`, and undo a change with `git checkout threading/queues_and_worker_threads.cpp`.
// -------------------------------------------------------------------------------------------------
// 1. Run `build/default/threading/queues_and_worker_threads --capacity 8`. How long does section 4's
//    producer take to put its 8 items?
//    Answer: about 0 ms ("at most 8 items waited in the queue; the producer needed 0 ms"): the queue
//    has room for everything, so put() never waits. With the default capacity 2 it needs about 150 ms
//    (measured 159 ms): it runs at the consumer's pace.
//
// 2. Run it with `--workers 1`. When does join() return in sections 2 and 3?
//    Answer: after about 9 x 50 = 450 ms (measured 463 ms) instead of about 150 ms with 3 workers:
//    one worker does the jobs one after another. The failing job 4 is still reported and the worker
//    still carries on.
//
// 3. In run_pipeline, replace the loop that puts one sentinel per worker with a single
//    `queue.put(std::nullopt);`.
//    Answer: the program hangs in sections 2 and 3 after their banner (press Ctrl-C). queue.join()
//    still returns, since every job gets done; then one worker takes the only sentinel and exits, the
//    other two wait in get() for ever, and joining their threads never returns.
//
// Next: threading/lock_free_ring.cpp: a queue between two threads with no lock at all, built from
// acquire and release, measured against this lesson's BlockingQueue.
