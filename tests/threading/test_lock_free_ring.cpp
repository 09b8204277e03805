// Checks the claims of threading/lock_free_ring.cpp on the lesson's own functions. The speeds
// (ring vs queue, one cache line vs two) are measurements the lesson prints, not claims tested here.
#include "threading/lock_free_ring.cpp"

#include <cstdint>

#include "catch.hpp"
#include "support.hpp"

TEST_CASE("ring on one thread: empty, full, then items in order across many wrap-arounds", "[threading]") {
  SpscRing<long> ring(4);
  CHECK(ring.capacity() == 4);
  CHECK_FALSE(ring.try_pop().has_value());  // empty from the start
  for (long i = 0; i < 4; ++i) CHECK(ring.try_push(i));
  CHECK_FALSE(ring.try_push(99));  // full: refused, not written over item 0
  CHECK(ring.try_pop() == 0);
  CHECK(ring.try_push(4));  // one slot free again
  CHECK_FALSE(ring.try_push(99));
  long expected = 1;
  for (long next = 5; next < 1'000; ++next) {  // 250 times around the ring
    CHECK(ring.try_pop() == expected++);
    CHECK(ring.try_push(next));
  }
  while (auto item = ring.try_pop()) CHECK(*item == expected++);
  CHECK(expected == 1'000);
  CHECK_FALSE(ring.try_pop().has_value());
  CHECK_THROWS_AS(SpscRing<long>(0), std::invalid_argument);
}

TEST_CASE("ring on two threads: every item arrives once and in order (2,000,000 items)", "[threading]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(50), "ring transfer");
  pg::Timeline timeline("passing items");
  for (std::size_t capacity : {std::size_t{1}, std::size_t{1024}}) {
    const long items = capacity == 1 ? 2'000 : 2'000'000;  // through one slot, every item waits
    const auto report = through_ring(items, capacity, {}, {}, timeline);
    INFO("capacity " << capacity);
    CHECK(report.received == items);
    CHECK(report.out_of_order == 0);
  }
  CHECK(timeline.spans().size() == 4);
}

TEST_CASE("a producer that outruns the consumer: the ring fills, the producer waits, nothing is lost", "[threading]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(30), "slow consumer");
  pg::Timeline timeline("slow consumer");
  // The consumer sleeps 1 ms every 500 items; in that time the producer fills the 16 slots and waits.
  const auto report = through_ring(10'000, 16, {}, {500, 1ms}, timeline);
  CHECK(report.received == 10'000);
  CHECK(report.out_of_order == 0);
  CHECK(report.full_waits > 0);
}

TEST_CASE("a consumer that outruns the producer: the ring runs dry, the consumer waits, nothing is lost",
          "[threading]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(30), "slow producer");
  pg::Timeline timeline("slow producer");
  const auto report = through_ring(10'000, 16, {500, 1ms}, {}, timeline);
  CHECK(report.received == 10'000);
  CHECK(report.out_of_order == 0);
  CHECK(report.empty_waits > 0);
}

TEST_CASE("the mutex-and-condvar baseline passes every item once and in order", "[threading]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(50), "queue transfer");
  pg::Timeline timeline("passing items");
  const auto report = through_queue(200'000, 16, timeline);
  CHECK(report.received == 200'000);
  CHECK(report.out_of_order == 0);
}

TEST_CASE("false sharing: the same counts with the counters in one cache line or a line apart", "[threading]") {
  const auto line_of = [](const std::atomic<long>& counter) {
    return reinterpret_cast<std::uintptr_t>(&counter) / cache_line;  // the number of its cache line
  };
  const CountersInOneLine one_line;
  const CountersInTwoLines two_lines;
  CHECK(line_of(one_line.a) == line_of(one_line.b));
  CHECK(line_of(two_lines.a) != line_of(two_lines.b));
  pg::Timeline timeline("false sharing");
  const auto one = count_on_two_threads<CountersInOneLine>(100'000, "one line", timeline);
  const auto two = count_on_two_threads<CountersInTwoLines>(100'000, "two lines", timeline);
  CHECK(one.a == 100'000);
  CHECK(one.b == 100'000);
  CHECK(two.a == 100'000);
  CHECK(two.b == 100'000);
  CHECK(timeline.spans().size() == 4);
}

TEST_CASE("lock_free_ring program: figures printed, every item received, bad flags rejected", "[threading][flags]") {
  test_support::check_rejects_bad_flags(LESSON_BINARY, {{"--capacity", "0"}, {"--items", "many"}, {"--bogus"}});
  auto r =
      test_support::run_program(LESSON_BINARY, {"--items", "100000", "--capacity", "64", "--increments", "100000"});
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("ring  (lock-free):          100000 of 100000 received, 0 out of order") != std::string::npos);
  CHECK(r.out.find("queue (mutex + condvars):   100000 of 100000 received, 0 out of order") != std::string::npos);
  CHECK(r.out.find("x the items per second") != std::string::npos);
  CHECK(r.out.find("(one cache line): 100000 and 100000 in ") != std::string::npos);
  CHECK(r.out.find("false sharing cost ") != std::string::npos);
}
