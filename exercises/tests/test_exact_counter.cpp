// Test for the exercise exact_counter: the count is exact, run after run. Built against the exercise
// (EXERCISE_SOURCE) and, for CI, against its solution; under ThreadSanitizer a data race fails it too.
#include EXERCISE_SOURCE

#include "catch.hpp"
#include "support.hpp"

TEST_CASE("exact_counter: threads x visits, every run", "[exercise]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(30), "exact_counter: count_visits did not return");
  constexpr int threads = 4;
  constexpr int visits_each = 1'000;
  for (int run = 1; run <= 3; ++run) {
    const int counted = count_visits(threads, visits_each);
    if (counted != threads * visits_each) {
      FAIL("run " << run << ": counted " << counted << " of " << threads * visits_each << " visits. "
                  << threads * visits_each - counted
                  << " were lost: another thread writes between a thread's read and its write; "
                     "make the read-add-write one step (see the hints)");
    }
  }
}
