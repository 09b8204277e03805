// process_pool_executor: a pool of worker processes, fed tasks and answering results as messages.
//
// What you will see: the same CPU-heavy job run sequentially, then on a pool of worker processes with
// submit() and an as_completed loop, then with map(), which keeps input order; the speedup, judged
// against the cores this machine has; the cost of one round trip to a worker; and what happens when a
// task throws or a worker dies: a clear error for that task, never a hang.
//
// Run it:   build/default/multiprocessing/process_pool_executor --workers 2 --tasks 12
// Build it by hand:
//   g++ -std=c++20 -O2 -I common multiprocessing/process_pool_executor.cpp -lfmt -pthread -o process_pool_executor
//
// Mirrors process_pool_executor.py from the Python playground:
//   ProcessPoolExecutor(max_workers=n)      -> ProcessPool pool(n)
//   future = pool.submit(f, x)              -> TaskHandle h = pool.submit(f, x)
//   future.result()                         -> pool.result(h) (with a time limit)
//   for f in as_completed(futures): ...     -> while (!pending.empty()) { h = pool.next_completed(pending); ... }
//   pool.map(f, xs)                         -> pool.map(f, xs) (results in input order)
//   pickling f and x                        -> a text line "task ID FUNCTION-NAME ARG"
//   BrokenProcessPool                       -> the exception BrokenProcessPool
//   with ProcessPoolExecutor() as pool:     -> ~ProcessPool() calls shutdown(): workers exit and are reaped
//
// What differs in C++: Python pickles the function and its arguments and sends the bytes to a worker;
// only data crosses the pipe, and the worker finds the function again *by name*. We do the same,
// explicitly: a task is a function name from a table plus a number, written as text. In C++ a thread
// pool would run these tasks in parallel too (no GIL); a process pool buys isolation: a worker that
// crashes takes down only itself, and the pool survives to tell you.
//
// How to read this file: this lesson *uses* the pool; building_a_process_pool.cpp, the next lesson,
// builds it (workers, pipes, messages) and is included below. Sections 1 to 3 are the idea; section 4
// measures what a round trip costs.

#include <fmt/ranges.h>  // prints a std::vector as [0, 1, 4]

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "playground.hpp"

// The ProcessPool, from the next lesson's file (its table of functions and main() left out: ours are
// below). Including a .cpp file is unusual; it keeps this lesson buildable with one g++ command.
#define PROCESS_POOL_ONLY
#include "building_a_process_pool.cpp"

// -------------------------------------------------------------------------------------------------
// 1. The work
// -------------------------------------------------------------------------------------------------
// The CPU-heavy job: count the primes in one block of 100,000 numbers (block b holds
// [b x 100,000, (b + 1) x 100,000)). Later blocks cost more, so a pool that hands the next block to
// whichever worker is free balances the load by itself.
//
// A task names its function. Python pickles a function as its module and name, and the worker imports
// it; here the worker looks the name up in the table pool_functions() returns (section 5). A worker
// is a fork of this program, so it has the same table.

constexpr long pool_block_size = 100'000;

long count_primes_in_block(long block) {
  long count = 0;
  for (long n = std::max(2L, block * pool_block_size); n < (block + 1) * pool_block_size; ++n) {
    bool prime = true;
    for (long d = 2; d * d <= n; ++d) {
      if (n % d == 0) {
        prime = false;
        break;
      }
    }
    count += prime ? 1 : 0;
  }
  return count;
}

// -------------------------------------------------------------------------------------------------
// 2. The pool, as a caller sees it
// -------------------------------------------------------------------------------------------------
//   ProcessPool pool(2);                                   // fork 2 workers now
//   TaskHandle h = pool.submit(count_primes_in_block, 7);  // "task 0 count_primes_in_block 7\n" to a worker
//   long primes = pool.result(h, 30s);                     // wait for that worker's answer line
//   auto all = pool.map(count_primes_in_block, blocks);    // many tasks, results in input order
//
// Fork the pool before starting any thread: fork() copies only the calling thread, and a child of a
// multi-threaded process may find a lock held forever by a thread that does not exist in the child.
// There is no background thread in the pool either: work moves forward whenever you wait (result,
// next_completed, map, shutdown).
//
// A task that throws fails with TaskFailed (its message, from the worker), and the worker lives on.
// When a worker dies, the pool does what Python's does: the task it was running fails with
// BrokenProcessPool and a message saying how the worker died; the pool is *broken*: tasks still queued
// fail the same way and submit() refuses new ones. Tasks already running on other workers still finish.
//
// Two of Python's conveniences are built from submit() and result(); here they are.

