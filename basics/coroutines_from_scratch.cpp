// coroutines_from_scratch: what `co_await` does, built with the standard library alone (no Asio).
// New to C++ or Asio? PRIMER.md explains the words used here (coroutine_handle, promise_type, awaiter).
//
// What you will see: a whole async runtime in about a hundred lines: an event loop with a ready queue
// and a timer heap, a Task type, and two awaiters (sleep_for, and awaiting another task). Then the
// same three waits as async_vs_sync, overlapping on this loop with the timeline to prove it; a result
// and an exception travelling from a task to the task that awaits it; a task awaited after it already
// finished; and every coroutine frame counted, to show that each one is freed. Last, a map from each
// piece to what Asio gives you, so that asio::awaitable and io_context are no longer magic.
//
// Run it:   build/default/basics/coroutines_from_scratch --tasks 3 --delay-ms 200
// Build it by hand (no Asio needed):
//   g++ -std=c++20 -O2 -I common basics/coroutines_from_scratch.cpp -lfmt -pthread -o coroutines_from_scratch
//
// Mirrors what asyncio does under the hood:
//   loop._ready (a deque) and loop._scheduled (a heap)  -> Loop::ready_ and Loop::timers_      (section 1)
//   a coroutine object + Task                           -> Task<T> and its promise_type       (section 2)
//   Future.__await__ / asyncio.sleep                     -> an awaiter: sleep_for              (section 3)
//   asyncio.create_task(c); ...; await task             -> task.start(loop); co_await task    (section 4)
//
// What differs in C++: the compiler turns a function that contains co_await or co_return into a
// state machine whose locals live in a heap "frame", and then asks the function's return type (through
// its nested promise_type) what to do at each step: whether to run at once, where the result goes,
// what to do when it ends. A coroutine_handle is a pointer to that frame; handle.resume() runs it
// until its next co_await. Everything else (the loop, the timers, who resumes whom) is library code,
// written below: C++ ships the mechanism, not a runtime.

#include <fmt/ranges.h>  // prints a std::vector as [0, 1, 4]

#include <chrono>
#include <coroutine>
#include <deque>
#include <exception>
#include <optional>
#include <queue>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "playground.hpp"

using namespace std::chrono_literals;

// -------------------------------------------------------------------------------------------------
// 1. The event loop: a ready queue and a timer heap
// -------------------------------------------------------------------------------------------------
// A suspended coroutine is just a coroutine_handle<> waiting for someone to call resume(). The loop
// keeps two collections of them, like asyncio's: `ready_`, the handles to resume now, in order, and
// `timers_`, handles to resume at a time, in a heap whose top is the earliest deadline. run() moves
// every due timer to the ready queue, resumes everything ready, and when nothing is ready sleeps
// until the earliest deadline. It returns when both are empty: no coroutine can ever be resumed again.

class Loop {
 public:
  void call_soon(std::coroutine_handle<> handle) { ready_.push_back(handle); }
  void call_at(pg::Clock::time_point when, std::coroutine_handle<> handle) {
    timers_.push(Timer{when, next_sequence_++, handle});
  }

  void run() {
    while (!ready_.empty() || !timers_.empty()) {
      while (!timers_.empty() && timers_.top().when <= pg::Clock::now()) {
        ready_.push_back(timers_.top().handle);
        timers_.pop();
      }
      if (ready_.empty()) {
        std::this_thread::sleep_until(timers_.top().when);  // nothing to do until the next deadline
        continue;
      }
      std::coroutine_handle<> next = ready_.front();
      ready_.pop_front();
      next.resume();  // runs that coroutine until its next co_await (or its end)
    }
  }

 private:
  struct Timer {
    pg::Clock::time_point when;
    long sequence;  // equal deadlines resume in the order they were set
    std::coroutine_handle<> handle;
    // std::priority_queue keeps its *largest* element on top; "larger" here means "due later", and
    // std::greater turns it into a min-heap: the earliest deadline on top (Python's heapq).
    bool operator>(const Timer& other) const {
      return when != other.when ? when > other.when : sequence > other.sequence;
    }
  };
  std::deque<std::coroutine_handle<>> ready_;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_;
  long next_sequence_ = 0;
};

