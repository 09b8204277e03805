// clang-format off
// SOLUTION balance_across_await (the exercise is exercises/basics/balance_across_await.cpp).
//
// Why it works: the balance is never written from a value read before the await. The deposit awaits
// its check first and then adds its amount with fetch_add, one indivisible read-modify-write that no
// other thread can split; no lock is held across the co_await, so no thread ever waits. Checks of
// different deposits still overlap. When the critical section really must contain the await (write
// a value computed from what was read before it), hold an async mutex across it, as section 5a of
// basics/shared_state_in_async.cpp does: a second coroutine then suspends instead of blocking a thread.
//
// Tempting wrong fixes the test rejects: a std::mutex held from the read to the write deadlocks (the
// two threads block in lock() while the holder waits for a thread to resume it; unlocking it from the
// other thread would also be undefined behaviour); a std::mutex taken for the read and again for the
// write loses the same deposits as before; running every client on one strand loses them too (the
// strand lets another coroutine in at every co_await); skipping the check, or replacing it with a
// blocking sleep under a lock, is caught by the run's duration and by the heartbeat. Moving the load
// after the await without fetch_add leaves a window between load and store that two threads can still
// split: it loses deposits only now and then, which is worse than always.

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

asio::awaitable<void> fraud_check(std::chrono::milliseconds check) {
  asio::steady_timer timer(co_await asio::this_coro::executor, check);
  co_await timer.async_wait(asio::use_awaitable);
}

asio::awaitable<void> deposit(Bank& bank, long amount, std::chrono::milliseconds check) {
  co_await fraud_check(check);     // first the check: nothing read yet, so nothing to go stale
  bank.balance.fetch_add(amount);  // then read, add and write in one step
}

asio::awaitable<void> client(Bank& bank, int deposits, std::chrono::milliseconds check) {
  for (int i = 0; i < deposits; ++i) co_await deposit(bank, 1, check);
}

long run_clients(int clients, int deposits, std::chrono::milliseconds check,
                 const std::function<void(asio::io_context&)>& before_run = {}) {
  Bank bank;
  asio::io_context io;
  for (int c = 0; c < clients; ++c)
    asio::co_spawn(io, client(bank, deposits, check), [](std::exception_ptr error) {
      if (error) std::rethrow_exception(error);
    });
  if (before_run) before_run(io);
  std::jthread second([&io] { io.run(); });
  io.run();
  second.join();
  return bank.balance.load();
}

#ifndef PLAYGROUND_NO_MAIN
int main(int argc, char** argv) {
  int clients = 8;
  int deposits = 5;
  int check_ms = 5;
  pg::Flags flags("balance_across_await", "Solution: deposits that await a check, with an exact balance.");
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
