// Test for the exercise results_from_children: the children's total is right for several splits, and
// no child is left behind.
#include EXERCISE_SOURCE

#include "catch.hpp"
#include "support.hpp"

TEST_CASE("results_from_children: the children's sums reach the parent", "[exercise]") {
  const test_support::Watchdog watchdog(
      std::chrono::seconds(10),
      "results_from_children: sum_squares_in_children() never returned (is the parent reading a pipe whose "
      "write end it still holds open?)");
  constexpr long n = 300'000;
  const long expected = n * (n + 1) * (2 * n + 1) / 6;
  for (int children : {1, 3, 4}) {
    const long total = sum_squares_in_children(n, children);
    INFO(children << " children: total " << total << ", expected " << expected);
    if (total == 0) {
      FAIL(
          "the parent got 0: each child wrote its sum into its own copy of the memory; the child must send "
          "it to the parent (see the hints)");
    }
    if (total != expected) FAIL("the total is wrong: some children's sums were lost or counted twice");
  }
  int status = 0;
  const bool none_left = ::waitpid(-1, &status, WNOHANG) == -1 && errno == ECHILD;
  if (!none_left) FAIL("children were left behind: waitpid every child you fork");
}
