// thread_basics: a std::thread runs a function at the same time as the rest of your program.
// New to C++ or Asio? PRIMER.md, at the top of the repository, explains the words used here with Python analogies.
//
// What you will see: a thread created, started and joined; arguments passed by value and by
// reference; several threads waiting at the same time (their spans overlap on the timeline); a
// detached thread that does not keep its process alive (shown in a child process); a C++20
// std::jthread that stops when asked and joins itself; and a shared counter that loses updates
// next to the fixed version that never does.
//
// Run it:   build/default/threading/thread_basics --tasks 4 --delay-ms 100 --threads 4
// Build it by hand:
//   g++ -std=c++20 -O2 -I common threading/thread_basics.cpp -lfmt -pthread -o thread_basics
//
// Mirrors thread_basics.py from the Python playground:
//   threading.Thread(target=f, args=(a,))  -> std::thread t(f, a)      (it starts at once: no start())
//   t.join()                               -> t.join()                 (required: see section 1)
//   passing a list the thread mutates      -> std::ref(x)              (arguments are copied otherwise)
//   Thread(daemon=True)                    -> t.detach()               (process exit does not wait)
//   a threading.Event checked in a loop    -> std::jthread + std::stop_token
//   counter += 1 from many threads         -> counter.fetch_add(1) on a std::atomic<int>
//
// What differs in C++: there is no GIL. Threads run truly in parallel on all cores, so they speed up
// CPU-bound work too (threading/thread_pool_executor shows it), and two threads touching the same
// plain variable without synchronisation is a *data race*: undefined behaviour, not merely a wrong
// count. Section 5 shows lost updates in a well-defined way (with std::atomic); the real data race
// is left to ThreadSanitizer (tests/threading/data_race_demo.cpp, run by the tsan preset).

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <latch>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "playground.hpp"

using namespace std::chrono_literals;

// -------------------------------------------------------------------------------------------------
// 1. Create, start, join
// -------------------------------------------------------------------------------------------------
// Constructing a std::thread starts it: the new thread calls the function with the arguments you
// gave, while the constructor returns and your thread carries on. join() waits until the function
// has returned. Every std::thread must be joined (or detached, section 4) before it is destroyed:
// destroying a still-joinable std::thread calls std::terminate and ends the program. Python's
// Thread would simply be left running; C++ refuses to guess.

void slow_greeting(std::string who, std::chrono::milliseconds delay, pg::Timeline& timeline) {
  auto span = timeline.scope(fmt::format("greet {}", who));
  std::this_thread::sleep_for(delay);
}

// How long join() waited, measured on the calling thread.
pg::Clock::duration start_and_join(std::chrono::milliseconds delay, pg::Timeline& timeline) {
  std::thread worker(slow_greeting, std::string("worker"), delay, std::ref(timeline));
  // Here the worker is already running. This thread is free to do other things...
  pg::Stopwatch waited;
  worker.join();  // ...and now it blocks until slow_greeting has returned.
  return waited.elapsed();
}

// -------------------------------------------------------------------------------------------------
// 2. Arguments: by value, by reference, and the dangling-reference trap
// -------------------------------------------------------------------------------------------------
// std::thread *copies* every argument into the new thread, even when the function takes a
// reference. So `std::thread(add_ten, total)` would not compile for `add_ten(int&)`, and a function
// taking `int` gets its own copy: changes stay in the thread. To let the thread change *your*
// variable, wrap it in std::ref; then you must keep the variable alive until the thread is joined.

void add_ten_to_copy(int total, pg::Timeline& timeline) {  // gets its own copy
  total += 10;                                             // changes the copy only
  auto span = timeline.scope(fmt::format("by value (the thread's copy is now {})", total));
}

void add_ten_to_original(int& total, pg::Timeline& timeline) {  // refers to the caller's variable
  auto span = timeline.scope("by reference");
  total += 10;
}

struct ArgumentResults {
  int after_by_value = 0;
  int after_by_reference = 0;
};

ArgumentResults pass_arguments(pg::Timeline& timeline) {
  ArgumentResults results;
  std::thread copy_thread(add_ten_to_copy, results.after_by_value, std::ref(timeline));
  copy_thread.join();
  std::thread ref_thread(add_ten_to_original, std::ref(results.after_by_reference), std::ref(timeline));
  ref_thread.join();  // the join also makes the thread's write visible here (it "happens before")
  return results;     // after_by_value is still 0, after_by_reference is 10
}

