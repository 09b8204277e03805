// SOLUTION ring_never_overwrites (the exercise is exercises/threading/ring_never_overwrites.cpp).
//
// Why it works: `tail - head` is the number of items inside, so the ring is full when it equals the
// capacity, and try_push() then refuses the item instead of writing over the oldest unread one. The
// producer reads `head` with acquire: it pairs with the consumer's release store of `head`, so the
// consumer's read of a slot happens-before the producer's next write to it. (The lesson's SpscRing
// also keeps a copy of `head` so that it reads the consumer's cache line only when the ring looks
// full; correct either way, and faster.)
//
// A tempting wrong fix the test rejects: `if (tail - head > capacity) return false;`. It stops the
// producer one item too late: the ring holds capacity + 1 items, the last one written over the
// oldest unread one, and with a consumer that falls behind the test sees an item missing. Checking
// fullness against a copy of `head` that is never refreshed fails the other way: the producer
// believes the ring full for ever, and the test's watchdog reports that nothing finished.

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
    // Full: `capacity` items written and not yet read. Acquire: the consumer's reads are over.
    if (tail - head_.load(std::memory_order_acquire) == slots_.size()) return false;
    slots_[tail % slots_.size()].store(item, std::memory_order_relaxed);
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

#ifndef PLAYGROUND_NO_MAIN
int main(int argc, char** argv) {
  long items = 10'000;
  int capacity = 16;
  pg::Flags flags("ring_never_overwrites", "Solution: a full ring refuses an item instead of overwriting one.");
  flags.add("--items", items, "items passed from the producer to the consumer", 0, 100'000'000);
  flags.add("--capacity", capacity, "slots in the ring", 1, 1 << 20);
  if (auto status = flags.parse(argc, argv)) return *status;
  const Passed p = pass_items(items, static_cast<std::size_t>(capacity), 500, std::chrono::milliseconds(1));
  fmt::print("received {} of {} items, {} out of order\n", p.received, items, p.out_of_order);
  return p.received == items && p.out_of_order == 0 ? 0 : 1;
}
#endif
