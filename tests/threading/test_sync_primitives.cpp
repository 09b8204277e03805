// Checks the claims of threading/sync_primitives.cpp on the lesson's own functions.
#include "threading/sync_primitives.cpp"

#include <atomic>
#include <map>
#include <thread>

#include "catch.hpp"
#include "support.hpp"

namespace {
const std::chrono::milliseconds work{30};
}  // namespace

TEST_CASE("semaphore: never more than its count inside, and exactly its count under contention", "[threading]") {
  test_support::Watchdog watchdog(std::chrono::seconds(20), "semaphore");
  for (int limit : {1, 2, 3}) {
    pg::Timeline timeline("semaphore");
    const int peak = semaphore_demo(8, limit, work, timeline);
    INFO("limit " << limit);
    CHECK(peak == limit);  // <= is the semaphore's promise; == because 8 workers x 30 ms keep it full
    // The chart agrees with the meter: at no span's start were more than `limit` spans running.
    auto spans = timeline.spans();
    REQUIRE(spans.size() == 8);
    for (const auto& s : spans) {
      int running = 0;
      for (const auto& other : spans) running += (other.start <= s.start && s.start < other.end) ? 1 : 0;
      CHECK(running <= limit);
    }
  }
}

TEST_CASE("without a semaphore, all workers are inside at once", "[threading]") {
  test_support::Watchdog watchdog(std::chrono::seconds(20), "no semaphore");
  pg::Timeline timeline("no semaphore");
  // 6 workers sleeping 100 ms: even on a loaded machine they are all started well within that time.
  CHECK(semaphore_demo(6, 0, std::chrono::milliseconds(100), timeline) == 6);
}

TEST_CASE("latch: nobody passes before the last arrival, and main's wait ends after every worker", "[threading]") {
  test_support::Watchdog watchdog(std::chrono::seconds(20), "latch");
  pg::Timeline timeline("latch");
  const std::chrono::milliseconds stagger{20};
  auto run = latch_demo(5, stagger, timeline);
  const auto last_arrival = *std::max_element(run.arrived.begin(), run.arrived.end());
  for (std::size_t i = 0; i < run.passed.size(); ++i) {
    INFO("worker " << i);
    CHECK(run.passed[i] >= last_arrival);     // the early ones waited for the last one
    CHECK(run.all_finished >= run.ended[i]);  // finished.wait() returned only after every count_down
  }
  // The arrivals were staggered: worker i spent at least i x stagger getting ready.
  for (const auto& s : timeline.spans()) {
    int id = -1;
    if (std::sscanf(s.name.c_str(), "worker %d getting ready", &id) == 1 && s.name.ends_with("ready"))
      CHECK(s.duration() >= id * stagger);
  }
}

TEST_CASE("barrier: phases never interleave and the completion step runs once per phase", "[threading]") {
  test_support::Watchdog watchdog(std::chrono::seconds(20), "barrier");
  const int workers = 4;
  const int phases = 3;
  pg::Timeline timeline("barrier");
  auto run = barrier_demo(workers, phases, std::chrono::milliseconds(10), timeline);
  CHECK(run.completions == phases);
  REQUIRE(run.totals.size() == static_cast<std::size_t>(phases));
  REQUIRE(run.completion_at.size() == static_cast<std::size_t>(phases));
  // In phase p (from 1), worker id writes (id + 1) x p: the step saw every worker's value for *this* phase.
  for (int p = 0; p < phases; ++p) CHECK(run.totals[static_cast<std::size_t>(p)] == 10L * (p + 1));

  // Sort the work spans by phase (their names say "phase P worker W", P counting from 1).
  std::vector<std::vector<pg::Span>> by_phase(static_cast<std::size_t>(phases));
  std::vector<pg::Span> steps;
  for (const auto& s : timeline.spans()) {
    int p = -1;
    int w = -1;
    if (std::sscanf(s.name.c_str(), "phase %d worker %d", &p, &w) == 2) {
      REQUIRE(p >= 1);
      REQUIRE(p <= phases);
      by_phase[static_cast<std::size_t>(p - 1)].push_back(s);
    } else {
      steps.push_back(s);
    }
  }
  CHECK(steps.size() == static_cast<std::size_t>(phases));
  for (int p = 0; p < phases; ++p) {
    const auto& now = by_phase[static_cast<std::size_t>(p)];
    REQUIRE(now.size() == static_cast<std::size_t>(workers));
    const auto step = run.completion_at[static_cast<std::size_t>(p)];
    for (const auto& s : now) CHECK(s.end <= step);  // the step ran after all of phase p
    if (p + 1 < phases)
      for (const auto& next : by_phase[static_cast<std::size_t>(p + 1)]) {
        CHECK(next.start >= step);  // ... and before any of phase p + 1
        for (const auto& s : now) CHECK(s.end <= next.start);
      }
  }
}

