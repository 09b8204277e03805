// Test for the exercise exact_counter: the count is exact, run after run. Built against the exercise
// (EXERCISE_SOURCE) and, for CI, against its solution; under ThreadSanitizer a data race fails it too.
#include EXERCISE_SOURCE

#include "catch.hpp"
#include "support.hpp"

#include <system_error>

#include <sys/wait.h>

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

TEST_CASE("exact_counter: a thread that cannot start is an exception, not std::terminate or a hang", "[exercise]") {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  WARN("SKIPPED: this test limits the address space, which a sanitizer's own runtime needs");
#else
  const auto status = test_support::status_when_threads_run_out([] {
    try {
      count_visits(64, 10);
    } catch (const std::system_error&) {
      return 3;
    }
    return 0;
  });
  if (!status) FAIL("count_visits never returned when a thread could not start: are the others waiting for ever?");
  INFO("exit status " << (WIFEXITED(*status) ? WEXITSTATUS(*status) : -1) << ", signal "
                      << (WIFSIGNALED(*status) ? WTERMSIG(*status) : 0));
  REQUIRE(WIFEXITED(*status));  // not SIGABRT: std::terminate from a std::thread destroyed unjoined
  CHECK(WEXITSTATUS(*status) == 3);
#endif
}
