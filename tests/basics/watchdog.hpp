// A watchdog for tests whose failure mode is a hang (a channel nobody closes, a latch that never
// reaches zero, a notify that never comes). Made at the top of a test, it gives the test `limit` to
// finish; if the test is still running then, it prints which test hung and ends the test program
// with exit status 124, so the failure is reported in seconds, named, and never hangs ctest.
//
//   TEST_CASE("...") {
//     test_support::Watchdog watchdog(std::chrono::seconds(10), "channel fan-out");
//     ...
//   }  // leaving the scope disarms it
//
// Used by the basics and threading tests of issue 8 (tests/threading includes it from here).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>

namespace test_support {

class Watchdog {
 public:
  Watchdog(std::chrono::milliseconds limit, std::string what) : what_(std::move(what)) {
    thread_ = std::thread([this, limit] {
      std::unique_lock lock(mutex_);
      if (!cv_.wait_for(lock, limit, [this] { return disarmed_; })) {
        std::fprintf(stderr, "WATCHDOG: '%s' still running after %lld ms: ending the test program\n", what_.c_str(),
                     static_cast<long long>(limit.count()));
        std::fflush(nullptr);
        std::_Exit(124);
      }
    });
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
  ~Watchdog() {
    {
      std::lock_guard lock(mutex_);
      disarmed_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }

 private:
  std::string what_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool disarmed_ = false;
  std::thread thread_;
};

}  // namespace test_support
