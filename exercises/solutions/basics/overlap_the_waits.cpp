// SOLUTION overlap_the_waits (the exercise is exercises/basics/overlap_the_waits.cpp).
//
// Why it works: `a && b && c` (Asio's awaitable operators) starts all three coroutines on this
// coroutine's executor before waiting for any, so their three timers are pending at once and expire
// together: the call takes one delay. It resumes when all three are done, with their results in a
// std::tuple in operand order, whatever order they finished in, like asyncio.gather. Starting each
// with co_spawn(..., asio::experimental::use_promise) and then awaiting the promises in order also works.
//
// A tempting wrong fix the test rejects: co_spawn each fetch with asio::detached, or with a handler
// that stores its price, and co_return at once. The waits overlap, but fetch_all_prices() returns
// before any price has arrived ({0, 0, 0}): starting a task is not waiting for it. Another: running
// each fetch on its own std::thread with a blocking sleep and joining them: the waits overlap, but
// joining blocks the io_context's thread, and the test's heartbeat stops ticking for the whole wait.

#include <fmt/ranges.h>
#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <array>
#include <chrono>
#include <exception>

#include "playground.hpp"

using namespace asio::experimental::awaitable_operators;  // && and || on awaitables

asio::awaitable<int> fetch_price(int id, std::chrono::milliseconds delay) {
  asio::steady_timer timer(co_await asio::this_coro::executor, delay);
  co_await timer.async_wait(asio::use_awaitable);
  co_return 100 + id;
}

asio::awaitable<std::array<int, 3>> fetch_all_prices(std::chrono::milliseconds delay) {
  // All three start now and wait together; this coroutine resumes when the last one is done.
  const auto [apples, bread, cheese] =
      co_await (fetch_price(0, delay) && fetch_price(1, delay) && fetch_price(2, delay));
  co_return std::array<int, 3>{apples, bread, cheese};
}

#ifndef PLAYGROUND_NO_MAIN
int main(int argc, char** argv) {
  int delay_ms = 200;
  pg::Flags flags("overlap_the_waits", "Solution: three awaited waits that overlap.");
  flags.add("--delay-ms", delay_ms, "how long each price takes, in milliseconds", 0, 10'000);
  if (auto status = flags.parse(argc, argv)) return *status;
  asio::io_context io;
  std::array<int, 3> prices{};
  pg::Stopwatch clock;
  asio::co_spawn(io, fetch_all_prices(std::chrono::milliseconds(delay_ms)),
                 [&prices](std::exception_ptr error, std::array<int, 3> result) {
                   if (error) std::rethrow_exception(error);
                   prices = result;
                 });
  io.run();
  fmt::print("prices {} in {:.0f} ms (one delay is {} ms)\n", prices, clock.elapsed_ms(), delay_ms);
  return 0;
}
#endif