// -------------------------------------------------------------------------------------------------
// 2. Task<T>: the return type that makes a function a coroutine, and its promise_type
// -------------------------------------------------------------------------------------------------
// For `Task<int> f()`, the compiler allocates a frame holding f's locals and a Task<int>::promise_type,
// and calls the promise at fixed points:
//   get_return_object()   makes the Task that f's caller receives (it owns the frame's handle);
//   initial_suspend()     suspend_always: f does not run yet; it is *lazy*, like asio::awaitable
//                         (a Python coroutine object also waits for someone to drive it);
//   return_value(v)       `co_return v` stores v in the promise;
//   unhandled_exception() an exception leaving f's body is stored too, to be rethrown in the awaiter;
//   final_suspend()       f has ended: resume whoever awaits it (below), and keep the frame alive so
//                         the result can be read; the Task's destructor frees it.
// The frame counter shows that every frame is freed: it is 0 again at the end of each section.

struct FrameCounter {
  static inline int alive = 0;  // one counter shared by every Task<T> (PRIMER.md: static inline)
  FrameCounter() { ++alive; }
  FrameCounter(const FrameCounter&) = delete;
  FrameCounter& operator=(const FrameCounter&) = delete;
  ~FrameCounter() { --alive; }
};

template <class T>
class [[nodiscard]] Task {
 public:
  struct promise_type : FrameCounter {
    std::optional<T> value;
    std::exception_ptr error;
    std::coroutine_handle<> awaiting;  // the coroutine to resume when this one ends
    bool started = false;

    Task get_return_object() { return Task(std::coroutine_handle<promise_type>::from_promise(*this)); }
    std::suspend_always initial_suspend() noexcept { return {}; }
    auto final_suspend() noexcept { return ResumeAwaiting{}; }
    void return_value(T result) { value = std::move(result); }
    void unhandled_exception() { error = std::current_exception(); }
  };

  // Symmetric transfer: await_suspend returns the handle to run next, and the compiler jumps to it
  // (a tail call) instead of calling resume() on a stack that grows with every finished task. A task
  // with nobody awaiting it yet returns noop_coroutine(): back to whoever resumed it, the loop.
  struct ResumeAwaiting {
    bool await_ready() noexcept { return false; }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<promise_type> ending) noexcept {
      std::coroutine_handle<> next = ending.promise().awaiting;
      return next ? next : std::noop_coroutine();
    }
    void await_resume() noexcept {}
  };

  // `task.start(loop)` is asyncio.create_task: the task runs at the loop's next turn, whether or not
  // anyone awaits it yet. Without it, a task runs only when awaited (Asio's awaitables work that way).
  void start(Loop& loop) {
    handle_.promise().started = true;
    loop.call_soon(handle_);
  }

  // `co_await task` uses these three functions: Task is its own awaiter.
  bool await_ready() const noexcept { return handle_.done(); }  // finished already: do not suspend
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiting) noexcept {
    handle_.promise().awaiting = awaiting;
    if (handle_.promise().started) return std::noop_coroutine();  // it runs on its own; wait for it
    handle_.promise().started = true;
    return handle_;  // a lazy task starts now, on this thread, by symmetric transfer
  }
  T await_resume() {  // the value of the co_await expression, or the task's exception
    if (handle_.promise().error) std::rethrow_exception(handle_.promise().error);
    return std::move(*handle_.promise().value);
  }

  [[nodiscard]] bool done() const { return handle_.done(); }

  Task(Task&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  Task& operator=(Task&&) = delete;
  ~Task() {
    if (handle_) handle_.destroy();  // frees the frame: its locals' destructors run
  }

 private:
  explicit Task(std::coroutine_handle<promise_type> handle) : handle_(handle) {}
  std::coroutine_handle<promise_type> handle_;
};

// -------------------------------------------------------------------------------------------------
// 3. An awaiter: sleep_for puts the handle in the timer heap
// -------------------------------------------------------------------------------------------------
// `co_await x` asks x three questions: await_ready() (done already? then do not suspend at all),
// await_suspend(me) (I am suspended; here is my handle, arrange for someone to resume it), and
// await_resume() (I was resumed: what is the value of the co_await expression?). asyncio.sleep does
// the same: it schedules a callback with loop.call_later and yields a future.

struct SleepFor {
  Loop& loop;
  pg::Clock::duration delay;
  bool await_ready() const noexcept { return delay <= pg::Clock::duration::zero(); }
  void await_suspend(std::coroutine_handle<> me) const { loop.call_at(pg::Clock::now() + delay, me); }
  void await_resume() const noexcept {}
};
SleepFor sleep_for(Loop& loop, pg::Clock::duration delay) { return SleepFor{loop, delay}; }

