// EXERCISE lock_order_deadlock: transfers in opposite directions must not deadlock.
//
// Follows threading/locks_and_thread_safety.cpp, section 5.
//
// transfer() moves money between two accounts. It must change both balances together, so it holds
// both accounts' mutexes. run_transfers() starts two threads: one moves money from A to B, the other
// from B to A, `transfers` times each. As shipped, each transfer locks its `from` account first and
// its `to` account second, so the two threads take the same two locks in opposite orders. When each
// holds its first lock, each waits forever for the other's: the program hangs (a deadlock).
//
// Your goal: run_transfers() finishes, every transfer happens (none skipped), and the total amount
// of money stays the same. Keep the two threads and the per-account mutexes.
//
// clang-format off
// Check:  cmake --build build/exercises --target test_lock_order_deadlock
//         build/exercises/exercises/test_lock_order_deadlock
//         (an unsolved exercise is stopped by the test's watchdog after a few seconds)
// Run:    build/exercises/exercises/lock_order_deadlock   (as shipped it hangs: Ctrl-C)
// clang-format on
//
// Hint 1: a deadlock needs two threads that each hold one lock and wait for the other's. It cannot
//         happen if both threads take the two locks in the same order, or take both at once.
// Hint 2: the standard library can lock several mutexes at once without deadlocking, whatever order
//         you name them in.
// Hint 3: replace the two std::lock_guard lines with one: std::scoped_lock both(from.mutex, to.mutex);

#include <fmt/format.h>

#include <chrono>
#include <latch>
#include <mutex>
#include <thread>

#include "playground.hpp"

struct Account {
  std::mutex mutex;  // guards balance
  long balance = 0;
};

void transfer(Account& from, Account& to, long amount) {
  std::lock_guard lock_from(from.mutex);
  std::this_thread::sleep_for(std::chrono::microseconds(50));  // checking the balance takes a moment
  std::lock_guard lock_to(to.mutex);
  from.balance -= amount;
  to.balance += amount;
}

struct TransferReport {
  long total_before = 0;
  long total_after = 0;
  long a_after = 0;
};

// Two threads, `transfers` each: A -> B moves 3 each time, B -> A moves 2.
TransferReport run_transfers(int transfers) {
  Account a;
  Account b;
  a.balance = 1'000'000;
  b.balance = 1'000'000;
  TransferReport report{a.balance + b.balance, 0, 0};
  std::latch start(2);
  std::thread a_to_b([&] {
    start.arrive_and_wait();
    for (int i = 0; i < transfers; ++i) transfer(a, b, 3);
  });
  std::thread b_to_a([&] {
    start.arrive_and_wait();
    for (int i = 0; i < transfers; ++i) transfer(b, a, 2);
  });
  a_to_b.join();
  b_to_a.join();
  report.total_after = a.balance + b.balance;
  report.a_after = a.balance;
  return report;
}

#ifndef PLAYGROUND_NO_MAIN  // the test includes this file and brings its own main
int main(int argc, char** argv) {
  int transfers = 2'000;
  pg::Flags flags("lock_order_deadlock", "Exercise: two threads transfer money both ways; make it finish.");
  flags.add("--transfers", transfers, "transfers each thread makes", 0, 1'000'000);
  if (auto status = flags.parse(argc, argv)) return *status;
  pg::Stopwatch clock;
  const TransferReport report = run_transfers(transfers);
  fmt::print("{} transfers each way in {:.0f} ms; total {} before, {} after; A holds {}\n", transfers,
             clock.elapsed_ms(), report.total_before, report.total_after, report.a_after);
  return report.total_after == report.total_before ? 0 : 1;
}
#endif
