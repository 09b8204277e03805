// cancellation_and_timeouts: cancel a running task from outside, make a CPU loop cancellable, and
// bound every wait with a timeout or a deadline.
//
// What you will see: (1) a worker cancelled from outside that still cleans up (it awaits a flush)
// and then reports "cancelled"; a CPU loop that never awaits, which no cancel can stop, and one that
// yields and checks, which stops early; (2) timeouts: a reusable with_timeout(op, duration), Asio
// 1.31's cancel_after where this Asio has it, and one deadline shared by several awaits in a row.
// Every task holds a counted resource: the count returns to 0, however the task ended.
//
// The core, before the details (a, op are awaitables):
//
//   co_spawn(io, a, bind_cancellation_slot(signal.slot(), on_done));  // a handle to cancel it by
//   signal.emit(cancellation_type::terminal);  // task.cancel(): the task's pending co_await throws
//   co_await this_coro::reset_cancellation_state();  // in the task: now cleanup may await again
//   co_await (op || timer.async_wait(use_awaitable));                     // wait_for(op, timeout)
//
// Follows basics/tasks_gather_wait_cancel.cpp and uses its tasks (job, Crew, Resource,
// run_coroutine, in common/counted_jobs.hpp): job(crew, name, delay, value) waits, then returns
// value, holding a counted Resource; the Crew logs how each job ended ("long: cancelled").
//
// Run it:   build/default/basics/cancellation_and_timeouts --delay-ms 100
// Build it by hand:
//   g++ -std=c++20 -O2 -I common basics/cancellation_and_timeouts.cpp -lfmt -pthread -o cancellation_and_timeouts
//
// Mirrors the cancellation half of tasks_gather_wait_cancel.py from the Python playground:
//   task.cancel()                        -> cancellation_signal::emit, bound to the task with
//                                           bind_cancellation_slot                    (section 1)
//   except asyncio.CancelledError        -> catch std::system_error whose code() is
//                                           asio::error::operation_aborted
//   await asyncio.sleep(0)               -> co_await asio::post(executor, use_awaitable)  (section 1)
//   await asyncio.wait_for(op, t)        -> co_await with_timeout(op, t)              (section 2)
//   async with asyncio.timeout(t): ...   -> co_await with_deadline(steps(), deadline) (section 2)
//
// What differs in C++:
//   - Cancellation is a request delivered to the operation the task is waiting on; it surfaces as an
//     exception at that co_await. Code between two co_awaits (a CPU loop) never sees it unless it asks.
//   - After a cancellation, every later co_await in that task throws again, so cleanup that must await
//     first calls `co_await this_coro::reset_cancellation_state()`.

#include <asio.hpp>
#include <asio/experimental/awaitable_operators.hpp>

#include <algorithm>
#include <chrono>
#include <exception>
#include <stdexcept>
#include <string>
#include <system_error>
#include <tuple>
#include <utility>
#include <variant>

#include "counted_jobs.hpp"  // job, Crew, Resource, describe, run_coroutine, show; as_tuple
#include "playground.hpp"

using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;  // || on awaitables

// -------------------------------------------------------------------------------------------------
// 1. Cancel a running task from outside
// -------------------------------------------------------------------------------------------------
// Python's task.cancel() is, in Asio, a cancellation_signal: bind its slot to the task's completion
// handler with bind_cancellation_slot, and signal.emit(cancellation_type::terminal) later delivers a
// cancellation request to whatever operation the task is waiting on. That wait throws operation_aborted
// in the task. Emit only on the io_context's thread (the signal is not thread-safe) and only while the
// task is still running. The canceller learns how the task ended from the completion handler.
//
// Handling it safely: catch the cancellation, let RAII release what the task holds, and if cleanup
// itself must await (say, to flush a buffer), first call `co_await this_coro::reset_cancellation_state()`:
// until then every co_await in a cancelled task throws again. Then end with the cancellation, as Python
// code re-raises CancelledError, so the canceller knows the task did not complete.

asio::awaitable<int> worker_with_cleanup(Crew& crew, std::chrono::milliseconds work, std::chrono::milliseconds flush) {
  Resource held(crew);
  crew.planned.push_back(fmt::format("worker {} ms", work.count()));
  auto span = crew.timeline.scope("worker");
  bool cancelled = false;
  try {
    co_await async_sleep(work);
  } catch (const std::system_error& e) {
    if (!is_cancellation(e)) throw;
    cancelled = true;  // no co_await inside a catch block: note it, clean up below
  }
  if (!cancelled) {
    crew.log.push_back("worker: finished");
    co_return 42;
  }
  crew.log.push_back("worker: cancelled, flushing");
  co_await asio::this_coro::reset_cancellation_state();  // or the next co_await throws at once
  {
    auto flushing = crew.timeline.scope("worker cleanup");
    co_await async_sleep(flush);
  }
  crew.log.push_back("worker: cleanup done");
  throw std::system_error(asio::error::operation_aborted);  // report "cancelled" to the canceller
}

