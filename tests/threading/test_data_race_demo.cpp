// Runs tests/threading/data_race_demo (a deliberately racy plain-int program, never a lesson) and
// checks that ThreadSanitizer catches its data race. The demo is built only in the `tsan` preset
// (see threading/CMakeLists.txt); in the other presets this test prints "SKIPPED:" with the reason
// and ctest reports it as skipped, so it never vanishes silently.
#include "catch.hpp"
#include "support.hpp"

#include <iostream>

TEST_CASE("ThreadSanitizer reports the data race on a plain int (tsan preset only)", "[threading][tsan]") {
#ifdef DATA_RACE_DEMO_IN_BUILD
  auto r = test_support::run_program(test_support::in_build_folder(DATA_RACE_DEMO_IN_BUILD), {});
  INFO("stderr: " << r.err);
  CHECK_FALSE(r.timed_out);
  CHECK(r.err.find("WARNING: ThreadSanitizer: data race") != std::string::npos);
  CHECK(r.err.find("increment_many_times") != std::string::npos);  // the report names the racy function
  CHECK(r.exit_code == 66);                                        // ThreadSanitizer's exit status on a report
#else
  std::cout << "SKIPPED: the data race demo needs ThreadSanitizer; run it with: "
               "cmake --workflow --preset tsan\n";
  CHECK(true);
#endif
}
