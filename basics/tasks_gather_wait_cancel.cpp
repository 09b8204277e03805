// tasks_gather_wait_cancel: run tasks together, wait for all of them or for the first, and cancel
// the rest.
//
// What you will see: (1) gather with && and what one failure does to it, then a task group that
// cancels the rest on the first failure and keeps the original error; (2) waiting for the first task
// to finish, with every loser cancelled and cleaned up; (3) || waits for the first *success*, not the
// first to finish, and how to race on finishing instead. Every task holds a counted resource: the
// count returns to 0, so no cancelled task leaks.
//
// The core, before the details (each line is one section below; a, b are awaitables):
//
//   auto [x, y] = co_await (a && b);       // gather: both results; one failure cancels the other
//   auto first  = co_await (a || b);       // the first to *succeed* wins, the other is cancelled
//   co_await make_parallel_group(...).async_wait(wait_for_one_error(), use_awaitable);  // TaskGroup
//
// The tasks: job(crew, name, delay, value) waits `delay`, then returns `value` (or throws, with
// Ending::fail), holding a counted Resource; a Crew records its timeline and how each job ended
// ("b: finished", "a: cancelled"); run_coroutine(task) is asyncio.run(task). They live in
// common/counted_jobs.hpp, shared with the next lesson: the sections below need only what they do.
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
//   except asyncio.CancelledError        -> catch std::system_error whose code() is
//                                           asio::error::operation_aborted
//   task.cancel(), asyncio.wait_for, asyncio.timeout -> the next lesson, cancellation_and_timeouts
//
// What differs in C++:
//   - asyncio.gather lets the other tasks run on when one fails; && cancels them, and may throw
//     asio::multiple_exceptions, whose first_exception() is the *left* operand's exception.
//   - || ends at the first *success*: a failing operand does not end the race. Both are what Asio
//     documents for its awaitable operators ("wait for both operations to succeed", "wait for one
//     operation to succeed"), in every release from 1.22 to 1.38.

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

#include <array>
#include <chrono>
#include <exception>
#include <string>
#include <tuple>
#include <variant>

#include "counted_jobs.hpp"  // job, Crew, Resource, describe, run_coroutine, show; as_tuple
#include "playground.hpp"

using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;  // && and || on awaitables

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
// main: run the sections in order
// -------------------------------------------------------------------------------------------------

#ifndef PLAYGROUND_NO_MAIN  // the tests include this file and bring their own main
int run_lesson(int argc, char** argv) {
  int delay_ms = 100;
  pg::Flags flags("tasks_gather_wait_cancel",
                  "Gather, task groups, and first-completed with the rest cancelled, with Asio coroutines.");
  flags.add("--delay-ms", delay_ms, "base delay of each task, in milliseconds", 1, 10'000);
  pg::TraceFile trace;
  trace.add_flags(flags);  // --trace FILE and --html FILE
  if (auto status = flags.parse(argc, argv)) return *status;
  if (auto status = trace.open()) return *status;
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
  // co_await returned only after their cleanup, so no resource is left held. (With a tiny --delay-ms
  // on a busy machine, a stall can let two timers expire in one batch, and then another may win.)
  pg::banner("2. Wait for the first to finish, cancel the rest");
  {
    constexpr std::array<const char*, 3> names = {"a", "b", "c"};
    Crew crew("first with ||");
    const auto winner = run_coroutine(first_of_three(crew, delay));
    show(crew, trace);
    fmt::print("  winner: operand {} ({})\n\n", winner, names.at(winner));
    Crew group_crew("first with wait_for_one");
    const auto group_winner = run_coroutine(first_of_three_group(group_crew, delay));
    show(group_crew, trace);
    fmt::print("  winner: member {} ({})\n", group_winner, names.at(group_winner));
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

  if (!trace.write()) return 1;
  fmt::print(
      "\nTakeaway: run tasks in a group so none outlives its caller; || ends at the first success,\n"
      "so turn failures into values when the first to finish should win.\n");
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
// 1. In task_group, replace `wait_for_one_error()` with `wait_for_all()`. What changes in section 1's
//    task group?
//    Answer: a is no longer cancelled: its span runs the full 4 x delay and the group ends there
//    (about 400 ms) instead of at b's failure; the log says "a (slow): finished"; completion order
//    [2, 1, 0]; the group still raises 'b (fails) failed'. That is asyncio.gather without
//    return_exceptions, which also lets the others run on; a TaskGroup cancels them.
//
// 2. In gather_with_failure, make `fails` fail later than `slow` finishes: in both
//    `job(crew, "fails", delay, 0, Ending::fail)` calls, replace `delay` with `4 * delay`. What do
//    the two gathers of section 1 say now?
//    Answer: both say "threw just 'fails failed'" and "the error that caused it all reached the
//    caller", whatever the operand order: slow had already finished (log "slow: finished", no
//    "slow: cancelled"), so there was nothing left to cancel and only one exception to throw.
//
// Next: basics/cancellation_and_timeouts.cpp: cancel a running task from outside (task.cancel()),
// make a CPU loop cancellable, and bound waits with timeouts and deadlines.
