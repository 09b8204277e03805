// EXERCISE exact_counter: make a counter shared by several threads exact.
//
// Follows threading/locks_and_thread_safety.cpp, sections 1 to 3 (and thread_basics, the last section).
//
// count_visits() starts `threads` threads; each records `visits_each` visits on one shared counter.
// As shipped, a visit reads the counter and then writes it back plus one, in two steps, so a thread
// that writes in between is overwritten and visits are lost: 4 threads x 5,000 visits give fewer
// than 20,000. (The two steps are std::atomic operations, so the program is well defined, just wrong.)
//
// Your goal: count_visits() returns exactly threads x visits_each, every time, and ThreadSanitizer
// finds no data race in it. Keep the threads: they must still run at the same time.
//
// clang-format off
// Check:  cmake --build build/exercises --target test_exact_counter test_exact_counter_tsan
//         build/exercises/exercises/test_exact_counter
//         build/exercises/exercises/test_exact_counter_tsan   (the same test under ThreadSanitizer)
// Run:    build/exercises/exercises/exact_counter
// clang-format on
//
// Hint 1: a lost update needs a gap between the read and the write. Which gap, and what could close it?
// Hint 2: the lesson closes it two ways: a std::mutex held across the whole read-add-write, or one
//         indivisible read-modify-write on the atomic itself.
// Hint 3: replace the load, the yield and the store with one call: counter.fetch_add(1).

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
            const int seen = counter.load();  // step 1: read
            std::this_thread::yield();        // another thread may run here...
            counter.store(seen + 1);          // step 2: ...and its update is overwritten by this one
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

#ifndef PLAYGROUND_NO_MAIN  // the test includes this file and brings its own main
int main(int argc, char** argv) {
  int threads = 4;
  int visits = 5'000;
  pg::Flags flags("exact_counter", "Exercise: threads share a counter; make it exact.");
  flags.add("--threads", threads, "threads counting at once", 1, 64);
  flags.add("--visits", visits, "visits each thread records", 0, 10'000'000);
  if (auto status = flags.parse(argc, argv)) return *status;
  const int counted = count_visits(threads, visits);
  const long expected = static_cast<long>(threads) * visits;
  fmt::print("counted {} of {} visits ({} lost)\n", counted, expected, expected - counted);
  return counted == expected ? 0 : 1;
}
#endif