TEST_CASE("atomic wait: the waiter wakes on notify, after the flag was set, and sees it set", "[threading]") {
  test_support::Watchdog watchdog(std::chrono::seconds(20), "atomic wait");
  pg::Timeline timeline("atomic wait");
  auto run = atomic_event_demo(std::chrono::milliseconds(40), timeline);
  CHECK(run.seen);
  CHECK(run.woke_at >= run.set_at);
  auto spans = timeline.spans();
  REQUIRE(spans.size() == 2);
  // The waiter's span (started when its thread did, possibly a little after the setter's) ends only
  // after the flag was set: it slept until then, it did not return early.
  for (const auto& s : spans)
    if (s.name.starts_with("waiter")) CHECK(s.end >= run.set_at);
}

TEST_CASE("stop tokens: each callback runs exactly once, on request, and every worker stops", "[threading]") {
  test_support::Watchdog watchdog(std::chrono::seconds(20), "stop tokens");
  const int workers = 4;
  pg::Timeline timeline("stop tokens");
  auto run = stop_demo(workers, std::chrono::milliseconds(30), std::chrono::milliseconds(2), timeline);
  CHECK(run.first_request);
  CHECK_FALSE(run.second_request);
  CHECK(run.callbacks_run == workers);  // not 2 x workers: the second request ran nothing
  for (std::size_t i = 0; i < static_cast<std::size_t>(workers); ++i) {
    CHECK(run.callback_at[i] >= run.requested_at);
    CHECK(run.worker_stopped_at[i] >= run.requested_at);  // a worker stops only after being asked
  }
  CHECK(run.late_callback_ran_at_once);
  CHECK(run.jthread_stopped_by_destructor);
  // Every worker was running for at least the time before the request (30 ms).
  int worker_spans = 0;
  for (const auto& s : timeline.spans())
    if (s.name.starts_with("worker")) {
      ++worker_spans;
      CHECK(s.duration() >= std::chrono::milliseconds(30));
    }
  CHECK(worker_spans == workers);
}

TEST_CASE("sync_primitives program: runs, answers --help, and rejects bad flags with exit status 2",
          "[threading][flags]") {
  using test_support::run_program;
  auto help = run_program(LESSON_BINARY, {"--help"});
  CHECK(help.exit_code == 0);
  CHECK(help.out.find("usage: sync_primitives") != std::string::npos);
  test_support::check_rejects_bad_flags(LESSON_BINARY, {{"--limit", "0"}, {"--workers", "x"}, {"--bogus"}});
  auto ok = run_program(LESSON_BINARY, {"--workers", "4", "--limit", "2", "--work-ms", "20", "--phases", "2"});
  CHECK(ok.exit_code == 0);
  CHECK(ok.out.find("5. stop_source") != std::string::npos);
  // (How many were inside at once depends on timing; the tests above check it on the functions.)
  CHECK(ok.out.find("most workers inside at once: ") != std::string::npos);
  CHECK(ok.out.find(" with 2 permits") != std::string::npos);
  CHECK(ok.out.find("completion step ran 2 times") != std::string::npos);
  CHECK(ok.out.find("4 callbacks ran for 4 workers") != std::string::npos);
}

TEST_CASE("sync_primitives trace file: --trace writes every demo's spans, one category per timeline",
          "[threading][trace]") {
  const std::string path = fmt::format("/tmp/playground-sync-primitives-{}.json", ::getpid());
  auto r = test_support::run_program(
      LESSON_BINARY, {"--workers", "3", "--limit", "1", "--work-ms", "10", "--phases", "2", "--trace", path});
  REQUIRE(r.exit_code == 0);
  auto events = test_support::read_trace(path);
  std::remove(path.c_str());
  std::map<std::string, int> per_category;
  for (const auto& e : events)
    if (e.phase == 'X') ++per_category[e.category];
  CHECK(per_category["no semaphore"] == 3);
  CHECK(per_category["semaphore"] == 3);
  CHECK(per_category["latch"] == 9);            // 3 spans per worker
  CHECK(per_category["barrier"] == 3 * 2 + 2);  // workers x phases + one completion step per phase
  CHECK(per_category["atomic wait"] == 2);
  CHECK(per_category["stop tokens"] == 3 + 1);  // the workers + the self-stopping jthread
}

