// EXERCISE unfreeze_the_loop: a blocking call inside a coroutine must not freeze its io_context.
//
// Follows basics/blocking_work_in_async.cpp (sections 1 and 2).
//
// checksum() needs slow_checksum(), a function that blocks its thread for a while (think: a library
// call that reads a big file). As shipped, the coroutine calls it directly, on the io_context's
// thread, and for that whole time nothing else on the loop can run: every other coroutine, timer and
// socket waits. A heartbeat coroutine that should tick every 10 ms stops for 300 ms.
//
// Your goal: checksum() returns the same value, while the io_context's thread stays free (the
// heartbeat keeps ticking), and the coroutine carries on afterwards on its own executor, the loop's
// thread, as before. Use the thread pool that checksum() is given.
//
// clang-format off
// Check:  cmake --build build/exercises --target test_unfreeze_the_loop test_unfreeze_the_loop_tsan
//         build/exercises/exercises/test_unfreeze_the_loop
//         build/exercises/exercises/test_unfreeze_the_loop_tsan   (the same test under ThreadSanitizer)
// Run:    build/exercises/exercises/unfreeze_the_loop
// clang-format on
//
// Hint 1: a thread that is allowed to block is one that runs nothing else: one of the pool's threads.
// Hint 2: co_spawn can start a coroutine on any executor, the pool too, and with the completion token
//         asio::use_awaitable you co_await its result: Python's `await asyncio.to_thread(f, x)`.
// Hint 3: write a small coroutine that just does `co_return slow_checksum(seed);` and, in checksum(),
//         co_return co_await asio::co_spawn(pool, that_coroutine(seed), asio::use_awaitable);

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

// Blocks the calling thread for 300 ms, then answers. It cannot be made async: it is someone else's code.
int slow_checksum(int seed) {
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  return seed * 7 + 1;
}

asio::awaitable<int> checksum([[maybe_unused]] asio::thread_pool& pool, int seed) {
  co_return slow_checksum(seed);  // runs on the io_context's thread: the whole loop waits
}

#ifndef PLAYGROUND_NO_MAIN  // the test includes this file and brings its own main
int main(int argc, char** argv) {
  int seed = 6;
  pg::Flags flags("unfreeze_the_loop", "Exercise: a blocking call freezes the loop; move it off.");
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
