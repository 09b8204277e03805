// event_loop_and_tasks: the io_context is the event loop, and co_spawn turns a coroutine into a task.
//
// What you will see: (1) nothing runs until io_context::run(), and run() returns when no work is
// left; (2) co_spawn from inside the loop runs the new task at once, up to its first co_await, where
// Python's create_task only schedules it: both orders are printed; (3) tasks started first and awaited
// one by one afterwards still overlap: the total is the longest task, not the sum; (4) gather: wait for
// all and get the results in argument order, whatever order they finish in; (5) fire-and-forget
// (`detached`) and what goes wrong with it, next to the safe forms.
//
// Run it:   build/default/basics/event_loop_and_tasks --delay-ms 100 --tasks 5
// Build it by hand:
//   g++ -std=c++20 -O2 -I common basics/event_loop_and_tasks.cpp -lfmt -pthread -o event_loop_and_tasks
//
// Mirrors event_loop_and_tasks.py from the Python playground:
//   asyncio.run(main())            -> run_coroutine(main()): an io_context, co_spawn, run() (section 1)
//   asyncio.create_task(coro)      -> co_spawn(executor, coro, token)           (section 2)
//   task = create_task(...); await task
//                                  -> auto task = co_spawn(ex, coro, experimental::use_promise);
//                                     co_await wait_for(task)                   (section 3)
//   await asyncio.gather(a, b, c)  -> co_await (a && b && c)                     (section 4, fixed set)
//   await asyncio.gather(*tasks)   -> a vector of promises awaited in order      (section 4, dynamic set)
//   create_task(...) and forget    -> co_spawn(ex, coro, asio::detached)         (section 5)
//
// What differs in C++:
//   - co_spawn *dispatches*: called from code already running on that io_context, the new coroutine runs
//     inline until its first suspension. create_task never runs anything before the caller's next await.
//   - An un-awaited asyncio task keeps running; an un-awaited experimental::promise is *cancelled* when
//     the promise object is destroyed. Keep the handle as long as you want the task.
//   - When the loop stops with tasks still suspended, asyncio cancels them (their `finally` blocks run).
//     Asio destroys their frames with the io_context: destructors run, catch blocks and the rest of the
//     coroutine never do.
//   - A coroutine that keeps a reference to a caller's local is a use-after-free once the caller returns:
//     undefined behaviour, not an AttributeError. Pass by value to a coroutine that outlives its caller.

#include <fmt/ranges.h>  // prints a std::vector as [1, 2, 3]
#include <asio.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/experimental/promise.hpp>
#if ASIO_VERSION >= 102800
#include <asio/deferred.hpp>
#include <asio/experimental/parallel_group.hpp>
#include <asio/experimental/use_promise.hpp>  // 1.22 declares use_promise in promise.hpp
#endif

#include <chrono>
#include <exception>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "playground.hpp"
#include "run_coroutine.hpp"  // run_coroutine(main()): asyncio.run(main()), section 1

using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;  // && and || on awaitables

// What happened, in order: tasks append one line each, the tests compare the sequence.
using EventLog = std::vector<std::string>;

// `await asyncio.sleep(delay)`: suspend this coroutine, not the thread.
asio::awaitable<void> async_sleep(std::chrono::milliseconds delay) {
  asio::steady_timer timer(co_await asio::this_coro::executor, delay);
  co_await timer.async_wait(asio::use_awaitable);
}

// -------------------------------------------------------------------------------------------------
// 1. The io_context is the event loop
// -------------------------------------------------------------------------------------------------
// An io_context is a queue of work plus the loop that executes it. Each piece of queued work is a
// *handler*: a function the loop calls once, such as "start this coroutine" or "resume it, its timer
// has fired". A coroutine runs as a chain of handlers, one per stretch between two co_awaits.
//
// Here co_spawn is called from main(), *outside* the loop: no thread is running the loop yet, so
// co_spawn can only queue the coroutine's first handler; not a single line of it runs. (Called from
// inside the loop, co_spawn behaves differently: section 2.) The thread that calls run() becomes the
// loop: it runs ready handlers, waits for timers and sockets, runs the handlers they wake, and returns
// as soon as nothing is left, that is when every task has finished. That is asyncio.run(main()) taken
// apart into its three steps: make the loop, hand it the task, run it.

asio::awaitable<void> logged_task(std::string name, std::chrono::milliseconds delay, EventLog& log) {
  log.push_back(name + ": started");
  co_await async_sleep(delay);
  log.push_back(name + ": finished");
}