// The trap. A reference (or a lambda capturing by reference) must not outlive what it refers to:
//
//   std::thread broken_start() {             // BROKEN, do not write this:
//     int local = 0;
//     return std::thread([&local] { ++local; });
//   }                                        // `local` dies here while the thread may still use it
//
// That is undefined behaviour (when the thread touches `local` after the return, the asan preset
// reports "stack-use-after-return"), so it is only shown in this comment. The fix: give the thread what it needs *by
// value*, so it owns its data, and keep only things that outlive the thread (here `out`, owned by the caller who joins)
// by reference.
std::thread start_owning_thread(std::string& out) {
  std::string local = "built in a function that has already returned";
  return std::thread([text = std::move(local), &out] { out = text; });  // the thread owns `text`
}

// -------------------------------------------------------------------------------------------------
// 3. Several threads at once
// -------------------------------------------------------------------------------------------------
// A task that waits (for a disk, a network, here a sleep) leaves its thread idle. One thread runs
// such tasks one after another; N threads run them at the same time, so N waits take about one.
// This is the case Python threads handle well too: a blocking wait releases the GIL.

void wait_task(int id, std::chrono::milliseconds delay, pg::Timeline& timeline) {
  auto span = timeline.scope(fmt::format("task {}", id));
  std::this_thread::sleep_for(delay);
}

void run_one_by_one(int tasks, std::chrono::milliseconds delay, pg::Timeline& timeline) {
  for (int id = 0; id < tasks; ++id) wait_task(id, delay, timeline);
}

void run_on_threads(int tasks, std::chrono::milliseconds delay, pg::Timeline& timeline) {
  std::vector<std::thread> threads;
  for (int id = 0; id < tasks; ++id) threads.emplace_back(wait_task, id, delay, std::ref(timeline));
  for (auto& t : threads) t.join();  // start them all first, then wait for them all
}

// -------------------------------------------------------------------------------------------------
// 4. Detached threads (Python's daemon threads) and std::jthread
// -------------------------------------------------------------------------------------------------
// detach() lets a thread run on with no std::thread object owning it: nobody can join it any more.
// When main() returns, the process exits and a still-running detached thread is simply gone, in
// the middle of whatever it was doing: its remaining work never happens. That is Python's daemon
// thread. To show it honestly we need a process that really exits, so this section starts the
// lesson itself again as a child process (`--as-detach-child`), reads what the child prints, and
// times it. The child starts a detached thread that would print a line after `worker_ms`, then
// returns from main() after `main_ms`.
//
// What may a detached thread touch? Not the locals of the function that started it (they die when it
// returns). And once main() has returned, nothing at all: returning from main() calls exit(), which
// destroys globals and `static` variables (a global std::string, a logger), runs the atexit handlers
// and flushes and closes the C streams, stdout included, while the detached thread may still be
// running. From then on, any use of the C++ library by that thread, even puts() or printf(), is
// undefined behaviour; only what a signal handler may call is left. So a detached thread must be done
// with everything before main() returns; if it has work that could run later, tell it to stop and wait
// for it, and then it might as well be joined. Here the thread owns its one int, and its one line is
// written with write(), a system call that uses no library object (allowed in a signal handler too),
// so the demo stays well defined whether the thread wakes before main() returns or not.

void detach_child_main(int worker_ms, int main_ms) {
  std::thread worker([worker_ms] {
    std::this_thread::sleep_for(std::chrono::milliseconds(worker_ms));
    static constexpr char line[] = "    child: detached thread finished its work\n";
    // Printed only if the thread wakes before the process is gone (--worker-ms below --main-ms).
    [[maybe_unused]] const auto written = ::write(STDOUT_FILENO, line, sizeof line - 1);
  });
  worker.detach();  // `worker` no longer owns a thread; destroying it is fine
  std::puts("    child: started a detached thread, main() returns now");
  std::fflush(stdout);
  std::this_thread::sleep_for(std::chrono::milliseconds(main_ms));
}

struct ChildReport {
  std::string output;  // everything the child printed
  double took_ms = 0;  // from starting the child to its exit
  int exit_status = -1;
};

// Run `program --as-detach-child ...` and collect its output. popen reads the child's stdout until
// the child exits (end of file), so `took_ms` is how long the child process lived.
ChildReport run_detach_child(const std::string& program, int worker_ms, int main_ms, pg::Timeline& timeline) {
  auto span = timeline.scope("child process");
  ChildReport report;
  const std::string command =
      fmt::format("'{}' --as-detach-child --worker-ms {} --main-ms {}", program, worker_ms, main_ms);
  pg::Stopwatch clock;
  std::FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return report;
  char buffer[256];
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) report.output += buffer;
  report.exit_status = ::pclose(pipe);
  report.took_ms = clock.elapsed_ms();
  return report;
}

