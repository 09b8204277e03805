// Checks the claims of basics/event_loop_and_tasks.cpp on the lesson's own functions.
// Every test starts a Watchdog (tests/support.hpp): a coroutine bug fails it instead of hanging.
#include "basics/event_loop_and_tasks.cpp"

#include "catch.hpp"
#include "support.hpp"

namespace {
const std::chrono::milliseconds step{40};
constexpr std::chrono::seconds limit{20};

std::vector<std::string> names_in_finish_order(const pg::Timeline& t) {
  std::vector<std::string> names;
  for (const auto& s : t.spans()) names.push_back(s.name);
  return names;
}

pg::Clock::duration timeline_total(const pg::Timeline& t) {
  auto last = t.origin();
  for (const auto& s : t.spans()) last = std::max(last, s.end);
  return last - t.origin();
}
// Starts a 300 ms fetch as a promise and lets the promise go out of scope after 10 ms, un-awaited.
asio::awaitable<void> drop_a_promise(pg::Timeline& timeline) {
  {
    auto task =
        co_spawn(co_await asio::this_coro::executor, fetch("dropped", std::chrono::milliseconds(300), 1, timeline),
                 asio::experimental::use_promise);
    co_await async_sleep(std::chrono::milliseconds(10));
  }  // ~promise: the task is cancelled here
}
}  // namespace

TEST_CASE("loop: nothing runs before run(), and run() returns when the only task has finished", "[basics]") {
  const test_support::Watchdog watchdog(limit, "loop lifecycle");
  pg::Stopwatch clock;
  const EventLog log = loop_lifecycle(step);
  const auto took = clock.elapsed();
  REQUIRE(log.size() == 5);
  CHECK(log[0] == "main: co_spawn returned");
  CHECK(log[1] == "main: calling run()");
  CHECK(log[2] == "task: started");
  CHECK(log[3] == "task: finished");
  CHECK(log[4].rfind("main: run() returned", 0) == 0);
  CHECK(took >= step);  // run() waited for the task's timer
}

TEST_CASE("co_spawn from inside the loop runs the child inline until its first co_await", "[basics]") {
  const test_support::Watchdog watchdog(limit, "inline spawn");
  EventLog log;
  run_coroutine(parent_spawns_inline(log));
  const EventLog expected = {"parent: before co_spawn", "child: runs up to its first co_await",
                             "parent: after co_spawn", "child: resumed"};
  CHECK(log == expected);
}

TEST_CASE("posting the co_spawn gives create_task's order: the parent goes on first", "[basics]") {
  const test_support::Watchdog watchdog(limit, "posted spawn");
  EventLog log;
  run_coroutine(parent_spawns_like_create_task(log));
  const EventLog expected = {"parent: before co_spawn", "parent: after co_spawn",
                             "child: runs up to its first co_await", "child: resumed"};
  CHECK(log == expected);
}

TEST_CASE("awaited in turn: tasks run one after another, total about the sum", "[basics]") {
  const test_support::Watchdog watchdog(limit, "await in turn");
  const std::vector<std::chrono::milliseconds> delays = {step, 3 * step, 2 * step};
  pg::Timeline timeline("in turn");
  CHECK(run_coroutine(await_each_in_turn(delays, timeline)) == std::vector<int>{1, 2, 3});
  const auto spans = timeline.spans_by_start();
  REQUIRE(spans.size() == 3);
  for (std::size_t i = 0; i < spans.size(); ++i)
    for (std::size_t j = i + 1; j < spans.size(); ++j) CHECK_FALSE(pg::overlap(spans[i], spans[j]));
  CHECK(timeline_total(timeline) >= 6 * step);
}

TEST_CASE("started first, awaited one by one: tasks overlap, total about the longest, not the sum", "[basics]") {
  const test_support::Watchdog watchdog(limit, "start then await");
  const std::vector<std::chrono::milliseconds> delays = {step, 3 * step, 2 * step};
  pg::Timeline timeline("started first");
  pg::Stopwatch clock;
  CHECK(run_coroutine(start_all_then_await(delays, timeline)) == std::vector<int>{1, 2, 3});
  const auto took = clock.elapsed();
  const auto spans = timeline.spans_by_start();
  REQUIRE(spans.size() == 3);
  for (std::size_t i = 0; i < spans.size(); ++i)
    for (std::size_t j = i + 1; j < spans.size(); ++j) CHECK(pg::overlap(spans[i], spans[j]));
  CHECK(took >= 3 * step);  // the longest task
  CHECK(took < 5 * step);   // the sum would be 6 x step
}

TEST_CASE("a promise destroyed before its task completes cancels the task", "[basics]") {
  test_support::Watchdog watchdog(limit, "dropped promise");
  asio::io_context io;
  pg::Timeline timeline("dropped");
  co_spawn(io, drop_a_promise(timeline), [](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
  });
  pg::Stopwatch clock;
  io.run();
  // The fetch would sleep 300 ms; cancelled, it ends (its span closes) soon after the 10 ms, and run()
  // returns with no work left.
  const auto spans = timeline.spans();
  REQUIRE(spans.size() == 1);
  CHECK(spans[0].duration() < std::chrono::milliseconds(200));
  CHECK(clock.elapsed() < std::chrono::milliseconds(200));
}

