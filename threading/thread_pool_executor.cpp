// thread_pool_executor: a fixed set of worker threads runs the tasks you submit and hands back futures.
//
// What you will see: waiting (I/O-like) tasks run one by one and then on a pool, where the speedup is
// about min(workers, tasks); CPU-heavy tasks run one by one and then on the pool, where, unlike in
// Python, the speedup is about the number of cores; results collected in completion order (Python's
// as_completed) and in submission order (Python's map); an exception thrown in a task coming back
// through future::get(); and what shutting a pool down does to work still queued.
//
// Run it:   build/default/threading/thread_pool_executor --workers 4 --tasks 8 --delay-ms 100
// Build it by hand:
//   g++ -std=c++20 -O2 -I common threading/thread_pool_executor.cpp -lfmt -pthread -o thread_pool_executor
//
// Mirrors thread_pool_executor.py from the Python playground:
//   ThreadPoolExecutor(max_workers=4)      -> asio::thread_pool pool(4)
//   executor.submit(f, x) -> Future        -> asio::post(pool, asio::use_future([x] { return f(x); }))
//   future.result()                        -> future.get()      (waits; rethrows the task's exception)
//   as_completed(futures)                  -> each task reports when done (section 3)
//   executor.map(f, xs)                    -> get() the futures in submission order (section 3)
//   with ThreadPoolExecutor(...): (exit)   -> pool.join()       (waits for every queued task)
//
// What differs in C++: no GIL. In Python, threads help only while tasks wait (I/O); CPU-bound Python
// code holds the GIL, so a thread pool runs it no faster than one thread, and Python sends you to
// multiprocessing. C++ threads run on all cores at once, so the same pool speeds up CPU-bound work
// by about the number of cores (section 2). And a pool destroyed without join() drops queued work.

#include <fmt/ranges.h>  // prints a std::vector as [0, 1, 4]
#include <asio/post.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_future.hpp>

#include <charconv>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "playground.hpp"

using namespace std::chrono_literals;

// -------------------------------------------------------------------------------------------------
// 1. Waiting tasks: one by one vs on a pool
// -------------------------------------------------------------------------------------------------
// A task that mostly waits (a download, a database query; here a sleep) keeps a thread busy doing
// nothing. A pool of W workers keeps W of them waiting at once, so N tasks take about
// ceil(N / W) x delay instead of N x delay: a speedup of about min(W, N).
//
// asio::post(pool, asio::use_future(f)) queues `f` on the pool and returns at once (Python's submit).
// What it returns is a std::future<int>: a claim ticket for a result that does not exist yet, the
// twin of Python's concurrent.futures.Future. Its get() blocks until the task has run, then returns
// the task's value or rethrows the exception the task threw (section 4), like future.result(). Unlike
// Python's, a std::future can be read once (get() hands the value over) and cannot be copied, only
// moved: one owner per result. (The other end, where the pool thread puts the value, is called a
// std::promise; use_future makes that pair for you.) pool.join() then waits until the queue is empty
// and every worker is idle (Python's leaving the `with` block).

int fetch_io(int id, std::chrono::milliseconds delay, pg::Timeline& timeline) {
  auto span = timeline.scope(fmt::format("io {}", id));
  std::this_thread::sleep_for(delay);
  return id * id;
}

std::vector<int> run_io_one_by_one(int tasks, std::chrono::milliseconds delay, pg::Timeline& timeline) {
  std::vector<int> results;
  for (int id = 0; id < tasks; ++id) results.push_back(fetch_io(id, delay, timeline));
  return results;
}

std::vector<int> run_io_on_pool(int tasks, int workers, std::chrono::milliseconds delay, pg::Timeline& timeline) {
  asio::thread_pool pool(static_cast<std::size_t>(workers));
  std::vector<std::future<int>> futures;
  for (int id = 0; id < tasks; ++id)
    futures.push_back(
        asio::post(pool, asio::use_future([id, delay, &timeline] { return fetch_io(id, delay, timeline); })));
  std::vector<int> results;
  for (auto& f : futures) results.push_back(f.get());
  pool.join();
  return results;
}

