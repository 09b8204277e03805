// Checks the claims of basics/coroutines_from_scratch.cpp on the lesson's own loop, Task and awaiters.
#include "basics/coroutines_from_scratch.cpp"

#include "catch.hpp"
#include "support.hpp"

namespace {
using std::chrono::milliseconds;

pg::Clock::duration total(const pg::Timeline& t) {
  auto last = t.origin();
  for (const auto& s : t.spans()) last = std::max(last, s.end);
  return last - t.origin();
}

// A task that records its name in `order` when it resumes after its sleep.
Task<int> wake_and_log(Loop& loop, int id, milliseconds delay, std::vector<int>& order) {
  co_await sleep_for(loop, delay);
  order.push_back(id);
  co_return id;
}

Task<std::vector<int>> start_all(Loop& loop, std::vector<milliseconds> delays, std::vector<int>& order) {
  std::vector<Task<int>> tasks;
  for (std::size_t i = 0; i < delays.size(); ++i)
    tasks.push_back(wake_and_log(loop, static_cast<int>(i), delays[i], order));
  for (auto& t : tasks) t.start(loop);
  std::vector<int> results;
  for (auto& t : tasks) results.push_back(co_await t);
  co_return results;
}
}  // namespace

TEST_CASE("the waits overlap on one thread: every pair of tasks overlaps, in about one delay", "[basics]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(20), "the waits overlap");
  const milliseconds delay{30};
  constexpr int tasks = 10;
  Loop loop;
  pg::Timeline timeline("scratch");
  const auto results = run(loop, gather(loop, std::vector<milliseconds>(tasks, delay), timeline));
  CHECK(results == std::vector<int>{0, 1, 4, 9, 16, 25, 36, 49, 64, 81});
  const auto spans = timeline.spans();
  REQUIRE(spans.size() == tasks);
  for (std::size_t i = 0; i < spans.size(); ++i) {
    CHECK(spans[i].thread == pg::thread_number());
    CHECK(spans[i].duration() >= delay);  // a timer never fires early
    for (std::size_t j = i + 1; j < spans.size(); ++j) CHECK(pg::overlap(spans[i], spans[j]));
  }
  // One after another would take tasks x delay (300 ms); the margin allows for a busy machine that
  // wakes the loop late from its sleep_until.
  CHECK(total(timeline) < tasks * delay * 3 / 4);
  CHECK(FrameCounter::alive == 0);
}

TEST_CASE("tasks resume in timer order, equal deadlines in the order they were set", "[basics]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(20), "tasks resume in timer order");
  Loop loop;
  std::vector<int> order;
  // Started in order 0..4; due at 60, 20, 40, 0 (no suspension at all) and 20 ms.
  const auto results = run(
      loop, start_all(loop, {milliseconds(60), milliseconds(20), milliseconds(40), milliseconds(0), milliseconds(20)},
                      order));
  CHECK(order == std::vector<int>{3, 1, 4, 2, 0});
  CHECK(results == std::vector<int>{0, 1, 2, 3, 4});  // awaited in task order whatever the wake order
  CHECK(FrameCounter::alive == 0);
}

TEST_CASE("a task's result and its exception reach the task that awaits it", "[basics]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(20), "result and exception reach the awaiter");
  Loop loop;
  pg::Timeline timeline("late");
  const Outcomes out = run(loop, results_and_errors(loop, milliseconds(10), timeline));
  CHECK(out.caught == "price service unavailable");
  CHECK(out.late_result == 49);
  // An exception that nobody catches inside the loop reaches run()'s caller, like asyncio.run.
  CHECK_THROWS_WITH(run(loop, fail_after(loop, milliseconds(1))), "price service unavailable");
  CHECK(FrameCounter::alive == 0);
}

TEST_CASE("a task awaited after it finished gives its value at once and does not hang", "[basics]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(20), "a finished task awaited does not hang");
  Loop loop;
  pg::Timeline timeline("late");
  pg::Stopwatch clock;
  const Outcomes out = run(loop, results_and_errors(loop, milliseconds(20), timeline));
  CHECK(out.late_result == 49);
  CHECK(out.late_await_ms < 5.0);  // no suspension: nothing to wait for
  CHECK(clock.elapsed() < milliseconds(20 * 10));
}

TEST_CASE("every coroutine frame is freed: none alive after each run, even a task never awaited", "[basics]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(20), "every frame is freed");
  CHECK(FrameCounter::alive == 0);
  {
    Loop loop;
    pg::Timeline timeline("frames");
    Task<int> lonely = fetch(loop, 2, milliseconds(1), timeline);  // made, never started: a frame all the same
    CHECK(FrameCounter::alive == 1);
    auto results = run(loop, gather(loop, {milliseconds(5), milliseconds(5), milliseconds(5)}, timeline));
    CHECK(results.size() == 3);
    CHECK(FrameCounter::alive == 1);  // only `lonely`: gather's frame and its three children are gone
  }
  CHECK(FrameCounter::alive == 0);
}

TEST_CASE("the lesson program runs, rejects bad flags, and says every frame was freed", "[basics][flags]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(50), "coroutines_from_scratch program");
  test_support::check_rejects_bad_flags(LESSON_BINARY, {{"--tasks", "0"}, {"--delay-ms", "x"}, {"--bogus"}});
  auto r = test_support::run_program(LESSON_BINARY, {"--tasks", "3", "--delay-ms", "30"});
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("results [0, 1, 4]") != std::string::npos);
  CHECK(r.out.find("the awaiting task caught: \"price service unavailable\"") != std::string::npos);
  CHECK(r.out.find("gave 49 in") != std::string::npos);
  CHECK(r.out.find("coroutine frames still alive: 0") != std::string::npos);
  auto many = test_support::run_program(LESSON_BINARY, {"--tasks", "50", "--delay-ms", "5"});
  CHECK(many.exit_code == 0);
  CHECK(many.out.find("50 results, first 0 and last 2401") != std::string::npos);
}