// The as_completed step: wait until one of `pending` is done, remove it from `pending`, return it.
// Calling it until `pending` is empty visits every task once, in the order they finished, which is
// what Python's `for future in as_completed(futures)` does.
TaskHandle ProcessPool::next_completed(std::vector<TaskHandle>& pending, std::chrono::milliseconds limit) {
  const auto deadline = pg::Clock::now() + limit;
  for (;;) {
    for (auto it = pending.begin(); it != pending.end(); ++it) {
      if (outcome(*it).done) {
        const TaskHandle h = *it;
        pending.erase(it);
        return h;
      }
    }
    if (pg::Clock::now() >= deadline) throw std::runtime_error("next_completed timed out");
    pump(deadline);
  }
}

// map: everything is submitted first, so every worker is busy at once; then the results are collected
// in input order. A result that arrives early simply waits in the pool until its turn comes.
std::vector<long> ProcessPool::map(PoolFunction f, const std::vector<long>& inputs, std::chrono::milliseconds limit) {
  std::vector<TaskHandle> handles;
  for (long x : inputs) handles.push_back(submit(f, x));
  std::vector<long> results;
  for (const TaskHandle h : handles) results.push_back(result(h, limit));
  return results;
}

// -------------------------------------------------------------------------------------------------
// 3. Using it: sequential, submit + as_completed, map
// -------------------------------------------------------------------------------------------------

std::vector<long> blocks_sequentially(const std::vector<long>& blocks, pg::Timeline& timeline) {
  std::vector<long> counts;
  for (long b : blocks) {
    auto span = timeline.scope(fmt::format("count_primes_in_block({})", b));
    counts.push_back(count_primes_in_block(b));
  }
  return counts;
}

// submit every block, then take the results as they complete (Python: as_completed). Returns
// (block, count) pairs in completion order: the order is the workers', not ours.
std::vector<std::pair<long, long>> blocks_as_completed(ProcessPool& pool, const std::vector<long>& blocks) {
  std::map<long, long> block_of;  // task id -> block
  std::vector<TaskHandle> pending;
  for (long b : blocks) {
    const TaskHandle h = pool.submit(count_primes_in_block, b);
    block_of[h.id] = b;
    pending.push_back(h);
  }
  std::vector<std::pair<long, long>> done;
  while (!pending.empty()) {
    const TaskHandle h = pool.next_completed(pending);
    done.emplace_back(block_of[h.id], pool.result(h));
  }
  return done;
}

// -------------------------------------------------------------------------------------------------
// 4. What a round trip costs
// -------------------------------------------------------------------------------------------------
// Every task pays for two messages: formatting, two write() and two read() system calls, and waking
// up a sleeping process twice. That is microseconds to tens of microseconds (more when the worker
// runs on another core and has to be woken there), where calling square(x) directly takes a
// nanosecond. map() keeps every worker busy but each worker still holds one task at a time, so it
// does not make the trip cheaper. The lesson: give a pool chunks of work that take milliseconds.

struct RoundTrip {
  double one_at_a_time_us = 0;
  double pipelined_us = 0;
};

RoundTrip measure_round_trip(ProcessPool& pool, int tasks) {
  RoundTrip r;
  pg::Stopwatch one;
  for (int i = 0; i < tasks; ++i) pool.result(pool.submit(square, i));
  r.one_at_a_time_us = one.elapsed_ms() * 1000.0 / tasks;
  std::vector<long> inputs(static_cast<std::size_t>(tasks));
  for (int i = 0; i < tasks; ++i) inputs[static_cast<std::size_t>(i)] = i;
  pg::Stopwatch piped;
  pool.map(square, inputs);
  r.pipelined_us = piped.elapsed_ms() * 1000.0 / tasks;
  return r;
}

// map() against one task at a time, said the right way round: on a busy machine map() can come out
// slower, and "0.9x faster" would hide that.
std::string compare_per_task(const RoundTrip& cost) {
  const double ratio = cost.one_at_a_time_us / std::max(cost.pipelined_us, 1e-3);
  if (ratio >= 1.05) return fmt::format("map() is {:.1f}x faster per task", ratio);
  if (ratio <= 1 / 1.05) return fmt::format("map() is {:.1f}x slower per task", 1 / ratio);
  return "map() is about as fast per task (within 5%)";
}

// That is the whole idea. What remains is plumbing, safe to skip on a first reading.

