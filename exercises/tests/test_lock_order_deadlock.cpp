// Test for the exercise lock_order_deadlock: the transfers finish (a watchdog ends a deadlocked run in
// seconds), every one of them happens, and no money appears or vanishes.
#include EXERCISE_SOURCE

#include "catch.hpp"
#include "support.hpp"

TEST_CASE("lock_order_deadlock: opposite transfers finish, all of them, total kept", "[exercise]") {
  const test_support::Watchdog watchdog(
      std::chrono::seconds(5),
      "lock_order_deadlock: run_transfers() never returned. The two threads are probably stuck, each "
      "holding one account's lock and waiting for the other's: a deadlock (see the hints)");
  constexpr int transfers = 300;
  const TransferReport report = run_transfers(transfers);
  INFO("total before " << report.total_before << ", after " << report.total_after);
  CHECK(report.total_after == report.total_before);
  // A -> B moves 3 a time, B -> A moves 2: after every transfer, A has lost exactly transfers x 1.
  const long a_expected = 1'000'000 - transfers * (3 - 2);
  if (report.a_after != a_expected) {
    FAIL_CHECK("account A holds " << report.a_after << ", not " << a_expected
                                  << ": some transfers were skipped or done twice; every transfer must happen");
  }
}
