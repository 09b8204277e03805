// Tests of tests/support.hpp's rule for speedup tests on a shared machine: pass, fail or skip.
#include "support.hpp"

namespace {
using test_support::SpeedupTry;
using test_support::SpeedupVerdict;

// serial and parallel wall times, the cores the parallel work got, the cores free around it.
SpeedupTry a_try(double serial_ms, double parallel_ms, double cores_obtained, double free_cores) {
  return SpeedupTry{serial_ms, parallel_ms, cores_obtained * parallel_ms, free_cores, free_cores};
}
}  // namespace

TEST_CASE("speedup rule: the speedup reached passes, whatever the load", "[helpers]") {
  CHECK(test_support::judge_speedup({a_try(500, 260, 1.95, 2.0)}, 1.5) == SpeedupVerdict::passed);
  // The best of the tries counts.
  CHECK(test_support::judge_speedup({a_try(500, 420, 1.2, 1.1), a_try(500, 300, 1.7, 1.6)}, 1.5) ==
        SpeedupVerdict::passed);
}

TEST_CASE("speedup rule: a busy machine skips instead of failing", "[helpers]") {
  // The figures of a machine with load 5 on 2 cores: the work got 1.2 cores, and 1.19x.
  const std::vector<SpeedupTry> busy{a_try(500, 420, 1.2, 1.1), a_try(500, 440, 1.15, 1.3), a_try(500, 430, 1.2, 0.9)};
  CHECK(test_support::judge_speedup(busy, 1.5) == SpeedupVerdict::skipped);
  const std::string said = test_support::describe_speedup(busy, 1.5);
  INFO(said);
  CHECK(said.find("SKIPPED: ") != std::string::npos);
  CHECK(said.find("load average") != std::string::npos);
  CHECK(said.find("got at most 1.20 cores") != std::string::npos);
  CHECK(said.find("best speedup 1.19x") != std::string::npos);
  CHECK(test_support::judge_speedup({}, 1.5) == SpeedupVerdict::skipped);
}

TEST_CASE("speedup rule: two cores obtained and no speedup fails", "[helpers]") {
  // The work kept two cores busy and was no faster: overhead, a busy wait, contention.
  CHECK(test_support::judge_speedup({a_try(500, 480, 1.95, 1.1)}, 1.5) == SpeedupVerdict::failed);
  // Two cores were free around the work, and it used one: it does not run in parallel. This is what a
  // pool of one worker shows on an idle machine, so a real regression is never skipped there.
  const std::vector<SpeedupTry> serial_work{a_try(500, 500, 1.0, 1.98)};
  CHECK(test_support::judge_speedup(serial_work, 1.5) == SpeedupVerdict::failed);
  CHECK(test_support::describe_speedup(serial_work, 1.5).find("FAILED: ") != std::string::npos);
}

TEST_CASE("the free-cores probe and the CPU clocks measure something", "[helpers]") {
  // On a busy machine the probe may get a small share of a core, but never none and never more than all.
  const double free = test_support::free_cores_probe(std::chrono::milliseconds(30));
  CHECK(free > 0);
  CHECK(free <= static_cast<double>(test_support::cores()) * 1.05 + 0.05);
  // Spinning moves this process's CPU clock, and the same time shows in /proc/self/stat (whose clock
  // ticks are 10 ms); the wall-clock bound only keeps a broken clock from hanging the test.
  const double before = test_support::cpu_ms_of_this_process();
  const double before_in_proc = test_support::cpu_ms_of_processes({::getpid()});
  const auto start = std::chrono::steady_clock::now();
  while (test_support::cpu_ms_of_this_process() - before < 50 &&
         std::chrono::steady_clock::now() - start < std::chrono::seconds(20)) {
  }
  CHECK(test_support::cpu_ms_of_this_process() - before >= 50);
  CHECK(test_support::cpu_ms_of_processes({::getpid()}) - before_in_proc >= 30);
  CHECK_THROWS(test_support::cpu_ms_of_processes({-5}));
}