// -------------------------------------------------------------------------------------------------
// 5. Plumbing: the table of functions a worker can run
// -------------------------------------------------------------------------------------------------

// A C++ exception in a task does not kill the worker: the worker catches it and sends its message
// back, and result() rethrows it in the parent (as Python re-raises a task's exception).
long integer_sqrt(long x) {
  if (x < 0) throw std::domain_error(fmt::format("integer_sqrt of negative number {}", x));
  long r = 0;
  while ((r + 1) * (r + 1) <= x) ++r;
  return r;
}

long throw_a_number(long x) { throw x; }  // C++ can throw any value, not only std::exception objects

// abort() raises SIGABRT: the worker process dies mid-task, as it would on a failed assert() or a
// segmentation fault. (We put back the default SIGABRT action first, in case the program installed a
// handler, as a test runner does; and switch core files off.)
long crash_worker(long) {
  const rlimit no_core{0, 0};
  ::setrlimit(RLIMIT_CORE, &no_core);
  std::signal(SIGABRT, SIG_DFL);
  std::abort();
}

// square and sleep_ms_then_echo come with the pool (building_a_process_pool.cpp, section 4).
inline constexpr NamedFunction executor_functions[] = {
    {"count_primes_in_block", count_primes_in_block},
    {"square", square},
    {"integer_sqrt", integer_sqrt},
    {"throw_a_number", throw_a_number},
    {"sleep_ms_then_echo", sleep_ms_then_echo},
    {"crash_worker", crash_worker},
};
std::span<const NamedFunction> pool_functions() { return executor_functions; }

// -------------------------------------------------------------------------------------------------
// main
// -------------------------------------------------------------------------------------------------

