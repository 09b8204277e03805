// Test for the exercise balance_across_await: 8 clients x 5 deposits, each awaiting a 10 ms check, on
// two threads: the balance is exact, the checks were really awaited (the run takes at least 5 checks),
// and a heartbeat on the same io_context keeps ticking (no thread blocked). A std::mutex held across
// the co_await deadlocks both threads: the watchdog ends the test and says so.
#include EXERCISE_SOURCE

#include "catch.hpp"
#include "support.hpp"

namespace {
// Ticks every 2 ms for `length` on the io_context; records each tick. One coroutine, so its vector is
// only ever touched by one thread at a time (each resumption happens after the previous one).
asio::awaitable<void> heartbeat(std::chrono::milliseconds length, std::vector<pg::Clock::time_point>& ticks) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  const auto end = pg::Clock::now() + length;
  while (pg::Clock::now() < end) {
    ticks.push_back(pg::Clock::now());
    timer.expires_after(std::chrono::milliseconds(2));
    co_await timer.async_wait(asio::use_awaitable);
  }
  ticks.push_back(pg::Clock::now());
}
}  // namespace

TEST_CASE("balance_across_await: exact balance, every check awaited, no thread blocked", "[exercise]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(20),
                                        "balance_across_await: the io_context never finished: both threads are "
                                        "blocked (a std::mutex held across the co_await?)");
  constexpr int clients = 8;
  constexpr int deposits = 5;
  const std::chrono::milliseconds check(10);
  std::vector<pg::Clock::time_point> ticks;
  pg::Stopwatch clock;
  const long balance = run_clients(clients, deposits, check, [&ticks](asio::io_context& io) {
    ticks.push_back(pg::Clock::now());  // a heartbeat that cannot even start shows as a gap from here
    asio::co_spawn(io, heartbeat(std::chrono::milliseconds(300), ticks), [](std::exception_ptr error) {
      if (error) std::rethrow_exception(error);
    });
  });
  const double took_ms = clock.elapsed_ms();
  INFO("balance " << balance << " in " << took_ms << " ms");
  {
    INFO(
        "deposits were lost: a write still depends on a balance read before the await, while other deposits "
        "changed it");
    CHECK(balance == clients * deposits);
  }
  {
    INFO(
        "the run was shorter than one client's 5 checks of 10 ms one after another: every deposit must still "
        "await its check");
    CHECK(took_ms >= deposits * static_cast<double>(check.count()));
  }
  double longest_gap = 0;
  for (std::size_t i = 1; i < ticks.size(); ++i) longest_gap = std::max(longest_gap, pg::ms(ticks[i] - ticks[i - 1]));
  if (longest_gap > 200) {  // a blocking fix stops it for about 400 ms (40 checks of 10 ms in a row)
    FAIL_CHECK("the heartbeat on the same io_context stopped for "
               << longest_gap
               << " ms: its threads were blocked (waiting for a lock, or sleeping); wait with "
                  "co_await, and use a lock that suspends");
  }
}
