// Test for the exercise shared_memory_counter: the count over several processes is exact, run after run.
#include EXERCISE_SOURCE

#include <stdexcept>

#include <pthread.h>
#include <unistd.h>

#include "catch.hpp"
#include "multiprocessing/children.hpp"
#include "support.hpp"

TEST_CASE("shared_memory_counter: processes x visits, every run", "[exercise]") {
  // A lock that does not work across processes can leave the children waiting for ever: at the limit
  // the watchdog kills them too, so that none is left behind, orphaned, when the test gives up.
  const mp_test::ChildrenWatchdog watchdog(
      std::chrono::seconds(20),
      "shared_memory_counter: count_in_processes() never returned (a std::mutex in the shared page never "
      "wakes a process waiting for it in another process)");
  constexpr int processes = 4;
  constexpr int visits_each = 1'000;
  constexpr long expected = static_cast<long>(processes) * visits_each;
  for (int run = 1; run <= 3; ++run) {
    const long counted = count_in_processes(processes, visits_each);
    INFO("run " << run << ": counted " << counted << " of " << expected << " visits");
    if (counted == 0) {
      FAIL(
          "the parent counted 0: the children changed their own copies; the counter must live in the "
          "memory mapped with MAP_SHARED");
    }
    if (counted != expected) {
      FAIL(expected - counted << " visits were lost: a process writes between another's read and its write "
                                 "(a std::mutex would not help: each process has its own copy); make the "
                                 "update one step");
    }
  }
}

#ifdef EXERCISE_SOLUTION
// The solution also promises a bound on every wait (see its comment): a child that never answers is
// reported at the time limit, killed and reaped, instead of hanging the parent. The exercise's
// function takes no limit, so this test is built for the solution alone. In a forked copy of the test
// process, every child forked from then on first stalls for 10 s (a pthread_atfork handler), as a
// child stuck in a loop or a deadlock would: far past the 300 ms limit, yet bounded, so that a
// solution without the limit fails this test instead of leaving stuck children behind for ever.
TEST_CASE("shared_memory_counter solution: a child that never ends is reported at the time limit and killed",
          "[exercise][solution]") {
  const std::string answer = mp_test::run_in_forked_test_process([] {
    ::pthread_atfork(nullptr, nullptr, [] { ::sleep(10); });
    pg::Stopwatch clock;
    std::string outcome = "returned";
    try {
      count_in_processes(2, 1'000, std::chrono::milliseconds(300));
    } catch (const std::runtime_error& e) {
      outcome = std::string("threw: ") + e.what();
    }
    const auto took = clock.elapsed();
    return fmt::format("{}; after the limit: {}; within 5 s: {}; children left: {}", outcome,
                       took >= std::chrono::milliseconds(300), took < std::chrono::seconds(5),
                       !mp_test::children_of_this_process().empty());
  });
  CHECK(answer ==
        "threw: a counting child ran past the time limit; after the limit: true; within 5 s: true; "
        "children left: false");
}
#endif
