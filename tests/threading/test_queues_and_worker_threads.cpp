// Checks the claims of threading/queues_and_worker_threads.cpp on the lesson's own functions.
#include "threading/queues_and_worker_threads.cpp"

#include "catch.hpp"
#include "support.hpp"

#include <cstdlib>
#include <latch>
#include <map>
#include <set>

TEST_CASE("workers: every job processed exactly once, the failing one reported", "[threading]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(20),
                                        "workers: every job processed exactly once, the failing one reported");
  std::vector<int> values;
  for (int i = 0; i < 30; ++i) values.push_back(i == 7 ? -7 : i);
  pg::Timeline timeline("workers");
  const auto report = run_pipeline(values, 4, std::chrono::milliseconds(1), timeline);
  REQUIRE(report.outcomes.size() == values.size());
  std::map<int, int> times_seen;
  std::set<int> workers_used;
  for (const auto& o : report.outcomes) {
    ++times_seen[o.job];
    workers_used.insert(o.worker);
    if (o.job == 7) {
      CHECK_FALSE(o.result.has_value());
      CHECK(o.error == "job 7: negative value -7");
    } else {
      REQUIRE(o.result.has_value());
      CHECK(*o.result == o.job * o.job);
    }
  }
  CHECK(times_seen.size() == values.size());
  for (const auto& [job, n] : times_seen) CHECK(n == 1);
  for (const int worker : workers_used) CHECK((worker >= 0 && worker < 4));
  CHECK(report.workers_exited == 4);  // one sentinel each: all workers returned, and were joined
  CHECK(timeline.spans().size() == values.size());
}

TEST_CASE("a failing job is reported and its worker carries on with the next jobs", "[threading]") {
  // One worker, so the jobs after the failing one can only be done if that worker is still running.
  // (A worker that quit on the error would leave them queued, and join() would wait for ever: the
  // watchdog then ends the test.)
  const test_support::Watchdog watchdog(std::chrono::seconds(10), "a failing job's worker carries on");
  pg::Timeline timeline("one worker");
  const auto report = run_pipeline({1, -2, 3, 4}, 1, std::chrono::milliseconds(1), timeline);
  REQUIRE(report.outcomes.size() == 4);
  for (std::size_t i = 0; i < report.outcomes.size(); ++i) {
    const auto& o = report.outcomes[i];
    CHECK(o.job == static_cast<int>(i));  // one worker takes the jobs in queue order
    CHECK(o.worker == 0);
    CHECK(o.result.has_value() == (o.job != 1));
  }
  CHECK(report.outcomes[1].error == "job 1: negative value -2");
  CHECK(*report.outcomes[3].result == 16);
  CHECK(report.workers_exited == 1);  // and it exited at its sentinel, not at the error
}

TEST_CASE("workers run jobs at the same time, join() returns when all are done", "[threading]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(20),
                                        "workers run jobs at the same time, join() returns when all are done");
  const std::chrono::milliseconds work{40};
  pg::Timeline timeline("workers");
  const auto report = run_pipeline({1, 2, 3, 4, 5, 6}, 3, work, timeline);
  const auto spans = timeline.spans();
  REQUIRE(spans.size() == 6);
  pg::Clock::time_point last_end = timeline.origin();
  for (const auto& s : spans) last_end = std::max(last_end, s.end);
  CHECK(report.join_returned_at >= last_end);    // not before the last job ended
  CHECK(report.join_returned_ms >= 2 * 40);      // 6 jobs on 3 workers: two rounds at least
  CHECK(report.join_returned_ms < 6 * 40 - 20);  // one worker alone would need 6 rounds
  std::set<int> workers_used;
  for (const auto& o : report.outcomes) workers_used.insert(o.worker);
  CHECK(workers_used.size() >= 2);  // implied by the time above, and said outright
}

TEST_CASE("join() returns only after every task_done()", "[threading]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(20), "join() returns only after every task_done()");
  BlockingQueue<int> queue;
  for (int i = 0; i < 3; ++i) queue.put(i);
  std::atomic<int> done{0};
  pg::Stopwatch clock;  // started before the consumer, whose three 20 ms tasks all lie ahead of it
  std::thread consumer([&] {
    for (int i = 0; i < 3; ++i) {
      queue.get();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      done.fetch_add(1);
      queue.task_done();
    }
  });
  queue.join();
  const int done_at_join = done.load();
  const double waited = clock.elapsed_ms();
  consumer.join();
  CHECK(done_at_join == 3);
  CHECK(waited >= 3 * 20 - 1);
  CHECK(queue.size() == 0);
  CHECK_THROWS_AS(queue.task_done(), std::logic_error);  // more task_done() than items
}