// Why a pool and not std::async? `std::async(std::launch::async, f)` is the one-liner, but it starts
// a new thread for every call, with no limit (10,000 calls: 10,000 threads), and the future it returns
// blocks in its destructor until the task is done, so forgetting it makes the call synchronous. A
// fixed pool reuses a few threads for any number of tasks and lets you choose how many run at once.

// -------------------------------------------------------------------------------------------------
// 2. CPU-heavy tasks: one by one vs on a pool. Here C++ and Python part ways.
// -------------------------------------------------------------------------------------------------
// Counting primes by trial division never waits: it only computes. In Python the GIL lets one
// thread run Python code at a time, so this section's pool would be no faster than one thread.
// In C++ each worker runs on its own core at the same time: with 2 cores the pool is about 2x
// faster, with 8 cores about 8x (given enough tasks and workers). More workers than cores does not
// help CPU work: they only take turns.

int count_primes_below(int limit) {
  int count = 0;
  for (int n = 2; n < limit; ++n) {
    bool prime = true;
    for (int d = 2; d * d <= n; ++d) {
      if (n % d == 0) {
        prime = false;
        break;
      }
    }
    if (prime) ++count;
  }
  return count;
}

int cpu_task(int id, int limit, pg::Timeline& timeline) {
  auto span = timeline.scope(fmt::format("cpu {}", id));
  return count_primes_below(limit + 1000 * id);  // slightly different work per task, so results differ
}

std::vector<int> run_cpu_one_by_one(int tasks, int limit, pg::Timeline& timeline) {
  std::vector<int> results;
  for (int id = 0; id < tasks; ++id) results.push_back(cpu_task(id, limit, timeline));
  return results;
}

std::vector<int> run_cpu_on_pool(int tasks, int workers, int limit, pg::Timeline& timeline) {
  asio::thread_pool pool(static_cast<std::size_t>(workers));
  std::vector<std::future<int>> futures;
  for (int id = 0; id < tasks; ++id)
    futures.push_back(
        asio::post(pool, asio::use_future([id, limit, &timeline] { return cpu_task(id, limit, timeline); })));
  std::vector<int> results;
  for (auto& f : futures) results.push_back(f.get());
  pool.join();
  return results;
}

// -------------------------------------------------------------------------------------------------
// 3. Completion order (as_completed) vs submission order (map)
// -------------------------------------------------------------------------------------------------
// Task i sleeps (tasks - i) x step, so the last one submitted finishes first.
//
// map: get() the futures in the order you submitted them. You receive results in submission order,
// and a slow first task holds back the fast ones behind it.
//
// as_completed: the standard library has no "wait for any of these futures", so each task reports
// itself when it finishes: it appends its id to a list under a mutex and wakes the collector through
// a condition variable. The collector handles each result as soon as it exists.
//
// A std::condition_variable is Python's threading.Condition: a place where threads sleep until
// another thread says "something changed". It always works with a mutex that guards the shared state
// (here the `finished` list). The waiter calls `cv.wait(lock, [&] { return condition; })`: while the
// condition is false, wait() unlocks the mutex, sleeps, and locks it again when woken, then re-checks
// (so a wake-up with nothing new, which can happen, just goes back to sleep). The other side changes
// the state under the mutex, then calls notify_one() (or notify_all()) to wake a sleeper. Python's
// `with cond: cond.wait_for(predicate)` is the same shape. std::unique_lock is the lock object wait()
// needs, because wait() must unlock and relock it; std::lock_guard cannot be unlocked early.
// (threading/queues_and_worker_threads builds a whole queue from these.)

int slow_square(int id, std::chrono::milliseconds delay, pg::Timeline& timeline) {
  auto span = timeline.scope(fmt::format("job {}", id));
  std::this_thread::sleep_for(delay);
  return id * id;
}

std::chrono::milliseconds delay_of(int id, int tasks, std::chrono::milliseconds step) { return (tasks - id) * step; }