// -------------------------------------------------------------------------------------------------
// 4. The three waits of async_vs_sync, on this loop
// -------------------------------------------------------------------------------------------------
// fetch is async_vs_sync's fetch_async with our own types. gather starts every task first, then awaits
// them in order: all timers are in the heap at once, so the waits overlap on one thread.

Task<int> fetch(Loop& loop, int id, std::chrono::milliseconds delay, pg::Timeline& timeline) {
  auto span = timeline.scope(fmt::format("task {}", id));
  co_await sleep_for(loop, delay);
  co_return id* id;
}

Task<std::vector<int>> gather(Loop& loop, std::vector<std::chrono::milliseconds> delays, pg::Timeline& timeline) {
  std::vector<Task<int>> tasks;
  for (std::size_t id = 0; id < delays.size(); ++id)
    tasks.push_back(fetch(loop, static_cast<int>(id), delays[id], timeline));
  for (auto& task : tasks) task.start(loop);
  std::vector<int> results;
  for (auto& task : tasks) results.push_back(co_await task);  // in task order, whoever ends first
  co_return results;
}

// asyncio.run: start the main task, run the loop until no work is left, return the task's result or
// rethrow its exception. A task still unfinished when the loop runs dry can never finish: its
// awaiter was never resumed. Say so instead of returning garbage.
template <class T>
T run(Loop& loop, Task<T> main_task) {
  main_task.start(loop);
  loop.run();
  if (!main_task.done()) throw std::logic_error("the loop ran out of work before the main task finished");
  return main_task.await_resume();
}

// -------------------------------------------------------------------------------------------------
// 5. Results, exceptions, and a task awaited after it finished
// -------------------------------------------------------------------------------------------------
// A task's exception is stored by unhandled_exception() and rethrown by await_resume() in the awaiting
// task, where an ordinary try/catch sees it. Note where the co_await sits: C++ forbids co_await inside
// a catch block (the exception being handled lives on the thread's stack of handlers, which a suspended
// coroutine cannot carry to wherever it resumes), so the handler records the message and the code after
// it may await again.

Task<int> fail_after(Loop& loop, std::chrono::milliseconds delay) {
  co_await sleep_for(loop, delay);
  throw std::runtime_error("price service unavailable");
  co_return 0;  // never reached: says that a Task<int> ends with a value
}

struct Outcomes {
  std::string caught;        // the exception's message, as the awaiting task saw it
  int late_result = 0;       // from a task that had finished before it was awaited
  double late_await_ms = 0;  // how long that co_await took: it must not wait at all
};

Task<Outcomes> results_and_errors(Loop& loop, std::chrono::milliseconds delay, pg::Timeline& timeline) {
  Outcomes out;
  try {
    co_await fail_after(loop, delay);
  } catch (const std::exception& error) {
    out.caught = error.what();
  }
  Task<int> early = fetch(loop, 7, delay, timeline);
  early.start(loop);
  co_await sleep_for(loop, 2 * delay);  // `early` ends while this task sleeps
  pg::Stopwatch clock;
  out.late_result = co_await early;  // await_ready() is true: no suspension, the stored value at once
  out.late_await_ms = clock.elapsed_ms();
  co_return out;
}

// -------------------------------------------------------------------------------------------------
// 6. The same pieces in Asio
// -------------------------------------------------------------------------------------------------
//   Loop, run()                     -> asio::io_context, io_context::run() (epoll instead of sleep_until,
//                                      and several threads may call run(): see shared_state_in_async)
//   Task<T>, promise_type           -> asio::awaitable<T> (lazy too: it runs when awaited or co_spawned)
//   task.start(loop)                -> co_spawn(executor, task, token)
//   SleepFor, the awaiter           -> timer.async_wait(asio::use_awaitable): use_awaitable is the
//                                      completion token that turns any async operation into an awaiter
//   ResumeAwaiting (final_suspend)  -> Asio's frames resume their awaiter the same way
//   run(loop, task)                 -> co_spawn(io, task, handler); io.run() (event_loop_and_tasks, section 1)

// -------------------------------------------------------------------------------------------------
// main: run the sections, print the timeline and the frame count
// -------------------------------------------------------------------------------------------------