// The canceller: run `task`, request its cancellation after `cancel_at`, report how it ended.
struct CancelReport {
  bool completed = false;  // the task returned a value
  int value = 0;
  std::string outcome;         // describe() of its exception, or "no error"
  double cancel_sent_ms = -1;  // when the canceller got to run and emit (-1: never)
  double ended_ms = 0;         // when the task ended
};

CancelReport cancel_from_outside(asio::awaitable<int> task, std::chrono::milliseconds cancel_at) {
  asio::io_context io;
  asio::cancellation_signal signal;
  asio::steady_timer canceller(io, cancel_at);
  CancelReport report;
  bool finished = false;
  pg::Stopwatch clock;
  co_spawn(io, std::move(task), asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr error, int value) {
             finished = true;
             report.ended_ms = clock.elapsed_ms();
             report.completed = !error;
             report.value = value;
             report.outcome = describe(error);
             canceller.cancel();  // nothing left to cancel: let run() return
           }));
  canceller.async_wait([&](asio::error_code ec) {
    if (ec || finished) return;
    report.cancel_sent_ms = clock.elapsed_ms();
    signal.emit(asio::cancellation_type::terminal);  // task.cancel()
  });
  io.run();
  return report;
}

// A CPU loop has no co_await, so there is no operation for the cancellation to reach, and on a
// one-thread loop the canceller itself cannot even run until the loop is over. BROKEN: crunch_blind
// burns all its slices; by the time the canceller runs, the task has finished.
// FIXED: crunch_checking gives the thread back after every slice (co_await post: "let others run",
// like `await asyncio.sleep(0)`) and then asks `co_await this_coro::cancellation_state` whether it has
// been cancelled: if so it stops, and ends with operation_aborted.

void spin_for(std::chrono::milliseconds how_long) {  // CPU work that keeps the thread busy
  const auto until = pg::Clock::now() + how_long;
  while (pg::Clock::now() < until) {
  }
}

asio::awaitable<int> crunch_blind(int slices, std::chrono::milliseconds slice, int& slices_done) {
  for (int i = 0; i < slices; ++i) {
    spin_for(slice);
    ++slices_done;
  }
  co_return slices_done;
}