// Returns the task ids in the order their results were received.
std::vector<int> collect_as_completed(int tasks, int workers, std::chrono::milliseconds step, pg::Timeline& timeline) {
  // The state the tasks share comes first: objects are destroyed in reverse order, so the pool (and
  // its threads, which use this state) is always gone before it, even if this function throws.
  std::mutex mutex;
  std::condition_variable finished_one;
  std::vector<int> finished;  // ids, in the order the tasks finished
  asio::thread_pool pool(static_cast<std::size_t>(workers));
  for (int id = 0; id < tasks; ++id) {
    asio::post(pool, [&, id] {
      slow_square(id, delay_of(id, tasks, step), timeline);
      {
        std::lock_guard lock(mutex);
        finished.push_back(id);
      }
      finished_one.notify_one();
    });
  }
  std::vector<int> received;
  for (int k = 0; k < tasks; ++k) {
    std::unique_lock lock(mutex);
    finished_one.wait(lock, [&] { return finished.size() > static_cast<std::size_t>(k); });
    received.push_back(finished[static_cast<std::size_t>(k)]);  // handle result k as soon as it exists
  }
  pool.join();
  return received;
}

// Returns the task ids in the order their results were received.
std::vector<int> collect_in_submission_order(int tasks, int workers, std::chrono::milliseconds step,
                                             pg::Timeline& timeline) {
  asio::thread_pool pool(static_cast<std::size_t>(workers));
  std::vector<std::future<int>> futures;
  for (int id = 0; id < tasks; ++id)
    futures.push_back(asio::post(pool, asio::use_future([id, tasks, step, &timeline] {
                                   slow_square(id, delay_of(id, tasks, step), timeline);
                                   return id;  // the result names its task, so we can show which one we got
                                 })));
  std::vector<int> received;
  for (auto& f : futures) received.push_back(f.get());  // waits for each task in turn, however long it takes
  pool.join();
  return received;
}

// -------------------------------------------------------------------------------------------------
// 4. An exception in a task comes back through future::get()
// -------------------------------------------------------------------------------------------------
// A task runs on a worker thread, far from the code that submitted it. If it throws, the future
// stores the exception and get() rethrows it in the caller, as Python's future.result() does. The
// worker thread itself carries on with the next task. (An exception escaping a plain std::thread's
// function, with no future to catch it, calls std::terminate and ends the program.)

int parse_positive(const std::string& text) {
  int value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size())
    throw std::invalid_argument(fmt::format("'{}' is not a number", text));
  if (value <= 0) throw std::domain_error(fmt::format("'{}' is not positive", text));
  return value;
}

// One line per input: "ok N" or "error: what()".
std::vector<std::string> parse_all_on_pool(const std::vector<std::string>& inputs, int workers) {
  asio::thread_pool pool(static_cast<std::size_t>(workers));
  std::vector<std::future<int>> futures;
  for (const auto& text : inputs)
    futures.push_back(asio::post(pool, asio::use_future([text] { return parse_positive(text); })));
  // Here we join first and collect afterwards (get() then returns at once). Collecting while the pool
  // runs works too, but ThreadSanitizer would then flag a false data race: a worker may drop the last
  // reference to a rethrown exception after we read its message, and libstdc++ counts those
  // references with atomics that ThreadSanitizer cannot see (the library is not instrumented).
  pool.join();
  std::vector<std::string> outcomes;
  for (auto& f : futures) {
    try {
      outcomes.push_back(fmt::format("ok {}", f.get()));
    } catch (const std::exception& error) {
      outcomes.push_back(fmt::format("error: {}", error.what()));
    }
  }
  return outcomes;
}

// -------------------------------------------------------------------------------------------------
// 5. Shutdown: join() first, or queued work is dropped
// -------------------------------------------------------------------------------------------------
// Python's `with ThreadPoolExecutor()` waits for every submitted task on exit. asio::thread_pool's
// destructor does not: it calls stop(), which tells the workers to quit after the task they are
// running, then joins them. Tasks still in the queue are destroyed unrun, and their futures report
// std::future_errc::broken_promise. So call pool.join() first: it waits until the queue is empty.
// (And after join(), the pool is finished: a later post() is silently never run.)

struct ShutdownReport {
  int ran = 0;     // tasks that ran to the end
  int broken = 0;  // tasks dropped: their future reports broken_promise
};

