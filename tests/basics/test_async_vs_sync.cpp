// Checks the claims of basics/async_vs_sync.cpp on the lesson's own functions.
#include "basics/async_vs_sync.cpp"

#include "catch.hpp"
#include "support.hpp"

namespace {
const std::chrono::milliseconds delay{30};
constexpr int tasks = 10;

pg::Clock::duration total(const pg::Timeline& t) {
  auto spans = t.spans();
  auto last = t.origin();
  for (const auto& s : spans) last = std::max(last, s.end);
  return last - t.origin();
}
}  // namespace

TEST_CASE("blocking: tasks run one after another and take at least tasks x delay", "[basics]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(20),
                                        "blocking: tasks run one after another and take at least tasks x delay");
  pg::Timeline timeline("blocking");
  auto results = run_blocking(tasks, delay, timeline);
  auto spans = timeline.spans_by_start();
  REQUIRE(spans.size() == tasks);
  for (std::size_t i = 0; i < spans.size(); ++i)
    for (std::size_t j = i + 1; j < spans.size(); ++j) CHECK_FALSE(pg::overlap(spans[i], spans[j]));
  CHECK(total(timeline) >= tasks * delay);
}

TEST_CASE("async: every pair of tasks overlaps, on the loop's one thread, in about one delay", "[basics]") {
  const test_support::Watchdog watchdog(
      std::chrono::seconds(20), "async: every pair of tasks overlaps, on the loop's one thread, in about one delay");
  pg::Timeline timeline("async");
  auto results = run_async(tasks, delay, timeline);
  auto spans = timeline.spans();
  REQUIRE(spans.size() == tasks);
  for (std::size_t i = 0; i < spans.size(); ++i) {
    CHECK(spans[i].thread == pg::thread_number());  // run() was called on this thread
    CHECK(spans[i].duration() >= delay);            // a timer never fires early
    for (std::size_t j = i + 1; j < spans.size(); ++j) CHECK(pg::overlap(spans[i], spans[j]));
  }
  CHECK(total(timeline) >= delay);
  CHECK(total(timeline) < tasks * delay / 2);  // blocking needs tasks x delay
}

TEST_CASE("results come back in task order, whatever order the tasks finish in", "[basics]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(20), "results in task order");
  pg::Timeline blocking("blocking");
  const std::vector<int> expected = {0, 1, 4, 9, 16, 25, 36, 49, 64, 81};
  CHECK(run_blocking(tasks, std::chrono::milliseconds(1), blocking) == expected);
  // Task i waits (5 - i) x 25 ms: the last one started finishes first, 25 ms apart.
  std::vector<std::chrono::milliseconds> delays;
  for (int i = 0; i < 5; ++i) delays.push_back((5 - i) * std::chrono::milliseconds(25));
  pg::Timeline async("async");
  CHECK(run_async(delays, async) == std::vector<int>{0, 1, 4, 9, 16});
  auto spans = async.spans();  // in the order they finished
  REQUIRE(spans.size() == 5);
  CHECK(spans.front().name == "task 4");
  CHECK(spans.back().name == "task 0");
}

TEST_CASE("a task's exception leaves io_context::run() through its completion handler", "[basics]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(20), "a task's exception leaves run()");
  // Declared before the io_context, so they outlive it: when run() leaves with the exception, task 0
  // is still suspended, and its frame (whose span writes to the timeline) is destroyed with `io`.
  std::vector<int> results(2, -1);
  pg::Timeline timeline("fails");
  asio::io_context io;
  co_spawn(io, fetch_async(0, std::chrono::milliseconds(5), timeline), store_result(results, 0));
  co_spawn(
      io,
      []() -> asio::awaitable<int> {
        throw std::runtime_error("task 1 failed");
        co_return 0;
      }(),
      store_result(results, 1));
  REQUIRE_THROWS_WITH(io.run(), "task 1 failed");
  CHECK(results[1] == -1);  // no result stored for the failed task
}

