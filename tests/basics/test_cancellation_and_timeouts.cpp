// Checks the claims of basics/cancellation_and_timeouts.cpp on the lesson's own functions.
// Every test starts a Watchdog (tests/support.hpp): a coroutine bug fails it instead of hanging.
// Where the order of two timers matters they are 100 ms apart: a timer that expires while the process is
// stalled is handled in the same batch as its neighbour, and then a task may already have finished
// before it could be cancelled. Such stalls of tens of ms do happen while other builds load the machine.
#include "basics/cancellation_and_timeouts.cpp"

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

TEST_CASE("external cancellation: the worker cleans up, then the canceller learns it was cancelled", "[basics]") {
  const test_support::Watchdog watchdog(limit, "external cancel");
  Crew crew("worker");
  const auto flush = step / 2;
  const auto report = cancel_from_outside(worker_with_cleanup(crew, 20 * step, flush), step);
  CHECK_FALSE(report.completed);
  CHECK(report.outcome == "cancelled");
  CHECK(report.cancel_sent_ms >= pg::ms(step));
  CHECK(report.ended_ms >= report.cancel_sent_ms + pg::ms(flush));  // the cleanup awaited its flush
  CHECK(report.ended_ms < pg::ms(20 * step));
  CHECK(crew.log == std::vector<std::string>{"worker: cancelled, flushing", "worker: cleanup done"});
  CHECK(crew.live == 0);

  Crew idle("idle");
  pg::Stopwatch whole_call;  // the whole call, not the task: it returns when io.run() does
  const auto on_time = cancel_from_outside(worker_with_cleanup(idle, step / 5, flush), 20 * step);
  const double call_ms = whole_call.elapsed_ms();
  CHECK(on_time.completed);  // a worker that finishes first is never cancelled
  CHECK(on_time.value == 42);
  CHECK(on_time.cancel_sent_ms < 0);
  CHECK(call_ms < pg::ms(10 * step));  // run() did not wait for the canceller's timer (due at 20 x step)
}

TEST_CASE("a CPU loop without co_await runs to its end; one that yields and checks stops early", "[basics]") {
  const test_support::Watchdog watchdog(limit, "cpu loop cancel");
  constexpr int slices = 10;
  const std::chrono::milliseconds slice{10};
  int blind_done = 0;
  const auto blind = cancel_from_outside(crunch_blind(slices, slice, blind_done), slice + slice / 2);
  CHECK(blind.completed);
  CHECK(blind.value == slices);
  CHECK(blind_done == slices);

  int checking_done = 0;
  const auto checking = cancel_from_outside(crunch_checking(slices, slice, checking_done), slice + slice / 2);
  CHECK_FALSE(checking.completed);
  CHECK(checking.outcome == "cancelled");
  CHECK(checking_done >= 1);
  CHECK(checking_done < slices);
  CHECK(checking.ended_ms >= checking.cancel_sent_ms);
}

TEST_CASE("with_timeout: a long task ends near the timeout with timeout_error, a short one returns its value",
          "[basics]") {
  const test_support::Watchdog watchdog(limit, "with_timeout");
  Crew crew("timeouts");
  pg::Stopwatch clock;
  bool timed_out = false;
  try {
    run_coroutine(with_timeout(job(crew, "long", 10 * step, 1), step));
  } catch (const timeout_error&) {
    timed_out = true;
  }
  const auto took = clock.elapsed();
  CHECK(timed_out);
  CHECK(took >= step);
  CHECK(took < 5 * step);  // the task alone would take 10 x step
  CHECK(logged(crew, "long: cancelled"));
  CHECK(crew.live == 0);

  CHECK(run_coroutine(with_timeout(job(crew, "quick", step / 5, 7), 10 * step)) == 7);

  std::string failing;
  try {
    run_coroutine(with_timeout(job(crew, "failing", step / 5, 0, Ending::fail), 10 * step));
  } catch (const timeout_error&) {
    failing = "timeout_error";  // what a plain `op || timer` would give, after the whole timeout
  } catch (const std::runtime_error& e) {
    failing = e.what();
  }
  CHECK(failing == "failing failed");
  CHECK(crew.live == 0);
}