ShutdownReport shut_down(int tasks, std::chrono::milliseconds task_time, bool join_first, pg::Timeline& timeline) {
  std::vector<std::future<void>> futures;
  {
    asio::thread_pool pool(1);  // one worker, so most tasks are still queued when we shut down
    for (int id = 0; id < tasks; ++id) {
      futures.push_back(asio::post(pool, asio::use_future([id, task_time, &timeline] {
                                     auto span = timeline.scope(fmt::format("queued {}", id));
                                     std::this_thread::sleep_for(task_time);
                                   })));
    }
    if (join_first) pool.join();  // FIXED: wait for every queued task
  }  // ~thread_pool: stop() then join(). Without the join above (BROKEN), queued tasks are dropped here.
  ShutdownReport report;
  for (auto& f : futures) {
    try {
      f.get();
      ++report.ran;
    } catch (const std::future_error&) {
      ++report.broken;
    }
  }
  return report;
}

// -------------------------------------------------------------------------------------------------
// main: run the sections in order
// -------------------------------------------------------------------------------------------------

#ifndef PLAYGROUND_NO_MAIN  // the tests include this file and bring their own main
int main(int argc, char** argv) {
  int workers = 4;
  int tasks = 8;
  int delay_ms = 100;
  int cpu_tasks = 4;
  int cpu_limit = 400'000;
  int step_ms = 40;
  pg::TraceFile trace;
  pg::Flags flags("thread_pool_executor", "A pool of worker threads: waiting tasks, CPU tasks, futures, shutdown.");
  flags.add("--workers", workers, "threads in the pool", 1, 256);
  flags.add("--tasks", tasks, "number of waiting tasks in section 1", 1, 10'000);
  flags.add("--delay-ms", delay_ms, "how long each waiting task sleeps, in milliseconds", 0, 10'000);
  flags.add("--cpu-tasks", cpu_tasks, "number of CPU-heavy tasks in section 2", 1, 1'000);
  flags.add("--cpu-limit", cpu_limit, "each CPU task counts the primes below about this number", 2, 100'000'000);
  flags.add("--step-ms", step_ms, "delay step between the jobs of section 3, in milliseconds", 1, 10'000);
  trace.add_flags(flags);  // --trace FILE and --html FILE
  if (auto status = flags.parse(argc, argv)) return *status;
  if (auto status = trace.open()) return *status;
  const std::chrono::milliseconds delay(delay_ms);
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());

  // Look for: on the pool, `workers` tasks start together, and the next ones start on the same
  // threads as the first ones end: the pool reuses its threads.
  pg::banner(fmt::format("1. Waiting tasks: {} x {} ms, one by one, then on {} workers", tasks, delay_ms, workers));
  pg::Timeline io_seq("io one by one");
  pg::Stopwatch io_seq_clock;
  const auto io_seq_results = run_io_one_by_one(tasks, delay, io_seq);
  const double io_seq_ms = io_seq_clock.elapsed_ms();
  io_seq.print(10);
  trace.add(io_seq);
  pg::Timeline io_pool("io pool");
  pg::Stopwatch io_pool_clock;
  const auto io_pool_results = run_io_on_pool(tasks, workers, delay, io_pool);
  const double io_pool_ms = io_pool_clock.elapsed_ms();
  io_pool.print(10);
  trace.add(io_pool);
  // The pool runs the tasks in waves of `workers`: ceil(tasks / workers) delays in all.
  const int waves = (tasks + workers - 1) / workers;
  const double io_speedup = io_seq_ms / std::max(io_pool_ms, 1e-3);
  const double io_ideal = static_cast<double>(tasks) / waves;
  fmt::print(
      "  one by one {:.0f} ms, pool {:.0f} ms: speedup {:.1f}x (ideal {:.1f}x: {} tasks in {} wave{} of up to {})\n",
      io_seq_ms, io_pool_ms, io_speedup, io_ideal, tasks, waves, waves == 1 ? "" : "s", workers);
  if (delay_ms == 0) {
    fmt::print("  below it: with --delay-ms 0 there is no wait to overlap; the pool only adds its own cost\n");
  } else if (io_speedup < 0.8 * io_ideal) {
    fmt::print(
        "  below it: the pool took {:.1f} ms more than {} x {} ms; starting {} threads and handing out\n"
        "  tasks costs that, large next to so short a wait (more on a busy machine)\n",
        io_pool_ms - waves * delay_ms, waves, delay_ms, workers);
  }
  fmt::print("  same results: {}\n", io_seq_results == io_pool_results);

  // Look for: on the pool, the CPU spans overlap and the total shrinks by about the number of cores
  // (on a busy machine, less: other programs take cores too). Python threads would not overlap here.
  pg::banner(fmt::format("2. CPU-heavy tasks: {} prime counts, one by one, then on {} workers ({} cores)", cpu_tasks,
                         workers, cores));
  pg::Timeline cpu_seq("cpu one by one");
  const auto seq_cpu_time_before = pg::process_cpu_time();
  pg::Stopwatch cpu_seq_clock;
  const auto cpu_seq_results = run_cpu_one_by_one(cpu_tasks, cpu_limit, cpu_seq);
  const double cpu_seq_ms = cpu_seq_clock.elapsed_ms();
  // CPU time used over elapsed time: how many cores a run kept busy on average (at most 1 here).
  const double seq_cores = pg::ms(pg::process_cpu_time() - seq_cpu_time_before) / std::max(cpu_seq_ms, 1e-3);
  cpu_seq.print(10);
  trace.add(cpu_seq);
  pg::Timeline cpu_pool("cpu pool");
  const auto load_before = pg::load_average();
  const auto cpu_time_before = pg::process_cpu_time();
  pg::Stopwatch cpu_pool_clock;
  const auto cpu_pool_results = run_cpu_on_pool(cpu_tasks, workers, cpu_limit, cpu_pool);
  const double cpu_pool_ms = cpu_pool_clock.elapsed_ms();
  // The same for the pool's run: the cores it really got (at most min(cores, workers)).
  const double cores_got = pg::ms(pg::process_cpu_time() - cpu_time_before) / std::max(cpu_pool_ms, 1e-3);
  cpu_pool.print(10);
  trace.add(cpu_pool);
  fmt::print("  results {} (same on the pool: {})\n", cpu_pool_results, cpu_seq_results == cpu_pool_results);
  const int cpu_ideal = std::min({static_cast<int>(cores), workers, cpu_tasks});
  const double cpu_speedup = cpu_seq_ms / std::max(cpu_pool_ms, 1e-3);
  fmt::print(
      "  one by one {:.0f} ms, pool {:.0f} ms: speedup {:.1f}x (ideal about min(cores {}, workers {}, tasks {}) = "
      "{})\n",
      cpu_seq_ms, cpu_pool_ms, cpu_speedup, cores, workers, cpu_tasks, cpu_ideal);
  fmt::print("  cores kept busy on average (CPU time / elapsed time): one by one {:.1f} (at most 1), pool {:.1f}\n",
             seq_cores, cores_got);
  if (cpu_speedup < 0.8 * cpu_ideal) {
    if (cpu_seq_ms < 20) {
      // Starting and joining the workers and handing out tasks costs a fixed fraction of a millisecond:
      // next to so little work, that cost is most of the pool's time, and the cores sit idle during it.
      fmt::print(
          "  below the ideal because the work is too small: all {} tasks took {:.1f} ms one by one, so the\n"
          "  pool's fixed cost (starting and joining {} threads, handing out the tasks) weighs as much as the\n"
          "  work itself. Give each task more work (a larger --cpu-limit) and the speedup comes back.\n",
          cpu_tasks, cpu_seq_ms, workers);
    } else if (cores_got < 0.8 * cpu_ideal) {
      // The speedup is about (the pool's cores) / (the one-by-one run's cores): what the machine gave.
      fmt::print(
          "  below the ideal because the pool got only {:.1f} of the {} cores it could use: other programs\n"
          "  had the rest (load average {}); the speedup is about {:.1f} / {:.1f} cores = {:.1f}x.\n"
          "  On an idle machine expect about {}x.\n",
          cores_got, cpu_ideal, load_before ? fmt::format("{:.1f} for {} cores", *load_before, cores) : "unknown",
          cores_got, seq_cores, cores_got / std::max(seq_cores, 1e-3), cpu_ideal);
    } else {
      fmt::print(
          "  below the ideal although the pool kept its cores busy: the tasks differ in size (task i counts\n"
          "  up to {} + 1000 x i), so at the end the last tasks run while other cores idle\n",
          cpu_limit);
    }
  }
  fmt::print("  In Python the GIL would keep this near 1.0x; C++ threads run on every core at once.\n");

  constexpr int jobs = 4;
  // Look for: both timelines are the same (the jobs finish last-submitted first); only the order in
  // which the results are *received* differs.
  pg::banner(fmt::format("3. {} jobs, job i sleeps ({} - i) x {} ms: completion order vs submission order", jobs, jobs,
                         step_ms));
  pg::Timeline completed("as completed");
  const auto completion_order = collect_as_completed(jobs, jobs, std::chrono::milliseconds(step_ms), completed);
  completed.print();
  trace.add(completed);
  pg::Timeline submitted("in order");
  const auto submission_order = collect_in_submission_order(jobs, jobs, std::chrono::milliseconds(step_ms), submitted);
  submitted.print();
  trace.add(submitted);
  fmt::print("  as_completed received {}: fastest first\n", completion_order);
  fmt::print("  map-style get() in order received {}: as submitted, waiting on the slow first job\n", submission_order);

  // Look for: the bad inputs come back as errors, in the caller, and the good ones still succeed.
  pg::banner("4. An exception in a task comes back through future::get()");
  const std::vector<std::string> inputs = {"7", "abc", "-3", "42"};
  const auto outcomes = parse_all_on_pool(inputs, 2);
  for (std::size_t i = 0; i < inputs.size(); ++i)
    fmt::print("  parse_positive(\"{}\") -> {}\n", inputs[i], outcomes[i]);

  // Look for: without join() few or none of the tasks ran (the destructor got there first); with
  // join() all of them did.
  pg::banner("5. Shutdown: 5 queued tasks on 1 worker, destroyed without join() (BROKEN) and after join() (FIXED)");
  pg::Timeline dropped("no join");
  const auto broken = shut_down(5, 20ms, false, dropped);
  dropped.print();
  trace.add(dropped);
  fmt::print("  BROKEN: {} ran, {} dropped (their futures say broken_promise)\n", broken.ran, broken.broken);
  pg::Timeline joined("join first");
  const auto fixed = shut_down(5, 20ms, true, joined);
  joined.print();
  trace.add(joined);
  fmt::print("  FIXED:  {} ran, {} dropped\n", fixed.ran, fixed.broken);

  if (!trace.write()) return 1;
  fmt::print(
      "\nTakeaway: a fixed pool runs waiting tasks side by side and, in C++ unlike Python, CPU work on every\n"
      "core; futures bring back results and exceptions; join() the pool before it is destroyed.\n");
  return 0;
}
#endif

// -------------------------------------------------------------------------------------------------
// Try this: change one thing, predict what the output will show, then run it. The answers below were
// checked with g++ 12 and Asio 1.22 on Linux. Rebuild with
// `cmake --build build/default --target thread_pool_executor`, and undo a change with
// `git checkout threading/thread_pool_executor.cpp`.
// -------------------------------------------------------------------------------------------------
// 1. Run `build/default/threading/thread_pool_executor --workers 1`. What speedups do sections 1 and 2
//    print?
//    Answer: about 1.0x for both (1.0x to 1.1x measured): one worker runs the tasks one after
//    another, waiting or computing. (Section 3 has its own pool, so its orders do not change.)
//
// 2. In collect_as_completed, delete the line `finished_one.notify_one();`.
//    Answer: the program hangs in section 3 (press Ctrl-C). The collector sleeps in wait() and nobody
//    wakes it: the predicate is checked only when it wakes up. A condition variable's state lives in
//    your variables; the notify is what makes the waiter look at them again.
//
// Next: threading/sync_primitives.cpp: semaphores, latches, barriers, events and stop tokens.
