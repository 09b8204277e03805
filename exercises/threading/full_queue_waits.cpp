// EXERCISE full_queue_waits: a full queue must make its producer wait (backpressure).
//
// Follows threading/queues_and_worker_threads.cpp (BlockingQueue's capacity, the last section).
//
// BoundedQueue promises to hold at most `capacity` items. A fast producer thread puts items, a slow
// consumer thread gets them. As shipped, put() never waits: when the consumer falls behind, the
// queue just grows, past its capacity, without limit. (With a real producer, that is memory growing
// until the process dies.)
//
// Your goal: put() waits while the queue is full and continues as soon as get() has made room, so
// the queue never holds more than `capacity` items; every item still arrives, once, in order, and
// nothing hangs. Python's queue.Queue(maxsize=n).put() behaves this way.
//
// clang-format off
// Check:  cmake --build build/exercises --target test_full_queue_waits test_full_queue_waits_tsan
//         build/exercises/exercises/test_full_queue_waits
//         build/exercises/exercises/test_full_queue_waits_tsan   (the same test under ThreadSanitizer)
// Run:    build/exercises/exercises/full_queue_waits
// clang-format on
//
// Hint 1: get() already waits while the queue is empty, on a std::condition_variable. put() needs the
//         mirror image: wait while it is full.
// Hint 2: a waiting put() must be woken when room appears. Who makes room, and what must it do then?
// Hint 3: add a second condition variable `not_full_`; in put(), before the push_back:
//         not_full_.wait(lock, [&] { return items_.size() < capacity_; });  and in get(), after the
//         pop_front: not_full_.notify_one();

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "playground.hpp"

template <class T>
class BoundedQueue {
 public:
  explicit BoundedQueue(std::size_t capacity) : capacity_(capacity) {}

  void put(T item) {
    std::lock_guard lock(mutex_);
    items_.push_back(std::move(item));  // even when items_.size() is already capacity_
    peak_ = std::max(peak_, items_.size());
    not_empty_.notify_one();
  }

  T get() {
    std::unique_lock lock(mutex_);
    not_empty_.wait(lock, [&] { return !items_.empty(); });
    T item = std::move(items_.front());
    items_.pop_front();
    return item;
  }

  // The most items the queue ever held at once.
  std::size_t peak_size() {
    std::lock_guard lock(mutex_);
    return peak_;
  }

 private:
  std::mutex mutex_;  // guards everything below
  std::condition_variable not_empty_;
  std::deque<T> items_;
  std::size_t capacity_;
  std::size_t peak_ = 0;
};

struct Delivery {
  std::vector<int> received;  // in the order the consumer got them
  std::size_t peak = 0;       // the most items ever waiting in the queue
};

// A producer puts 0..items-1 as fast as it can; a consumer takes `consume_time` per item.
Delivery deliver(int items, std::size_t capacity, std::chrono::microseconds consume_time) {
  BoundedQueue<int> queue(capacity);
  Delivery delivery;
  std::thread consumer([&] {
    for (int i = 0; i < items; ++i) {
      delivery.received.push_back(queue.get());
      std::this_thread::sleep_for(consume_time);
    }
  });
  std::thread producer([&] {
    for (int i = 0; i < items; ++i) queue.put(i);
  });
  producer.join();
  consumer.join();
  delivery.peak = queue.peak_size();
  return delivery;
}

#ifndef PLAYGROUND_NO_MAIN  // the test includes this file and brings its own main
int main(int argc, char** argv) {
  int items = 100;
  int capacity = 5;
  pg::Flags flags("full_queue_waits", "Exercise: a bounded queue whose producer must wait when it is full.");
  flags.add("--items", items, "items the producer puts", 0, 100'000);
  flags.add("--capacity", capacity, "the queue's capacity", 1, 100'000);
  if (auto status = flags.parse(argc, argv)) return *status;
  pg::Stopwatch clock;
  const Delivery delivery = deliver(items, static_cast<std::size_t>(capacity), std::chrono::microseconds(500));
  fmt::print("{} items delivered in {:.0f} ms; at most {} waited in the queue (capacity {})\n",
             delivery.received.size(), clock.elapsed_ms(), delivery.peak, capacity);
  return delivery.peak <= static_cast<std::size_t>(capacity) ? 0 : 1;
}
#endif