TEST_CASE("timed wait: wait_for returns true when set in time, false after the timeout when never set", "[threading]") {
  test_support::Watchdog watchdog(std::chrono::seconds(20), "timed wait");
  // Set after 20 ms with a 2 s timeout: true, woken by set() (well before the timeout), after the set.
  pg::Timeline in_time("set in time");
  const auto set_run = timed_wait_demo(std::chrono::seconds(2), std::chrono::milliseconds(20), in_time);
  CHECK(set_run.returned);
  CHECK(set_run.returned_at >= set_run.set_at);
  CHECK(set_run.waited < std::chrono::seconds(2));  // the set() woke it: it did not sit out the timeout
  // Never set, 30 ms timeout: false, and only after the whole timeout.
  pg::Timeline never("never set");
  const auto timeout_run = timed_wait_demo(std::chrono::milliseconds(30), std::nullopt, never);
  CHECK_FALSE(timeout_run.returned);
  CHECK(timeout_run.waited >= std::chrono::milliseconds(30));
  CHECK(never.spans().size() == 1);  // the waiter alone
}

TEST_CASE("sync_primitives program: the barrier totals and request_stop() answers are explained",
          "[threading][flags]") {
  auto ok =
      test_support::run_program(LESSON_BINARY, {"--workers", "3", "--limit", "1", "--work-ms", "10", "--phases", "2"});
  INFO("stdout: " << ok.out);
  CHECK(ok.exit_code == 0);
  // 3 workers: phase p expects p x (1 + 2 + 3).
  CHECK(ok.out.find("totals per phase: 6, 12; expected 6, 12") != std::string::npos);
  CHECK(ok.out.find("the totals match") != std::string::npos);
  CHECK(ok.out.find("returned true the first time") != std::string::npos);
  CHECK(ok.out.find("and false the second") != std::string::npos);
  CHECK(ok.out.find("wait_for returned true after") != std::string::npos);
  CHECK(ok.out.find("wait_for returned false after") != std::string::npos);
}

TEST_CASE("Event: set() changes the flag before it notifies, so a waiter woken at once sees it", "[threading]") {
  // A set() that notifies first and sets the flag afterwards lets a waiter that runs the moment it is
  // woken find the flag still false and sleep again, until its timeout. To make "runs the moment it is
  // woken" certain rather than likely, both threads share one core and the setter runs in the idle
  // scheduling class (SCHED_IDLE, which any thread may choose for itself): a normal thread that is
  // woken then always takes the core from it, before set() reaches its next line.
  test_support::Watchdog watchdog(std::chrono::seconds(20), "Event: set() before notify");
  const test_support::OnOneCore one_core;  // both threads below inherit this one core
  for (int run = 0; run < 20; ++run) {
    Event event;
    std::atomic<bool> waiting{false};
    pg::Clock::time_point set_at{};
    std::thread setter([&] {
      sched_param idle{};
      ::sched_setscheduler(0, SCHED_IDLE, &idle);  // this thread only (Linux: per thread)
      while (!waiting.load()) std::this_thread::yield();
      std::this_thread::sleep_for(std::chrono::milliseconds(2));  // the waiter is asleep in wait_for by now
      set_at = pg::Clock::now();
      event.set();
    });
    waiting = true;
    const bool woken = event.wait_for(std::chrono::milliseconds(500));
    const auto returned_at = pg::Clock::now();
    setter.join();
    INFO("run " << run << ": wait_for returned " << pg::ms(returned_at - set_at) << " ms after set()");
    REQUIRE(woken);
    REQUIRE(returned_at - set_at < std::chrono::milliseconds(250));  // woken, not timed out
  }
}

TEST_CASE("timed wait: set() changes the flag before it notifies, so the woken waiter sees it at once", "[threading]") {
  // A set() that notifies first and sets the flag afterwards wakes the waiter too early: it finds the
  // flag still false and sleeps again, until its timeout. On one core the woken waiter usually runs
  // before the setter's next line, so a few runs meet it.
  test_support::Watchdog watchdog(std::chrono::seconds(20), "timed wait: set() before notify");
  const test_support::OnOneCore one_core;
  for (int run = 0; run < 20; ++run) {
    pg::Timeline timeline("set in time");
    const auto set_run = timed_wait_demo(std::chrono::milliseconds(500), std::chrono::milliseconds(2), timeline);
    const double late_ms = pg::ms(set_run.returned_at - set_run.set_at);
    INFO("run " << run << ": wait_for returned " << late_ms << " ms after set()");
    REQUIRE(set_run.returned);
    REQUIRE(set_run.returned_at - set_run.set_at < std::chrono::milliseconds(250));  // woken, not timed out
  }
}
