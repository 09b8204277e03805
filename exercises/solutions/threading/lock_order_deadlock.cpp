// SOLUTION lock_order_deadlock (the exercise is exercises/threading/lock_order_deadlock.cpp).
//
// Why it works: std::scoped_lock with two mutexes locks them with std::lock's deadlock-avoidance
// algorithm: it never blocks on one mutex while holding the other (it locks one, *tries* the other,
// and on failure releases the first and starts again), so the order the two threads name the
// accounts in no longer matters. Locking in one global order (say, always the account at the lower
// address first) is the other correct fix.
//
// A tempting wrong fix the test rejects: giving up instead of waiting, with try_lock on the second
// mutex and skipping the transfer when it is busy. Nothing hangs, but transfers are lost: the test
// counts the money that moved and fails. Taking the second lock only after releasing the first breaks
// the other rule: the two balances no longer change together.

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
  std::scoped_lock both(from.mutex, to.mutex);  // both or neither: never one while waiting for the other
  std::this_thread::sleep_for(std::chrono::microseconds(50));
  from.balance -= amount;
  to.balance += amount;
}

struct TransferReport {
  long total_before = 0;
  long total_after = 0;
  long a_after = 0;
};

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

#ifndef PLAYGROUND_NO_MAIN
int main(int argc, char** argv) {
  int transfers = 2'000;
  pg::Flags flags("lock_order_deadlock", "Solution: two threads transfer money both ways, and finish.");
  flags.add("--transfers", transfers, "transfers each thread makes", 0, 1'000'000);
  if (auto status = flags.parse(argc, argv)) return *status;
  pg::Stopwatch clock;
  const TransferReport report = run_transfers(transfers);
  fmt::print("{} transfers each way in {:.0f} ms; total {} before, {} after; A holds {}\n", transfers,
             clock.elapsed_ms(), report.total_before, report.total_after, report.a_after);
  return report.total_after == report.total_before ? 0 : 1;
}
#endif