TEST_CASE("gather with &&: results in argument order while the tasks finish in reverse", "[basics]") {
  const test_support::Watchdog watchdog(limit, "gather &&");
  pg::Timeline timeline("gather");
  pg::Stopwatch clock;
  const auto results = run_coroutine(gather_three(step, timeline));
  const auto took = clock.elapsed();
  CHECK(results == std::tuple<int, int, int>{1, 2, 3});
  CHECK(names_in_finish_order(timeline) == std::vector<std::string>{"c (fastest)", "b", "a (slowest)"});
  CHECK(took >= 3 * step);
  CHECK(took < 5 * step);  // one after another would be 6 x step
}

TEST_CASE("gather a dynamic set: results in argument order, the last task finished first", "[basics]") {
  const test_support::Watchdog watchdog(limit, "gather dynamic");
  pg::Timeline timeline("gather dynamic");
  pg::Stopwatch clock;
  const auto results = run_coroutine(gather_dynamic(5, step / 2, timeline));
  const auto took = clock.elapsed();
  CHECK(results == std::vector<int>{1, 2, 3, 4, 5});
  CHECK(names_in_finish_order(timeline) == std::vector<std::string>{"task 4", "task 3", "task 2", "task 1", "task 0"});
  CHECK(took >= 5 * step / 2);  // the longest task
  CHECK(took < 10 * step / 2);  // the sum would be 15 x step/2
}

TEST_CASE("detached: the job's exception is lost, while a rethrowing handler or a kept handle surfaces it",
          "[basics]") {
  const test_support::Watchdog watchdog(limit, "detached exception");
  EventLog log;
  CHECK(run_failing_job_detached(5ms, log).empty());  // run() returned normally
  REQUIRE(log == EventLog{"job: throwing"});          // ... although the job did throw
  CHECK(run_failing_job_rethrowing(5ms, log) == "job failed");
  CHECK(run_coroutine(await_failing_job_handle(5ms, log)) == "job failed");
  CHECK(log.size() == 3);  // each form ran the job to its throw
}

TEST_CASE("a task pending when the loop stops never reaches its end, but its destructors run with the io_context",
          "[basics]") {
  const test_support::Watchdog watchdog(limit, "abandoned task");
  const auto report = abandon_pending_task(10 * step, step / 2);
  CHECK(report.started);
  CHECK_FALSE(report.reached_end);
  CHECK_FALSE(report.cleaned_up_while_loop_alive);  // the frame was still alive after run() returned
  CHECK(report.cleaned_up);                         // ~io_context destroyed it: the Probe's destructor ran
  CHECK(report.run_ms < pg::ms(10 * step));         // the loop did not wait for the job
}

TEST_CASE("a detached task outlives the local it refers to, a by-value copy is safe", "[basics]") {
  const test_support::Watchdog watchdog(limit, "dangling reference");
  const EventLog log = dangling_reference_demo(step / 4);
  const EventLog expected = {
      "start_reporters: returning, its local is destroyed",
      "by reference: the object is gone; reading it now would be undefined behaviour",
      "by value: read 'hello' from the task's own copy",
  };
  CHECK(log == expected);
}

TEST_CASE("the lesson program answers --help, rejects bad flags with exit status 2, and runs", "[basics][flags]") {
  using test_support::run_program;
  auto help = run_program(LESSON_BINARY, {"--help"});
  CHECK(help.exit_code == 0);
  CHECK(help.out.find("usage: event_loop_and_tasks") != std::string::npos);
  test_support::check_rejects_bad_flags(LESSON_BINARY,
                                        {{"--delay-ms", "x"}, {"--delay-ms", "0"}, {"--tasks", "-3"}, {"--bogus"}});
  auto ok = run_program(LESSON_BINARY, {"--delay-ms", "10", "--tasks", "3"});
  CHECK(ok.exit_code == 0);
  CHECK_FALSE(ok.timed_out);
  for (const char* title : {"1. The io_context", "2. Inside the loop, co_spawn", "3. Start tasks", "4. Gather",
                            "5. Fire-and-forget", "results [1, 2, 3] in argument order", "Takeaway"})
    CHECK(ok.out.find(title) != std::string::npos);
}

TEST_CASE("trace file: --trace writes the timelines of sections 3 and 4", "[basics][trace]") {
  const std::string path = fmt::format("/tmp/playground-event-loop-trace-{}.json", ::getpid());
  auto r = test_support::run_program(LESSON_BINARY, {"--delay-ms", "10", "--tasks", "2", "--trace", path});
  REQUIRE(r.exit_code == 0);
  auto events = test_support::read_trace(path);
  std::remove(path.c_str());
  std::vector<std::string> categories;
  for (const auto& e : events)
    if (e.phase == 'X') categories.push_back(e.category);
  const std::vector<std::string> expected = {"awaited in turn", "awaited in turn", "awaited in turn", "started first",
                                             "started first",   "started first",   "gather &&",       "gather &&",
                                             "gather &&",       "gather dynamic",  "gather dynamic"};
  CHECK(categories == expected);
  auto bad = test_support::run_program(LESSON_BINARY, {"--trace", "/nonexistent-folder/trace.json"});
  CHECK(bad.exit_code == 2);
  CHECK(bad.out.empty());
}
