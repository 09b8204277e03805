// tasks_gather_wait_cancel: run tasks together, wait for all or for the first, cancel, and time out.
//
// What you will see: (1) gather with && and what one failure does to it, then a task group that
// cancels the rest on the first failure and keeps the original error; (2) waiting for the first task
// to finish, with every loser cancelled and cleaned up; (3) || waits for the first *success*, not the
// first to finish, and how to race on finishing instead; (4) cancelling a running task from outside,
// and a CPU loop that cannot be cancelled until it checks; (5) timeouts: a reusable
// with_timeout(op, duration), and one deadline shared by several awaits in a row. Every task holds a
// counted resource: the count returns to 0.
//
// The core, before the details (each line is one section below; a, b, op are awaitables):
//
//   auto [x, y] = co_await (a && b);       // gather: both results; one failure cancels the other
//   auto first  = co_await (a || b);       // the first to *succeed* wins, the other is cancelled
//   co_await make_parallel_group(...).async_wait(wait_for_one_error(), use_awaitable);  // TaskGroup
//   signal.emit(cancellation_type::terminal);  // task.cancel(): the task's pending co_await throws
//   co_await (op || timer.async_wait(use_awaitable));                       // wait_for(op, timeout)
//
// How to read this file: the next part defines the demo's job (a task that waits, then succeeds or
// fails, holding a counted resource) and two small helpers; skim it, then read sections 1 to 5.
//
// Run it:   build/default/basics/tasks_gather_wait_cancel --delay-ms 100
// Build it by hand:
//   g++ -std=c++20 -O2 -I common basics/tasks_gather_wait_cancel.cpp -lfmt -pthread -o tasks_gather_wait_cancel
//
// Mirrors tasks_gather_wait_cancel.py from the Python playground:
//   await asyncio.gather(a, b)           -> co_await (a && b)                         (section 1)
//   async with asyncio.TaskGroup() as tg -> experimental::make_parallel_group(...)
//                                             .async_wait(wait_for_one_error(), ...)  (section 1)
//   asyncio.wait(..., FIRST_COMPLETED)   -> co_await (a || b), or make_parallel_group(...)
//     and cancel the rest                     .async_wait(wait_for_one(), ...)        (section 2)
//   task.cancel()                        -> cancellation_signal::emit, bound to the task with
//                                           bind_cancellation_slot                    (section 4)
//   except asyncio.CancelledError        -> catch std::system_error whose code() is
//                                           asio::error::operation_aborted
//   await asyncio.wait_for(op, t)        -> co_await with_timeout(op, t)              (section 5)
//   async with asyncio.timeout(t): ...   -> co_await with_deadline(steps(), deadline) (section 5)
//
// What differs in C++:
//   - asyncio.gather lets the other tasks run on when one fails; && cancels them, and may throw
//     asio::multiple_exceptions, whose first_exception() is the *left* operand's exception.
//   - || ends at the first *success*: a failing operand does not end the race. Both are what Asio
//     documents for its awaitable operators ("wait for both operations to succeed", "wait for one
//     operation to succeed"), in every release from 1.22 to 1.38.
//   - Cancellation is a request delivered to the operation the task is waiting on; it surfaces as an
//     exception at that co_await. Code between two co_awaits (a CPU loop) never sees it unless it asks.
//   - After a cancellation, every later co_await in that task throws again, so cleanup that must await
//     first calls `co_await this_coro::reset_cancellation_state()`.

#include <fmt/ranges.h>  // prints a std::vector as [1, 2, 3]
#include <asio.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/experimental/parallel_group.hpp>
// deferred ("do not start yet: hand me the operation so a group can start it") moved the same way:
// asio::experimental::deferred in 1.22, asio::deferred from 1.28 on (as tested here); 1.38 removed the
// experimental header.
#if ASIO_VERSION >= 102800
#include <asio/deferred.hpp>
using asio::deferred;
#else
#include <asio/experimental/deferred.hpp>
using asio::experimental::deferred;
#endif
// as_tuple ("give me the error as a value instead of throwing it") moved out of asio::experimental:
// Asio 1.22 has only asio::experimental::as_tuple; newer releases (1.28 and later, as tested here) spell
// it asio::as_tuple, and 1.38 removed the experimental header. This lesson uses the form its Asio offers.
#if ASIO_VERSION >= 102800
#include <asio/as_tuple.hpp>
using asio::as_tuple;
#else
#include <asio/experimental/as_tuple.hpp>
using asio::experimental::as_tuple;
#endif

#include <array>
#include <chrono>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

#include "playground.hpp"

