// Test for the exercise sleep_without_blocking: three jobs sleeping 150, 50 and 100 ms on one loop
// wake in deadline order, each no earlier than its delay, all on the caller's thread, and the whole run
// takes about the longest delay (one after another would take the sum).
#include EXERCISE_SOURCE

#include "catch.hpp"
#include "support.hpp"

TEST_CASE("sleep_without_blocking: the sleeps overlap, each wakes after its delay, in order, on the loop",
          "[exercise]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(10), "sleep_without_blocking: the loop never finished");
  using std::chrono::milliseconds;
  const std::vector<milliseconds> delays = {milliseconds(150), milliseconds(50), milliseconds(100)};
  pg::Stopwatch clock;
  const auto wakes = run_sleepers(delays);
  const double took_ms = clock.elapsed_ms();

  INFO("the run took " << took_ms << " ms");
  if (wakes.size() != delays.size()) {
    FAIL("only " << wakes.size()
                 << " of 3 jobs woke before run_sleepers() returned: the loop must hold every "
                    "suspended job's handle (its timer heap), or run() ends before they wake");
  }
  std::vector<int> order;
  for (const auto& w : wakes) {
    order.push_back(w.job);
    INFO("job " << w.job << " woke at " << w.at_ms << " ms on thread " << w.thread);
    if (w.at_ms < static_cast<double>(delays[static_cast<std::size_t>(w.job)].count())) {
      FAIL_CHECK("job " << w.job
                        << " woke before its delay: the handle must wait in the timer heap until its "
                           "deadline, not be resumed at once");
    }
    if (w.thread != pg::thread_number()) {
      FAIL_CHECK("job " << w.job
                        << " woke on another thread: the loop's own thread must resume it "
                           "(Loop::call_at), not a thread of its own");
    }
  }
  {
    INFO("the jobs must wake in the order of their deadlines: 1, 2, 0");
    CHECK(order == std::vector<int>{1, 2, 0});
  }
  INFO(
      "one after another the sleeps take 300 ms; overlapping, about 150 ms. Something still blocks the loop's "
      "thread");
  CHECK(took_ms < 280);  // one after another is at least 300 ms; the margin allows for a busy machine
}
