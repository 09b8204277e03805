// clang-format off
// SOLUTION sleep_without_blocking (the exercise is exercises/basics/sleep_without_blocking.cpp).
//
// Why it works: await_ready() returns false, so the co_await suspends; await_suspend(me) hands the
// coroutine's handle to the loop's timer heap with its deadline and returns, and the thread goes back
// to the loop, which starts the next job. All three handles wait in the heap together; run() resumes
// each when its deadline comes, earliest first, on the loop's own thread. The whole run takes the
// longest delay. This is what asyncio.sleep does with loop.call_later, and what
// timer.async_wait(asio::use_awaitable) does on an io_context.
//
// Tempting wrong fixes the test rejects: `loop.call_at(pg::Clock::now(), me)` or putting the handle in
// the ready queue (the jobs wake at once, before their delay); a std::thread that sleeps and then calls
// me.resume() (the job wakes on that thread, racing with the loop, which does not even wait for it:
// run() sees no work and returns before anyone woke); keeping the sleep in await_ready() and returning
// false (still 300 ms: the thread blocks before it suspends).

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

struct SleepFor {
  Loop& loop;
  std::chrono::milliseconds delay;
  bool await_ready() const noexcept { return delay <= std::chrono::milliseconds::zero(); }  // nothing to wait
  // Suspended: the loop keeps the handle in its timer heap and resumes it when the deadline comes.
  void await_suspend(std::coroutine_handle<> me) const { loop.call_at(pg::Clock::now() + delay, me); }
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
  pg::Flags flags("sleep_without_blocking", "Solution: three sleeps that overlap on one loop.");
  if (auto status = flags.parse(argc, argv)) return *status;
  using std::chrono::milliseconds;
  pg::Stopwatch clock;
  const auto wakes = run_sleepers({milliseconds(150), milliseconds(50), milliseconds(100)});
  for (const auto& w : wakes) fmt::print("job {} woke at {:.0f} ms on thread {}\n", w.job, w.at_ms, w.thread);
  fmt::print("all done in {:.0f} ms (the longest delay is 150 ms; one after another is 300 ms)\n", clock.elapsed_ms());
  return 0;
}
#endif