using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;  // && and || on awaitables

// `await asyncio.sleep(delay)`: suspend this coroutine, not the thread.
asio::awaitable<void> async_sleep(std::chrono::milliseconds delay) {
  asio::steady_timer timer(co_await asio::this_coro::executor, delay);
  co_await timer.async_wait(asio::use_awaitable);
}

// -------------------------------------------------------------------------------------------------
// The tasks used throughout: a job that holds a resource, waits, then succeeds or fails
// -------------------------------------------------------------------------------------------------
// Every job holds a Resource while it exists. A Resource is RAII: it adds one to a counter when
// made and takes it off when destroyed, however the job ends (it returned, threw, or was cancelled).
// If the counter is back to 0 after a demo, nothing leaked. The jobs of one demo share a Crew: that
// counter, a timeline of when each job ran, and a log of how each one ended.

struct Crew {
  explicit Crew(std::string name) : timeline(std::move(name)) {}
  pg::Timeline timeline;
  std::vector<std::string> log;      // "b: finished", "a: cancelled", "c: failed", in the order they happened
  int live = 0;                      // resources held right now
  int acquired = 0;                  // resources ever taken
  std::vector<std::string> planned;  // "a 300 ms": how long each job would run if nobody stopped it
};

class Resource {
 public:
  explicit Resource(Crew& crew) : crew_(&crew) {
    ++crew_->live;
    ++crew_->acquired;
  }
  Resource(const Resource&) = delete;
  Resource& operator=(const Resource&) = delete;
  ~Resource() { --crew_->live; }

 private:
  Crew* crew_;
};

// A cancelled wait throws std::system_error (asio::system_error is the same type) with this code.
bool is_cancellation(const std::system_error& e) { return e.code() == asio::error::operation_aborted; }

enum class Ending { succeed, fail };

asio::awaitable<int> job(Crew& crew, std::string name, std::chrono::milliseconds delay, int value,
                         Ending ending = Ending::succeed) {
  Resource held(crew);
  crew.planned.push_back(fmt::format("{} {} ms", name, delay.count()));
  auto span = crew.timeline.scope(name);
  try {
    co_await async_sleep(delay);
  } catch (const std::system_error& e) {
    if (is_cancellation(e)) crew.log.push_back(name + ": cancelled");
    throw;  // a cancelled task must still end with the cancellation, as Python's CancelledError
  }
  if (ending == Ending::fail) {
    crew.log.push_back(name + ": failed");
    throw std::runtime_error(name + " failed");
  }
  crew.log.push_back(name + ": finished");
  co_return value;
}

// What an exception is, in words: "cancelled", "multiple_exceptions", or its message.
std::string describe(std::exception_ptr error) {
  if (!error) return "no error";
  try {
    std::rethrow_exception(error);
  } catch (const asio::multiple_exceptions&) {
    return "multiple_exceptions";
  } catch (const std::system_error& e) {
    return is_cancellation(e) ? "cancelled" : e.what();
  } catch (const std::exception& e) {
    return e.what();
  }
}

// asyncio.run(main()): a fresh io_context runs one coroutine to its end; its result is returned and
// its exception is rethrown here, in the caller.
template <class T>
T run_coroutine(asio::awaitable<T> main_task) {
  asio::io_context io;
  std::optional<T> result;
  std::exception_ptr error;
  co_spawn(io, std::move(main_task), [&](std::exception_ptr e, T value) {
    error = e;
    if (!e) result = std::move(value);
  });
  io.run();
  if (error) std::rethrow_exception(error);
  return std::move(*result);
}

inline void run_coroutine(asio::awaitable<void> main_task) {
  asio::io_context io;
  std::exception_ptr error;
  co_spawn(io, std::move(main_task), [&](std::exception_ptr e) { error = e; });
  io.run();
  if (error) std::rethrow_exception(error);
}

// -------------------------------------------------------------------------------------------------
// 1. Gather with &&, one failure, and a task group
// -------------------------------------------------------------------------------------------------
// `co_await (a && b)` runs both and returns both results. When one of them throws, && cancels the other
// and, once both have ended, throws. The cancelled sibling throws too (operation_aborted), so with two
// exceptions in hand && throws asio::multiple_exceptions, and its first_exception() is the
// *left* operand's. Put the failing task on the left and you get its error; put it on the right and
// first_exception() is the left one's "cancelled": the error that caused it all is gone.

// What && threw: multiple_exceptions (then `error` describes its first_exception()), or one exception.
// (Only one when the sibling had already finished: cancellation reaches only a pending operation.)
struct GatherFailure {
  bool multiple = false;
  std::string error;
};