EventLog loop_lifecycle(std::chrono::milliseconds delay) {
  EventLog log;
  asio::io_context io;
  co_spawn(io, logged_task("task", delay, log), [](std::exception_ptr error) {
    if (error) std::rethrow_exception(error);
  });
  log.push_back("main: co_spawn returned");
  log.push_back("main: calling run()");
  const std::size_t handlers = io.run();  // runs the task to its end, then returns: no work is left
  log.push_back(fmt::format("main: run() returned after running {} handlers", handlers));
  return log;
}

// The rest of this file does those three steps in one call, run_coroutine(main()) (from
// common/run_coroutine.hpp): it returns main's result, and rethrows main's exception in the caller.

// -------------------------------------------------------------------------------------------------
// 2. Inside the loop, co_spawn runs the child at once; create_task only schedules it
// -------------------------------------------------------------------------------------------------
// Called from a coroutine that is already running on the io_context, co_spawn *dispatches* the child:
// it runs on the spot, before co_spawn returns, up to its first co_await. Only then does the parent
// go on. asyncio.create_task instead appends the task to the ready queue: the parent keeps running
// until its own next await. (Python 3.12's eager_task_factory behaves like co_spawn.)
//
// When the order matters, get create_task's behaviour by *posting* the co_spawn: asio::post queues a
// function to run later on the loop, so the child starts only once the parent has suspended or ended.

asio::awaitable<void> child_task(std::string name, EventLog& log) {
  log.push_back(name + ": runs up to its first co_await");
  co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);  // first suspension
  log.push_back(name + ": resumed");
}

// co_spawn as it is: the child runs inline.
asio::awaitable<void> parent_spawns_inline(EventLog& log) {
  auto executor = co_await asio::this_coro::executor;
  log.push_back("parent: before co_spawn");
  co_spawn(executor, child_task("child", log), [](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
  });
  log.push_back("parent: after co_spawn");
}

// create_task's order: post the co_spawn, so it runs when the parent gives the thread back.
asio::awaitable<void> parent_spawns_like_create_task(EventLog& log) {
  auto executor = co_await asio::this_coro::executor;
  log.push_back("parent: before co_spawn");
  asio::post(executor, [executor, &log] {
    co_spawn(executor, child_task("child", log), [](std::exception_ptr e) {
      if (e) std::rethrow_exception(e);
    });
  });
  log.push_back("parent: after co_spawn");
}

// -------------------------------------------------------------------------------------------------
// 3. Start tasks first, await them later: they still run concurrently
// -------------------------------------------------------------------------------------------------
// `co_await fetch(...)` three times in a row runs the three fetches one after another: co_await on a
// coroutine means "run it now and wait for it". To get Python's
//     tasks = [asyncio.create_task(fetch(d)) for d in delays]
//     results = [await t for t in tasks]
// each fetch must start *before* we wait for any of them, and we need a handle to wait on later.
// That handle is experimental::promise: co_spawn(..., use_promise) starts the task now and returns the
// promise; `co_await wait_for(task)` (below) waits for it and returns its value (or rethrows its
// exception). While we wait for the first, the others are already waiting on their timers,
// so the total is the longest task, not the sum. (Unlike an asyncio task, a promise destroyed before it
// completes cancels its task: keep it until you have awaited it.)

asio::awaitable<int> fetch(std::string name, std::chrono::milliseconds delay, int value, pg::Timeline& timeline) {
  auto span = timeline.scope(std::move(name));
  co_await async_sleep(delay);
  co_return value;
}

// Await each fetch as it is created: one after another, total = sum of the delays.
asio::awaitable<std::vector<int>> await_each_in_turn(std::vector<std::chrono::milliseconds> delays,
                                                     pg::Timeline& timeline) {
  std::vector<int> results;
  for (std::size_t i = 0; i < delays.size(); ++i) {
    const int value = static_cast<int>(i) + 1;
    results.push_back(co_await fetch(fmt::format("task {}", i), delays[i], value, timeline));
  }
  co_return results;
}

using IntTask = asio::experimental::promise<void(std::exception_ptr, int)>;

// Waiting for a promise is spelled differently across Asio releases: 1.22 has `task.async_wait(token)`;
// newer releases (1.28 and later, as tested here) call the promise itself, `task(token)`. Both start
// the same wait; use_awaitable makes it something a coroutine can co_await.
template <typename Promise>
auto wait_for(Promise& task) {
#if ASIO_VERSION >= 102800
  return task(asio::use_awaitable);
#else
  return task.async_wait(asio::use_awaitable);
#endif
}

