// async_vs_sync: waiting for many things at once does not need many threads.
// New to C++ or Asio? PRIMER.md, at the top of the repository, explains the words used here with Python analogies.
//
// What you will see: the same N tasks, each waiting `--delay-ms`, run twice. First with a blocking
// sleep, so they run one after another and take N x delay. Then as C++20 coroutines that await an
// Asio timer on one `io_context` and one thread: the waits overlap and the whole run takes about one
// delay. The timelines show it, and a last section starts 10,000 coroutines to show they are cheap.
//
// Run it:   build/default/basics/async_vs_sync --tasks 5 --delay-ms 200
// Build it by hand:
//   g++ -std=c++20 -O2 -I common basics/async_vs_sync.cpp -lfmt -pthread -o async_vs_sync
//
// Mirrors async_vs_sync.py from the Python playground:
//   time.sleep(d)               -> std::this_thread::sleep_for(d)          (blocks the whole thread)
//   await asyncio.sleep(d)      -> co_await timer.async_wait(use_awaitable) (suspends one coroutine)
//   async def f() -> int        -> asio::awaitable<int> f()
//   asyncio.run / event loop    -> asio::io_context + io_context::run()
//   asyncio.gather(*tasks)      -> here: co_spawn each task, then run() until all are done
//
// What differs in C++: a coroutine is a plain function whose return type is `asio::awaitable<T>`;
// `co_await` marks where it may suspend, as `await` does in Python. Nothing runs until the
// io_context runs, and like asyncio it runs all the coroutines on the one thread that calls run().

#include <fmt/ranges.h>  // prints a std::vector as [0, 1, 4]
#include <asio.hpp>

#include <chrono>
#include <exception>
#include <string>
#include <thread>
#include <vector>

#include <sys/resource.h>

#include "playground.hpp"

using namespace std::chrono_literals;

// -------------------------------------------------------------------------------------------------
// 1. Blocking: one task after another
// -------------------------------------------------------------------------------------------------
// Each task pretends to ask a slow service for a number: it waits `delay`, then answers id * id.
// sleep_for blocks the calling thread, so while task 0 waits nothing else can happen on this
// thread, and task 1 starts only when task 0 is done. Total: tasks x delay.

int fetch_blocking(int id, std::chrono::milliseconds delay, pg::Timeline& timeline) {
  auto span = timeline.scope(fmt::format("task {}", id));
  std::this_thread::sleep_for(delay);
  return id * id;
}

std::vector<int> run_blocking(int tasks, std::chrono::milliseconds delay, pg::Timeline& timeline) {
  std::vector<int> results;
  for (int id = 0; id < tasks; ++id) results.push_back(fetch_blocking(id, delay, timeline));
  return results;
}

// -------------------------------------------------------------------------------------------------
// 2. Async: every task waits at the same time, on one thread
// -------------------------------------------------------------------------------------------------
// The same task as a coroutine. Instead of blocking the thread, it asks the io_context to wake it
// when a timer expires and *suspends* at co_await. The thread is then free to start the next task,
// which also suspends, and so on: all N timers are pending at once. When they expire, the
// io_context resumes each coroutine after its co_await, on the same thread that called run().

asio::awaitable<int> fetch_async(int id, std::chrono::milliseconds delay, pg::Timeline& timeline) {
  auto span = timeline.scope(fmt::format("task {}", id));
  asio::steady_timer timer(co_await asio::this_coro::executor, delay);
  co_await timer.async_wait(asio::use_awaitable);
  co_return (id * id);
}

// co_spawn starts a coroutine on the io_context (Python: asyncio.create_task). The last argument is
// what to do when it finishes: the handler made by store_result puts the result in the task's own
// slot, so results come back in task order whatever order the tasks finish in. If a task threw, the
// handler rethrows and the exception leaves io_context::run() instead of being lost.
auto store_result(std::vector<int>& results, int id) {
  return [&results, id](std::exception_ptr error, int value) {
    if (error) std::rethrow_exception(error);
    results[static_cast<std::size_t>(id)] = value;
  };
}