TEST_CASE("10,000 coroutines waiting at once still take a small multiple of one delay", "[basics]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(20),
                                        "10,000 coroutines waiting at once still take a small multiple of one delay");
  const std::chrono::milliseconds long_delay{100};
  pg::Timeline timeline("many");
  pg::Stopwatch clock;
  auto results = run_async(10'000, long_delay, timeline);
  const auto took = clock.elapsed();
  CHECK(results.size() == 10'000);
  CHECK(results[9'999] == 9'999 * 9'999);
  CHECK(timeline.spans().size() == 10'000);
  CHECK(took >= long_delay);
  CHECK(took < 10 * long_delay);  // one after another would be 10,000 x delay
}

TEST_CASE("the lesson program rejects bad flags with a message and exit status 2", "[basics][flags]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(50),
                                        "the lesson program rejects bad flags with a message and exit status 2");
  using test_support::run_program;
  test_support::check_rejects_bad_flags(LESSON_BINARY, {{"--tasks", "x"}, {"--tasks", "-1"}, {"--bogus"}});
  auto ok = run_program(LESSON_BINARY, {"--tasks", "3", "--delay-ms", "20", "--many", "100"});
  CHECK(ok.exit_code == 0);
  CHECK(ok.out.find("2. Async") != std::string::npos);
  CHECK(ok.out.find("speedup") != std::string::npos);
}

TEST_CASE("a long list of results is printed by its ends and its length", "[basics]") {
  CHECK(abbreviated({0, 1, 4}) == "[0, 1, 4]");
  std::vector<int> squares;
  for (int i = 0; i < 1000; ++i) squares.push_back(i * i);
  CHECK(abbreviated(squares) == "[0, 1, 4, 9, 16, ..., 994009, 996004, 998001] (1000 results)");
  // The program with many tasks: no line of its output holds every result.
  const auto r = test_support::run_program(LESSON_BINARY, {"--tasks", "1000", "--delay-ms", "0", "--many", "0"});
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("(1000 results)") != std::string::npos);
  std::size_t longest = 0;
  for (std::size_t start = 0, end = 0; start < r.out.size(); start = end + 1) {
    end = r.out.find('\n', start);
    if (end == std::string::npos) end = r.out.size();
    longest = std::max(longest, end - start);
  }
  CHECK(longest < 300);
}

TEST_CASE("trace file: --trace writes one complete event per span, with the real pid and tid", "[basics][trace]") {
  const test_support::Watchdog watchdog(
      std::chrono::seconds(50), "trace file: --trace writes one complete event per span, with the real pid and tid");
  const std::string path = fmt::format("/tmp/playground-trace-{}.json", ::getpid());
  auto r =
      test_support::run_program(LESSON_BINARY, {"--tasks", "3", "--delay-ms", "10", "--many", "0", "--trace", path});
  REQUIRE(r.exit_code == 0);
  auto events = test_support::read_trace(path);
  std::remove(path.c_str());

  std::vector<test_support::TraceEvent> spans;
  for (const auto& e : events)
    if (e.phase == 'X') spans.push_back(e);
  REQUIRE(spans.size() == 6);  // 3 blocking + 3 async
  int process_names = 0;
  for (const auto& e : events)
    if (e.phase == 'M' && e.category == "process_name") ++process_names;
  CHECK(process_names == 1);
  for (std::size_t i = 0; i < spans.size(); ++i) {
    CHECK(spans[i].category == (i < 3 ? "blocking" : "async"));
    CHECK(spans[i].name == fmt::format("task {}", i % 3));
    CHECK(spans[i].dur >= 10'000);  // each task waited 10 ms
    CHECK(spans[i].pid == spans[0].pid);
    CHECK(spans[i].tid == spans[0].pid);               // everything ran on the main thread, whose tid is the pid
    if (i > 0) CHECK(spans[i].ts >= spans[i - 1].ts);  // in time order
  }
  CHECK(spans[0].pid != ::getpid());  // the lesson's own process, not this test's

  auto bad = test_support::run_program(LESSON_BINARY, {"--trace", "/nonexistent-folder/trace.json"});
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("cannot write trace file '/nonexistent-folder/trace.json'") != std::string::npos);
  CHECK(bad.out.empty());  // it stopped before any work
}

TEST_CASE("async_vs_sync program: a speedup below the ideal says why, and section 3 reports memory per coroutine",
          "[basics][flags]") {
  auto r = test_support::run_program(LESSON_BINARY, {"--tasks", "3", "--delay-ms", "0", "--many", "2000"});
  INFO("stdout: " << r.out);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("(ideal 3x: 3 waits in the time of one)") != std::string::npos);
  CHECK(r.out.find("with --delay-ms 0 there is no wait to overlap") != std::string::npos);
  CHECK(r.out.find("peak memory grew by") != std::string::npos);
  // The maximum is what teaches in well under a second: 100,000 is accepted, more is refused.
  test_support::check_rejects_bad_flags(LESSON_BINARY, {{"--many", "100001"}});
}
