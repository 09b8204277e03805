// blocking_work_in_async: one blocking call inside a coroutine stops every coroutine on its thread.
//
// What you will see:
//   1. A heartbeat coroutine ticks every `--tick-ms` while another coroutine calls a slow, blocking
//      function. Called inline, it freezes the io_context: the heartbeat's ticks stop, and one tick
//      span stretches over the whole blocking call.
//   2. The fix: the blocking call runs on an asio::thread_pool and the coroutine co_awaits its result.
//      The heartbeat keeps ticking; the result, or the exception, comes back to the coroutine.
//   3. An io_context run by several threads: handlers then run in parallel, and two of them updating
//      the same counter lose updates. A strand runs its handlers one at a time and in order, on
//      whichever thread is free: nothing is lost.
//
// Run it:   build/default/basics/blocking_work_in_async --tick-ms 25 --block-ms 250
// Build it by hand:
//   g++ -std=c++20 -O2 -I common basics/blocking_work_in_async.cpp -lfmt -pthread -o blocking_work_in_async
//
// Beyond the Python playground's lessons, it mirrors asyncio's answer to blocking code:
//   await asyncio.to_thread(f, x)         -> co_await asio::co_spawn(pool, <a coroutine calling f(x)>, use_awaitable)
//                                            (section 2; run_on(pool, f, x) wraps that one line for any f)
//   loop.run_in_executor(executor, f, x)  -> the same, with your own asio::thread_pool as the executor
//   executor.submit(f) -> Future          -> asio::post(pool, asio::use_future(f)) -> std::future (not for coroutines)
//   (no twin: asyncio has one thread)     -> io_context::run() called from several threads
//   (no twin)                             -> asio::strand: handlers that never run at the same time
//
// What differs in C++: asyncio is single-threaded, so its only problem is the frozen loop. An
// io_context may be run by many threads at once, and then handlers really do run in parallel, with
// no GIL: shared data needs a strand (or a lock). The thread pool is explicit: you make it, you size
// it, and it must outlive the coroutines that use it. The loop and the pool are introduced in
// basics/event_loop_and_tasks.cpp and threading/thread_pool_executor.cpp.

#include <fmt/ranges.h>  // prints a std::set as {1, 2}
#include <asio.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <functional>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "playground.hpp"

using namespace std::chrono_literals;

// Rethrows a coroutine's exception out of io_context::run(), so no failure is silently lost.
inline void rethrow_on_failure(std::exception_ptr error) {
  if (error) std::rethrow_exception(error);
}

// -------------------------------------------------------------------------------------------------
// 1. A blocking call freezes the loop
// -------------------------------------------------------------------------------------------------
// `slow_square` stands for any function that blocks its thread: a database driver without an async
// API, a big file read, a compression call, a sleep. Inside a coroutine it does not suspend, it
// *blocks*: the io_context's thread is stuck in it, so no other coroutine on that io_context can run
// until it returns. Nothing is wrong with the function; it is the wrong place to call it.
//
// The heartbeat makes that visible: it wakes every `tick` and records the time. On a healthy loop the
// gaps between ticks are about one tick; while the blocking call runs there is no tick at all, so
// one gap is at least as long as the call. Each tick's wait is a span on the timeline, so the frozen
// loop shows up as one long "tick" bar under the blocking call.

int slow_square(int x, std::chrono::milliseconds how_long) {
  std::this_thread::sleep_for(how_long);
  if (x < 0) throw std::invalid_argument(fmt::format("slow_square({}): negative input", x));
  return x * x;
}

asio::awaitable<void> heartbeat(std::chrono::milliseconds tick, const bool& stop,
                                std::vector<pg::Clock::time_point>& ticks, pg::Timeline& timeline) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  int n = 0;
  while (!stop) {  // `stop` is set by the other coroutine, between two of our co_awaits
    auto span = timeline.scope(fmt::format("tick {}", n++));
    timer.expires_after(tick);
    co_await timer.async_wait(asio::use_awaitable);
    ticks.push_back(pg::Clock::now());
  }
}

struct HeartbeatRun {
  std::vector<pg::Clock::time_point> ticks;  // when each heartbeat woke
  int result = 0;                            // what slow_square returned
  int loop_thread = 0;                       // pg::thread_number() of the io_context's thread
  int work_thread = 0;                       // ... of the thread that ran slow_square
  int resumed_on = 0;                        // ... of the thread the worker coroutine continued on