// Start every fetch, then await them one by one: together, total = the longest delay.
asio::awaitable<std::vector<int>> start_all_then_await(std::vector<std::chrono::milliseconds> delays,
                                                       pg::Timeline& timeline) {
  auto executor = co_await asio::this_coro::executor;
  std::vector<IntTask> tasks;
  for (std::size_t i = 0; i < delays.size(); ++i) {
    const int value = static_cast<int>(i) + 1;
    tasks.push_back(co_spawn(executor, fetch(fmt::format("task {}", i), delays[i], value, timeline),
                             asio::experimental::use_promise));
  }
  std::vector<int> results;
  for (auto& task : tasks) results.push_back(co_await wait_for(task));
  co_return results;
}

// -------------------------------------------------------------------------------------------------
// 4. Gather: wait for all, results in argument order
// -------------------------------------------------------------------------------------------------
// `co_await (a && b && c)` starts a, b and c together and resumes when all three are done, with their
// results in a std::tuple in the order they were written, whatever order they finished in. Here the
// first fetch is the slowest, so they finish in reverse: the timeline's spans are recorded as each
// fetch ends, and show it. (A void operand adds nothing to the tuple; if one operand throws, the others
// are cancelled: see tasks_gather_wait_cancel for that side of &&.)

asio::awaitable<std::tuple<int, int, int>> gather_three(std::chrono::milliseconds delay, pg::Timeline& timeline) {
  co_return co_await (fetch("a (slowest)", 3 * delay, 1, timeline) && fetch("b", 2 * delay, 2, timeline) &&
                      fetch("c (fastest)", delay, 3, timeline));
}

// && needs the operands written out. For a set only known at run time (asyncio.gather(*tasks)), start
// them all as promises and await them in the order they were started: every one runs from the start,
// and the results land in argument order. The delays here shrink with the index, so again the last
// task finishes first.
asio::awaitable<std::vector<int>> gather_dynamic(int count, std::chrono::milliseconds step, pg::Timeline& timeline) {
  std::vector<std::chrono::milliseconds> delays;
  for (int i = 0; i < count; ++i) delays.push_back((count - i) * step);
#if ASIO_VERSION >= 102800
  // Asio 1.28 and newer: a ranged parallel group waits for a vector of operations in one call and gives
  // back their completion order plus one vector per result field. (Not built by Asio 1.22.)
  auto executor = co_await asio::this_coro::executor;
  using Op = decltype(co_spawn(executor, fetch("", 0ms, 0, timeline), asio::deferred));
  std::vector<Op> ops;
  for (int i = 0; i < count; ++i)
    ops.push_back(co_spawn(executor,
                           fetch(fmt::format("task {}", i), delays[static_cast<std::size_t>(i)], i + 1, timeline),
                           asio::deferred));
  auto [order, errors, values] = co_await asio::experimental::make_parallel_group(std::move(ops))
                                     .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
  for (auto& error : errors)
    if (error) std::rethrow_exception(error);
  co_return values;
#else
  co_return co_await start_all_then_await(std::move(delays), timeline);
#endif
}

// -------------------------------------------------------------------------------------------------
// 5. Fire-and-forget: `detached`, and why it is unsafe
// -------------------------------------------------------------------------------------------------
// co_spawn(ex, task(), asio::detached) starts a task and throws away every way to learn how it ended.
// Three things go wrong with that, each shown below next to its fix.
//
// 5a. An exception thrown in a detached task is swallowed: run() returns normally and the caller never
// hears of it (Python at least logs "Task exception was never retrieved"). The safe forms: a completion
// handler that rethrows, so the exception leaves io_context::run() in the caller; or keeping the
// handle (a promise) and awaiting it, so the exception comes out of the co_await.

asio::awaitable<void> failing_job(std::chrono::milliseconds delay, EventLog& log) {
  co_await async_sleep(delay);
  log.push_back("job: throwing");
  throw std::runtime_error("job failed");
}