// std::jthread (C++20) fixes both chores of std::thread. Its destructor joins instead of calling
// std::terminate, and it carries a std::stop_token: the thread's function takes it as its first
// parameter and checks it, and `request_stop()` (also called by the destructor) sets it. Stopping
// is cooperative: the thread decides where it is safe to stop, as with Python's Event flag.
struct TickerResult {
  int ticks = 0;                  // how many times the loop ran
  bool saw_stop = false;          // the loop ended because stop was requested
  double stop_to_joined_ms = 0;   // from request_stop() to the thread having finished
  double requested_after_ms = 0;  // from starting the thread to request_stop()
};

TickerResult run_ticker(std::chrono::milliseconds tick, std::chrono::milliseconds run_for, pg::Timeline& timeline) {
  TickerResult result;
  std::atomic<int> ticks{0};
  std::atomic<bool> saw_stop{false};
  pg::Stopwatch since_start;
  pg::Stopwatch since_stop;
  {
    std::jthread ticker([&](std::stop_token stop) {
      auto span = timeline.scope("ticker");
      while (!stop.stop_requested()) {
        ticks.fetch_add(1);
        std::this_thread::sleep_for(tick);
      }
      saw_stop.store(true);
    });
    std::this_thread::sleep_for(run_for);
    result.requested_after_ms = since_start.elapsed_ms();
    since_stop.restart();
    ticker.request_stop();  // optional here: leaving the scope would request it too
  }                         // ~jthread: joins. No join() call, no std::terminate.
  result.stop_to_joined_ms = since_stop.elapsed_ms();
  result.ticks = ticks.load();
  result.saw_stop = saw_stop.load();
  return result;
}

// -------------------------------------------------------------------------------------------------
// 5. A shared counter: lost updates (BROKEN) and the fix
// -------------------------------------------------------------------------------------------------
// `counter += 1` is three steps: read the value, add one, write it back. If two threads read the
// same value, both write value + 1 and one increment is lost. In Python that gives a wrong count.
// In C++ doing it on a plain `int` from two threads is a data race, which is undefined behaviour:
// the optimiser may assume it never happens (at -O2 the loop becomes one addition and the bug
// hides), so the program means nothing at all. We therefore show the *lost updates* on a
// std::atomic<int>, read and written in two separate well-defined steps, with a yield between
// them that widens the window so another thread reliably slips in. Same bug, no undefined behaviour.
//
// All threads wait at a std::latch before counting, so they really count at the same time instead
// of the first one finishing before the last one has started.

// BROKEN: read, then write, as two steps. Updates are lost.
int count_with_lost_updates(int threads, int increments, pg::Timeline& timeline) {
  std::atomic<int> counter{0};
  std::latch start(threads);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      start.arrive_and_wait();
      auto span = timeline.scope(fmt::format("racy {}", t));
      for (int i = 0; i < increments; ++i) {
        const int seen = counter.load();  // step 1: read
        std::this_thread::yield();        // another thread may run here and increment...
        counter.store(seen + 1);          // step 2: write, overwriting what it did
      }
    });
  }
  for (auto& w : workers) w.join();
  return counter.load();
}

// FIXED: fetch_add reads, adds and writes as one indivisible step; no update can slip in between.
// (A std::mutex around `++plain_int` works too: threading/locks_and_thread_safety compares them.)
int count_exactly(int threads, int increments, pg::Timeline& timeline) {
  std::atomic<int> counter{0};
  std::latch start(threads);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      start.arrive_and_wait();
      auto span = timeline.scope(fmt::format("fixed {}", t));
      for (int i = 0; i < increments; ++i) {
        counter.fetch_add(1);
        std::this_thread::yield();  // the same yield, to show the window is not the problem
      }
    });
  }
  for (auto& w : workers) w.join();
  return counter.load();
}

// -------------------------------------------------------------------------------------------------
// main: run the sections in order
// -------------------------------------------------------------------------------------------------

