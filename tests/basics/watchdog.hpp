// A watchdog for tests that run an event loop: if the test is still running after its time limit, the
// watchdog prints which test hung and ends the test program with exit status 124 (as timeout(1)
// does), so a bug that would hang a coroutine forever fails the test instead of hanging ctest.
//
//   TEST_CASE("...") {
//     const Watchdog watchdog(5s, "gather");   // first line of the test
//     ...
//   }                                           // leaving the scope disarms it
//
// It is a plain thread waiting on a condition variable, so it works the same in every preset
// (ThreadSanitizer sees only the mutex-protected flag).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>

class Watchdog {
 public:
  explicit Watchdog(std::chrono::milliseconds limit, std::string what = "test")
      : what_(std::move(what)), thread_([this, limit] { watch(limit); }) {}
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
  ~Watchdog() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    wake_.notify_one();
    thread_.join();
  }

 private:
  void watch(std::chrono::milliseconds limit) {
    std::unique_lock lock(mutex_);
    if (wake_.wait_for(lock, limit, [this] { return done_; })) return;
    std::fprintf(stderr, "watchdog: '%s' still running after %lld ms: ending the test program\n", what_.c_str(),
                 static_cast<long long>(limit.count()));
    std::fflush(nullptr);
    std::_Exit(124);
  }

  std::string what_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool done_ = false;
  std::thread thread_;  // last: it starts after the members above exist
};
