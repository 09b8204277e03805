// Test for the exercise unfreeze_the_loop: checksum() gives the right value, a heartbeat on the same
// io_context keeps ticking while it runs, and the coroutine resumes on the loop's thread afterwards.
#include EXERCISE_SOURCE

#include "catch.hpp"
#include "heartbeat.hpp"
#include "support.hpp"

TEST_CASE("unfreeze_the_loop: the heartbeat keeps ticking, the result comes back to the loop", "[exercise]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(10), "unfreeze_the_loop: the io_context never finished");
  asio::io_context io;
  asio::thread_pool pool(1);
  bool stop = false;
  std::vector<std::chrono::steady_clock::time_point> ticks;
  int result = 0;
  bool back_on_loop_thread = false;
  const auto loop_thread = std::this_thread::get_id();  // io.run() runs on this thread
  const auto rethrow = [](std::exception_ptr error) {
    if (error) std::rethrow_exception(error);
  };
  asio::co_spawn(io, exercise_test::heartbeat(std::chrono::milliseconds(10), stop, ticks), rethrow);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {  // captures by reference: everything it names outlives io.run()
        asio::steady_timer lead_in(co_await asio::this_coro::executor, std::chrono::milliseconds(30));
        co_await lead_in.async_wait(asio::use_awaitable);  // the heartbeat ticks a few times first
        result = co_await checksum(pool, 6);
        back_on_loop_thread = std::this_thread::get_id() == loop_thread;
        stop = true;
      },
      rethrow);
  io.run();
  pool.join();

  CHECK(result == 43);
  if (!back_on_loop_thread) {
    FAIL_CHECK(
        "after checksum() the coroutine was running on another thread, not the io_context's: it must "
        "come back to its own executor (co_await the work, don't just move onto the pool)");
  }
  const double gap = exercise_test::longest_gap_ms(ticks);
  INFO("longest gap between heartbeat ticks: " << gap << " ms (a tick is 10 ms; the call blocks 300 ms)");
  if (gap > 150) {
    FAIL_CHECK("the heartbeat stopped for " << gap
                                            << " ms: slow_checksum() still blocks the io_context's thread; "
                                               "run it on the pool and co_await the result");
  }
}