void run_sections(int tasks, std::chrono::milliseconds delay, pg::TraceFile& trace) {
  const int delay_ms = static_cast<int>(delay.count());
  pg::banner(fmt::format("4. {} tasks x {} ms on our own loop, one thread", tasks, delay_ms));
  Loop loop;
  pg::Timeline timeline("from scratch");
  pg::Stopwatch clock;
  const auto results =
      run(loop, gather(loop, std::vector<std::chrono::milliseconds>(static_cast<std::size_t>(tasks), delay), timeline));
  const double took_ms = clock.elapsed_ms();
  timeline.print();
  trace.add(timeline);
  if (results.size() <= 10) {
    fmt::print("  results {}, took {:.0f} ms (about one delay = {} ms, not {} ms)\n", results, took_ms, delay_ms,
               tasks * delay_ms);
  } else {
    fmt::print("  {} results, first {} and last {}, took {:.0f} ms (about one delay = {} ms, not {} ms)\n",
               results.size(), results.front(), results.back(), took_ms, delay_ms, tasks * delay_ms);
  }
  fmt::print("  coroutine frames still alive: {} (every Task freed its frame)\n", FrameCounter::alive);

  pg::banner("5. A result, an exception, and a task that finished before it was awaited");
  pg::Timeline late("late");
  const Outcomes outcomes = run(loop, results_and_errors(loop, delay, late));
  fmt::print("  the awaiting task caught: \"{}\"\n", outcomes.caught);
  fmt::print("  a task awaited after it finished gave {} in {:.3f} ms: await_ready() saw it done\n",
             outcomes.late_result, outcomes.late_await_ms);
  fmt::print("  coroutine frames still alive: {}\n", FrameCounter::alive);
}

#ifndef PLAYGROUND_NO_MAIN  // the tests include this file and bring their own main
int main(int argc, char** argv) {
  int tasks = 3;
  int delay_ms = 200;
  pg::Flags flags("coroutines_from_scratch", "An event loop, a Task type and awaiters, with no library.");
  flags.add("--tasks", tasks, "number of tasks in section 4", 1, 1'000);
  flags.add("--delay-ms", delay_ms, "how long each task waits, in milliseconds", 1, 10'000);
  pg::TraceFile trace;
  trace.add_flags(flags);  // --trace FILE and --html FILE
  if (auto status = flags.parse(argc, argv)) return *status;
  if (auto status = trace.open()) return *status;
  const std::chrono::milliseconds delay(delay_ms);
  try {
    run_sections(tasks, delay, trace);
  } catch (const std::exception& error) {  // the Try this changes end here
    fmt::print(stderr, "error: {}\n", error.what());
    return 1;
  }
  if (!trace.write()) return 1;
  fmt::print(
      "\nTakeaway: a coroutine is a frame plus a handle; a runtime is a queue of handles to resume.\n"
      "asio::io_context and asio::awaitable are this, grown up (section 6 of the source maps them).\n");
  return 0;
}
#endif

// -------------------------------------------------------------------------------------------------
// Try this: change one thing, predict what the output will show, then run it. For a code change,
// rebuild with `cmake --build build/default --target coroutines_from_scratch`, and undo it afterwards
// with `git checkout basics/coroutines_from_scratch.cpp`.
// -------------------------------------------------------------------------------------------------
// 1. In gather, delete the line `for (auto& task : tasks) task.start(loop);`. What does section 4's
//    timeline show?
//    Answer: the spans sit end to end and the section takes tasks x delay. Our tasks are lazy: each
//    starts only when gather awaits it, after the previous one has finished. asio::awaitable is lazy
//    the same way, which is why event_loop_and_tasks co_spawns first and awaits afterwards.
//
// 2. In Task, make await_ready() return false. What does section 5 do?
//    Answer: it stops with "the loop ran out of work before the main task finished". `early` had
//    already ended, so nobody will ever resume the task that now waits for it. Our loop notices it has
//    nothing left to do; a real server's loop would wait for ever.
//
// 3. In ResumeAwaiting::await_suspend, return std::noop_coroutine() always. What happens?
//    Answer: section 4 stops with the same "ran out of work" error: each finished task goes back to
//    the loop instead of resuming gather, which waits for ever. final_suspend is where the awaiter is
//    woken.
//
// Next: basics/tasks_gather_wait_cancel.cpp: gather when a task fails, wait for the first, cancel
// and time out, on the real loop again.
