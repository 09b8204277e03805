// Test for the exercise stop_every_worker: run_jobs() returns (a watchdog ends a hung run in seconds)
// and, when it does, every job is done, for one worker and for several.
#include EXERCISE_SOURCE

#include "catch.hpp"
#include "support.hpp"

TEST_CASE("stop_every_worker: every job done, every worker stopped", "[exercise]") {
  const test_support::Watchdog watchdog(
      std::chrono::seconds(5),
      "stop_every_worker: run_jobs() never returned. join() is waiting for a worker that is still "
      "waiting in get() for a job or a sentinel that never comes (see the hints)");
  constexpr int jobs = 200;
  constexpr long expected_total = static_cast<long>(jobs) * (jobs + 1) * (2 * jobs + 1) / 6;  // 1^2 + ... + 200^2
  for (int workers : {1, 2, 4}) {
    const JobsReport report = run_jobs(workers, jobs);
    INFO(workers << " workers: " << report.jobs_done << " of " << jobs << " jobs done, total " << report.total
                 << " (expected " << expected_total << ")");
    if (report.jobs_done != jobs) {
      FAIL_CHECK("run_jobs() returned before every job was done: it must wait for the workers to finish them");
    }
    CHECK(report.total == expected_total);
  }
}