asio::awaitable<GatherFailure> gather_with_failure(Crew& crew, std::chrono::milliseconds delay, bool failing_on_left) {
  try {
    if (failing_on_left) {
      co_await (job(crew, "fails", delay, 0, Ending::fail) && job(crew, "slow", 3 * delay, 1));
    } else {
      co_await (job(crew, "slow", 3 * delay, 1) && job(crew, "fails", delay, 0, Ending::fail));
    }
  } catch (const asio::multiple_exceptions& e) {
    co_return GatherFailure{true, describe(e.first_exception())};
  } catch (const std::exception&) {
    co_return GatherFailure{false, describe(std::current_exception())};
  }
  co_return GatherFailure{false, "no error"};
}

// A task group (Python 3.11's asyncio.TaskGroup) is structured concurrency: the first failure cancels
// every other member, and the group ends only when every member has ended, so no task outlives it.
// make_parallel_group(...).async_wait(wait_for_one_error(), ...) is exactly that. Each member is a
// co_spawn with the `deferred` token: a description of the task, started by the group. The group hands
// back the completion order and each member's exception and value, so the original error is the first
// exception in completion order. Like TaskGroup, this function then raises it.

struct GroupReport {
  std::array<std::size_t, 3> order{};  // member indexes in the order they ended
  std::array<std::string, 3> outcomes;
  pg::Clock::time_point ended{};  // when the group's co_await returned
};

asio::awaitable<void> task_group(Crew& crew, std::chrono::milliseconds delay, GroupReport& report) {
  auto executor = co_await asio::this_coro::executor;
  // The group's result is unpacked with a structured binding, C++'s tuple unpacking (Python:
  // `order, e0, v0, e1, v1, e2, v2 = result`): `order` lists the member indexes in the order they
  // ended, then each member gives its exception_ptr (empty when it succeeded) and its value.
  auto [order, e0, v0, e1, v1, e2, v2] =
      co_await asio::experimental::make_parallel_group(
          co_spawn(executor, job(crew, "a (slow)", 4 * delay, 1), deferred),
          co_spawn(executor, job(crew, "b (fails)", 2 * delay, 2, Ending::fail), deferred),
          co_spawn(executor, job(crew, "c (quick)", delay, 3), deferred))
          .async_wait(asio::experimental::wait_for_one_error(), asio::use_awaitable);
  report.ended = pg::Clock::now();
  report.order = order;
  const std::array<std::exception_ptr, 3> errors = {e0, e1, e2};
  for (std::size_t i = 0; i < 3; ++i) report.outcomes[i] = describe(errors[i]);
  for (std::size_t i : order)  // the first failure in completion order is the cause
    if (errors[i]) std::rethrow_exception(errors[i]);
}

// -------------------------------------------------------------------------------------------------
// 2. Wait for the first to finish, cancel the rest
// -------------------------------------------------------------------------------------------------
// `co_await (a || b || c)` returns as soon as one operand has finished: a std::variant whose index()
// says which one won and which holds its value. The others are cancelled: each loser's pending wait
// throws operation_aborted, its catch block and destructors run, and only when every loser has ended
// does || return. So after the co_await, no loser is still running and every resource is released.
// The parallel group spelling, wait_for_one(), gives the same with the completion order spelled out.
// (Cancellation reaches only an operation still pending: a loser whose timer expired in the same
// instant as the winner's has already finished, and keeps its result.)

asio::awaitable<std::size_t> first_of_three(Crew& crew, std::chrono::milliseconds delay) {
  auto winner = co_await (job(crew, "a", 3 * delay, 1) || job(crew, "b", delay, 2) || job(crew, "c", 2 * delay, 3));
  co_return winner.index();
}

asio::awaitable<std::size_t> first_of_three_group(Crew& crew, std::chrono::milliseconds delay) {
  auto executor = co_await asio::this_coro::executor;
  auto [order, e0, v0, e1, v1, e2, v2] =
      co_await asio::experimental::make_parallel_group(co_spawn(executor, job(crew, "a", 3 * delay, 1), deferred),
                                                       co_spawn(executor, job(crew, "b", delay, 2), deferred),
                                                       co_spawn(executor, job(crew, "c", 2 * delay, 3), deferred))
          .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
  co_return order[0];
}

