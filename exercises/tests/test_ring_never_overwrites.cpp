// Test for the exercise ring_never_overwrites: with a consumer that falls behind, every item still
// arrives once and in order (a watchdog ends a producer that waits for ever on a ring it believes
// full). Built against the exercise (EXERCISE_SOURCE) and, for CI, against its solution.
#include EXERCISE_SOURCE

#include "catch.hpp"
#include "support.hpp"

TEST_CASE("ring_never_overwrites: a consumer that falls behind still gets every item, in order", "[exercise]") {
  const test_support::Watchdog watchdog(
      std::chrono::seconds(50),
      "ring_never_overwrites: pass_items() never returned. Does try_push() ever see the consumer's progress? "
      "(it must read head_ again when the ring looks full)");
  // The consumer sleeps 1 ms every 200 items: in that time the producer fills the slots and must
  // then wait. A ring that takes even one item too many writes over an unread one here. (Fewer items
  // through one slot: each of them waits for the other thread, which is slow on a busy machine.)
  for (const std::size_t capacity : {std::size_t{1}, std::size_t{8}}) {
    const long items = capacity == 1 ? 600 : 3'000;
    const Passed passed = pass_items(items, capacity, 200, std::chrono::milliseconds(1));
    if (passed.received != items || passed.out_of_order != 0) {
      FAIL("capacity " << capacity << ": " << passed.out_of_order << " of " << passed.received
                       << " items were not the next one expected: the producer wrote over items the consumer "
                          "had not read yet. A full ring (tail - head == capacity) must refuse the item");
    }
  }
}
