// Checks the claims of multiprocessing/process_pool_executor.cpp on the lesson's own ProcessPool.
//
// The pool forks its workers in the test process. That is safe because Catch2 runs tests on one
// thread and starts none, and a worker never returns into the test runner (worker_main ends in
// _exit). ThreadSanitizer follows these forks (the workers start no threads), so every test runs in
// all three presets. Every test ends by checking that no child process, running or zombie, is left.
// (TEST_CASE names hold no commas or semicolons: CTest's Catch2 discovery splits a name there.)
#include "multiprocessing/process_pool_executor.cpp"

#include <set>

#include <spawn.h>

#include "catch.hpp"
#include "multiprocessing/children.hpp"
#include "support.hpp"

namespace {
bool process_exists(pid_t pid) { return ::kill(pid, 0) == 0 || errno != ESRCH; }
long not_in_the_table(long x) { return x; }
}  // namespace

TEST_CASE("submit refuses a function that is not in pool_functions before any worker sees it", "[multiprocessing]") {
  {
    ProcessPool pool(1);
    CHECK_THROWS_AS(pool.submit(not_in_the_table, 1), std::invalid_argument);
    CHECK_FALSE(pool.broken());
    CHECK(pool.result(pool.submit(square, 6)) == 36);
  }
  CHECK(mp_test::no_children_left());
}

TEST_CASE("map keeps input order even when later tasks finish first", "[multiprocessing]") {
  {
    ProcessPool pool(2);
    // Task 0 sleeps longest, so tasks 1-3 finish before it; map still answers in input order.
    const std::vector<long> delays = {120, 1, 30, 2};
    CHECK(pool.map(sleep_ms_then_echo, delays) == delays);
    const std::vector<long> inputs = {3, -1, 7, 0, 12};
    CHECK(pool.map(square, inputs) == std::vector<long>{9, 1, 49, 0, 144});
  }
  CHECK(mp_test::no_children_left());
}

TEST_CASE("as_completed yields every task exactly once in the order they finish", "[multiprocessing]") {
  std::vector<long> order;
  std::map<long, long> values;
  {
    ProcessPool pool(2);
    std::vector<TaskHandle> pending;
    for (long ms : {200L, 1L, 20L, 2L, 10L}) pending.push_back(pool.submit(sleep_ms_then_echo, ms));
    const auto submitted = pending;
    while (!pending.empty()) {
      const TaskHandle h = pool.next_completed(pending);
      order.push_back(h.id);
      values[h.id] = pool.result(h);
    }
    REQUIRE(order.size() == submitted.size());
    std::set<long> unique(order.begin(), order.end());
    CHECK(unique.size() == submitted.size());  // each once
    for (std::size_t i = 0; i < submitted.size(); ++i) CHECK(unique.count(submitted[i].id) == 1);
    CHECK(values[submitted[0].id] == 200);
    CHECK(values[submitted[1].id] == 1);
    CHECK(order.back() == submitted[0].id);  // the 200 ms task finishes last: 1+20+2+10 ms run beside it
  }
  CHECK(mp_test::no_children_left());
}