  // The longest time between two ticks: about one tick on a free loop, at least the blocking call's
  // length on a frozen one.
  [[nodiscard]] pg::Clock::duration longest_gap() const {
    pg::Clock::duration longest{};
    for (std::size_t i = 1; i < ticks.size(); ++i) longest = std::max(longest, ticks[i] - ticks[i - 1]);
    return longest;
  }
};

asio::awaitable<void> pause_a_moment(std::chrono::milliseconds d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  co_await timer.async_wait(asio::use_awaitable);
}

// BROKEN: the blocking call made right inside the coroutine.
asio::awaitable<void> call_inline(int x, std::chrono::milliseconds lead_in, std::chrono::milliseconds block,
                                  HeartbeatRun& run, bool& stop, pg::Timeline& timeline) {
  co_await pause_a_moment(lead_in);  // let the heartbeat tick a few times first
  {
    auto span = timeline.scope("slow_square, called inline");
    run.work_thread = pg::thread_number();
    run.result = slow_square(x, block);  // the loop's only thread is stuck here
  }
  run.resumed_on = pg::thread_number();
  stop = true;
}

// -------------------------------------------------------------------------------------------------
// 2. The fix: run it on a thread pool and co_await the result
// -------------------------------------------------------------------------------------------------
// Move the blocking call to a thread that is allowed to block: one of an asio::thread_pool's threads.
// The whole fix is one line (asyncio's `await asyncio.to_thread(slow_square, x, block)`):
//
//   int result = co_await asio::co_spawn(pool, [=]() -> asio::awaitable<int> { co_return slow_square(x, block); },
//                                        asio::use_awaitable);
//
// Read it from the inside out. The lambda is a tiny coroutine (`-> asio::awaitable<int>`) whose only
// job is to call slow_square. co_spawn(pool, ...) starts it on the pool, so a pool thread runs the call
// and blocks, not the loop. The last argument, the *completion token* use_awaitable, says "when it
// finishes, hand the result to whoever co_awaits this": so the caller suspends at co_await like at any
// other wait, and the loop goes on ticking. When slow_square returns, the caller resumes *on its own
// executor* (the loop's thread) with the value; if slow_square threw, the same exception is rethrown at
// the co_await, where an ordinary try/catch sees it.
//
// Pass the lambda itself to co_spawn, as here, not the result of calling it: co_spawn keeps the lambda,
// and the copies it captured (`[=]`: x and block, by value), alive until the call is done.
//
// Why not `asio::post(pool, asio::use_future(f))`? It runs f on the pool too, but hands back a
// std::future, and future.get() blocks: inside a coroutine that is the frozen loop again. use_future
// is for plain threads; coroutines co_await.

// The same slow_square, recording where it ran: this is what the pool thread executes.
int traced_slow_square(int x, std::chrono::milliseconds block, HeartbeatRun& run, pg::Timeline& timeline) {
  auto span = timeline.scope("slow_square, on the pool");
  run.work_thread = pg::thread_number();
  return slow_square(x, block);
}

// FIXED, step 1: the one line above, for the traced call. `run` and `timeline` are captured by
// reference (`&run`): they belong to run_with_heartbeat, which outlives the pool's work. This function
// is not itself a coroutine (the co_return belongs to the lambda): it hands back the awaitable that
// co_spawn made, and nothing starts until the caller co_awaits it.
asio::awaitable<int> traced_slow_square_on(asio::thread_pool& pool, int x, std::chrono::milliseconds block,
                                           HeartbeatRun& run, pg::Timeline& timeline) {
  return asio::co_spawn(
      pool,
      [x, block, &run, &timeline]() -> asio::awaitable<int> { co_return traced_slow_square(x, block, run, timeline); },
      asio::use_awaitable);
}

// FIXED, step 2: the coroutine co_awaits it instead of calling slow_square itself.
asio::awaitable<void> call_on_pool(asio::thread_pool& pool, int x, std::chrono::milliseconds lead_in,
                                   std::chrono::milliseconds block, HeartbeatRun& run, bool& stop,
                                   pg::Timeline& timeline) {
  co_await pause_a_moment(lead_in);
  run.result = co_await traced_slow_square_on(pool, x, block, run, timeline);
  run.resumed_on = pg::thread_number();  // back on the loop's thread
  stop = true;
}

