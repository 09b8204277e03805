// EXERCISE ring_never_overwrites: a full ring must refuse an item, not write over an unread one.
//
// Follows threading/lock_free_ring.cpp, section 1 (SpscRing::try_push) and section 2.
//
// Ring is a single-producer single-consumer ring buffer: the producer writes at `tail`, the consumer
// reads at `head`, both only grow, and `tail - head` is how many items are inside. As shipped,
// try_push() never looks at `head`: when the consumer falls behind, the producer goes round the
// circle and writes over items nobody has read yet, and the consumer then gets later items in their
// place. pass_items() shows it: a fast producer, a consumer that stops now and then, and the items
// lost or out of order counted. (The slots are atomics, read and written relaxed, so even this broken
// ring is well defined; the lesson's ring has plain slots, made safe by its release/acquire pairs.)
//
// Your goal: every item arrives once and in order, however far behind the consumer is: a full ring
// makes try_push() return false (the producer then yields and tries again), and nothing hangs.
//
// Check:  cmake --build build/exercises --target test_ring_never_overwrites &&
//         build/exercises/exercises/test_ring_never_overwrites
// Race check (ThreadSanitizer):  cmake --workflow --preset exercises-tsan
// Run:    build/exercises/exercises/ring_never_overwrites
//
// Hint 1: how many items are in the ring, in terms of `tail` and `head`? When is it full?
// Hint 2: the producer must read the consumer's index to know; with which memory order, so that the
//         consumer's read of a slot is over before the producer writes that slot again?
// Hint 3: before writing the slot:  if (tail - head_.load(std::memory_order_acquire) == slots_.size())
//         return false;

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <optional>
#include <thread>
#include <vector>

#include "playground.hpp"

class Ring {
 public:
  explicit Ring(std::size_t capacity) : slots_(capacity) {}

  // Producer thread only. False when the ring is full.
  bool try_push(long item) {
    const std::size_t tail = tail_.load(std::memory_order_relaxed);
    slots_[tail % slots_.size()].store(item, std::memory_order_relaxed);  // full or not
    tail_.store(tail + 1, std::memory_order_release);
    return true;
  }

  // Consumer thread only. Empty when the ring is empty.
  std::optional<long> try_pop() {
    const std::size_t head = head_.load(std::memory_order_relaxed);
    if (head == tail_.load(std::memory_order_acquire)) return std::nullopt;
    const long item = slots_[head % slots_.size()].load(std::memory_order_relaxed);
    head_.store(head + 1, std::memory_order_release);
    return item;
  }

 private:
  std::vector<std::atomic<long>> slots_;
  alignas(64) std::atomic<std::size_t> tail_{0};  // written by the producer only
  alignas(64) std::atomic<std::size_t> head_{0};  // written by the consumer only
};

struct Passed {
  long received = 0;
  long out_of_order = 0;  // items that were not the next one expected
};

// The producer pushes 0..items-1 as fast as the ring lets it; the consumer pops them and sleeps
// `pause` after every `pause_every` items.
Passed pass_items(long items, std::size_t capacity, long pause_every, std::chrono::microseconds pause) {
  Ring ring(capacity);
  std::thread producer([&] {
    for (long i = 0; i < items; ++i) {
      while (!ring.try_push(i)) std::this_thread::yield();  // full: let the consumer run
    }
  });
  Passed passed;
  for (long expected = 0; expected < items; ++expected) {
    std::optional<long> item;
    while (!(item = ring.try_pop())) std::this_thread::yield();  // empty: let the producer run
    ++passed.received;
    if (*item != expected) ++passed.out_of_order;
    if (expected % pause_every == pause_every - 1) std::this_thread::sleep_for(pause);
  }
  producer.join();
  return passed;
}

#ifndef PLAYGROUND_NO_MAIN  // the test includes this file and brings its own main
int main(int argc, char** argv) {
  long items = 10'000;
  int capacity = 16;
  pg::Flags flags("ring_never_overwrites", "Exercise: a full ring must refuse an item, not overwrite one.");
  flags.add("--items", items, "items passed from the producer to the consumer", 0, 100'000'000);
  flags.add("--capacity", capacity, "slots in the ring", 1, 1 << 20);
  if (auto status = flags.parse(argc, argv)) return *status;
  const Passed p = pass_items(items, static_cast<std::size_t>(capacity), 500, std::chrono::milliseconds(1));
  fmt::print("received {} of {} items, {} out of order\n", p.received, items, p.out_of_order);
  return p.received == items && p.out_of_order == 0 ? 0 : 1;
}
#endif