asio::awaitable<int> crunch_checking(int slices, std::chrono::milliseconds slice, int& slices_done) {
  auto executor = co_await asio::this_coro::executor;
  for (int i = 0; i < slices; ++i) {
    spin_for(slice);
    ++slices_done;
    co_await asio::post(executor, asio::use_awaitable);  // let the loop run others (the canceller)
    if ((co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none)
      throw std::system_error(asio::error::operation_aborted);
  }
  co_return slices_done;
}

// -------------------------------------------------------------------------------------------------
// 2. Timeouts
// -------------------------------------------------------------------------------------------------
// asyncio.wait_for(op, t) as a reusable helper: race the operation against a timer with ||. If the
// timer wins, || cancels the operation (its cleanup runs), and with_timeout throws timeout_error, a
// clear error of its own rather than a bare "cancelled". || waits for the first *success*
// (tasks_gather_wait_cancel, section 3): a plain `op || timer` would let a *failing* op wait out the
// whole timeout and then report a timeout. So the op's outcome is taken as a value (as_tuple), and
// its own error is rethrown when it fails.
// with_deadline is the same with an absolute time, which is what several awaits can share.

class timeout_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

template <class T>
asio::awaitable<T> with_deadline(asio::awaitable<T> operation, pg::Clock::time_point deadline) {
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer timer(executor, deadline);
  auto result = co_await (co_spawn(executor, std::move(operation), as_tuple(asio::use_awaitable)) ||
                          timer.async_wait(asio::use_awaitable));
  if (result.index() == 1) throw timeout_error("timed out");
  auto [error, value] = std::get<0>(std::move(result));
  if (error) std::rethrow_exception(error);
  co_return std::move(value);
}

template <class T>
asio::awaitable<T> with_timeout(asio::awaitable<T> operation, std::chrono::milliseconds timeout) {
  co_return co_await with_deadline(std::move(operation), pg::Clock::now() + timeout);  // the clock starts now
}

#if ASIO_VERSION >= 103100
// Asio 1.31 and newer have this built in: the cancel_after token adapter cancels the operation when
// the time is up. The caller then sees operation_aborted, not a timeout_error. (Compiled only with
// Asio 1.31 or newer; main() then runs it next to with_timeout.)
template <class T>
asio::awaitable<T> with_timeout_cancel_after(asio::awaitable<T> operation, std::chrono::milliseconds timeout) {
  co_return co_await co_spawn(co_await asio::this_coro::executor, std::move(operation),
                              asio::cancel_after(timeout, asio::use_awaitable));
}
#endif

// asyncio.timeout(t) bounds a whole block: several awaits in a row share one deadline, so the block as
// a whole cannot take longer than t. Here the block is a coroutine of steps, and the deadline is a
// watchdog raced against all of it: when time is up, the step that is running is cancelled and the
// steps after it never start (the cancelled task's next co_await throws before the step begins).

asio::awaitable<int> several_steps(Crew& crew, int steps, std::chrono::milliseconds step) {
  int done = 0;
  for (int i = 1; i <= steps; ++i) {
    co_await job(crew, fmt::format("step {}", i), step, i);
    ++done;
  }
  co_return done;
}

// How many steps finished before the deadline, and whether it cut the sequence.
struct DeadlineReport {
  int steps_done = 0;
  bool timed_out = false;
  double took_ms = 0;
};

asio::awaitable<DeadlineReport> steps_under_deadline(Crew& crew, int steps, std::chrono::milliseconds step,
                                                     std::chrono::milliseconds budget) {
  DeadlineReport report;
  pg::Stopwatch clock;
  try {
    report.steps_done = co_await with_deadline(several_steps(crew, steps, step), pg::Clock::now() + budget);
  } catch (const timeout_error&) {
    report.timed_out = true;
    for (const auto& line : crew.log) report.steps_done += line.ends_with(": finished") ? 1 : 0;
  }
  report.took_ms = clock.elapsed_ms();
  co_return report;
}

// -------------------------------------------------------------------------------------------------
// main: run the sections in order
// -------------------------------------------------------------------------------------------------

#ifndef PLAYGROUND_NO_MAIN  // the tests include this file and bring their own main
int run_lesson(int argc, char** argv) {
  int delay_ms = 100;
  int steps = 3;
  pg::Flags flags("cancellation_and_timeouts",
                  "Cancel a running task from outside, cancellable CPU loops, timeouts and deadlines with Asio.");
  flags.add("--delay-ms", delay_ms, "base delay of each task, in milliseconds", 1, 10'000);
  flags.add("--steps", steps, "steps in the shared-deadline sequence (section 2)", 1, 100);
  pg::TraceFile trace;
  trace.add_flags(flags);  // --trace FILE and --html FILE
  if (auto status = flags.parse(argc, argv)) return *status;
  if (auto status = trace.open()) return *status;
  const std::chrono::milliseconds delay(delay_ms);

  // The worker is cancelled after one delay and spends a quarter delay on its cleanup ("worker cleanup"
  // span). Then two CPU loops of 10 slices get the same request, due after one and a half slices.
  pg::banner("1. Cancel a running task from outside");
  {
    Crew crew("cancelled worker");
    const auto report = cancel_from_outside(worker_with_cleanup(crew, 10 * delay, delay / 4), delay);
    show(crew, trace);
    fmt::print("  cancel sent at {:.0f} ms; the worker ended at {:.0f} ms: {}\n\n", report.cancel_sent_ms,
               report.ended_ms, report.completed ? "completed" : report.outcome);
    const int slices = 10;
    const auto slice = std::max(delay / 5, 1ms);
    int blind_done = 0;
    const auto blind = cancel_from_outside(crunch_blind(slices, slice, blind_done), slice + slice / 2);
    fmt::print("  BROKEN: CPU loop without co_await, cancel due at {} ms: ran {}/{} slices, ended at {:.0f} ms: {}\n",
               (slice + slice / 2).count(), blind_done, slices, blind.ended_ms,
               blind.completed ? "completed, the cancel came too late" : blind.outcome);
    int checking_done = 0;
    const auto checking = cancel_from_outside(crunch_checking(slices, slice, checking_done), slice + slice / 2);
    fmt::print("  FIXED:  CPU loop that yields and checks: ran {}/{} slices, ended at {:.0f} ms: {}\n", checking_done,
               slices, checking.ended_ms, checking.completed ? "completed" : checking.outcome);
    // Why 2 or 3 slices, not exactly 2: the event loop looks at its timers only between handlers, so
    // the check after slice 2 may come before the loop has run the canceller's timer handler.
    fmt::print(
        "          (the cancel falls due during slice 2; the loop sees it at its first check after the event\n"
        "          loop has run the timer's handler, which may be the check after slice 3)\n");
  }

  // Three tasks under a timeout of one delay: too long, short enough, and failing early. Then a
  // sequence of steps whose deadline falls in the middle of the last step.
  pg::banner("2. Timeouts: with_timeout, and one deadline for several awaits");
  {
    Crew crew("with_timeout");
    std::string long_outcome;
    try {
      run_coroutine(with_timeout(job(crew, "long", 5 * delay, 1), delay));
    } catch (const timeout_error& e) {
      long_outcome = std::string("timeout_error: ") + e.what();
    }
    std::string quick;
    try {
      quick = fmt::format("returned {}", run_coroutine(with_timeout(job(crew, "quick", delay / 2, 7), delay)));
    } catch (const timeout_error&) {
      quick = "timed out too (the machine stalled for longer than delay / 2)";
    }
    std::string failing_outcome;
    try {
      run_coroutine(with_timeout(job(crew, "failing", delay / 4, 0, Ending::fail), delay));
    } catch (const std::exception& e) {
      failing_outcome = e.what();
    }
    show(crew, trace);
    fmt::print("  long (5 x delay) under a 1 x delay timeout: {}\n", long_outcome);
    fmt::print("  quick (delay / 2): {}\n  failing: its own error, at once: '{}'\n\n", quick, failing_outcome);

#if ASIO_VERSION >= 103100
    // The built-in form, from Asio 1.31: the same long task under cancel_after.
    Crew built_in_crew("cancel_after");
    std::string built_in_outcome;
    try {
      run_coroutine(with_timeout_cancel_after(job(built_in_crew, "long", 5 * delay, 1), delay));
      built_in_outcome = "returned (the machine stalled for longer than the whole task)";
    } catch (const std::system_error& e) {
      built_in_outcome = fmt::format("{} (error {}: the caller cannot tell a timeout from other cancellations)",
                                     e.code().message(), e.code().value());
    }
    show(built_in_crew, trace);
    fmt::print("  long under asio::cancel_after(1 x delay): {}\n\n", built_in_outcome);
#else
    fmt::print("  (Asio 1.31 and later also have asio::cancel_after; this Asio is older, so it is not shown)\n\n");
#endif

    Crew steps_crew("shared deadline");
    const auto budget = steps * delay - delay / 2;
    const auto report = run_coroutine(steps_under_deadline(steps_crew, steps, delay, budget));
    show(steps_crew, trace);
    fmt::print("  {} steps of {} ms under one {} ms deadline: {} done, {}, after {:.0f} ms\n", steps, delay_ms,
               budget.count(), report.steps_done, report.timed_out ? "then timed out" : "no timeout", report.took_ms);
  }

  if (!trace.write()) return 1;
  fmt::print(
      "\nTakeaway: cancellation reaches only a co_await, so a long loop must yield and check; cleanup\n"
      "that awaits resets the cancellation state first; bound every wait with a timeout or a deadline.\n");
  return 0;
}

int main(int argc, char** argv) {
  try {
    return run_lesson(argc, argv);
  } catch (const std::exception& e) {  // never std::terminate: say what went wrong
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
}
#endif

// -------------------------------------------------------------------------------------------------
// Try this: change one thing, predict what the output will show, then run it. The answers below were
// checked on Asio 1.22. Rebuild with `cmake --build build/default --target cancellation_and_timeouts`,
// and undo a change with `git checkout basics/cancellation_and_timeouts.cpp`.
// -------------------------------------------------------------------------------------------------
// 1. In crunch_checking, delete the line `co_await asio::post(executor, asio::use_awaitable);` but
//    keep the cancellation check. What does section 1's FIXED line say?
//    Answer: "ran 10/10 slices ... completed", like the BROKEN loop. The cancel is sent by a timer
//    handler, and on a one-thread loop that handler can only run when the coroutine gives the thread
//    back. Checking cancellation_state without ever suspending finds nothing: a check is only useful
//    after a co_await that lets others run.
//
// 2. In worker_with_cleanup, delete the line `co_await asio::this_coro::reset_cancellation_state();`.
//    What happens to the cleanup in section 1?
//    Answer: the flush's async_sleep throws operation_aborted at once: the "worker cleanup" span is
//    0 ms long, the log stops at "worker: cancelled, flushing" ("worker: cleanup done" is missing),
//    and the worker ends at the moment the cancel was sent instead of a quarter delay later. The
//    Resource is still released ("resources still held: 0"): destructors run however the task ends.
//
// Next: basics/async_queues_and_channels.cpp: coroutines that hand items to each other through a
// channel, Asio's asyncio.Queue.
