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

// One condition variable for both directions (put() also waits on not_empty_, get() notifies it after
// making room) works with one consumer: the only thread that can be waiting is the producer. With
// several consumers, get()'s notify_one can wake another consumer on an empty queue instead of the
// producer waiting on a full one; that consumer goes back to sleep, the producer is never woken, and
// everything stops. Three consumers on a queue of capacity 1 meet that within a few hundred items.
TEST_CASE("full_queue_waits: one producer and three consumers never stop each other", "[exercise]") {
  const test_support::Watchdog watchdog(
      std::chrono::seconds(5),
      "full_queue_waits: with 1 producer and 3 consumers, put() or get() waited for ever. Does one condition "
      "variable serve both directions? Then get()'s notify_one can wake another consumer instead of the "
      "waiting producer (give each direction its own condition variable)");
  constexpr int consumers = 3;
  constexpr int items_each = 2000;
  constexpr int items = consumers * items_each;
  constexpr std::size_t capacity = 1;
  BoundedQueue<int> queue(capacity);
  std::vector<std::vector<int>> received(consumers);
  {
    std::vector<std::jthread> threads;
    for (int c = 0; c < consumers; ++c) {
      threads.emplace_back([&queue, &mine = received[static_cast<std::size_t>(c)]] {
        for (int i = 0; i < items_each; ++i) mine.push_back(queue.get());
      });
    }
    threads.emplace_back([&queue] {
      for (int i = 0; i < items; ++i) queue.put(i);
    });
  }  // every jthread joins here

  std::vector<int> all;
  for (const auto& mine : received) {
    CHECK(std::is_sorted(mine.begin(), mine.end()));  // one producer: each consumer sees its items in order
    all.insert(all.end(), mine.begin(), mine.end());
  }
  std::sort(all.begin(), all.end());
  std::vector<int> expected(items);
  for (int i = 0; i < items; ++i) expected[static_cast<std::size_t>(i)] = i;
  if (all != expected) FAIL("the consumers got " << all.size() << " items, not each of 0.." << items - 1 << " once");
  if (queue.peak_size() > capacity) {
    FAIL("the queue held " << queue.peak_size() << " items at once with a capacity of " << capacity);
  }
}
