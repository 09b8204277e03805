// A heartbeat for the exercise tests that run coroutines: a coroutine that wakes every `tick` on the
// io_context and records when, until `stop` is set. If something blocks the io_context's thread, the
// heartbeat cannot wake, and the longest gap between its ticks shows for how long the loop was frozen.
// (basics/blocking_work_in_async.cpp explains the idea.) `stop` is written and read on the loop's
// thread only.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <chrono>
#include <vector>

namespace exercise_test {

inline asio::awaitable<void> heartbeat(std::chrono::milliseconds tick, const bool& stop,
                                       std::vector<std::chrono::steady_clock::time_point>& ticks) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    ticks.push_back(std::chrono::steady_clock::now());  // also the last wake-up, so a freeze just before
    if (stop) break;                                    // `stop` was set still shows as a gap
    timer.expires_after(tick);
    co_await timer.async_wait(asio::use_awaitable);
  }
}

// The longest time between two consecutive ticks, in milliseconds.
inline double longest_gap_ms(const std::vector<std::chrono::steady_clock::time_point>& ticks) {
  double longest = 0;
  for (std::size_t i = 1; i < ticks.size(); ++i)
    longest = std::max(longest, std::chrono::duration<double, std::milli>(ticks[i] - ticks[i - 1]).count());
  return longest;
}

}  // namespace exercise_test
