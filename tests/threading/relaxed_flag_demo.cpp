// relaxed_flag_demo: a DELIBERATELY BROKEN program: plain data published with a relaxed flag.
//
// This is not a lesson and it is not built like one. A writer thread fills a plain `long` (the
// payload) and then sets an atomic flag with memory_order_relaxed; a reader waits for the flag and
// reads the payload. Relaxed orders nothing but the flag itself, so the payload write does not
// happen-before the payload read: a data race on the plain `long`, which is undefined behaviour. On
// x86 the reader will nearly always print 42 anyway (the processor keeps stores in order), which is
// why a test of the result cannot find this bug; on ARM it can really read 0. The lesson
// threading/memory_ordering.cpp shows the same message passing well defined (an atomic payload in
// section 2, release/acquire in section 3).
//
// What it is for: threading/CMakeLists.txt builds it only in the `tsan` preset, and
// tests/threading/test_relaxed_flag_demo.cpp runs it twice: with `relaxed` ThreadSanitizer must
// report the race (exit status 66); with `release-acquire` (the fix, one word on each side) it must
// report nothing.
//
// To see it yourself:   cmake --workflow --preset tsan && build/tsan/threading/relaxed_flag_demo relaxed

#include <atomic>
#include <cstdio>
#include <cstring>
#include <thread>

long payload = 0;  // plain data, shared by two threads: published by the flag below
std::atomic<bool> ready{false};

int main(int argc, char** argv) {
  const bool relaxed = argc == 2 && std::strcmp(argv[1], "relaxed") == 0;
  const bool release_acquire = argc == 2 && std::strcmp(argv[1], "release-acquire") == 0;
  if (!relaxed && !release_acquire) {
    std::fprintf(stderr, "usage: relaxed_flag_demo relaxed|release-acquire\n");
    return 2;
  }
  std::thread reader([&] {
    while (!ready.load(relaxed ? std::memory_order_relaxed : std::memory_order_acquire)) std::this_thread::yield();
    std::printf("reader saw the flag, then payload = %ld\n", payload);  // DATA RACE when relaxed
  });
  payload = 42;
  ready.store(true, relaxed ? std::memory_order_relaxed : std::memory_order_release);
  reader.join();
  return 0;
}
