// Test for the exercise overlap_the_waits: the three prices come back in order, the call takes about
// one delay (not three), and the io_context's thread never blocks (a heartbeat keeps ticking).
#include EXERCISE_SOURCE

#include "catch.hpp"
#include "heartbeat.hpp"
#include "support.hpp"

TEST_CASE("overlap_the_waits: three waits overlap, prices in order, loop never blocked", "[exercise]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(10), "overlap_the_waits: the io_context never finished");
  const std::chrono::milliseconds delay(200);
  asio::io_context io;
  bool stop = false;
  std::vector<std::chrono::steady_clock::time_point> ticks;
  std::array<int, 3> prices{};
  double took_ms = 0;
  asio::co_spawn(io, exercise_test::heartbeat(std::chrono::milliseconds(10), stop, ticks),
                 [](std::exception_ptr error) {
                   if (error) std::rethrow_exception(error);
                 });
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {  // captures by reference: everything it names outlives io.run()
        pg::Stopwatch clock;
        prices = co_await fetch_all_prices(delay);
        took_ms = clock.elapsed_ms();
        stop = true;
      },
      [](std::exception_ptr error) {
        if (error) std::rethrow_exception(error);
      });
  io.run();

  INFO("prices {" << prices[0] << ", " << prices[1] << ", " << prices[2] << "} in " << took_ms << " ms");
  if (prices == std::array<int, 3>{0, 0, 0}) {
    FAIL(
        "no price arrived: fetch_all_prices() returned before the requests finished; starting a request "
        "is not waiting for it");
  }
  CHECK(prices == std::array<int, 3>{100, 101, 102});
  if (took_ms > 2.0 * static_cast<double>(delay.count())) {
    FAIL_CHECK("the 3 waits took " << took_ms << " ms; they should overlap and take about " << delay.count()
                                   << " ms (one delay), not " << 3 * delay.count() << " ms");
  }
  const double gap = exercise_test::longest_gap_ms(ticks);
  if (gap > 150) {
    FAIL_CHECK("the heartbeat on the same io_context stopped for " << gap
                                                                   << " ms: something blocked the loop's thread; "
                                                                      "wait with co_await, not by blocking");
  }
}