#ifndef PLAYGROUND_NO_MAIN  // the tests include this file and bring their own main
int main(int argc, char** argv) {
  int delay_ms = 100;
  int tasks = 4;
  int tick_ms = 20;
  int threads = 4;
  int increments = 50'000;
  int worker_ms = 300;
  int main_ms = 30;
  bool as_detach_child = false;
  pg::TraceFile trace;
  pg::Flags flags("thread_basics", "std::thread: start, join, arguments, detach, jthread, and lost updates.");
  flags.add("--delay-ms", delay_ms, "how long each waiting task sleeps, in milliseconds", 0, 10'000);
  flags.add("--tasks", tasks, "number of waiting tasks in section 3", 1, 1'000);
  flags.add("--tick-ms", tick_ms, "the jthread's tick in section 4, in milliseconds", 1, 1'000);
  flags.add("--threads", threads, "number of threads sharing the counter in section 5", 1, 16);
  flags.add("--increments", increments, "increments per thread in section 5 (each yields: 200,000 x 16 is seconds)", 0,
            200'000);
  flags.add("--worker-ms", worker_ms, "how long the detached thread of section 4 would work", 0, 10'000);
  flags.add("--main-ms", main_ms, "how long the child's main() runs before returning", 0, 10'000);
  flags.add_switch("--as-detach-child", as_detach_child, "internal: run as the child process of section 4");
  trace.add_flags(flags);  // --trace FILE and --html FILE
  if (auto status = flags.parse(argc, argv)) return *status;
  if (as_detach_child) {
    detach_child_main(worker_ms, main_ms);
    return 0;  // the process exits here, with the detached thread still asleep
  }
  if (auto status = trace.open()) return *status;
  const std::chrono::milliseconds delay(delay_ms);

  // Look for: the worker's span runs on another thread number than main's, and join() waits about
  // the whole delay, because the worker was still sleeping when join() was called.
  pg::banner("1. Create, start, join");
  // The main thread's kernel thread id is the process id; every other thread gets its own id.
  fmt::print("  main thread: pid {}, kernel tid {}, thread {}\n", ::getpid(), pg::os_thread_id(), pg::thread_number());
  fmt::print("  (in every lesson's timelines, thread 1 is the main thread; others are 2, 3, ... as they appear)\n");
  pg::Timeline joined("join");
  const auto waited = start_and_join(delay, joined);
  joined.print();
  trace.add(joined);
  fmt::print("  join() waited {:.0f} ms for a {} ms task: it returns only when the thread is done\n", pg::ms(waited),
             delay_ms);

  // Look for: the copy's +10 never reaches the caller; the std::ref one does.
  pg::banner("2. Arguments: by value vs by reference");
  pg::Timeline arguments("arguments");
  const auto results = pass_arguments(arguments);
  arguments.print();
  trace.add(arguments);
  fmt::print("  by value: the caller's total is still {}; by std::ref: it became {}\n", results.after_by_value,
             results.after_by_reference);
  std::string owned;
  std::thread owner = start_owning_thread(owned);
  owner.join();
  fmt::print("  a thread that owns its data by value is safe: \"{}\"\n", owned);

  // Look for: one by one, the spans sit end to end on thread 1; on threads, every span starts at
  // about zero on its own thread, and the whole run takes about one delay.
  pg::banner(fmt::format("3. {} tasks x {} ms: one by one, then one thread each", tasks, delay_ms));
  pg::Timeline sequential("one by one");
  pg::Stopwatch sequential_clock;
  run_one_by_one(tasks, delay, sequential);
  const double sequential_ms = sequential_clock.elapsed_ms();
  sequential.print();
  trace.add(sequential);
  pg::Timeline parallel("threads");
  pg::Stopwatch parallel_clock;
  run_on_threads(tasks, delay, parallel);
  const double parallel_ms = parallel_clock.elapsed_ms();
  parallel.print();
  trace.add(parallel);
  const double speedup = sequential_ms / std::max(parallel_ms, 1e-3);
  fmt::print("  one by one {:.0f} ms, on {} threads {:.0f} ms: speedup {:.1f}x (ideal {}x: all {} waits at once)\n",
             sequential_ms, tasks, parallel_ms, speedup, tasks, tasks);
  if (delay_ms == 0) {
    fmt::print(
        "  below it: with --delay-ms 0 there is no wait to overlap; the threaded run is only the cost of\n"
        "  starting and joining {} threads\n",
        tasks);
  } else if (speedup < 0.8 * tasks) {
    // Waiting needs no core, so the cores are not the limit here: the fixed cost of the threads is.
    fmt::print(
        "  below it: the threaded run took {:.1f} ms more than one {} ms delay; that is the cost of starting\n"
        "  and joining {} threads (more on a busy machine), large next to so short a wait\n",
        parallel_ms - delay_ms, delay_ms, tasks);
  }

  // Look for: the child printed only main()'s line, and lived about --main-ms, not --worker-ms. Then
  // the jthread's span ends right after the stop request: its destructor joined it.
  pg::banner("4. A detached thread does not keep the process alive; std::jthread stops and joins");
  pg::Timeline detached("detach");
  // popen runs a shell, in which /proc/self/exe would be the shell: resolve our own path first.
  std::error_code no_link;
  std::string self = std::filesystem::read_symlink("/proc/self/exe", no_link).string();
  if (self.empty()) self = argv[0];
  const auto child = run_detach_child(self, worker_ms, main_ms, detached);
  detached.print();
  trace.add(detached);
  fmt::print("  the child printed:\n{}", child.output);
  if (child.output.find("detached thread finished") == std::string::npos) {
    fmt::print("  the child lived {:.0f} ms; its detached thread needed {} ms, so its last line never appeared\n",
               child.took_ms, worker_ms);
  } else {
    fmt::print(
        "  the child lived {:.0f} ms; its detached thread needed only {} ms, so it finished before main()\n"
        "  returned and its line appeared: a detached thread is cut off only if it is still running at exit\n",
        child.took_ms, worker_ms);
  }
  pg::Timeline ticking("jthread");
  const auto ticker = run_ticker(std::chrono::milliseconds(tick_ms), 5 * std::chrono::milliseconds(tick_ms), ticking);
  ticking.print();
  trace.add(ticking);
  fmt::print("  the jthread ticked {} times, saw the stop request: {}, and was joined {:.1f} ms after it\n",
             ticker.ticks, ticker.saw_stop, ticker.stop_to_joined_ms);

  // Look for: the BROKEN count falls short of threads x increments; the FIXED count is exact every
  // run. Both are free of undefined behaviour: the only shared variable is a std::atomic.
  pg::banner(fmt::format("5. {} threads x {} increments of one counter", threads, increments));
  const long expected = static_cast<long>(threads) * increments;
  pg::Timeline racy("lost updates");
  const int racy_count = count_with_lost_updates(threads, increments, racy);
  racy.print();
  trace.add(racy);
  fmt::print("  BROKEN (load, then store): {} of {} ({} updates lost)\n", racy_count, expected, expected - racy_count);
  pg::Timeline fixed("fetch_add");
  const int fixed_count = count_exactly(threads, increments, fixed);
  fixed.print();
  trace.add(fixed);
  fmt::print("  FIXED (fetch_add):         {} of {}\n", fixed_count, expected);

  if (!trace.write()) return 1;
  fmt::print(
      "\nTakeaway: join (or use jthread) every thread, pass data by value unless it outlives the thread,\n"
      "and never let two threads touch a plain variable without a lock or an atomic: in C++ that is UB.\n");
  return 0;
}
#endif

// -------------------------------------------------------------------------------------------------
// Try this: change one thing, predict what the output will show, then run it. The answers below were
// checked with g++ 12 on Linux. Rebuild with `cmake --build build/default --target
// thread_basics`, and undo a change with `git checkout threading/thread_basics.cpp`.
// -------------------------------------------------------------------------------------------------
// 1. In start_and_join, delete the line `worker.join();`. What happens?
//    Answer: the program dies in section 1 with "terminate called without an active exception" and
//    exit status 134 (SIGABRT): `worker` is destroyed at the end of the function while its thread is
//    still joinable, and ~thread calls std::terminate. Python would let the thread run on; C++
//    makes you say join() or detach().
//
// 2. Run `build/default/threading/thread_basics --worker-ms 10 --main-ms 100`. Does the detached
//    thread's line appear in section 4?
//    Answer: yes: "child: detached thread finished its work" is printed, and the next line says why:
//    the thread finished its 10 ms of work before main() returned at 100 ms. A detached thread is cut
//    off only if it is still running when the process exits.
//
// 3. Run it with `--threads 1`. How many updates does section 5's BROKEN counter lose?
//    Answer: none: "50000 of 50000 (0 updates lost)". With one thread nobody can slip in between the
//    load and the store; lost updates need two threads touching the counter at the same time.
//
// Next: threading/locks_and_thread_safety.cpp: the fixes for lost updates (a mutex, an atomic), what
// each costs, and deadlock.
