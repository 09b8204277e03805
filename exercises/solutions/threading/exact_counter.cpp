// SOLUTION exact_counter (the exercise is exercises/threading/exact_counter.cpp).
//
// Why it works: fetch_add(1) is one indivisible read-modify-write (on x86 a single `lock xadd`). No
// thread can write between its read and its write, so no visit is lost, and because it is an atomic
// operation there is no data race for ThreadSanitizer to find. A std::mutex held across the whole
// read-add-write (std::lock_guard inside the loop) is just as correct, and slower.
//
// The threads are std::jthreads, and if one cannot start, the latch is counted down for it: the
// started ones then run, are joined, and the error reaches the caller. (With std::thread the vector's
// destructor would call std::terminate; without the count_down the started ones would wait for ever.)
//
// A tempting wrong fix the test rejects: a plain `int counter` with `++counter`. At -O2 the compiler
// often turns each thread's loop into one addition, so the count may come out right, but two threads
// writing one plain int is a data race, undefined behaviour: ThreadSanitizer reports it and the test
// fails under the tsan build. Locking a mutex around the read and, separately, around the write fails
// even without it: the gap between the two steps is still there, and updates are still lost.

#include <fmt/format.h>

#include <atomic>
#include <cstddef>
#include <latch>
#include <thread>
#include <vector>

#include "playground.hpp"

int count_visits(int threads, int visits_each) {
  std::atomic<int> counter{0};
  std::latch start(threads);
  {
    std::vector<std::jthread> workers;  // each joins its thread when destroyed
    workers.reserve(static_cast<std::size_t>(threads));
    try {
      for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&] {
          start.arrive_and_wait();
          for (int i = 0; i < visits_each; ++i) {
            counter.fetch_add(1);  // read, add and write in one step: nothing can slip in between
          }
        });
      }
    } catch (...) {
      // A thread could not start: let the started ones past the latch, so that they can be joined.
      start.count_down(threads - static_cast<std::ptrdiff_t>(workers.size()));
      throw;
    }
  }  // every worker is joined here
  return counter.load();
}

#ifndef PLAYGROUND_NO_MAIN
int main(int argc, char** argv) {
  int threads = 4;
  int visits = 5'000;
  pg::Flags flags("exact_counter", "Solution: threads share a counter, and it is exact.");
  flags.add("--threads", threads, "threads counting at once", 1, 64);
  flags.add("--visits", visits, "visits each thread records", 0, 10'000'000);
  if (auto status = flags.parse(argc, argv)) return *status;
  const int counted = count_visits(threads, visits);
  const long expected = static_cast<long>(threads) * visits;
  fmt::print("counted {} of {} visits ({} lost)\n", counted, expected, expected - counted);
  return counted == expected ? 0 : 1;
}
#endif