// -------------------------------------------------------------------------------------------------
// 3. || waits for the first *success*, not the first to finish
// -------------------------------------------------------------------------------------------------
// || ends when an operand *succeeds*; an operand that throws is simply out of the race (Asio documents
// it as "wait for one operation to succeed", in every release from 1.22 to 1.38).
// So `fails_fast || slow` does not end when fails_fast fails: it waits for slow, and you never learn
// about the failure. (asyncio.wait(FIRST_COMPLETED) returns at the failure.) The fix is to turn the
// failure into a value, so that failing counts as finishing: co_spawn the task with the token
// experimental::as_tuple(use_awaitable), and the co_await yields std::tuple<exception_ptr, int>
// instead of throwing. make_parallel_group with wait_for_one() also ends at the first completion,
// whatever its outcome.

struct RaceReport {
  std::size_t winner = 0;
  std::string winner_error;  // "no error" when the winner succeeded
  double took_ms = 0;
};

// BROKEN: the failure does not end the race.
asio::awaitable<RaceReport> race_failure_first(Crew& crew, std::chrono::milliseconds delay) {
  pg::Stopwatch clock;
  auto result = co_await (job(crew, "fails fast", delay, 0, Ending::fail) || job(crew, "slow", 4 * delay, 1));
  co_return RaceReport{result.index(), "no error", clock.elapsed_ms()};
}

// FIXED: each operand's failure is a value, so the first to *finish* wins.
asio::awaitable<RaceReport> race_first_finish(Crew& crew, std::chrono::milliseconds delay) {
  auto executor = co_await asio::this_coro::executor;
  constexpr auto finish_as_value = as_tuple(asio::use_awaitable);
  pg::Stopwatch clock;
  auto result = co_await (co_spawn(executor, job(crew, "fails fast", delay, 0, Ending::fail), finish_as_value) ||
                          co_spawn(executor, job(crew, "slow", 4 * delay, 1), finish_as_value));
  const double took = clock.elapsed_ms();
  // `result` is a std::variant: it holds the outcome of whichever operand won, and index() says which
  // (like a Python Union plus a tag). std::visit calls the lambda with the alternative it holds; both
  // are (exception_ptr, int) tuples here, so std::get<0> takes out the exception, empty on success.
  auto error = std::visit([](auto& outcome) { return std::get<0>(outcome); }, result);
  co_return RaceReport{result.index(), describe(error), took};
}

// -------------------------------------------------------------------------------------------------
// 4. Cancel a running task from outside
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
// 5. Timeouts
// -------------------------------------------------------------------------------------------------
// asyncio.wait_for(op, t) as a reusable helper: race the operation against a timer with ||. If the
// timer wins, || cancels the operation (its cleanup runs), and with_timeout throws timeout_error, a
// clear error of its own rather than a bare "cancelled". Section 3 matters here: a plain
// `op || timer` would let a *failing* op wait out the whole timeout and then report a timeout, so the
// op's outcome is taken as a value (as_tuple) and its own error is rethrown when it fails.
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
void show(const Crew& crew, pg::TraceFile& trace) {
  crew.timeline.print();
  trace.add(crew.timeline);
  fmt::print("  planned: {} (a cancelled span stops short of that)\n", fmt::join(crew.planned, ", "));
  fmt::print("  how each ended: {}\n  resources still held: {} (of {} taken)\n", crew.log, crew.live, crew.acquired);
}

