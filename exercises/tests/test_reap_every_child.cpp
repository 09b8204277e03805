// Test for the exercise reap_every_child: every exit code comes back in child order, soon after the
// last child ends, and no child is left behind, running or zombie. The children's work varies from
// run to run (tens of milliseconds, then more than a second), so no fixed sleep passes both: a sleep
// shorter than the slow children's work misses their codes, a longer one returns far too late for the
// fast ones.
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

TEST_CASE("reap_every_child: exit codes in child order soon after the last child ends and no child left",
          "[exercise]") {
  using std::chrono::milliseconds;
  const test_support::Watchdog watchdog(std::chrono::seconds(20), "reap_every_child: run_children() never returned");
  // How late run_children() may return after the last child has ended: generous for a busy machine,
  // far below the slow children's work.
  constexpr milliseconds allowed_delay(400);
  const std::vector<std::vector<milliseconds>> runs = {
      {milliseconds(60), milliseconds(45), milliseconds(30), milliseconds(15)},
      {milliseconds(1200), milliseconds(800), milliseconds(400), milliseconds(100)},
  };
  for (const auto& work : runs) {
    const milliseconds longest = *std::max_element(work.begin(), work.end());
    pg::Stopwatch clock;
    const std::vector<int> codes = run_children(work);
    const auto took = std::chrono::duration_cast<milliseconds>(clock.elapsed());

    int status = 0;
    const pid_t leftover = ::waitpid(-1, &status, WNOHANG);
    const bool none_left = leftover == -1 && errno == ECHILD;
    // Reap whatever was left, so this test process ends clean whatever the outcome.
    while (::waitpid(-1, &status, 0) > 0 || errno == EINTR) {
    }

    INFO("children working " << longest.count() << " ms at most; exit codes: " << shown(codes)
                             << "(expected 10 11 12 13); run_children() took " << took.count() << " ms");
    if (codes == std::vector<int>{13, 12, 11, 10}) {
      FAIL_CHECK(
          "the codes are in the order the children finished (the last child finishes first); "
          "return them in child order");
    } else if (std::count(codes.begin(), codes.end(), -1) > 0) {
      FAIL_CHECK("some exit codes were never collected (-1): the parent must wait until each child has ended");
    }
    CHECK(codes == std::vector<int>{10, 11, 12, 13});
    if (took > longest + allowed_delay) {
      FAIL_CHECK("run_children() returned " << (took - longest).count()
                                            << " ms after the last child ended: wait for each child to end "
                                               "instead of sleeping a fixed time");
    }
    if (!none_left) FAIL_CHECK("children were left behind: wait for every child you fork, or it stays a zombie");
  }
}

#ifdef EXERCISE_SOLUTION
// The solution also promises a bound on every wait (see its comment): a child still working at the
// time limit is killed and reaped, and its code stays -1. The exercise's run_children() takes no
// limit, so this test is built for the solution alone.
TEST_CASE("reap_every_child solution: a child still working at the time limit is killed and reaped",
          "[exercise][solution]") {
  using std::chrono::milliseconds;
  const test_support::Watchdog watchdog(std::chrono::seconds(20), "run_children() never returned");
  pg::Stopwatch clock;
  const std::vector<int> codes = run_children({milliseconds(20), std::chrono::seconds(30)}, milliseconds(1000));
  const auto took = clock.elapsed();
  INFO("exit codes: " << shown(codes) << "; run_children() took "
                      << std::chrono::duration_cast<milliseconds>(took).count() << " ms");
  CHECK(codes == std::vector<int>{10, -1});
  CHECK(took >= milliseconds(1000));      // it waited out the limit for the slow child...
  CHECK(took < std::chrono::seconds(5));  // ...and not the slow child's 30 s
  int status = 0;
  CHECK((::waitpid(-1, &status, WNOHANG) == -1 && errno == ECHILD));  // killed and reaped: no child left
}
#endif
