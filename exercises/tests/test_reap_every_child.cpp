// Test for the exercise reap_every_child: every exit code comes back in child order, and no child is
// left behind, running or zombie.
#include EXERCISE_SOURCE

#include <algorithm>
#include <sstream>

#include "catch.hpp"
#include "support.hpp"

namespace {
std::string shown(const std::vector<int>& codes) {
  std::ostringstream out;
  for (int code : codes) out << code << ' ';
  return out.str();
}
}  // namespace

TEST_CASE("reap_every_child: exit codes in child order, no child left", "[exercise]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(10), "reap_every_child: run_children() never returned");
  constexpr int count = 4;
  const std::vector<int> codes = run_children(count);

  int status = 0;
  const pid_t leftover = ::waitpid(-1, &status, WNOHANG);
  const bool none_left = leftover == -1 && errno == ECHILD;
  // Reap whatever was left, so this test process ends clean whatever the outcome.
  while (::waitpid(-1, &status, 0) > 0 || errno == EINTR) {
  }

  const std::vector<int> expected{10, 11, 12, 13};
  INFO("exit codes: " << shown(codes) << "(expected 10 11 12 13)");
  if (codes == std::vector<int>{13, 12, 11, 10}) {
    FAIL_CHECK(
        "the codes are in the order the children finished (the last child finishes first); "
        "return them in child order");
  } else if (std::count(codes.begin(), codes.end(), -1) > 0) {
    FAIL_CHECK("some exit codes were never collected (-1): the parent must wait until each child has ended");
  }
  CHECK(codes == expected);
  if (!none_left) FAIL_CHECK("children were left behind: wait for every child you fork, or it stays a zombie");
}