#if ASIO_VERSION >= 103100
TEST_CASE("cancel_after (Asio 1.31+): the task is cancelled at the time limit, the caller sees operation_aborted",
          "[basics]") {
  const test_support::Watchdog watchdog(limit, "cancel_after");
  Crew crew("cancel_after");
  pg::Stopwatch clock;
  asio::error_code seen;
  try {
    run_coroutine(with_timeout_cancel_after(job(crew, "long", 10 * step, 1), step));
  } catch (const std::system_error& e) {
    seen = e.code();
  }
  const auto took = clock.elapsed();
  CHECK(seen == asio::error::operation_aborted);
  CHECK(took >= step);
  CHECK(took < 5 * step);  // the task alone would take 10 x step
  CHECK(logged(crew, "long: cancelled"));
  CHECK(crew.live == 0);
}
#endif

TEST_CASE("one deadline shared by a sequence of awaits cuts the sequence", "[basics]") {
  const test_support::Watchdog watchdog(limit, "shared deadline");
  Crew crew("deadline");
  constexpr int steps = 6;
  const auto budget = 11 * step / 5;  // early in step 3
  const auto report = run_coroutine(steps_under_deadline(crew, steps, step, budget));
  CHECK(report.timed_out);
  CHECK(report.steps_done >= 1);
  CHECK(report.steps_done < steps);
  CHECK(report.took_ms >= pg::ms(budget));
  CHECK(report.took_ms < pg::ms(steps * step));  // the whole sequence would take 6 x step
  // The finished steps, then the one that was running, cancelled (unless a stall let it finish in the
  // same instant as the deadline); the steps after it never started.
  REQUIRE(crew.log.size() >= static_cast<std::size_t>(report.steps_done));
  REQUIRE(crew.log.size() <= static_cast<std::size_t>(report.steps_done) + 1);
  for (int i = 1; i <= report.steps_done; ++i)
    CHECK(crew.log[static_cast<std::size_t>(i - 1)] == fmt::format("step {}: finished", i));
  if (crew.log.size() > static_cast<std::size_t>(report.steps_done))
    CHECK(crew.log.back() == fmt::format("step {}: cancelled", report.steps_done + 1));
  CHECK(crew.acquired == static_cast<int>(crew.log.size()));
  CHECK(crew.live == 0);

  Crew roomy("roomy");
  const auto in_time = run_coroutine(steps_under_deadline(roomy, 2, step / 5, 20 * step));
  CHECK_FALSE(in_time.timed_out);
  CHECK(in_time.steps_done == 2);
}

TEST_CASE("the lesson program answers --help, rejects bad flags with exit status 2, and runs", "[basics][flags]") {
  using test_support::run_program;
  auto help = run_program(LESSON_BINARY, {"--help"});
  CHECK(help.exit_code == 0);
  CHECK(help.out.find("usage: cancellation_and_timeouts") != std::string::npos);
  test_support::check_rejects_bad_flags(LESSON_BINARY,
                                        {{"--delay-ms", "x"}, {"--delay-ms", "0"}, {"--steps", "0"}, {"--bogus"}});
  auto ok = run_program(LESSON_BINARY, {"--delay-ms", "20"});
  CHECK(ok.exit_code == 0);
  CHECK_FALSE(ok.timed_out);
  for (const char* text : {"1. Cancel a running task from outside", "2. Timeouts", "timeout_error: timed out",
                           "worker ended at", "FIXED:  CPU loop that yields and checks", "Takeaway"})
    CHECK(ok.out.find(text) != std::string::npos);
  CHECK(ok.out.find("resources still held: 0") != std::string::npos);
  CHECK(ok.out.find("resources still held: 1") == std::string::npos);
}

TEST_CASE("trace file: --trace writes every section's timeline", "[basics][trace]") {
  const std::string path = fmt::format("/tmp/playground-cancel-trace-{}.json", ::getpid());
  auto r = test_support::run_program(LESSON_BINARY, {"--delay-ms", "20", "--trace", path});
  REQUIRE(r.exit_code == 0);
  auto events = test_support::read_trace(path);
  std::remove(path.c_str());
  std::vector<std::string> categories;
  for (const auto& e : events)
    if (e.phase == 'X' && (categories.empty() || categories.back() != e.category)) categories.push_back(e.category);
  std::vector<std::string> expected = {"cancelled worker", "with_timeout"};
#if ASIO_VERSION >= 103100
  expected.push_back("cancel_after");  // section 2 also runs the built-in form
#endif
  expected.push_back("shared deadline");
  CHECK(categories == expected);
}
