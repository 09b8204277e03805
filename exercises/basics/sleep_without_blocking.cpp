// clang-format off
// EXERCISE sleep_without_blocking: write the awaiter that lets a coroutine sleep without blocking its loop.
//
// Follows basics/coroutines_from_scratch.cpp (sections 1 and 3: the timer heap and the sleep_for awaiter).
//
// This file holds a tiny event loop (a ready queue and a timer heap) and Job, a coroutine type that
// starts at once and frees itself when it ends. run_sleepers() starts one Job per delay; each sleeps
// for its delay, then records when and on which thread it woke. As shipped, SleepFor blocks the thread
// in await_ready() and never suspends, so the sleeps run one after another: delays of 150, 50 and 100
// ms take 300 ms, and the jobs wake in the order they started instead of the order their time came.
//
// Your goal: all sleeps wait at the same time on the loop's one thread: the whole run takes about the
// longest delay, each job wakes no earlier than its own delay, in deadline order, and on the thread
// that called run_sleepers(). Change only SleepFor.
//
// Check:  cmake --build build/exercises --target test_sleep_without_blocking && build/exercises/exercises/test_sleep_without_blocking
// Run:    build/exercises/exercises/sleep_without_blocking
//
// Hint 1: a co_await suspends only when await_ready() returns false. Then the compiler calls
//         await_suspend(handle) with the handle of the suspended coroutine: whoever keeps that handle
//         decides when the coroutine continues (by calling handle.resume()).
// Hint 2: the loop already knows how to resume a handle at a given time: Loop::call_at.
// Hint 3: await_ready() returns false; await_suspend(me) calls loop.call_at(pg::Clock::now() + delay, me).

// clang-format on
#include <fmt/format.h>

#include <chrono>
#include <coroutine>
#include <deque>
#include <exception>
#include <queue>
#include <thread>
#include <vector>

#include "playground.hpp"

// The loop: handles to resume now (ready_), and handles to resume at a time (timers_, earliest on top).
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
        std::this_thread::sleep_until(timers_.top().when);
        continue;
      }
      const std::coroutine_handle<> next = ready_.front();
      ready_.pop_front();
      next.resume();
    }
  }

 private:
  struct Timer {
    pg::Clock::time_point when;
    long sequence;
    std::coroutine_handle<> handle;
    bool operator>(const Timer& other) const {
      return when != other.when ? when > other.when : sequence > other.sequence;
    }
  };
  std::deque<std::coroutine_handle<>> ready_;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_;
  long next_sequence_ = 0;
};

// A coroutine type that runs at once (initial_suspend: suspend_never) and frees its own frame when it
// ends (final_suspend: suspend_never). Nobody awaits a Job, so it has no result.
struct Job {
  struct promise_type {
    Job get_return_object() { return {}; }
    std::suspend_never initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept { return {}; }
    void return_void() {}
    void unhandled_exception() { std::terminate(); }  // a Job must not throw: nobody could catch it
  };
};

// The awaiter to fix: `co_await SleepFor{loop, delay}`.
struct SleepFor {
  Loop& loop;
  std::chrono::milliseconds delay;
  bool await_ready() const {
    std::this_thread::sleep_for(delay);  // blocks the loop's thread, then carries on without suspending
    return true;
  }
  void await_suspend(std::coroutine_handle<> /*me*/) const {}
  void await_resume() const noexcept {}
};

struct Wake {
  int job = 0;
  double at_ms = 0;  // since run_sleepers() started
  int thread = 0;    // pg::thread_number() of the thread that resumed the job
};

Job sleeper(Loop& loop, int job, std::chrono::milliseconds delay, pg::Stopwatch& clock, std::vector<Wake>& wakes) {
  co_await SleepFor{loop, delay};
  wakes.push_back(Wake{job, clock.elapsed_ms(), pg::thread_number()});
}

std::vector<Wake> run_sleepers(const std::vector<std::chrono::milliseconds>& delays) {
  Loop loop;
  std::vector<Wake> wakes;
  pg::Stopwatch clock;
  for (std::size_t job = 0; job < delays.size(); ++job) sleeper(loop, static_cast<int>(job), delays[job], clock, wakes);
  loop.run();
  return wakes;
}

#ifndef PLAYGROUND_NO_MAIN  // the test includes this file and brings its own main
int main(int argc, char** argv) {
  pg::Flags flags("sleep_without_blocking", "Exercise: three sleeps on one loop; make them overlap.");
  if (auto status = flags.parse(argc, argv)) return *status;
  using std::chrono::milliseconds;
  pg::Stopwatch clock;
  const auto wakes = run_sleepers({milliseconds(150), milliseconds(50), milliseconds(100)});
  for (const auto& w : wakes) fmt::print("job {} woke at {:.0f} ms on thread {}\n", w.job, w.at_ms, w.thread);
  fmt::print("all done in {:.0f} ms (the longest delay is 150 ms; one after another is 300 ms)\n", clock.elapsed_ms());
  return 0;
}
#endif
