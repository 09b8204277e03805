// SOLUTION full_queue_waits (the exercise is exercises/threading/full_queue_waits.cpp).
//
// Why it works: put() waits on `not_full_` until the queue has room. wait(lock, predicate) releases
// the mutex while it sleeps (so get() can run and make room), re-locks it when woken, and checks the
// predicate again, which also covers spurious wake-ups. get() notifies `not_full_` after each
// pop_front, so a waiting producer continues at once. The size is only ever read and changed under
// the mutex, so there is no data race.
//
// A tempting wrong fix the test rejects: put() waits for room, but get() never notifies `not_full_`
// (or the wait has no predicate and misses the notification). The producer sleeps for ever on a full
// queue, and the test's watchdog ends the run. Another: put() drops the item, or returns false, when
// the queue is full. The queue stays small, but items are lost: the test checks that all arrive.
// A third: checking items_.size() before taking the lock, which is a data race (ThreadSanitizer).
// A fourth: one condition variable for both directions (put() also waits on not_empty_). With one
// consumer it works; with several, get()'s notify_one may wake another consumer on an empty queue
// instead of the producer waiting on a full one, and everything stops: the test runs three consumers.

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
    std::unique_lock lock(mutex_);
    not_full_.wait(lock, [&] { return items_.size() < capacity_; });  // backpressure: wait for room
    items_.push_back(std::move(item));
    peak_ = std::max(peak_, items_.size());
    not_empty_.notify_one();
  }

  T get() {
    std::unique_lock lock(mutex_);
    not_empty_.wait(lock, [&] { return !items_.empty(); });
    T item = std::move(items_.front());
    items_.pop_front();
    not_full_.notify_one();  // room for one more: wake a waiting put()
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
  std::condition_variable not_full_;
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
  pg::Flags flags("full_queue_waits", "Solution: a bounded queue whose producer waits when it is full.");
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