// Task `id` waits delays[id]; with unequal delays the tasks finish in another order than they started.
std::vector<int> run_async(const std::vector<std::chrono::milliseconds>& delays, pg::Timeline& timeline) {
  asio::io_context io;
  std::vector<int> results(delays.size());
  for (std::size_t id = 0; id < delays.size(); ++id) {
    const int task = static_cast<int>(id);
    co_spawn(io, fetch_async(task, delays[id], timeline), store_result(results, task));
  }
  // Nothing has run yet: co_spawn only queued the tasks. run() executes them on *this* thread and
  // returns when no work is left, that is when every task has finished.
  io.run();
  return results;
}

// The lesson's case: `tasks` tasks that all wait the same `delay`.
std::vector<int> run_async(int tasks, std::chrono::milliseconds delay, pg::Timeline& timeline) {
  return run_async(std::vector<std::chrono::milliseconds>(static_cast<std::size_t>(tasks), delay), timeline);
}

// -------------------------------------------------------------------------------------------------
// main: run both, print the timelines, compare
// -------------------------------------------------------------------------------------------------

// The most resident memory (RAM actually used) this process has had so far, in KB: the kernel keeps
// that high-water mark for every process (getrusage's ru_maxrss on Linux).
long peak_memory_kb() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

// Results as Python prints a list, [0, 1, 4], but a long list only by its ends and its length:
// [0, 1, 4, 9, 16, ..., 994009, 996004, 998001] (1000 results).
std::string abbreviated(const std::vector<int>& results) {
  constexpr std::size_t head = 5;
  constexpr std::size_t tail = 3;
  if (results.size() <= head + tail + 2) return fmt::format("{}", results);
  const std::vector<int> first(results.begin(), results.begin() + head);
  const std::vector<int> last(results.end() - tail, results.end());
  return fmt::format("[{}, ..., {}] ({} results)", fmt::join(first, ", "), fmt::join(last, ", "), results.size());
}

