// data_race_demo: a DELIBERATELY BROKEN program with a real data race, for ThreadSanitizer to catch.
//
// This is not a lesson and it is not built like one. Two threads increment the same plain `int`
// with no lock and no atomic. In C++ that is a data race, and a data race is undefined behaviour:
// the program has no meaning at all. (At -O2 g++ turns each loop into a single addition, so the
// total often comes out "right" and the bug hides; that is exactly why you cannot test for it by
// looking at the result.) The lessons never do this; threading/thread_basics.cpp shows lost updates
// with std::atomic instead, which is well defined.
//
// What it is for: threading/CMakeLists.txt builds it only in the `tsan` preset (with
// -fsanitize=thread), and tests/threading/test_data_race_demo.cpp runs it and checks that
// ThreadSanitizer prints "WARNING: ThreadSanitizer: data race" and exits with its status 66.
// That is how you find data races in real code: run your tests under ThreadSanitizer.
//
// To see it yourself:   cmake --workflow --preset tsan && build/tsan/threading/data_race_demo

#include <cstdio>
#include <thread>

int shared_counter = 0;  // a plain int, shared by two threads: the bug

void increment_many_times() {
  for (int i = 0; i < 100'000; ++i) ++shared_counter;  // DATA RACE: unsynchronised read-modify-write
}

int main() {
  std::thread a(increment_many_times);
  std::thread b(increment_many_times);
  a.join();
  b.join();
  std::printf("counter = %d (expected 200000, but the program is undefined: any result means nothing)\n",
              shared_counter);
  return 0;
}
