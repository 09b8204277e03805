// Checks the claims of multiprocessing/process_pool_executor.cpp on the lesson's own ProcessPool.
//
// The pool forks its workers in the test process. That is safe because Catch2 runs tests on one
// thread and starts none, and a worker never returns into the test runner (worker_main ends in
// _exit). ThreadSanitizer follows these forks (the workers start no threads), so every test runs in
// all three presets. Every test ends by checking that no child process, running or zombie, is left.
// (TEST_CASE names hold no commas or semicolons: CTest's Catch2 discovery splits a name there.)
#include "multiprocessing/process_pool_executor.cpp"

#include <set>

#include "catch.hpp"
#include "multiprocessing/children.hpp"
#include "support.hpp"

namespace {
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

TEST_CASE("map against one task at a time is said to be faster or slower the right way round", "[multiprocessing]") {
  CHECK(compare_per_task({100, 50}) == "map() is 2.0x faster per task");
  CHECK(compare_per_task({90, 100}) == "map() is 1.1x slower per task");  // was "0.9x faster"
  CHECK(compare_per_task({100, 98}) == "map() is about as fast per task (within 5%)");
  CHECK(compare_per_task({100, 0}).find("faster") != std::string::npos);  // no division by zero
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
