// SOLUTION spin_lock (the exercise is exercises/threading/spin_lock.cpp).
//
// Why it works: exchange(true) reads the old value and writes true in one indivisible step, so of
// two threads that try at once exactly one gets `false` back and owns the lock; the other keeps
// trying. The exchange is acquire and unlock()'s store is release: the new owner synchronizes with
// the previous owner's unlock, so everything written inside the lock by one owner happens-before
// what the next owner reads, and a plain variable changed only under the lock has no data race.
//
// A tempting wrong fix the test rejects: exchange(true, std::memory_order_relaxed) (or a relaxed
// unlock). The lock still lets in one thread at a time, and on x86 every count comes out right, but
// nothing orders one owner's writes before the next owner's reads: by the C++ rules the plain counter
// in the test is a data race, ThreadSanitizer reports it, and an ARM processor may really show it.
// Checking the flag a second time just before the store is no fix either: the gap between the
// check and the store is smaller, not gone, so two threads still get in now and then, more rarely
// than a test can promise to catch. Only one indivisible step closes it.

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <latch>
#include <thread>
#include <vector>

#include "playground.hpp"

class SpinLock {
 public:
  void lock() {
    // One step: the thread that gets `false` back owns the lock; acquire pairs with unlock()'s release.
    while (locked_.exchange(true, std::memory_order_acquire)) std::this_thread::yield();
  }
  void unlock() { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

struct Visits {
  long counted = 0;     // visits recorded
  int most_inside = 0;  // the most threads ever inside the lock at once
};

// `threads` threads each record `visits_each` visits, each one under the lock.
Visits record_visits(int threads, int visits_each) {
  SpinLock lock;
  std::atomic<long> counter{0};
  std::atomic<int> inside{0};
  std::atomic<int> most_inside{0};
  std::latch start(threads);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      start.arrive_and_wait();
      for (int i = 0; i < visits_each; ++i) {
        lock.lock();
        const int now_inside = inside.fetch_add(1) + 1;
        int most = most_inside.load();
        while (now_inside > most && !most_inside.compare_exchange_weak(most, now_inside)) {
        }
        const long seen = counter.load();  // read, let others run, write: safe only if we are alone
        std::this_thread::yield();
        counter.store(seen + 1);
        inside.fetch_sub(1);
        lock.unlock();
      }
    });
  }
  for (auto& worker : workers) worker.join();
  return {counter.load(), most_inside.load()};
}

#ifndef PLAYGROUND_NO_MAIN
int main(int argc, char** argv) {
  int threads = 4;
  int visits = 2'000;
  pg::Flags flags("spin_lock", "Solution: a spin lock that lets in one thread at a time.");
  flags.add("--threads", threads, "threads taking the lock", 1, 64);
  flags.add("--visits", visits, "visits each thread records under the lock", 0, 1'000'000);
  if (auto status = flags.parse(argc, argv)) return *status;
  const Visits v = record_visits(threads, visits);
  const long expected = static_cast<long>(threads) * visits;
  fmt::print("counted {} of {} visits ({} lost); at most {} thread(s) inside the lock at once\n", v.counted, expected,
             expected - v.counted, v.most_inside);
  return v.counted == expected && v.most_inside <= 1 ? 0 : 1;
}
#endif