// ---- Plumbing: the same one line for any function, `run_on(pool, f, args...)` -----------------------
// Writing the lambda each time is fine; a helper reads more like asyncio.to_thread(f, *args). The
// template below only spells the one line above for any function f and arguments args...:
// `std::invoke_result_t<Function&, Args&...>` is "the type f(args...) returns", and std::invoke calls
// f with the arguments. The arguments are taken by value, as std::thread takes them, and coroutine
// parameters are copied into the coroutine's frame: nothing refers to a temporary that is gone by the
// time a pool thread runs the call. To pass a reference, say so with std::ref.

template <class Function, class... Args>
asio::awaitable<std::invoke_result_t<Function&, Args&...>> call_and_return(Function f, Args... args) {
  co_return std::invoke(f, args...);
}

template <class Function, class... Args>
asio::awaitable<std::invoke_result_t<Function&, Args&...>> run_on(asio::thread_pool& pool, Function f, Args... args) {
  static_assert(!std::is_void_v<std::invoke_result_t<Function&, Args&...>>, "run_on hands back f's result");
  co_return co_await asio::co_spawn(pool, call_and_return(std::move(f), std::move(args)...), asio::use_awaitable);
}

// Runs the heartbeat next to one call to slow_square(x), inline or offloaded. The worker waits
// 2.5 ticks first, so the heartbeat is already ticking when the call starts.
HeartbeatRun run_with_heartbeat(bool offload, int x, std::chrono::milliseconds tick, std::chrono::milliseconds block,
                                pg::Timeline& timeline) {
  asio::io_context io;
  asio::thread_pool pool(2);  // declared after io, so stopped and joined before io is destroyed
  HeartbeatRun run;
  bool stop = false;  // only touched on the loop's thread
  run.loop_thread = pg::thread_number();
  const auto lead_in = tick * 5 / 2;
  co_spawn(io, heartbeat(tick, stop, run.ticks, timeline), rethrow_on_failure);
  if (offload) {
    co_spawn(io, call_on_pool(pool, x, lead_in, block, run, stop, timeline), rethrow_on_failure);
  } else {
    co_spawn(io, call_inline(x, lead_in, block, run, stop, timeline), rethrow_on_failure);
  }
  io.run();
  return run;
}

// The exception path: slow_square(-1) throws on a pool thread; the coroutine catches it at its
// co_await, on the loop's thread. Returns the message and the thread that caught it.
struct CaughtError {
  std::string message;
  int caught_on = 0;
};

asio::awaitable<void> offload_and_catch(asio::thread_pool& pool, CaughtError& caught) {
  try {
    co_await run_on(pool, slow_square, -1, 1ms);
    caught.message = "no exception";
  } catch (const std::invalid_argument& error) {
    caught.message = error.what();
    caught.caught_on = pg::thread_number();
  }
}

CaughtError run_failing_offload() {
  asio::io_context io;
  asio::thread_pool pool(1);
  CaughtError caught;
  co_spawn(io, offload_and_catch(pool, caught), rethrow_on_failure);
  io.run();
  return caught;
}

// -------------------------------------------------------------------------------------------------
// 3. Several threads on one io_context, and what a strand guarantees
// -------------------------------------------------------------------------------------------------
// Another way out of a busy loop is to call io.run() from several threads: the io_context then hands
// each ready handler to whichever of those threads is free. That is real parallelism, and it changes
// the rules: two handlers (or two coroutines) may now run *at the same time*, so state they share is
// raced on.
//
// The demo posts `handlers` small jobs that each update one shared counter in three steps: read it,
// work, write back the value read plus one (the sleep stands for real work, stretched so that the
// overlap is visible). The counter is a std::atomic read and written in two separate steps, so the
// race is well defined: no undefined behaviour, just lost updates. (On a plain `long` it would be a
// data race, undefined behaviour that ThreadSanitizer reports; see threading/locks_and_thread_safety.cpp.)
//
//   - posted straight to the io_context run by 2 threads: two handlers run at once, both read the same
//     value, one write wins, and the final count is short;
//   - posted to a strand (asio::make_strand(io)): the strand guarantees that its handlers never run
//     concurrently and start in the order they were posted. They may still run on *different*
//     threads, one after another; the strand is a queue, not a thread. The count is exact, and no
//     lock was needed.
//
// Coroutines get the same guarantee by being spawned on a strand: co_spawn(strand, task(), ...) resumes
// the coroutine only through that strand.

