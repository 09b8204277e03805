// EXERCISE overlap_the_waits: make three awaited waits overlap instead of running one after another.
//
// Follows basics/async_vs_sync.cpp (section 2) and basics/tasks_gather_wait_cancel.cpp (section 1,
// gather with &&).
//
// fetch_all_prices() asks a slow price service for three prices; each answer takes `delay`. As
// shipped, it co_awaits each request before starting the next, so the three waits run one after
// another and the whole call takes 3 x delay, although nothing stops them from waiting together.
//
// Your goal: fetch_all_prices() takes about one delay, still as coroutines on one io_context thread
// (no blocking, no extra threads), and returns the three prices in the same order: {100, 101, 102}.
//
// clang-format off
// Check:  cmake --build build/exercises --target test_overlap_the_waits
//         build/exercises/exercises/test_overlap_the_waits
// Run:    build/exercises/exercises/overlap_the_waits
// clang-format on
//
// Hint 1: `co_await x` suspends this coroutine until x is finished. To overlap, all three requests
//         must be started before this coroutine waits for any of them.
// Hint 2: Python would write `await asyncio.gather(a, b, c)`. Asio's awaitable operators combine
//         awaitables: `a && b` runs both at once and waits for both (asio/experimental/awaitable_operators.hpp).
// Hint 3: auto [apples, bread, cheese] = co_await (fetch_price(0, delay) && fetch_price(1, delay) && fetch_price(2,
// delay));
//         (after `using namespace asio::experimental::awaitable_operators;`)

#include <fmt/ranges.h>  // prints a std::array as [100, 101, 102]
#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <array>
#include <chrono>
#include <exception>

#include "playground.hpp"

// The price service: item `id` costs 100 + id, and the answer takes `delay` to arrive.
asio::awaitable<int> fetch_price(int id, std::chrono::milliseconds delay) {
  asio::steady_timer timer(co_await asio::this_coro::executor, delay);
  co_await timer.async_wait(asio::use_awaitable);
  co_return 100 + id;
}

asio::awaitable<std::array<int, 3>> fetch_all_prices(std::chrono::milliseconds delay) {
  const int apples = co_await fetch_price(0, delay);  // waits `delay`...
  const int bread = co_await fetch_price(1, delay);   // ...then another `delay`...
  const int cheese = co_await fetch_price(2, delay);  // ...and another
  co_return std::array<int, 3>{apples, bread, cheese};
}

#ifndef PLAYGROUND_NO_MAIN  // the test includes this file and brings its own main
int main(int argc, char** argv) {
  int delay_ms = 200;
  pg::Flags flags("overlap_the_waits", "Exercise: three awaited waits; make them overlap.");
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