TEST_CASE("pool results equal the sequential results and the spans come from the workers", "[multiprocessing]") {
  const std::vector<long> blocks = {0, 1, 2, 3};
  pg::Timeline sequential("sequential");
  const auto expected = blocks_sequentially(blocks, sequential);
  CHECK(expected[0] == 9'592);  // pi(100,000)
  pg::Timeline timeline("as_completed");
  std::vector<pid_t> workers;
  {
    ProcessPool pool(2, &timeline);
    workers = pool.worker_pids();
    auto done = blocks_as_completed(pool, blocks);
    std::sort(done.begin(), done.end());
    REQUIRE(done.size() == blocks.size());
    for (std::size_t i = 0; i < blocks.size(); ++i) {
      CHECK(done[i].first == blocks[i]);
      CHECK(done[i].second == expected[i]);
    }
    CHECK(pool.map(count_primes_in_block, blocks) == expected);
  }
  const auto spans = timeline.spans();
  CHECK(spans.size() == 2 * blocks.size());  // as_completed, then map
  for (const auto& s : spans) {
    CHECK(std::find(workers.begin(), workers.end(), s.pid) != workers.end());
    CHECK(s.start >= timeline.origin());
    CHECK(s.end >= s.start);
  }
  CHECK(mp_test::no_children_left());
}

TEST_CASE("pool: CPU work on 2 workers is at least 1.5x faster than sequential", "[multiprocessing][timing]") {
  // 16 blocks: about half a second sequentially, long enough that a short test running beside this
  // one (ctest runs two at a time) disturbs only part of an attempt.
  std::vector<long> blocks;
  for (long b = 0; b < 16; ++b) blocks.push_back(b);
  std::vector<long> expected;
  {
    ProcessPool pool(2);
    // The workers live on between tries, so their CPU time is read from /proc, not from RUSAGE_CHILDREN.
    // check_speedup (tests/support.hpp) skips, with the figures, on a busy machine.
    test_support::check_speedup(
        1.5,
        [&] {
          pg::Timeline sequential("sequential");
          expected = blocks_sequentially(blocks, sequential);
        },
        [&] { REQUIRE(pool.map(count_primes_in_block, blocks) == expected); },
        [&] { return test_support::cpu_ms_of_processes(pool.worker_pids()); });
  }
  CHECK(mp_test::no_children_left());
}

TEST_CASE("a worker killed with SIGKILL mid-task gives BrokenProcessPool within a bounded time", "[multiprocessing]") {
  {
    ProcessPool pool(1);
    const TaskHandle victim = pool.submit(sleep_ms_then_echo, 60'000);  // would run a minute
    const TaskHandle queued = pool.submit(square, 4);                   // waits behind it: one worker
    const pid_t worker = pool.worker_running(victim);
    REQUIRE(worker > 0);
    std::this_thread::sleep_for(20ms);  // let the worker start the task
    REQUIRE(::kill(worker, SIGKILL) == 0);

    pg::Stopwatch clock;
    std::string error;
    try {
      pool.result(victim, 5s);
    } catch (const BrokenProcessPool& e) {
      error = e.what();
    }
    CHECK(clock.elapsed() < 3s);  // not the minute the task would have taken, nor the 5 s limit
    CHECK(error.find(fmt::format("worker process {} was killed by signal 9 (Killed)", worker)) != std::string::npos);
    CHECK(error.find(fmt::format("while running task {}", victim.id)) != std::string::npos);
    CHECK(pool.broken());
    // The queued task is affected too, and new work is refused; neither waits.
    CHECK_THROWS_AS(pool.result(queued, 1s), BrokenProcessPool);
    CHECK_THROWS_AS(pool.submit(square, 5), BrokenProcessPool);
    CHECK_FALSE(process_exists(worker));  // already reaped by the pool
  }
  CHECK(mp_test::no_children_left());
}

TEST_CASE("a task that throws gives TaskFailed and the worker lives on", "[multiprocessing]") {
  {
    ProcessPool pool(1);
    std::string error;
    try {
      pool.result(pool.submit(integer_sqrt, -4));
    } catch (const TaskFailed& e) {
      error = e.what();
    }
    CHECK(error == "integer_sqrt of negative number -4");
    CHECK_FALSE(pool.broken());
    CHECK(pool.result(pool.submit(integer_sqrt, 49)) == 7);
    // Something that is not a std::exception is caught in the worker too.
    CHECK_THROWS_WITH(pool.result(pool.submit(throw_a_number, 5)), contains_text("not a std::exception"));
    CHECK_FALSE(pool.broken());
    CHECK(pool.result(pool.submit(square, 5)) == 25);
  }
  CHECK(mp_test::no_children_left());
}

TEST_CASE("a worker that crashes breaks the pool with a message naming the signal", "[multiprocessing]") {
  {
    ProcessPool pool(2);
    const TaskHandle doomed = pool.submit(crash_worker, 0);
    CHECK_THROWS_WITH(pool.result(doomed, 5s), contains_text("was killed by signal 6"));
    CHECK(pool.broken());
  }
  CHECK(mp_test::no_children_left());
}

TEST_CASE("after shutdown no worker process remains", "[multiprocessing]") {
  ProcessPool pool(3);
  const auto pids = pool.worker_pids();
  REQUIRE(pids.size() == 3);
  for (pid_t pid : pids) CHECK(process_exists(pid));
  CHECK(pool.result(pool.submit(square, 9)) == 81);
  // Shutdown has a 10 s limit, but idle workers leave at once when their task pipe closes: a pool
  // that had to wait out the limit and kill them would fail both checks below.
  pg::Stopwatch clock;
  pool.shutdown();
  CHECK(clock.elapsed() < 3s);
  CHECK(pool.worker_endings() == std::vector<std::string>(3, "exited with code 0"));
  for (pid_t pid : pids) CHECK_FALSE(process_exists(pid));
  CHECK(mp_test::no_children_left());
  CHECK_THROWS_AS(pool.submit(square, 1), std::logic_error);
}

TEST_CASE("shutdown is bounded: a worker still busy at the time limit is killed and reaped", "[multiprocessing]") {
  ProcessPool pool(1);
  const TaskHandle h = pool.submit(sleep_ms_then_echo, 60'000);
  pg::Stopwatch clock;
  pool.shutdown(200ms);
  CHECK(clock.elapsed() >= 200ms);
  CHECK(clock.elapsed() < 5s);
  CHECK(mp_test::no_children_left());
  CHECK_THROWS_WITH(pool.result(h, 1s), contains_text("was killed by signal 9 (Killed) while running task 0"));
}

TEST_CASE("a program started while the pool is alive does not hold up its shutdown", "[multiprocessing]") {
  // The program inherits no pipe end (they are close-on-exec), so closing the task pipes still gives
  // every worker end of file, and shutdown takes milliseconds, not its 10 s limit.
  pid_t sleeper = 0;
  double shutdown_ms = 0;
  std::vector<std::string> endings;
  {
    ProcessPool pool(2);
    CHECK(pool.result(pool.submit(square, 3)) == 9);
    char program[] = "sleep";
    char seconds[] = "30";
    char* argv[] = {program, seconds, nullptr};
    REQUIRE(::posix_spawnp(&sleeper, "sleep", nullptr, nullptr, argv, environ) == 0);
    pg::Stopwatch clock;
    pool.shutdown();
    shutdown_ms = clock.elapsed_ms();
    endings = pool.worker_endings();
  }
  const bool sleeper_was_running = process_exists(sleeper);
  ::kill(sleeper, SIGKILL);
  int status = 0;
  ::waitpid(sleeper, &status, 0);
  INFO("shutdown took " << shutdown_ms << " ms");
  CHECK(sleeper_was_running);
  CHECK(shutdown_ms < 3000);
  CHECK(endings == std::vector<std::string>(2, "exited with code 0"));  // none had to be killed
  CHECK(mp_test::no_children_left());
}

TEST_CASE("SIGPIPE is ignored while a pool is alive and restored after the last one shuts down", "[multiprocessing]") {
  auto sigpipe_action = [] {
    struct sigaction now {};
    ::sigaction(SIGPIPE, nullptr, &now);
    return now.sa_handler;
  };
  const auto before = sigpipe_action();
  REQUIRE(before != SIG_IGN);  // the test runner leaves SIGPIPE at its default
  {
    ProcessPool first(1);
    CHECK(sigpipe_action() == SIG_IGN);
    {
      ProcessPool second(1);
      CHECK(sigpipe_action() == SIG_IGN);
      first.shutdown();
      CHECK(sigpipe_action() == SIG_IGN);  // the second pool still writes to its worker
    }
    CHECK(sigpipe_action() == before);
  }
  CHECK(sigpipe_action() == before);
  CHECK(mp_test::no_children_left());
}

// RLIMIT_NPROC counts threads as well as processes, and ThreadSanitizer starts a background thread of its
// own in the forked test process: under it, one more task must be allowed for the same workers to start.
#if defined(__SANITIZE_THREAD__)
constexpr int sanitizer_threads = 1;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
constexpr int sanitizer_threads = 1;
#else
constexpr int sanitizer_threads = 0;
#endif
#else
constexpr int sanitizer_threads = 0;
#endif

TEST_CASE("a constructor that fails halfway leaves no worker and no open pipe behind", "[multiprocessing]") {
  // In a forked copy of the test process, lower a limit so that the first workers start but a later
  // pipe2() (open files: worker 0 needs 4 descriptors and keeps 2, so 4 more fail at worker 1 and 6 at
  // worker 2) or fork() (processes: 1 or 2 more) fails. The constructor throws after forking workers;
  // their owners must kill and reap them and close every pipe, and SIGPIPE must get its action back.
  const auto start = [] { ProcessPool pool(3); };
  const auto sigpipe_restored = [] {
    struct sigaction sigpipe {};
    ::sigaction(SIGPIPE, nullptr, &sigpipe);
    return sigpipe.sa_handler != SIG_IGN;
  };
  REQUIRE(sigpipe_restored());
  int ran = 0;
  for (int more : {1, 2}) {
    if (mp_test::descriptor_limit_usable) {
      INFO("open files, " << 2 + 2 * more << " more allowed");
      const std::string answer = mp_test::fail_halfway(mp_test::Exhaust::descriptors, 2 + 2 * more, start);
      CHECK_THAT(answer, contains_text("pipe2: Too many open files; children forked: true; children left: false; "
                                       "descriptors leaked: false"));
      ++ran;
    }
    INFO("processes, " << more << " more allowed (plus " << sanitizer_threads << " for the sanitizer's own thread)");
    const std::string answer = mp_test::fail_halfway(mp_test::Exhaust::processes, more + sanitizer_threads, start);
    if (answer == "skipped") continue;
    CHECK_THAT(answer, contains_text("fork: Resource temporarily unavailable; children forked: true; children left: "
                                     "false; descriptors leaked: false"));
    ++ran;
  }
  // SIGPIPE: checked in one more forked test process, where the constructor fails the same way.
  if (mp_test::descriptor_limit_usable) {
    const std::string answer = mp_test::run_in_forked_test_process([&] {
      const rlimit old = mp_test::allow_only_more_descriptors(4);
      try {
        ProcessPool pool(3);
      } catch (const std::system_error&) {
      }
      ::setrlimit(RLIMIT_NOFILE, &old);
      return std::string(sigpipe_restored() ? "restored" : "still ignored");
    });
    CHECK(answer == "restored");
  }
  if (ran == 0) std::printf("SKIPPED: needs root to limit processes, and open files cannot be limited under UBSan\n");
  CHECK(mp_test::no_children_left());
}

TEST_CASE("a round trip costs microseconds: far more than a call and far less than a block of work",
          "[multiprocessing]") {
  // "Far less than a block of work" is checked against a block timed in this same run, so a busy
  // machine slows both sides: a round trip must cost under a tenth of count_primes_in_block(10) (a
  // few milliseconds of work; a round trip is tens of microseconds). A pool a hundred times slower
  // than it should be (a poll that sleeps, a worker that waits) fails that. Best of three tries.
  ProcessPool pool(1);
  double best_round_trip_us = 1e12;
  double best_block_us = 1e12;
  double pipelined_us = 0;
  for (int attempt = 0; attempt < 3; ++attempt) {
    pg::Stopwatch block_clock;
    CHECK(count_primes_in_block(10) == 7'216);
    best_block_us = std::min(best_block_us, block_clock.elapsed_ms() * 1000.0);
    const RoundTrip cost = measure_round_trip(pool, 200);
    best_round_trip_us = std::min(best_round_trip_us, cost.one_at_a_time_us);
    pipelined_us = cost.pipelined_us;
  }
  INFO("round trip one at a time: " << best_round_trip_us << " us, with map: " << pipelined_us
                                    << " us, one block of work: " << best_block_us << " us");
  CHECK(best_round_trip_us > 1.0);  // four system calls and two wake-ups: never under a microsecond
  CHECK(pipelined_us > 1.0);
  CHECK(best_round_trip_us < best_block_us / 10);
  pool.shutdown();
  CHECK(mp_test::no_children_left());
}

TEST_CASE("process_pool_executor: the program runs and rejects bad flags with exit status 2",
          "[multiprocessing][flags]") {
  using test_support::run_program;
  test_support::check_rejects_bad_flags(
      LESSON_BINARY, {{"--workers", "x"}, {"--workers", "0"}, {"--tasks", "-1"}, {"--tasks", "1000"}, {"--bogus"}});
  const std::string path = fmt::format("/tmp/playground-pool-{}.json", ::getpid());
  auto ok = run_program(LESSON_BINARY, {"--workers", "2", "--tasks", "3", "--round-trips", "50", "--trace", path});
  CHECK(ok.exit_code == 0);
  CHECK(ok.out.find("same as sequential: true") != std::string::npos);
  CHECK(ok.out.find("TaskFailed: integer_sqrt of negative number -4") != std::string::npos);
  CHECK(ok.out.find("was killed by signal 6") != std::string::npos);
  CHECK(ok.out.find("shutdown: every worker reaped; how each ended: [\"was killed by signal 6 (Aborted)\", \"exited "
                    "with code 0\"]") != std::string::npos);
  auto events = test_support::read_trace(path);
  std::remove(path.c_str());
  int spans = 0;
  for (const auto& e : events) {
    if (e.phase != 'X') continue;
    ++spans;
    CHECK(e.dur >= 0);
    if (e.category != "sequential") CHECK(ok.out.find(std::to_string(e.pid)) != std::string::npos);  // a worker pid
  }
  CHECK(spans == 3 * 3);  // sequential, as_completed and map: 3 blocks each
  CHECK(mp_test::no_children_left());
}
