// Test for the exercise full_queue_waits: with a slow consumer, the queue never holds more than its
// capacity, and every item arrives once, in order (a watchdog ends a producer that waits for ever).
#include EXERCISE_SOURCE

#include "catch.hpp"
#include "support.hpp"

TEST_CASE("full_queue_waits: a fast producer is held to the capacity, nothing lost", "[exercise]") {
  const test_support::Watchdog watchdog(
      std::chrono::seconds(5),
      "full_queue_waits: deliver() never returned. Is the producer waiting for room that nobody announces? "
      "(get() must wake a waiting put())");
  constexpr int items = 200;
  constexpr std::size_t capacity = 4;
  const Delivery delivery = deliver(items, capacity, std::chrono::microseconds(200));

  std::vector<int> expected(items);
  for (int i = 0; i < items; ++i) expected[static_cast<std::size_t>(i)] = i;
  if (delivery.received != expected) {
    FAIL("the consumer got " << delivery.received.size() << " items, not 0.." << items - 1
                             << " in order: a full queue must make put() wait, not drop or reorder items");
  }
  if (delivery.peak > capacity) {
    FAIL("the queue held " << delivery.peak << " items at once with a capacity of " << capacity
                           << ": put() must wait while the queue is full");
  }
  CHECK(delivery.peak >= 1);
}