#ifndef PLAYGROUND_NO_MAIN  // the tests include this file and bring their own main
int main(int argc, char** argv) {
  int workers = 2;
  int tasks = 12;
  int round_trips = 2'000;
  pg::Flags flags("process_pool_executor", "A process pool: tasks and results as messages over pipes.");
  flags.add("--workers", workers, "number of worker processes", 1, 64);
  flags.add("--tasks", tasks, "number of prime-counting blocks of 100,000 numbers (100: about 10 s)", 1, 100);
  flags.add("--round-trips", round_trips, "tiny tasks used to measure the cost of one round trip", 1, 100'000);
  pg::TraceFile trace;
  trace.add_flags(flags);  // --trace FILE and --html FILE
  if (auto status = flags.parse(argc, argv)) return *status;
  if (auto status = trace.open()) return *status;
  std::vector<long> blocks;
  for (long b = 0; b < tasks; ++b) blocks.push_back(b);

  pg::banner(fmt::format("1. Sequentially: {} blocks in this process", tasks));
  pg::Timeline sequential("sequential");
  pg::Stopwatch sequential_clock;
  const auto expected = blocks_sequentially(blocks, sequential);
  const double sequential_ms = sequential_clock.elapsed_ms();
  sequential.print();
  trace.add(sequential);
  fmt::print("  counts {}, took {:.0f} ms\n", expected, sequential_ms);

  pg::banner(fmt::format("2. submit + as_completed on {} worker processes", workers));
  pg::Timeline completed("as_completed");
  // The workers are forked here, as copies of this process; they wait for tasks on their pipes and
  // use no CPU until the first submit().
  ProcessPool pool(workers, &completed);  // forked here, before anything else could start a thread
  fmt::print("  worker pids {}\n", pool.worker_pids());
  pg::Stopwatch completed_clock;
  const auto finished = blocks_as_completed(pool, blocks);
  const double completed_ms = completed_clock.elapsed_ms();
  completed.print();
  trace.add(completed);
  fmt::print("  (block, count) in the order they completed: {}\n", finished);
  // The best a pool can do is min(workers, tasks, cores) times faster. A speedup below that has a
  // cause: other programs wanted the cores (the load average counts runnable programs, averaged over
  // the last minute, as `uptime` shows), or the tasks were too small to pay for their messages.
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  const unsigned ideal = std::min({static_cast<unsigned>(workers), static_cast<unsigned>(tasks), cores});
  const double speedup = sequential_ms / std::max(completed_ms, 1e-3);
  double load_average = 0;
  ::getloadavg(&load_average, 1);
  fmt::print("  took {:.0f} ms: speedup {:.1f}x over sequential (ideal: min({} workers, {} tasks, {} cores) = {}x)\n",
             completed_ms, speedup, workers, tasks, cores, ideal);
  if (speedup < 0.8 * ideal && load_average >= 0.5) {
    fmt::print("  below the ideal: the load average was {:.1f} on {} cores, so other programs held some of them\n",
               load_average, cores);
  } else if (speedup < 0.8 * ideal) {
    fmt::print("  below the ideal on an idle machine: the tasks were too short to pay for their messages\n");
  }

  pg::banner("3. map: the same work, results in input order");
  pg::Timeline mapping("map");
  pool.record_spans_in(&mapping);
  pg::Stopwatch map_clock;
  const auto mapped = pool.map(count_primes_in_block, blocks);
  const double map_ms = map_clock.elapsed_ms();
  pool.record_spans_in(nullptr);
  mapping.print();
  trace.add(mapping);
  fmt::print("  counts {}, took {:.0f} ms; same as sequential: {}\n", mapped, map_ms, mapped == expected);

  pg::banner("4. The cost of a round trip");
  const RoundTrip cost = measure_round_trip(pool, round_trips);
  fmt::print("  {} x square(x): {:.1f} us per task one at a time, {:.1f} us per task with map()\n", round_trips,
             cost.one_at_a_time_us, cost.pipelined_us);
  // Why map() helps only a little: it keeps every worker busy, but each worker holds one task at a
  // time, so each task still waits for its own trip there and back. The trips of the different
  // workers overlap (about `workers` times fewer microseconds per task), and the parent may handle
  // several replies per wake-up; on a busy machine map() can even come out slower.
  fmt::print("  {} ({} workers' trips overlap, but each worker still takes one task at a time)\n",
             compare_per_task(cost), workers);
  fmt::print("  a function call costs a few nanoseconds: send a pool work that takes milliseconds\n");

  pg::banner("5. Errors: a task that throws, a worker that dies");
  try {
    pool.result(pool.submit(integer_sqrt, -4));
  } catch (const TaskFailed& e) {
    fmt::print("  a task threw, the worker lives on: TaskFailed: {}\n", e.what());
  }
  // One worker will crash (SIGABRT) while the other runs a 100 ms task. The crashed worker's task fails
  // with BrokenProcessPool, the running task still completes, and the broken pool refuses new work.
  const TaskHandle doomed = pool.submit(crash_worker, 0);
  const TaskHandle bystander = pool.submit(sleep_ms_then_echo, 100);
  try {
    pool.result(doomed, 10s);
  } catch (const BrokenProcessPool& e) {
    fmt::print("  BrokenProcessPool: {}\n", e.what());
    fmt::print("  (task numbers count every task this pool was given, the round trips of part 4 included)\n");
  }
  try {
    fmt::print("  a task already running on another worker still finishes: {}\n", pool.result(bystander, 10s));
  } catch (const BrokenProcessPool& e) {
    fmt::print("  BrokenProcessPool: {}\n", e.what());
  }
  try {
    pool.submit(square, 3);
  } catch (const BrokenProcessPool& e) {
    fmt::print("  and new work is refused: {}\n", e.what());
  }
  pool.shutdown();
  fmt::print("  shutdown: every worker reaped; how each ended: {}\n", pool.worker_endings());

  if (!trace.write()) return 1;
  fmt::print(
      "\nTakeaway: a process pool sends data, not objects, over pipes; give it big tasks, and expect a worker\n"
      "to die someday: a good pool turns that into an error for the affected tasks, never a hang.\n");
  return 0;
}
#endif

// -------------------------------------------------------------------------------------------------
// Try this: predict what the output will show, then run it. The answers below were checked with
// g++ 12 on Linux, 2 cores.
// -------------------------------------------------------------------------------------------------
// 1. Run `build/default/multiprocessing/process_pool_executor --workers 1`. What order do the results
//    under "2. submit + as_completed" come in, and what speedup does it print?
//    Answer: block order, 0 to 11, and a speedup a little under 1x (0.8x measured, on a busy
//    machine): one worker does the blocks one after another, and each round trip over the pipes adds
//    to the sequential time.
//
// 2. Run it with `--tasks 1`. What speedup does "2. submit + as_completed" print?
//    Answer: below 1x (0.6x measured): one block goes to one worker while the other idles, and the
//    task still pays for its messages. A pool speeds up only work that can be split into several
//    pieces, each much longer than a round trip ("4. The cost of a round trip" prints what one costs).
//
// Next: multiprocessing/building_a_process_pool.cpp: the pool used here, built from fork, two pipes per
// worker and one line of text per message; and how it learns that a worker died.