int run_lesson(int argc, char** argv) {
  int delay_ms = 100;
  int steps = 3;
  pg::Flags flags("tasks_gather_wait_cancel",
                  "Gather, task groups, first-completed, cancellation and timeouts with Asio coroutines.");
  flags.add("--delay-ms", delay_ms, "base delay of each task, in milliseconds", 1, 10'000);
  flags.add("--steps", steps, "steps in the shared-deadline sequence (section 5)", 1, 100);
  std::string trace_path;
  flags.add("--trace", trace_path, "also write the timelines to this file for a trace viewer (ui.perfetto.dev)");
  if (auto status = flags.parse(argc, argv)) return *status;
  pg::TraceFile trace;
  if (auto status = trace.open(trace_path)) return *status;
  const std::chrono::milliseconds delay(delay_ms);

  // The same pair twice, in both operand orders: only the order decides whether first_exception() is
  // the real error. Then the task group: c finishes, b fails, and a is cancelled at that moment.
  pg::banner("1. Gather with && when one task fails, and a task group");
  for (bool failing_on_left : {true, false}) {
    Crew crew(failing_on_left ? "gather (failing left)" : "gather (failing right)");
    const auto failure = run_coroutine(gather_with_failure(crew, delay, failing_on_left));
    show(crew, trace);
    fmt::print("  {} threw {} '{}'\n", failing_on_left ? "co_await (fails && slow)" : "co_await (slow && fails)",
               failure.multiple ? "multiple_exceptions, first_exception() =" : "just", failure.error);
    fmt::print("  {}\n\n", failure.error == "fails failed"
                               ? "the error that caused it all reached the caller"
                               : "the error that caused it all, 'fails failed', is lost: only the log shows it");
  }
  {
    Crew crew("task group");
    GroupReport group;
    std::string raised;
    try {
      run_coroutine(task_group(crew, delay, group));
    } catch (const std::exception& e) {
      raised = e.what();
    }
    show(crew, trace);
    fmt::print("  completion order {}, outcomes of a, b, c {}\n  the group raised '{}'\n", group.order, group.outcomes,
               raised);
  }

  // b is the quickest. All three spans end together: a and c were cancelled when b finished, and the
  // co_await returned only after their cleanup, so no resource is left held.
  pg::banner("2. Wait for the first to finish, cancel the rest");
  {
    Crew crew("first with ||");
    const auto winner = run_coroutine(first_of_three(crew, delay));
    show(crew, trace);
    fmt::print("  winner: operand {} (b)\n\n", winner);
    Crew group_crew("first with wait_for_one");
    const auto group_winner = run_coroutine(first_of_three_group(group_crew, delay));
    show(group_crew, trace);
    fmt::print("  winner: member {} (b)\n", group_winner);
  }

  // Compare the two times: the broken race waits for the slow task although the other failed at one
  // delay; the fixed one ends at the failure and cancels the slow task.
  pg::banner("3. || waits for the first success, not the first to finish");
  {
    Crew crew("|| with a failure");
    const auto broken = run_coroutine(race_failure_first(crew, delay));
    show(crew, trace);
    fmt::print("  BROKEN: winner {} after {:.0f} ms: the failure at {} ms did not end the race\n\n", broken.winner,
               broken.took_ms, delay_ms);
    Crew fixed_crew("|| with as_tuple");
    const auto fixed = run_coroutine(race_first_finish(fixed_crew, delay));
    show(fixed_crew, trace);
    fmt::print("  FIXED:  winner {} after {:.0f} ms, with the error '{}'\n", fixed.winner, fixed.took_ms,
               fixed.winner_error);
  }

  // The worker is cancelled after one delay and spends a quarter delay on its cleanup ("worker cleanup"
  // span). Then two CPU loops of 10 slices get the same request, due after one and a half slices.
  pg::banner("4. Cancel a running task from outside");
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
  pg::banner("5. Timeouts: with_timeout, and one deadline for several awaits");
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
      "\nTakeaway: run tasks in a group so none outlives its caller; || ends at the first success,\n"
      "so turn failures into values; cancellation reaches only a co_await; bound every wait with a deadline.\n");
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
// checked on Asio 1.22. Rebuild with `cmake --build build/default --target tasks_gather_wait_cancel`,
// and undo a change with `git checkout basics/tasks_gather_wait_cancel.cpp`.
// -------------------------------------------------------------------------------------------------
// 1. In crunch_checking, delete the line `co_await asio::post(executor, asio::use_awaitable);` but
//    keep the cancellation check. What does section 4's FIXED line say?
//    Answer: "ran 10/10 slices ... completed", like the BROKEN loop. The cancel is sent by a timer
//    handler, and on a one-thread loop that handler can only run when the coroutine gives the thread
//    back. Checking cancellation_state without ever suspending finds nothing: a check is only useful
//    after a co_await that lets others run.
//
// 2. In worker_with_cleanup, delete the line `co_await asio::this_coro::reset_cancellation_state();`.
//    What happens to the cleanup in section 4?
//    Answer: the flush's async_sleep throws operation_aborted at once: the "worker cleanup" span is
//    0 ms long, the log stops at "worker: cancelled, flushing" ("worker: cleanup done" is missing),
//    and the worker ends at the moment the cancel was sent instead of a quarter delay later. The
//    Resource is still released ("resources still held: 0"): destructors run however the task ends.
//
// 3. In task_group, replace `wait_for_one_error()` with `wait_for_all()`. What changes in section 1's
//    task group?
//    Answer: a is no longer cancelled: its span runs the full 4 x delay and the group ends there
//    (about 400 ms) instead of at b's failure; the log says "a (slow): finished"; completion order
//    [2, 1, 0]; the group still raises 'b (fails) failed'. That is asyncio.gather without
//    return_exceptions, which also lets the others run on; a TaskGroup cancels them.
//
// Next: basics/async_queues_and_channels.cpp: coroutines that hand items to each other through a
// channel, Asio's asyncio.Queue.