TEST_CASE("a full bounded queue blocks the producer until a consumer takes", "[threading]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(20),
                                        "a full bounded queue blocks the producer until a consumer takes");
  BlockingQueue<int> queue(1);
  queue.put(1);  // now full
  std::atomic<bool> second_put_returned{false};
  pg::Stopwatch clock;
  std::thread producer([&] {
    queue.put(2);  // must wait
    second_put_returned.store(true);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const bool returned_early = second_put_returned.load();
  const int first = queue.get();  // make room
  producer.join();
  const double put_took = clock.elapsed_ms();
  CHECK_FALSE(returned_early);
  CHECK(first == 1);
  CHECK(second_put_returned.load());
  CHECK(put_took >= 50);
  CHECK(queue.get() == 2);
  CHECK(queue.peak_size() == 1);
}

TEST_CASE("backpressure: the producer runs at the consumer's pace, never more than capacity waiting", "[threading]") {
  const test_support::Watchdog watchdog(
      std::chrono::seconds(20),
      "backpressure: the producer runs at the consumer's pace, never more than capacity waiting");
  pg::Timeline timeline("backpressure");
  const auto report = run_backpressure(6, 2, std::chrono::milliseconds(20), timeline);
  CHECK(report.max_waiting <= 2);
  CHECK(report.max_waiting >= 1);
  // 6 items, 2 fit at once: the producer waited for at least 6 - 2 - 1 = 3 consumes (the consumer
  // holds one item while working on it).
  CHECK(report.producer_ms >= 3 * 20 - 1);
  CHECK(timeline.spans().size() == 12);  // 6 puts + 6 consumes
}

TEST_CASE("4 producers x 4 consumers x 100,000 items through a bounded queue give the exact sum", "[threading]") {
  const test_support::Watchdog watchdog(
      std::chrono::seconds(20), "4 producers x 4 consumers x 100,000 items through a bounded queue give the exact sum");
  constexpr int producers = 4;
  constexpr int consumers = 4;
  constexpr long per_producer = 100'000;
  BlockingQueue<std::optional<long>> queue(1'000);
  std::vector<long long> sums(consumers, 0);  // one slot per consumer: no sharing while they run
  std::vector<long> counts(consumers, 0);
  std::vector<std::thread> threads;
  for (int c = 0; c < consumers; ++c) {
    threads.emplace_back([&, c] {
      while (auto item = queue.get()) {
        sums[static_cast<std::size_t>(c)] += *item;
        ++counts[static_cast<std::size_t>(c)];
        queue.task_done();
      }
      queue.task_done();  // for the sentinel
    });
  }
  std::vector<std::thread> producer_threads;
  for (int p = 0; p < producers; ++p) {
    producer_threads.emplace_back([&, p] {
      for (long i = 0; i < per_producer; ++i) queue.put(p * per_producer + i + 1);  // 1 .. 400,000
    });
  }
  for (auto& t : producer_threads) t.join();
  queue.join();
  for (int c = 0; c < consumers; ++c) queue.put(std::nullopt);
  for (auto& t : threads) t.join();

  constexpr long long n = producers * per_producer;
  long long total = 0;
  long received = 0;
  for (int c = 0; c < consumers; ++c) {
    total += sums[static_cast<std::size_t>(c)];
    received += counts[static_cast<std::size_t>(c)];
  }
  CHECK(received == n);
  CHECK(total == n * (n + 1) / 2);
  CHECK(queue.peak_size() <= 1'000);
}

TEST_CASE("the lesson program rejects bad flags and runs with small ones", "[threading][flags]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(50),
                                        "the lesson program rejects bad flags and runs with small ones");
  using test_support::run_program;
  test_support::check_rejects_bad_flags(LESSON_BINARY, {{"--capacity", "0"}, {"--workers", "three"}, {"--bogus"}});
  const std::string path = fmt::format("/tmp/playground-queues-trace-{}.json", ::getpid());
  auto ok = run_program(LESSON_BINARY, {"--workers", "2", "--jobs", "5", "--job-ms", "5", "--failing-job", "1",
                                        "--items", "4", "--capacity", "1", "--consume-ms", "5", "--trace", path});
  INFO("stdout: " << ok.out << "\nstderr: " << ok.err);
  CHECK(ok.exit_code == 0);
  CHECK(ok.out.find("job 1 FAILED: job 1: negative value -1") != std::string::npos);
  CHECK(ok.out.find("2 sentinels sent, 2 of 2 workers exited") != std::string::npos);
  auto events = test_support::read_trace(path);
  std::remove(path.c_str());
  int spans = 0;
  for (const auto& e : events) spans += e.phase == 'X' ? 1 : 0;
  CHECK(spans == 5 + 4 + 4);  // 5 jobs, 4 puts, 4 consumes
}

TEST_CASE("workers are numbered like every lesson's threads: main is thread 1, workers 2 and up", "[threading]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(20), "thread numbers");
  REQUIRE(pg::thread_number() == 1);  // this test runs on the main thread
  pg::Timeline timeline("workers");
  const auto report = run_pipeline({1, 2, 3, 4}, 2, std::chrono::milliseconds(1), timeline);
  REQUIRE(report.outcomes.size() == 4);
  for (const auto& o : report.outcomes) CHECK(o.thread >= 2);
  for (const auto& s : timeline.spans()) CHECK(s.thread >= 2);
}

TEST_CASE("join() called by several threads: the last task_done() wakes every one of them", "[threading]") {
  // task_done() must notify_all: with notify_one, one joiner wakes and the others wait for ever.
  const test_support::Watchdog watchdog(std::chrono::seconds(10),
                                        "join() called by several threads: some joiner was never woken. Does "
                                        "task_done() wake only one of them (notify_one instead of notify_all)?");
  constexpr int joiners = 3;
  BlockingQueue<int> queue;
  queue.put(1);
  std::latch joining(joiners);
  std::atomic<int> returned{0};
  {
    std::vector<std::jthread> threads;
    for (int j = 0; j < joiners; ++j) {
      threads.emplace_back([&] {
        joining.count_down();
        queue.join();
        returned.fetch_add(1);
      });
    }
    joining.wait();
    std::this_thread::sleep_for(std::chrono::milliseconds(30));  // time for all three to wait in join()
    CHECK(returned.load() == 0);                                 // nothing was done yet
    queue.get();
    queue.task_done();
  }  // the jthreads join here, once each join() has returned
  CHECK(returned.load() == joiners);
}

TEST_CASE("several producers, a small queue and a slow consumer: no wake-up is lost, nothing hangs", "[threading]") {
  // Producers pile up waiting for room. A get() that wakes a producer only in some cases (say, only
  // when the queue was full before it took an item) loses a wake-up as soon as two items are taken
  // between two puts: a producer then sleeps beside a queue with room, and at the end the consumer
  // waits for items that producer never puts.
  const test_support::Watchdog watchdog(std::chrono::seconds(30),
                                        "several producers, a small queue: a producer or the consumer waited for "
                                        "ever. Does every get() wake a waiting put()?");
  constexpr int producers = 4;
  constexpr int per_producer = 300;
  for (int round = 0; round < 20; ++round) {  // each round's end is a fresh chance for a lost wake-up
    BlockingQueue<int> queue(2);
    std::vector<int> received;
    {
      std::vector<std::jthread> threads;
      threads.emplace_back([&] {
        for (int i = 0; i < producers * per_producer; ++i) {
          received.push_back(queue.get());
          if (i % 16 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));  // slow now and then
        }
      });
      for (int p = 0; p < producers; ++p) {
        threads.emplace_back([&, p] {
          for (int i = 0; i < per_producer; ++i) queue.put(p * per_producer + i);
        });
      }
    }  // every jthread joins here
    std::sort(received.begin(), received.end());
    std::vector<int> expected(producers * per_producer);
    for (std::size_t i = 0; i < expected.size(); ++i) expected[i] = static_cast<int>(i);
    REQUIRE(received == expected);
    REQUIRE(queue.peak_size() <= 2);
  }
}

TEST_CASE("queues_and_worker_threads program: many jobs print a few lines, the numbers are explained",
          "[threading][flags]") {
  auto r = test_support::run_program(LESSON_BINARY,
                                     {"--jobs", "300", "--job-ms", "0", "--failing-job", "150", "--items", "2"});
  INFO("stdout: " << r.out);
  CHECK(r.exit_code == 0);
  // The lines come in completion order, so the failing job may be among those shown or those hidden:
  // either way it is told exactly once.
  const std::string hidden_text = "... 290 more jobs not shown (";
  const auto hidden_at = r.out.find(hidden_text);
  REQUIRE(hidden_at != std::string::npos);
  const int hidden_failures = std::atoi(r.out.c_str() + hidden_at + hidden_text.size());  // "(N of them failed)"
  int shown_failures = 0;
  for (auto at = r.out.find("job 150 FAILED"); at != std::string::npos; at = r.out.find("job 150 FAILED", at + 1))
    ++shown_failures;
  CHECK(hidden_failures + shown_failures == 1);
  CHECK(std::count(r.out.begin(), r.out.end(), '\n') < 80);
  CHECK(r.out.find("worker 0 need not be thread 2") != std::string::npos);
  CHECK(r.out.find("this takes about") == std::string::npos);  // a short run needs no estimate
  // A run of a second or more says so before it starts.
  r = test_support::run_program(LESSON_BINARY, {"--jobs", "1", "--job-ms", "1000", "--items", "0"});
  INFO("stdout: " << r.out);
  CHECK(r.exit_code == 0);
  const auto estimate = r.out.find("this takes about 1 s (jobs / workers x job-ms)");
  CHECK(estimate != std::string::npos);
  CHECK(estimate < r.out.find("workers: 1 span"));  // before the run's chart
}