struct ConcurrencyCount {
  std::atomic<int> inside{0};
  std::atomic<int> peak{0};
  void enter() {
    const int now = inside.fetch_add(1) + 1;
    int seen = peak.load();
    while (now > seen && !peak.compare_exchange_weak(seen, now)) {
    }
  }
  void leave() { inside.fetch_sub(1); }
};

struct SharedCounterRun {
  long counter = 0;       // the final count: `handlers` if no update was lost
  int peak_inside = 0;    // most handlers running at the same time
  std::set<int> threads;  // which threads ran handlers
};

SharedCounterRun run_shared_counter(int handlers, int threads, bool use_strand, std::chrono::milliseconds work,
                                    pg::Timeline& timeline) {
  asio::io_context io;
  auto strand = asio::make_strand(io);
  std::atomic<long> counter{0};
  ConcurrencyCount meter;
  std::mutex threads_mutex;
  SharedCounterRun run;
  for (int i = 0; i < handlers; ++i) {
    auto update = [&, i] {
      meter.enter();
      {
        auto span = timeline.scope(fmt::format("handler {}", i));
        const long seen = counter.load();   // 1. read
        std::this_thread::sleep_for(work);  // 2. work (another handler may update the counter now)
        counter.store(seen + 1);            // 3. write back: overwrites any update made during step 2
      }
      meter.leave();
      std::lock_guard lock(threads_mutex);
      run.threads.insert(pg::thread_number());
    };
    if (use_strand) {
      asio::post(strand, update);
    } else {
      asio::post(io, update);
    }
  }
  // run() on `threads` threads: this one and threads - 1 helpers. Each returns when no work is left.
  {
    std::vector<std::jthread> helpers;
    for (int t = 1; t < threads; ++t) helpers.emplace_back([&io] { io.run(); });
    io.run();
  }  // the helpers join here
  run.counter = counter.load();
  run.peak_inside = meter.peak.load();
  return run;
}

// -------------------------------------------------------------------------------------------------
// main: the frozen loop, the fix, and the strand
// -------------------------------------------------------------------------------------------------