#ifndef PLAYGROUND_NO_MAIN  // the tests include this file and bring their own main
int main(int argc, char** argv) {
  int tasks = 5;
  int delay_ms = 200;
  int many = 10'000;
  pg::Flags flags("async_vs_sync", "Blocking sleeps run one by one; awaited timers overlap on one thread.");
  flags.add("--tasks", tasks, "number of tasks in sections 1 and 2", 1, 1'000);
  flags.add("--delay-ms", delay_ms, "how long each task waits, in milliseconds", 0, 10'000);
  flags.add("--many", many, "number of coroutines in section 3, about 1.2 KB each (0 skips it)", 0, 100'000);
  pg::TraceFile trace;
  trace.add_flags(flags);  // --trace FILE and --html FILE
  if (auto status = flags.parse(argc, argv)) return *status;
  if (auto status = trace.open()) return *status;
  const std::chrono::milliseconds delay(delay_ms);

  pg::banner(fmt::format("1. Blocking: {} tasks x {} ms, one after another", tasks, delay_ms));
  pg::Timeline blocking("blocking");
  pg::Stopwatch blocking_clock;
  auto blocking_results = run_blocking(tasks, delay, blocking);
  const double blocking_ms = blocking_clock.elapsed_ms();
  blocking.print();
  trace.add(blocking);
  fmt::print("  results {}, took {:.0f} ms (about tasks x delay = {} ms)\n", abbreviated(blocking_results), blocking_ms,
             tasks * delay_ms);

  pg::banner(fmt::format("2. Async: {} coroutines x {} ms on one thread", tasks, delay_ms));
  pg::Timeline async("async");
  pg::Stopwatch async_clock;
  auto async_results = run_async(tasks, delay, async);
  const double async_ms = async_clock.elapsed_ms();
  async.print();
  trace.add(async);
  fmt::print("  results {}, took {:.0f} ms (about one delay = {} ms)\n", abbreviated(async_results), async_ms,
             delay_ms);
  fmt::print("  every task ran on thread {} (this one): the waits overlapped, not the threads\n", pg::thread_number());
  const double speedup = blocking_ms / std::max(async_ms, 1e-3);
  fmt::print("  speedup {:.1f}x (ideal {}x: {} waits in the time of one)\n", speedup, tasks, tasks);
  if (delay_ms == 0) {
    fmt::print(
        "  below it: with --delay-ms 0 there is no wait to overlap, so both runs are pure overhead, and\n"
        "  making an io_context, timers and coroutine frames costs more than {} calls to sleep_for(0)\n",
        tasks);
  } else if (speedup < 0.8 * tasks) {
    fmt::print(
        "  below it: the async run took {:.1f} ms more than one {} ms delay: the fixed cost of the io_context\n"
        "  and the coroutines (more on a busy machine) is large next to so short a wait\n",
        async_ms - delay_ms, delay_ms);
  }

  if (many > 0) {
    // A waiting coroutine is a frame on the heap (its locals and where to resume) plus a timer entry,
    // about 1.2 KB here, not a thread with its own stack (8 MB of address space, ~8 KB used), so ten
    // thousand of them waiting at once is nothing special: the run still takes about one delay. The
    // lesson measures the memory: the growth of the process's peak resident memory, divided by `many`.
    pg::banner(fmt::format("3. Coroutines are cheap: {} of them x {} ms", many, delay_ms));
    fmt::print(
        "  expect a little over one delay, and about {:.0f} MB (1.2 KB per waiting coroutine with its span record)\n",
        many * 1.2 / 1024);
    const long peak_before_kb = peak_memory_kb();
    pg::Timeline crowd("many");
    pg::Stopwatch crowd_clock;
    auto crowd_results = run_async(many, delay, crowd);
    const double crowd_ms = crowd_clock.elapsed_ms();
    crowd.print(5);
    // Beyond the one delay they all wait together, each coroutine costs a little on the one thread:
    // making its frame and timer, starting it, and resuming it when the timer fires.
    fmt::print(
        "  {} results, took {:.0f} ms: one {} ms delay + {:.0f} ms of creating, starting and resuming {}\n"
        "  coroutines on one thread, about {:.1f} us each (more on a busy machine)\n",
        crowd_results.size(), crowd_ms, delay_ms, std::max(0.0, crowd_ms - delay_ms), many,
        std::max(0.0, crowd_ms - delay_ms) * 1000.0 / many);
    const long grew_kb = peak_memory_kb() - peak_before_kb;
    fmt::print(
        "  peak memory grew by {:.1f} MB: about {:.2f} KB per coroutine, frame, timer and span record together\n",
        grew_kb / 1024.0, static_cast<double>(grew_kb) / many);
  }

  if (!trace.write()) return 1;
  fmt::print(
      "\nTakeaway: while a coroutine waits, its thread runs the others. Waiting overlaps for free;\n"
      "a blocking call inside a coroutine would stop them all (see basics/blocking_work_in_async).\n");
  return 0;
}
#endif

// -------------------------------------------------------------------------------------------------
// Try this: change one thing, predict what the output will show, then run it. The answers below were
// checked on Asio 1.22. For a code change, rebuild with `cmake --build build/default --target
// async_vs_sync`, and undo it afterwards with `git checkout basics/async_vs_sync.cpp`.
// -------------------------------------------------------------------------------------------------
// 1. Run `build/default/basics/async_vs_sync --tasks 20 --delay-ms 100 --many 0`. How long do
//    sections 1 and 2 take now?
//    Answer: section 1 about 2,000 ms (20 x 100 ms, one after another); section 2 still about 100 ms:
//    twenty pending timers cost the loop no more time than five. The speedup grows with the tasks (~20x).
//
// 2. In fetch_async, replace the two timer lines with `std::this_thread::sleep_for(delay);` (it stays
//    a coroutine: it still has its co_return). What does section 2's timeline look like?
//    Answer: like section 1: the spans sit end to end, the section takes tasks x delay, speedup 1.0x.
//    sleep_for blocks the one thread that runs the io_context, so no other coroutine can start while
//    one sleeps. Never block inside a coroutine (basics/blocking_work_in_async shows the fix).
//
// 3. In run_async, delete the line `io.run();`. What do section 2's results and timeline show?
//    Answer: "async: no spans recorded", results [0, 0, 0, 0, 0], "took 0 ms". co_spawn from outside
//    the loop only queues a task; without run() no line of fetch_async ever runs, and the queued tasks
//    are destroyed with the io_context when run_async returns.
//
// Next: basics/event_loop_and_tasks.cpp: what the io_context does with the tasks you give it, how
// co_spawn differs from asyncio.create_task, and how to gather results.