// Each returns the error message the caller saw, or "" when it saw none.
std::string run_failing_job_detached(std::chrono::milliseconds delay, EventLog& log) {
  asio::io_context io;
  co_spawn(io, failing_job(delay, log), asio::detached);  // BROKEN: the exception goes nowhere
  try {
    io.run();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

std::string run_failing_job_rethrowing(std::chrono::milliseconds delay, EventLog& log) {
  asio::io_context io;
  co_spawn(io, failing_job(delay, log), [](std::exception_ptr error) {  // FIXED: rethrow it
    if (error) std::rethrow_exception(error);                           // it leaves run() below
  });
  try {
    io.run();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

asio::awaitable<std::string> await_failing_job_handle(std::chrono::milliseconds delay, EventLog& log) {
  auto executor = co_await asio::this_coro::executor;
  auto task = co_spawn(executor, failing_job(delay, log), asio::experimental::use_promise);  // FIXED: keep it
  try {
    co_await wait_for(task);  // ... and await it: the exception comes out here
  } catch (const std::exception& e) {
    co_return std::string(e.what());
  }
  co_return std::string();
}

// 5b. Work still pending when the loop stops never finishes. Here main() fires a long job and returns
// early; the completion handler of main stops the loop, as asyncio.run does when main returns. The
// job is still suspended on its timer. Its frame lives on inside the io_context until the io_context
// is destroyed; then the frame is destroyed *without being resumed*: destructors of its locals run (the
// Probe below), but no catch block and no line after the co_await ever does.

struct AbandonReport {
  bool started = false;
  bool reached_end = false;                  // the line after the co_await ran
  bool cleaned_up = false;                   // the Probe's destructor ran
  bool cleaned_up_while_loop_alive = false;  // ... already before the io_context was destroyed
  double run_ms = 0;                         // how long run() took
};

// RAII: sets a flag when destroyed, however the scope ends.
struct Probe {
  bool* destroyed;
  explicit Probe(bool* flag) : destroyed(flag) {}
  Probe(const Probe&) = delete;
  Probe& operator=(const Probe&) = delete;
  ~Probe() { *destroyed = true; }
};

asio::awaitable<void> long_job(std::chrono::milliseconds delay, AbandonReport& report) {
  Probe probe(&report.cleaned_up);
  report.started = true;
  co_await async_sleep(delay);
  report.reached_end = true;  // never runs when the loop stops first
}

asio::awaitable<void> main_that_returns_early(std::chrono::milliseconds job_delay, std::chrono::milliseconds main_delay,
                                              AbandonReport& report) {
  co_spawn(co_await asio::this_coro::executor, long_job(job_delay, report), asio::detached);
  co_await async_sleep(main_delay);
}

AbandonReport abandon_pending_task(std::chrono::milliseconds job_delay, std::chrono::milliseconds main_delay) {
  AbandonReport report;
  {
    asio::io_context io;
    co_spawn(io, main_that_returns_early(job_delay, main_delay, report), [&io](std::exception_ptr error) {
      io.stop();  // main is done: stop the loop, whatever else is still pending
      if (error) std::rethrow_exception(error);
    });
    pg::Stopwatch clock;
    io.run();
    report.run_ms = clock.elapsed_ms();
    report.cleaned_up_while_loop_alive = report.cleaned_up;
  }  // ~io_context: the suspended job's frame is destroyed here, and the Probe's destructor runs
  return report;
}

// 5c. A detached task can outlive everything it refers to. start_reporter() below makes a local,
// hands a *reference* to it to a detached task, and returns: the local is destroyed while the task is
// still waiting. Reading it after the wait would be a use-after-free (undefined behaviour; ASan would
// report it), so this demo never reads it: the Watched object registers its id in `alive` while it
// exists, and the task only checks that set. The fix is to give the task its own copy: a coroutine's
// by-value parameters live in its frame for as long as it runs.
// (The same trap hides in a lambda coroutine with captures called on the spot:
// co_spawn(ex, [s]() -> asio::awaitable<void> {...}(), detached) keeps `s` in a temporary lambda that
// is gone before the coroutine resumes. Pass s as a parameter instead.)

struct Watched {
  int id;
  std::string text;
  std::set<int>* alive;
  Watched(int watched_id, std::string value, std::set<int>& registry)
      : id(watched_id), text(std::move(value)), alive(&registry) {
    alive->insert(id);
  }
  Watched(const Watched&) = delete;
  Watched& operator=(const Watched&) = delete;
  ~Watched() { alive->erase(id); }
};

// BROKEN: keeps a reference. It never reads `watched` after the wait: it only asks whether it still exists.
asio::awaitable<void> report_by_reference([[maybe_unused]] const Watched& watched, int id,
                                          std::chrono::milliseconds delay, const std::set<int>& alive, EventLog& log) {
  co_await async_sleep(delay);
  log.push_back(alive.contains(id) ? "by reference: the object is still alive"
                                   : "by reference: the object is gone; reading it now would be undefined behaviour");
}

// FIXED: the text is copied into the coroutine frame when the task is created.
asio::awaitable<void> report_by_value(std::string text, std::chrono::milliseconds delay, EventLog& log) {
  co_await async_sleep(delay);
  log.push_back("by value: read '" + text + "' from the task's own copy");
}

void start_reporters(asio::io_context& io, std::chrono::milliseconds delay, std::set<int>& alive, EventLog& log) {
  Watched local(1, "hello", alive);
  co_spawn(io, report_by_reference(local, local.id, delay, alive, log), asio::detached);
  co_spawn(io, report_by_value(local.text, delay, log), asio::detached);
  log.push_back("start_reporters: returning, its local is destroyed");
}

EventLog dangling_reference_demo(std::chrono::milliseconds delay) {
  EventLog log;
  std::set<int> alive;  // declared before the io_context, so it outlives every task
  asio::io_context io;
  start_reporters(io, delay, alive, log);
  io.run();
  return log;
}

// -------------------------------------------------------------------------------------------------
// main: run the sections in order
// -------------------------------------------------------------------------------------------------

#ifndef PLAYGROUND_NO_MAIN  // the tests include this file and bring their own main
void print_log(const EventLog& log) {
  for (std::size_t i = 0; i < log.size(); ++i) fmt::print("  {}. {}\n", i + 1, log[i]);
}

double total_ms(const pg::Timeline& timeline) {
  auto last = timeline.origin();
  for (const auto& s : timeline.spans()) last = std::max(last, s.end);
  return pg::ms(last - timeline.origin());
}

int run_lesson(int argc, char** argv) {
  int delay_ms = 100;
  int tasks = 5;
  pg::Flags flags("event_loop_and_tasks",
                  "The io_context is the event loop; co_spawn makes tasks; gather; why detached tasks are unsafe.");
  flags.add("--delay-ms", delay_ms, "base delay of each task, in milliseconds", 1, 10'000);
  flags.add("--tasks", tasks, "number of tasks in the dynamic gather (section 4)", 1, 1'000);
  pg::TraceFile trace;
  trace.add_flags(flags);  // --trace FILE and --html FILE
  if (auto status = flags.parse(argc, argv)) return *status;
  if (auto status = trace.open()) return *status;
  const std::chrono::milliseconds delay(delay_ms);

  // Look at the order: both "main" lines come before the task's first line, because co_spawn from
  // outside run() only queues the task; run() then returns by itself once the task has finished.
  pg::banner("1. The io_context is the event loop");
  print_log(loop_lifecycle(delay));
  fmt::print(
      "  nothing ran before run(); run() returned once the only task had finished.\n"
      "  (A handler is one piece of work the loop ran. Here, two: the task's start, up to its co_await on\n"
      "  the timer; and its resumption when the timer fired, to its end.)\n");

  // The same parent twice. In the first log the child's first line sits *between* the parent's two
  // lines; in the second, posted one, the parent finishes its lines before the child starts.
  pg::banner("2. Inside the loop, co_spawn runs the child at once; create_task only schedules it");
  EventLog inline_order;
  run_coroutine(parent_spawns_inline(inline_order));
  fmt::print("  co_spawn from inside the loop (runs the child inline until its first co_await):\n");
  print_log(inline_order);
  EventLog posted_order;
  run_coroutine(parent_spawns_like_create_task(posted_order));
  fmt::print("  post(co_spawn) from inside the loop (asyncio.create_task's order):\n");
  print_log(posted_order);

  // Delays of 1, 3 and 2 x delay. Awaited in turn, the spans sit end to end; started first, all three
  // begin at 0 ms, and awaiting task 0 first costs nothing: tasks 1 and 2 were waiting meanwhile.
  pg::banner("3. Start tasks first, await them later: they still overlap");
  const std::vector<std::chrono::milliseconds> delays = {delay, 3 * delay, 2 * delay};
  pg::Timeline in_turn("awaited in turn");
  pg::Stopwatch in_turn_clock;
  auto in_turn_results = run_coroutine(await_each_in_turn(delays, in_turn));
  const double in_turn_ms = in_turn_clock.elapsed_ms();
  in_turn.print();
  trace.add(in_turn);
  fmt::print("  results {}, took {:.0f} ms (the sum of the delays: {} ms)\n\n", in_turn_results, in_turn_ms,
             6 * delay_ms);
  pg::Timeline started("started first");
  pg::Stopwatch started_clock;
  auto started_results = run_coroutine(start_all_then_await(delays, started));
  const double started_ms = started_clock.elapsed_ms();
  started.print();
  trace.add(started);
  fmt::print("  results {}, took {:.0f} ms (the longest delay: {} ms), {:.1f}x faster\n", started_results, started_ms,
             3 * delay_ms, in_turn_ms / std::max(started_ms, 1e-3));

  // The spans are recorded as each task ends, so finish_order is the real completion order: the reverse
  // of the argument order, while the results still come back as (1, 2, 3).
  pg::banner("4. Gather: wait for all, results in argument order");
  pg::Timeline three("gather &&");
  auto [a, b, c] = run_coroutine(gather_three(delay, three));
  three.print();
  trace.add(three);
  std::vector<std::string> finish_order;
  for (const auto& s : three.spans()) finish_order.push_back(s.name);
  fmt::print("  finished in the order {}\n  results (a, b, c) = ({}, {}, {}): argument order\n\n", finish_order, a, b,
             c);
  pg::Timeline dynamic("gather dynamic");
  auto dynamic_results = run_coroutine(gather_dynamic(tasks, delay / 2 + 1ms, dynamic));
  dynamic.print();
  trace.add(dynamic);
  fmt::print("  {} tasks, the last finished first; results {} in argument order, in {:.0f} ms\n", tasks,
             dynamic_results, total_ms(dynamic));

  // 5a runs the same failing job three ways; 5b stops the loop while a detached job still waits; 5c
  // lets a function return while a detached task still refers to its local.
  pg::banner("5. Fire-and-forget (detached) and why it is unsafe");
  EventLog job_log;
  const std::string detached_saw = run_failing_job_detached(delay / 4, job_log);
  fmt::print("  5a. detached:          the job threw ({}), the caller saw: {}\n", job_log.back(),
             detached_saw.empty() ? "nothing, run() returned normally" : detached_saw);
  const std::string rethrown = run_failing_job_rethrowing(delay / 4, job_log);
  fmt::print("      rethrowing handler: the caller caught '{}' from run()\n", rethrown);
  const std::string awaited = run_coroutine(await_failing_job_handle(delay / 4, job_log));
  fmt::print("      kept handle:        the caller caught '{}' from co_await\n", awaited);

  const auto report = abandon_pending_task(4 * delay, delay / 2);
  fmt::print(
      "  5b. main returned after {} ms, the loop stopped after {:.0f} ms with a {} ms job pending:\n"
      "      job started: {}, reached its end: {}, its destructors ran: {} (during run(): {}; when the\n"
      "      io_context was destroyed: {})\n",
      delay_ms / 2, report.run_ms, 4 * delay_ms, report.started, report.reached_end, report.cleaned_up,
      report.cleaned_up_while_loop_alive, report.cleaned_up && !report.cleaned_up_while_loop_alive);

  fmt::print("  5c. a detached task holding a reference to a caller's local:\n");
  print_log(dangling_reference_demo(delay / 4));

  if (!trace.write()) return 1;
  fmt::print(
      "\nTakeaway: nothing runs until run(); co_spawn makes a task (inline until its first co_await);\n"
      "start tasks before awaiting them, gather with && or promises, and never lose a task's outcome to detached.\n");
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
// checked on Asio 1.22. Rebuild with `cmake --build build/default --target event_loop_and_tasks`, and
// undo a change with `git checkout basics/event_loop_and_tasks.cpp`.
// -------------------------------------------------------------------------------------------------
// 1. In parent_spawns_inline, add `co_await asio::post(executor, asio::use_awaitable);` just before
//    `log.push_back("parent: after co_spawn");`. Which order does section 2's first log show now?
//    Answer: parent: before co_spawn / child: runs up to its first co_await / child: resumed /
//    parent: after co_spawn. The child ran inline and queued its own post first; the parent's post
//    went into the queue behind it, and the queue is first in, first out, so the child resumes (and
//    finishes) before the parent does.
//
// 2. In abandon_pending_task, delete the line `io.stop();` in the completion handler. What does 5b
//    print?
//    Answer: the loop now stops after about 4 x delay (about 400 ms with the default flags), not
//    delay / 2; "reached its end: true" and "during run(): true". run() returns only when no work is
//    left, and the detached job's timer is work: without stop() the job runs to its end.
//
// Next: basics/coroutines_from_scratch.cpp: the loop, the task type and the awaiters built in plain
// C++20, so that io_context and awaitable are no longer magic.
