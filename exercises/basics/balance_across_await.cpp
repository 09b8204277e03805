// clang-format off
// EXERCISE balance_across_await: keep a balance exact when every deposit awaits a check before it is written.
//
// Follows basics/shared_state_in_async.cpp (sections 2, 3 and 5a).
//
// run_clients() runs `clients` coroutines on one io_context served by two threads; each makes
// `deposits` deposits of 1 into one shared balance. A deposit reads the balance, awaits a fraud check
// (a timer of `check`), then writes the balance it read plus one. While one deposit waits for its
// check, others read the same balance, and the last write wins: 8 clients x 5 deposits end far below
// 40. (The read and the write are std::atomic operations, so the program is well defined, just wrong.)
//
// Your goal: run_clients() returns exactly clients x deposits, every time, with ThreadSanitizer silent;
// every deposit still awaits its check before its amount reaches the balance, and no thread of the
// io_context is ever blocked waiting (the checks of different deposits may still overlap).
//
// Check:  cmake --build build/exercises --target test_balance_across_await && build/exercises/exercises/test_balance_across_await
// Race check (ThreadSanitizer):  cmake --workflow --preset exercises-tsan
// Run:    build/exercises/exercises/balance_across_await
//
// Hint 1: a lock that spans the co_await must not be a std::mutex: the two threads would block in
//         lock() while the holder waits for a thread to resume it (section 3 of the lesson). A mutex
//         taken only for the read, and again only for the write, loses the same deposits as now.
// Hint 2: two ways out: make the write not depend on a read made before the await (the lesson's
//         section 2), or hold a lock that suspends instead of blocking across the await (section 5a).
// Hint 3: after `co_await fraud_check(check);`, add the amount in one indivisible step:
//         `bank.balance.fetch_add(amount);` (or take an AsyncMutex, as in the lesson, around all three lines).

// clang-format on
#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <atomic>
#include <chrono>
#include <exception>
#include <functional>
#include <thread>
#include <vector>

#include "playground.hpp"

struct Bank {
  std::atomic<long> balance{0};
};

// The fraud check: an answer that takes `check` to arrive.
asio::awaitable<void> fraud_check(std::chrono::milliseconds check) {
  asio::steady_timer timer(co_await asio::this_coro::executor, check);
  co_await timer.async_wait(asio::use_awaitable);
}

asio::awaitable<void> deposit(Bank& bank, long amount, std::chrono::milliseconds check) {
  const long seen = bank.balance.load();  // read...
  co_await fraud_check(check);            // ...other deposits read the same balance meanwhile...
  bank.balance.store(seen + amount);      // ...and this write overwrites theirs
}

asio::awaitable<void> client(Bank& bank, int deposits, std::chrono::milliseconds check) {
  for (int i = 0; i < deposits; ++i) co_await deposit(bank, 1, check);
}

// `before_run` lets a caller add coroutines of its own (the test adds a heartbeat) before the threads start.
long run_clients(int clients, int deposits, std::chrono::milliseconds check,
                 const std::function<void(asio::io_context&)>& before_run = {}) {
  Bank bank;
  asio::io_context io;
  for (int c = 0; c < clients; ++c)
    asio::co_spawn(io, client(bank, deposits, check), [](std::exception_ptr error) {
      if (error) std::rethrow_exception(error);
    });
  if (before_run) before_run(io);
  std::jthread second([&io] { io.run(); });  // two threads serve the same io_context
  io.run();
  second.join();
  return bank.balance.load();
}

#ifndef PLAYGROUND_NO_MAIN  // the test includes this file and brings its own main
int main(int argc, char** argv) {
  int clients = 8;
  int deposits = 5;
  int check_ms = 5;
  pg::Flags flags("balance_across_await", "Exercise: deposits that await a check; keep the balance exact.");
  flags.add("--clients", clients, "coroutines making deposits", 1, 1'000);
  flags.add("--deposits", deposits, "deposits per client", 1, 1'000);
  flags.add("--check-ms", check_ms, "how long each fraud check takes", 0, 1'000);
  if (auto status = flags.parse(argc, argv)) return *status;
  pg::Stopwatch clock;
  const long balance = run_clients(clients, deposits, std::chrono::milliseconds(check_ms));
  fmt::print("balance {} of {} in {:.0f} ms\n", balance, static_cast<long>(clients) * deposits, clock.elapsed_ms());
  return 0;
}
#endif