#ifndef PLAYGROUND_NO_MAIN  // the tests include this file and bring their own main
int main(int argc, char** argv) {
  int tick_ms = 25;
  int block_ms = 250;
  int handlers = 8;
  int threads = 2;
  int work_ms = 20;
  pg::Flags flags("blocking_work_in_async",
                  "A blocking call freezes the loop; offload it to a thread pool; share state across threads with a "
                  "strand.");
  flags.add("--tick-ms", tick_ms, "heartbeat period, in milliseconds", 1, 1'000);
  flags.add("--block-ms", block_ms, "how long the blocking call takes, in milliseconds", 1, 10'000);
  flags.add("--handlers", handlers, "handlers updating the shared counter in section 3", 1, 100);
  flags.add("--threads", threads, "threads running the io_context in section 3", 1, 64);
  flags.add("--work-ms", work_ms, "how long each handler works, in milliseconds (the strand runs them one at a time)",
            0, 100);
  pg::TraceFile trace;
  trace.add_flags(flags);  // --trace FILE and --html FILE
  if (auto status = flags.parse(argc, argv)) return *status;
  if (auto status = trace.open()) return *status;
  const std::chrono::milliseconds tick(tick_ms);
  const std::chrono::milliseconds block(block_ms);

  pg::banner(
      fmt::format("1. BROKEN: a {} ms blocking call inside a coroutine, heartbeat every {} ms", block_ms, tick_ms));
  pg::Timeline frozen("blocking inline");
  auto frozen_run = run_with_heartbeat(false, 7, tick, block, frozen);
  frozen.print();
  trace.add(frozen);
  fmt::print(
      "  result {}; longest gap between ticks: {:.1f} ms (a free loop ticks every {} ms: the heartbeat\n"
      "  stopped for the whole {} ms call)\n",
      frozen_run.result, pg::ms(frozen_run.longest_gap()), tick_ms, block_ms);

  pg::banner("2. FIXED: the same call on a thread pool, co_awaited");
  pg::Timeline offloaded("offloaded");
  auto offloaded_run = run_with_heartbeat(true, 7, tick, block, offloaded);
  offloaded.print();
  trace.add(offloaded);
  fmt::print("  result {}; longest gap between ticks: {:.1f} ms (about one {} ms tick: the loop kept running)\n",
             offloaded_run.result, pg::ms(offloaded_run.longest_gap()), tick_ms);
  fmt::print("  slow_square ran on thread {}; the coroutine resumed on thread {}, the loop's thread ({})\n",
             offloaded_run.work_thread, offloaded_run.resumed_on, offloaded_run.loop_thread);
  auto caught = run_failing_offload();
  fmt::print("  an exception thrown on the pool came back to the coroutine: \"{}\", caught on thread {}\n",
             caught.message, caught.caught_on);

  pg::banner(fmt::format("3. One io_context, {} threads: {} handlers update one counter", threads, handlers));
  // Tell the reader how long to wait: the strand runs the handlers one at a time.
  fmt::print(
      "  expect about {} ms without a strand ({} handlers x {} ms over {} threads), {} ms with one (one at a time)\n",
      (handlers + threads - 1) / threads * work_ms, handlers, work_ms, threads, handlers * work_ms);
  pg::Timeline racing("no strand");
  auto racing_run = run_shared_counter(handlers, threads, false, std::chrono::milliseconds(work_ms), racing);
  fmt::print("  BROKEN, posted to the io_context:\n");
  racing.print();
  trace.add(racing);
  fmt::print("  counter {} of {} ({} updates lost); up to {} handlers at once, on threads {}\n", racing_run.counter,
             handlers, handlers - racing_run.counter, racing_run.peak_inside, racing_run.threads);
  pg::Timeline serial("strand");
  auto serial_run = run_shared_counter(handlers, threads, true, std::chrono::milliseconds(work_ms), serial);
  fmt::print("  FIXED, posted to a strand:\n");
  serial.print();
  trace.add(serial);
  fmt::print("  counter {} of {} ({} updates lost); up to {} handler at once, on threads {}\n", serial_run.counter,
             handlers, handlers - serial_run.counter, serial_run.peak_inside, serial_run.threads);
  if (threads > 1)
    fmt::print(
        "  (thread numbers are the timelines': 1 is main, every other thread gets the next number the first\n"
        "  time it records a span, so the second run's new threads have new numbers)\n");

  if (!trace.write()) return 1;
  fmt::print(
      "\nTakeaway: never block the loop's thread: co_await blocking work on a thread pool. With several\n"
      "threads on one io_context, handlers run in parallel: a strand makes them take turns.\n");
  return 0;
}
#endif

// -------------------------------------------------------------------------------------------------
// Try this: change one thing, predict what the output will show, then run it. The answers below were
// checked on Asio 1.22. Rebuild with `cmake --build build/default --target blocking_work_in_async`,
// and undo a change with `git checkout basics/blocking_work_in_async.cpp`.
// -------------------------------------------------------------------------------------------------
// 1. Run `build/default/basics/blocking_work_in_async --block-ms 500`. What are the two "longest gap
//    between ticks" now?
//    Answer: inline, at least 500 ms (measured 572 ms on a busy machine): the heartbeat stops for the
//    whole call. Offloaded, still about one tick (measured 60 ms against a 25 ms tick, on that busy
//    machine): the length of the blocking call no longer matters to the loop.
//
// 2. Run it with `--threads 1`. What does section 3 say without a strand?
//    Answer: "counter 8 of 8 (0 updates lost); up to 1 handlers at once, on threads {1}". With one
//    thread calling run(), handlers already run one at a time, as in asyncio: strands matter only
//    when several threads run the same io_context.
//
// 3. In call_on_pool, replace the co_await line with
//      run.result = asio::post(pool, asio::use_future([&] {
//        return traced_slow_square(x, block, run, timeline); })).get();
//    Is the heartbeat still alive in section 2?
//    Answer: no: section 2's longest gap is as long as the blocking call (measured 312 ms for a
//    250 ms call), like section 1, although slow_square now runs on a pool thread. future.get()
//    blocks the loop's thread while it waits. Inside a coroutine, co_await the result instead.
//
// Next: basics/shared_state_in_async.cpp: state shared by coroutines when the io_context has
// several threads, five ways measured.
