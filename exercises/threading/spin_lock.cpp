// EXERCISE spin_lock: make a spin lock let in one thread at a time, and make it a lock for data.
//
// Follows threading/memory_ordering.cpp, section 4 (and sections 2 and 3 for the memory orders).
//
// SpinLock is a lock built from one std::atomic<bool>. As shipped, lock() takes the lock in two
// steps: it waits until the flag reads false, then stores true. Two threads can both read false
// before either stores true, and then both are inside. record_visits() shows it: several threads
// each record visits under the lock, and it reports how many threads were inside at once (more than
// 1) and how many visits were lost. (Everything it touches inside the lock is atomic, so the program
// is well defined, just wrong.)
//
// Your goal: at most one thread inside at a time, no visit lost, every run; and the lock must also
// order memory as a lock should, so that a plain (non-atomic) variable changed only under it has no
// data race: the test checks that too, under ThreadSanitizer. Keep it a spin lock (no std::mutex).
//
// Check:  cmake --build build/exercises --target test_spin_lock && build/exercises/exercises/test_spin_lock
// Race check (ThreadSanitizer):  cmake --workflow --preset exercises-tsan
// Run:    build/exercises/exercises/spin_lock
//
// Hint 1: between the load that sees `false` and the store of `true`, another thread can do the same.
//         What operation reads the old value and writes the new one in one indivisible step?
// Hint 2: the thread that gets `false` back from that operation owns the lock. Which memory order
//         makes the new owner see what the previous owner wrote, and which one on the unlocking store?
// Hint 3: loop on `locked_.exchange(true, std::memory_order_acquire)` until it returns false (yield
//         inside the loop), and keep unlock()'s store with std::memory_order_release.

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
    while (locked_.load(std::memory_order_acquire)) std::this_thread::yield();  // step 1: wait until free
    std::this_thread::yield();                                                  // another thread may get here too...
    locked_.store(true, std::memory_order_relaxed);                             // step 2: ...and both take the lock
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

#ifndef PLAYGROUND_NO_MAIN  // the test includes this file and brings its own main
int main(int argc, char** argv) {
  int threads = 4;
  int visits = 2'000;
  pg::Flags flags("spin_lock", "Exercise: a spin lock that lets in one thread at a time.");
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
