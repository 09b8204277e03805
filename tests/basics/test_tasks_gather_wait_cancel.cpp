// Checks the claims of basics/tasks_gather_wait_cancel.cpp on the lesson's own functions.
// Every test starts a Watchdog (tests/support.hpp): a coroutine bug fails it instead of hanging.
// Where the order of two timers matters they are 100 ms apart: a timer that expires while the process is
// stalled is handled in the same batch as its neighbour, and then a "loser" may already have finished
// before it could be cancelled. Such stalls of tens of ms do happen while other builds load the machine.
#include "basics/tasks_gather_wait_cancel.cpp"

#include <algorithm>

#include "catch.hpp"
#include "support.hpp"

namespace {
const std::chrono::milliseconds step{100};
constexpr std::chrono::seconds limit{20};

bool logged(const Crew& crew, const std::string& line) {
  return std::find(crew.log.begin(), crew.log.end(), line) != crew.log.end();
}
}  // namespace

TEST_CASE("gather &&: one failure gives multiple_exceptions whose first is the left operand's", "[basics]") {
  const test_support::Watchdog watchdog(limit, "gather with failure");
  Crew left("left");
  const auto left_failure = run_coroutine(gather_with_failure(left, step, true));
  CHECK(left_failure.multiple);
  CHECK(left_failure.error == "fails failed");
  Crew right("right");
  const auto right_failure = run_coroutine(gather_with_failure(right, step, false));
  CHECK(right_failure.multiple);
  CHECK(right_failure.error == "cancelled");  // the original error is lost
  for (const Crew* crew : {&left, &right}) {
    CHECK(logged(*crew, "fails: failed"));
    CHECK(logged(*crew, "slow: cancelled"));  // && cancelled the sibling
    CHECK(crew->acquired == 2);
    CHECK(crew->live == 0);
  }
}

TEST_CASE("task group: the first failure cancels the rest, the group outlives every member and raises it", "[basics]") {
  const test_support::Watchdog watchdog(limit, "task group");
  Crew crew("group");
  GroupReport group;
  std::string raised;
  try {
    run_coroutine(task_group(crew, step, group));
  } catch (const std::runtime_error& e) {
    raised = e.what();
  }
  CHECK(raised == "b (fails) failed");  // the original error, not "cancelled"
  CHECK(group.order == std::array<std::size_t, 3>{2, 1, 0});
  CHECK(group.outcomes == std::array<std::string, 3>{"cancelled", "b (fails) failed", "no error"});
  const auto spans = crew.timeline.spans();
  REQUIRE(spans.size() == 3);
  for (const auto& s : spans) {
    INFO(s.name);
    CHECK(s.end <= group.ended);                               // no member was still running when the group returned
    if (s.name == "a (slow)") CHECK(s.duration() < 4 * step);  // cancelled before its natural end
  }
  CHECK(crew.live == 0);
  CHECK(crew.acquired == 3);
}

TEST_CASE("wait for the first: || and wait_for_one name the winner, every loser is cancelled and cleaned up",
          "[basics]") {
  const test_support::Watchdog watchdog(limit, "first completed");
  Crew with_or("||");
  pg::Stopwatch clock;
  CHECK(run_coroutine(first_of_three(with_or, step)) == 1);
  CHECK(clock.elapsed() < 3 * step);  // it did not wait for the slowest
  Crew with_group("wait_for_one");
  CHECK(run_coroutine(first_of_three_group(with_group, step)) == 1);
  for (const Crew* crew : {&with_or, &with_group}) {
    REQUIRE(crew->log.size() == 3);
    CHECK(crew->log[0] == "b: finished");
    CHECK(logged(*crew, "a: cancelled"));
    CHECK(logged(*crew, "c: cancelled"));
    CHECK(crew->acquired == 3);
    CHECK(crew->live == 0);  // every loser's RAII ran before the co_await returned
  }
}

TEST_CASE("|| waits for the first success: a failing operand does not end the race, as_tuple makes it finish first",
          "[basics]") {
  const test_support::Watchdog watchdog(limit, "or trap");
  Crew broken_crew("broken");
  const auto broken = run_coroutine(race_failure_first(broken_crew, step));
  CHECK(broken.winner == 1);                  // the slow one "won"
  CHECK(broken.took_ms >= pg::ms(4 * step));  // ... after waiting for it
  CHECK(logged(broken_crew, "fails fast: failed"));
  CHECK(logged(broken_crew, "slow: finished"));

  Crew fixed_crew("fixed");
  const auto fixed = run_coroutine(race_first_finish(fixed_crew, step));
  CHECK(fixed.winner == 0);
  CHECK(fixed.winner_error == "fails fast failed");
  CHECK(fixed.took_ms < pg::ms(3 * step));  // the slow one would take 4 x step
  CHECK(logged(fixed_crew, "slow: cancelled"));
  CHECK(fixed_crew.live == 0);
  CHECK(broken_crew.live == 0);
}

TEST_CASE("the lesson program answers --help, rejects bad flags with exit status 2, and runs", "[basics][flags]") {
  using test_support::run_program;
  auto help = run_program(LESSON_BINARY, {"--help"});
  CHECK(help.exit_code == 0);
  CHECK(help.out.find("usage: tasks_gather_wait_cancel") != std::string::npos);
  test_support::check_rejects_bad_flags(LESSON_BINARY,
                                        {{"--delay-ms", "x"}, {"--delay-ms", "0"}, {"--steps", "3"}, {"--bogus"}});
  auto ok = run_program(LESSON_BINARY, {"--delay-ms", "20"});
  CHECK(ok.exit_code == 0);
  CHECK_FALSE(ok.timed_out);
  for (const char* text : {"1. Gather", "2. Wait for the first", "3. || waits for the first success",
                           "the group raised 'b (fails) failed'", "winner: operand", "FIXED:  winner", "Takeaway"})
    CHECK(ok.out.find(text) != std::string::npos);
  CHECK(ok.out.find("resources still held: 0") != std::string::npos);
  CHECK(ok.out.find("resources still held: 1") == std::string::npos);
}

TEST_CASE("trace file: --trace writes every section's timeline", "[basics][trace]") {
  const std::string path = fmt::format("/tmp/playground-gather-trace-{}.json", ::getpid());
  auto r = test_support::run_program(LESSON_BINARY, {"--delay-ms", "20", "--trace", path});
  REQUIRE(r.exit_code == 0);
  auto events = test_support::read_trace(path);
  std::remove(path.c_str());
  std::vector<std::string> categories;
  for (const auto& e : events)
    if (e.phase == 'X' && (categories.empty() || categories.back() != e.category)) categories.push_back(e.category);
  const std::vector<std::string> expected = {"gather (failing left)", "gather (failing right)",  "task group",
                                             "first with ||",         "first with wait_for_one", "|| with a failure",
                                             "|| with as_tuple"};
  CHECK(categories == expected);
}
