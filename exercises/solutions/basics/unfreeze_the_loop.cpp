// SOLUTION unfreeze_the_loop (the exercise is exercises/basics/unfreeze_the_loop.cpp).
//
// Why it works: co_spawn(pool, ...) runs checksum_on_pool() on one of the pool's threads, and that
// thread is the one that blocks. checksum() co_awaits the co_spawn (completion token use_awaitable),
// so it suspends like any co_await and the io_context's thread goes on running everything else. When
// slow_checksum() returns, Asio resumes checksum() on its own executor, the loop's thread, with the
// value (or rethrows the exception). `seed` is a parameter, so it is copied into the frame of
// checksum_on_pool(): nothing refers to checksum()'s locals from the pool thread.
//
// A tempting wrong fix the test rejects: `asio::post(pool, asio::use_future(...))` and then
// future.get(). The call runs on the pool, but get() blocks the loop's thread until it is done: the
// heartbeat stops just as before. Another: `co_await asio::post(pool, asio::use_awaitable)` first,
// hoping to hop onto the pool. A coroutine always resumes on its own executor, so after that co_await
// it is back on the loop's thread, and slow_checksum() blocks the loop as before.

#include <fmt/format.h>
#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_awaitable.hpp>

#include <chrono>
#include <exception>
#include <thread>

#include "playground.hpp"

int slow_checksum(int seed) {
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  return seed * 7 + 1;
}

// Runs where it is spawned: on a pool thread, which may block.
asio::awaitable<int> checksum_on_pool(int seed) { co_return slow_checksum(seed); }

asio::awaitable<int> checksum(asio::thread_pool& pool, int seed) {
  co_return co_await asio::co_spawn(pool, checksum_on_pool(seed), asio::use_awaitable);
}

#ifndef PLAYGROUND_NO_MAIN
int main(int argc, char** argv) {
  int seed = 6;
  pg::Flags flags("unfreeze_the_loop", "Solution: the blocking call runs on a pool; the loop stays free.");
  flags.add("--seed", seed, "the checksum's input", 0, 1'000'000);
  if (auto status = flags.parse(argc, argv)) return *status;
  asio::io_context io;
  asio::thread_pool pool(1);
  int result = 0;
  pg::Stopwatch clock;
  asio::co_spawn(io, checksum(pool, seed), [&result](std::exception_ptr error, int value) {
    if (error) std::rethrow_exception(error);
    result = value;
  });
  io.run();
  pool.join();
  fmt::print("checksum({}) = {} in {:.0f} ms\n", seed, result, clock.elapsed_ms());
  return 0;
}
#endif
