// Checks the claims of threading/locks_and_thread_safety.cpp on the lesson's own functions.
#include "threading/locks_and_thread_safety.cpp"

#include "catch.hpp"
#include "support.hpp"

#include <system_error>

#include <sys/wait.h>

TEST_CASE("no lock: load-then-store loses updates, never gains any", "[threading]") {
  constexpr int threads = 4;
  constexpr int increments = 5'000;
  pg::Timeline timeline("no lock");
  const int count = count_without_lock(threads, increments, timeline);
  CHECK(count <= threads * increments);
  CHECK(count < threads * increments);  // the yield between load and store loses updates every run
  CHECK(timeline.spans().size() == threads);
}

TEST_CASE("mutex and atomic counts are exact", "[threading]") {
  constexpr int threads = 4;
  constexpr int increments = 50'000;
  pg::Timeline locked("mutex");
  pg::Timeline atomic("atomic");
  CHECK(count_with_mutex(threads, increments, locked) == threads * increments);
  CHECK(count_with_atomic(threads, increments, atomic) == threads * increments);
  CHECK(locked.spans().size() == threads);
  CHECK(atomic.spans().size() == threads);
}

TEST_CASE("one lock around check-then-act: every item present exactly once under contention", "[threading]") {
  constexpr int threads = 4;
  constexpr int names = 200;
  pg::Timeline timeline("one lock");
  const auto items = fill_unique_list(threads, names, false, timeline);
  const auto counts = count_each(items);
  CHECK(items.size() == names);
  REQUIRE(counts.size() == names);
  for (int name = 0; name < names; ++name) CHECK(counts.at(name) == 1);
}

TEST_CASE("check and act locked separately: the no-duplicates rule breaks", "[threading]") {
  constexpr int threads = 4;
  constexpr int names = 200;
  pg::Timeline timeline("separate locks");
  const auto items = fill_unique_list(threads, names, true, timeline);
  const auto counts = count_each(items);
  CHECK(counts.size() == names);  // every name got in...
  CHECK(items.size() <= threads * names);
  CHECK(items.size() > names);  // ...and some more than once: the 0.5 ms window between check and append
}

TEST_CASE("transfers with std::scoped_lock keep the total and finish (watchdog)", "[threading]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(20), "scoped_lock transfers");
  pg::Timeline timeline("scoped_lock");
  const TransferReport report =
      run_transfers(false, 20, std::chrono::milliseconds(1), std::chrono::milliseconds(10), timeline);
  CHECK(report.total_after == report.total_before);
  CHECK(report.done == 40);
  CHECK(report.deadlocks == 0);
}

TEST_CASE("transfers locking in opposite orders deadlock, bounded by try_lock_for (watchdog)", "[threading]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(20), "inverted transfers");
  pg::Timeline timeline("inverted");
  const TransferReport report =
      run_transfers(true, 10, std::chrono::milliseconds(2), std::chrono::milliseconds(10), timeline);
  CHECK(report.total_after == report.total_before);  // a transfer that gave up changed nothing
  CHECK(report.done + report.deadlocks == 20);
  CHECK(report.deadlocks > 0);  // each holds its first lock while the other's 2 ms of work runs
}

TEST_CASE("the lesson program rejects bad flags and runs with small ones", "[threading][flags]") {
  using test_support::run_program;
  test_support::check_rejects_bad_flags(LESSON_BINARY, {{"--threads", "0"}, {"--patience-ms", "soon"}, {"--bogus"}});
  const std::string path = fmt::format("/tmp/playground-locks-trace-{}.json", ::getpid());
  auto ok = run_program(LESSON_BINARY, {"--threads", "2", "--racy-increments", "1000", "--increments", "1000",
                                        "--names", "20", "--transfers", "2", "--trace", path});
  INFO("stdout: " << ok.out << "\nstderr: " << ok.err);
  CHECK(ok.exit_code == 0);
  CHECK(ok.out.find("FIXED  (std::scoped_lock on both):    4 done, 0 deadlocks, total 2000 -> 2000") !=
        std::string::npos);
  auto events = test_support::read_trace(path);
  std::remove(path.c_str());
  int spans = 0;
  for (const auto& e : events) spans += e.phase == 'X' ? 1 : 0;
  CHECK(spans == 2 * 5 + 2 * 2);  // 2 threads in each of sections 1-4 (5 timelines) + 2 in each transfer run
}

TEST_CASE("locks program: each fix is compared with one thread doing all the increments alone", "[threading][flags]") {
  auto r = test_support::run_program(LESSON_BINARY, {"--threads", "2", "--racy-increments", "100", "--increments",
                                                     "20000", "--names", "5", "--transfers", "1"});
  INFO("stdout: " << r.out);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("mutex : 40000 of 40000 in ") != std::string::npos);
  CHECK(r.out.find("atomic: 40000 of 40000 in ") != std::string::npos);
  CHECK(r.out.find(" on 2 threads, ") != std::string::npos);
  CHECK(r.out.find("ns of CPU per increment; one thread alone: ") != std::string::npos);
  test_support::check_rejects_bad_flags(LESSON_BINARY, {{"--threads", "17"}, {"--racy-increments", "200001"}});
}

TEST_CASE("run_together: a thread that cannot start is an exception, and the started ones are joined", "[threading]") {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  WARN("SKIPPED: this test limits the address space, which a sanitizer's own runtime needs");
#else
  const auto status = test_support::status_when_threads_run_out([] {
    std::atomic<int> ran{0};
    pg::Timeline timeline("out of threads");
    try {
      run_together(64, "worker", timeline, [&](int) { ran.fetch_add(1); });
    } catch (const std::system_error&) {
      return ran.load() > 0 ? 3 : 4;  // 3: the error came after the started threads ran and were joined
    }
    return 0;  // every thread started: the cap did not bite, so this run proved nothing
  });
  if (!status) FAIL("run_together never returned: are the started threads still waiting at the latch?");
  INFO("exit status " << (WIFEXITED(*status) ? WEXITSTATUS(*status) : -1) << ", signal "
                      << (WIFSIGNALED(*status) ? WTERMSIG(*status) : 0));
  REQUIRE(WIFEXITED(*status));  // not SIGABRT from std::terminate
  CHECK(WEXITSTATUS(*status) == 3);
#endif
}
