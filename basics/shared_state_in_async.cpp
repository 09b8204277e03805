// shared_state_in_async: state shared by coroutines that run on several threads, five ways.
// New to C++ or Asio? PRIMER.md explains the words used here (strand, executor, as_tuple).
//
// What you will see: one io_context run by two threads, and many coroutines depositing into a few
// shared accounts. In asyncio, the code between two awaits runs alone, so `balance += 1` needs no
// lock. Here it does not: two threads run two coroutines at the same moment. The same deposits are
// made five ways, each timed and checked against the exact total:
//   1. no protection: updates are lost;
//   2. a std::mutex held only between awaits: exact and cheap;
//   3. a std::mutex held across a co_await: wrong, and why (the threads block, the coroutine may
//      resume on another thread); shown without running the undefined behaviour;
//   4. a strand per account: the account's coroutines never run at the same time, asyncio's rule back;
//   5. an async mutex made from a channel, and an owner coroutine that alone holds the balances and
//      takes deposits over a channel (an actor, Go's "stateful goroutine").
//
// Run it:   build/default/basics/shared_state_in_async --threads 2 --coroutines 8 --updates 2000
// Build it by hand:
//   g++ -std=c++20 -O2 -I common basics/shared_state_in_async.cpp -lfmt -pthread -o shared_state_in_async
//
// Mirrors the question every asyncio user meets when a loop gets several threads:
//   asyncio: code between awaits is atomic    -> only within one strand (section 4)
//   asyncio.Lock held across an await          -> an async mutex (section 5); never a std::mutex (section 3)
//   threading.Lock around a short update       -> std::mutex, released before the next co_await (section 2)
//   one task owning the state, fed by a Queue  -> an owner coroutine and a concurrent_channel (section 5)
// Channels live in asio::experimental (Asio 1.22 to 1.38): `channel` for one thread, `concurrent_channel`
// (the same with a mutex inside) when several threads send and receive, as here.

#include <asio.hpp>
#include <asio/experimental/concurrent_channel.hpp>
// as_tuple lives in asio::experimental in Asio 1.22 and in asio from 1.28 on (async_queues_and_channels).
#if ASIO_VERSION >= 102800
#include <asio/as_tuple.hpp>
using asio::as_tuple;
#else
#include <asio/experimental/as_tuple.hpp>
using asio::experimental::as_tuple;
#endif

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <exception>
#include <mutex>
#include <semaphore>
#include <string>
#include <thread>
#include <vector>

#include "playground.hpp"

// What every way is given: `coroutines` coroutines, each making `updates` deposits of 1 into account
// (its number % accounts), on one io_context run by `threads` threads. Sections 3 and 5a hold the lock
// across an await of `hold` (a call to a slow service) and make `held_updates` deposits each.
struct Setup {
  int threads = 2;
  int coroutines = 8;
  int accounts = 4;
  int updates = 2'000;
  int held_updates = 3;
  std::chrono::milliseconds hold{2};
  std::chrono::milliseconds lock_timeout{50};
};

struct Outcome {
  long expected = 0;
  long total = 0;  // the sum of the balances at the end
  double ms = 0;   // from the first thread's run() to the last thread's end
};

// An account's balance is a plain long, guarded by whichever way the section uses. Section 1 alone uses
// `unguarded`, a std::atomic, so that its lost updates are well defined: the read and the write are two
// separate atomic steps, and another thread's deposit can fall between them. On the plain long that
// would be a data race: undefined behaviour, which ThreadSanitizer reports (Try this 2). The yield
// between read and write stands for any work there, and makes a collision likely.
struct Account {
  long balance = 0;
  std::atomic<long> unguarded{0};      // section 1
  std::mutex mutex;                    // section 2
  std::binary_semaphore held_lock{1};  // section 3 (why a semaphore: see there)
};

void deposit_in_two_steps(std::atomic<long>& balance, long amount) {
  const long seen = balance.load();
  std::this_thread::yield();  // the window in which another thread's deposit is overwritten
  balance.store(seen + amount);
}
void deposit_in_two_steps(long& balance, long amount) {  // the same for a guarded plain long
  const long seen = balance;
  std::this_thread::yield();
  balance = seen + amount;
}

// Between deposits each coroutine waits for its next request: here, a post to its executor, which puts
// it back in the io_context's queue, so the coroutines interleave and may resume on either thread.
asio::awaitable<void> next_request() { co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable); }

double run_threads(asio::io_context& io, int threads);  // io.run() on `threads` threads (plumbing, below)
const auto rethrow = [](std::exception_ptr error) {     // co_spawn's handler: an exception leaves run()
  if (error) std::rethrow_exception(error);
};

long sum_of(const std::deque<Account>& accounts) {
  long total = 0;
  for (const auto& account : accounts) total += account.balance + account.unguarded.load();
  return total;
}

// -------------------------------------------------------------------------------------------------
// 1. No protection: updates are lost
// -------------------------------------------------------------------------------------------------
// There is no await between the read and the write, so on a one-thread loop (asyncio's case) nothing
// could come between them. With two threads, two coroutines deposit into one account at once.

asio::awaitable<void> deposit_unprotected(Account& account, int updates) {
  for (int i = 0; i < updates; ++i) {
    co_await next_request();
    deposit_in_two_steps(account.unguarded, 1);
  }
}

// -------------------------------------------------------------------------------------------------
// 2. A std::mutex held only between awaits: exact and cheap
// -------------------------------------------------------------------------------------------------
// The lock is taken and released between two co_awaits, on one thread, in a few nanoseconds when
// nobody else holds it. Rule: no co_await while a std::mutex is locked.

asio::awaitable<void> deposit_with_mutex(Account& account, int updates) {
  for (int i = 0; i < updates; ++i) {
    co_await next_request();
    const std::lock_guard lock(account.mutex);  // released at the end of this iteration, before any await
    deposit_in_two_steps(account.balance, 1);
  }
}

// -------------------------------------------------------------------------------------------------
// 3. A std::mutex held across a co_await: wrong
// -------------------------------------------------------------------------------------------------
// Sometimes the update must await inside the critical section: read the balance, ask a slow service
// (here a timer of `hold`), write. Holding a std::mutex across that co_await is wrong twice over:
//   - the coroutine may resume on the other thread, and unlocking a std::mutex from a thread that does
//     not own it is undefined behaviour;
//   - while the holder is suspended, every coroutine that wants the lock *blocks its thread* in
//     lock(). With two threads, two such coroutines block both, and the holder's timer has no thread
//     left to resume it: a deadlock, for ever.
// To show this without the undefined behaviour, the lock here is a std::binary_semaphore (it has no
// owner: any thread may release it) taken with a timeout. The output counts the attempts that gave up,
// the most threads blocked at once, and how often the holder resumed on another thread than the one
// that locked (each of those would have been the undefined unlock).

struct HeldOutcome : Outcome {
  std::atomic<int> gave_up{0};            // lock attempts that timed out: that deposit was refused
  std::atomic<int> resumed_elsewhere{0};  // held sections that ended on another thread
  std::atomic<int> blocked_now{0};        // threads inside try_acquire_for right now
  std::atomic<int> most_blocked{0};       // the most there ever were at once
};

asio::awaitable<void> deposit_holding_lock_across_await(Account& account, int who, const Setup& setup, HeldOutcome& out,
                                                        pg::Timeline& gave_up) {
  asio::steady_timer slow_service(co_await asio::this_coro::executor);
  for (int i = 0; i < setup.held_updates; ++i) {
    co_await next_request();
    pg::Span waiting = pg::Timeline::start_span(fmt::format("coroutine {} blocks", who));
    const int blocked = ++out.blocked_now;
    for (int most = out.most_blocked.load();
         blocked > most && !out.most_blocked.compare_exchange_weak(most, blocked);) {
    }
    const bool locked = account.held_lock.try_acquire_for(setup.lock_timeout);  // blocks this thread
    --out.blocked_now;
    if (!locked) {
      ++out.gave_up;
      gave_up.finish(std::move(waiting));
      continue;
    }
    const int locked_on = pg::thread_number();
    const long seen = account.balance;
    slow_service.expires_after(setup.hold);
    co_await slow_service.async_wait(asio::use_awaitable);  // suspended, lock held
    account.balance = seen + 1;
    if (pg::thread_number() != locked_on) ++out.resumed_elsewhere;
    account.held_lock.release();
  }
}

// -------------------------------------------------------------------------------------------------
// 4. A strand per account
// -------------------------------------------------------------------------------------------------
// A strand is an executor that runs its handlers one at a time, in order, on whichever thread is free:
// never two at once. Each coroutine runs on the strand of its account (co_spawn on the strand), so it
// resumes only there, and between two awaits it runs alone among that account's coroutines: asyncio's
// rule, per account. Different accounts still run in parallel on the two threads. `updates` records a
// span per deposit, named after the account, so a test can check that one account's spans never overlap.

asio::awaitable<void> deposit_on_strand(Account& account, int account_number, int updates, pg::Timeline& spans) {
  for (int i = 0; i < updates; ++i) {
    co_await next_request();  // posts to this coroutine's executor: the strand
    auto span = spans.scope(fmt::format("account {}", account_number));
    deposit_in_two_steps(account.balance, 1);  // no lock: the strand runs one of these at a time
  }
}

// -------------------------------------------------------------------------------------------------
// 5a. An async mutex made from a channel
// -------------------------------------------------------------------------------------------------
// A channel with room for one message is a lock: sending into the empty slot is taking the lock, and a
// second sender *suspends* (its thread stays free) until the holder takes the message out again. A
// concurrent_channel, because the plain channel is not thread-safe. Held across the same slow call as
// section 3, it is correct: nobody blocks a thread, and a coroutine may release it from any thread.

class AsyncMutex {
 public:
  explicit AsyncMutex(asio::io_context& io) : slot_(io.get_executor(), 1) {}

  // Unlocks when destroyed, like std::lock_guard; made by lock().
  class Guard {
   public:
    explicit Guard(AsyncMutex& mutex) : mutex_(&mutex) {}
    Guard(Guard&& other) noexcept : mutex_(std::exchange(other.mutex_, nullptr)) {}
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;
    Guard& operator=(Guard&&) = delete;
    ~Guard() {
      if (mutex_ != nullptr) mutex_->slot_.try_receive([](asio::error_code, int) {});  // empty the slot
    }

   private:
    AsyncMutex* mutex_;
  };

  asio::awaitable<Guard> lock() {
    co_await slot_.async_send(asio::error_code{}, 0, asio::use_awaitable);  // suspends while the slot is full
    co_return Guard(*this);
  }

 private:
  // The message is a dummy int: Asio 1.22 cannot make a channel of void(asio::error_code) alone.
  asio::experimental::concurrent_channel<void(asio::error_code, int)> slot_;
};

asio::awaitable<void> deposit_with_async_mutex(Account& account, AsyncMutex& mutex, const Setup& setup) {
  asio::steady_timer slow_service(co_await asio::this_coro::executor);
  for (int i = 0; i < setup.held_updates; ++i) {
    co_await next_request();
    const auto guard = co_await mutex.lock();
    const long seen = account.balance;
    slow_service.expires_after(setup.hold);
    co_await slow_service.async_wait(asio::use_awaitable);  // suspended, lock held: that is fine here
    account.balance = seen + 1;
  }
}

// -------------------------------------------------------------------------------------------------
// 5b. An owner coroutine: the balances belong to one coroutine, others send it requests
// -------------------------------------------------------------------------------------------------
// Nobody shares the balances at all: the owner keeps them in its own frame (a plain vector, no lock, no
// atomic) and serves deposits one by one from a channel. A sender that finds the channel full suspends.
// The last sender to finish sends an end marker, which arrives after every deposit (a channel is FIFO).
// `served` counts how often each request (sender, sequence number) was applied: exactly once each.

struct Deposit {
  int from = -1;  // the sending coroutine; -1 marks the end
  int sequence = 0;
  int account = 0;
  long amount = 0;
};
using DepositChannel = asio::experimental::concurrent_channel<void(asio::error_code, Deposit)>;

struct Ledger {
  std::vector<long> balances;
  std::vector<int> served;  // index: from * updates + sequence
};

asio::awaitable<Ledger> account_owner(DepositChannel& requests, const Setup& setup) {
  Ledger ledger{std::vector<long>(static_cast<std::size_t>(setup.accounts)),
                std::vector<int>(static_cast<std::size_t>(setup.coroutines) * static_cast<std::size_t>(setup.updates))};
  for (;;) {
    auto [error, deposit] = co_await requests.async_receive(as_tuple(asio::use_awaitable));
    if (error || deposit.from < 0) break;
    ledger.balances[static_cast<std::size_t>(deposit.account)] += deposit.amount;
    ++ledger.served[static_cast<std::size_t>(deposit.from * setup.updates + deposit.sequence)];
  }
  requests.close();  // a sender still sending would now get an error instead of waiting for ever
  co_return ledger;
}

asio::awaitable<void> send_deposits(DepositChannel& requests, int who, const Setup& setup,
                                    std::atomic<int>& senders_left) {
  for (int i = 0; i < setup.updates; ++i) {
    co_await next_request();
    co_await requests.async_send(asio::error_code{}, Deposit{who, i, who % setup.accounts, 1}, asio::use_awaitable);
  }
  if (--senders_left == 0) co_await requests.async_send(asio::error_code{}, Deposit{}, asio::use_awaitable);
}

// -------------------------------------------------------------------------------------------------
// The runs: one io_context per way, every coroutine spawned first, then run() on every thread
// -------------------------------------------------------------------------------------------------

template <class MakeDeposits>
Outcome run_way(const Setup& setup, int updates_each, std::deque<Account>& accounts, MakeDeposits make) {
  asio::io_context io;
  for (int who = 0; who < setup.coroutines; ++who) {
    Account& account = accounts[static_cast<std::size_t>(who % setup.accounts)];
    co_spawn(io, make(account, who), rethrow);
  }
  Outcome out;
  out.ms = run_threads(io, setup.threads);
  out.expected = static_cast<long>(setup.coroutines) * updates_each;
  out.total = sum_of(accounts);
  return out;
}

Outcome run_unprotected(const Setup& setup) {
  std::deque<Account> accounts(static_cast<std::size_t>(setup.accounts));
  return run_way(setup, setup.updates, accounts,
                 [&](Account& account, int) { return deposit_unprotected(account, setup.updates); });
}

Outcome run_mutex_between_awaits(const Setup& setup) {
  std::deque<Account> accounts(static_cast<std::size_t>(setup.accounts));
  return run_way(setup, setup.updates, accounts,
                 [&](Account& account, int) { return deposit_with_mutex(account, setup.updates); });
}

void run_mutex_held_across_await(const Setup& setup, HeldOutcome& out, pg::Timeline& gave_up) {
  std::deque<Account> accounts(static_cast<std::size_t>(setup.accounts));
  static_cast<Outcome&>(out) = run_way(setup, setup.held_updates, accounts, [&](Account& account, int who) {
    return deposit_holding_lock_across_await(account, who, setup, out, gave_up);
  });
}

Outcome run_strand_per_account(const Setup& setup, pg::Timeline& spans) {
  std::deque<Account> accounts(static_cast<std::size_t>(setup.accounts));
  asio::io_context io;
  std::vector<asio::strand<asio::io_context::executor_type>> strands;
  for (int a = 0; a < setup.accounts; ++a) strands.push_back(asio::make_strand(io));
  for (int who = 0; who < setup.coroutines; ++who) {
    const int a = who % setup.accounts;
    co_spawn(strands[static_cast<std::size_t>(a)],
             deposit_on_strand(accounts[static_cast<std::size_t>(a)], a, setup.updates, spans), rethrow);
  }
  Outcome out;
  out.ms = run_threads(io, setup.threads);
  out.expected = static_cast<long>(setup.coroutines) * setup.updates;
  out.total = sum_of(accounts);
  return out;
}

Outcome run_async_mutex(const Setup& setup) {
  std::deque<Account> accounts(static_cast<std::size_t>(setup.accounts));
  asio::io_context io;
  std::deque<AsyncMutex> mutexes;
  for (int a = 0; a < setup.accounts; ++a) mutexes.emplace_back(io);
  for (int who = 0; who < setup.coroutines; ++who) {
    const auto a = static_cast<std::size_t>(who % setup.accounts);
    co_spawn(io, deposit_with_async_mutex(accounts[a], mutexes[a], setup), rethrow);
  }
  Outcome out;
  out.ms = run_threads(io, setup.threads);
  out.expected = static_cast<long>(setup.coroutines) * setup.held_updates;
  out.total = sum_of(accounts);
  return out;
}

struct OwnerOutcome : Outcome {
  Ledger ledger;
};

OwnerOutcome run_owner(const Setup& setup) {
  asio::io_context io;
  DepositChannel requests(io.get_executor(), 64);
  std::atomic<int> senders_left{setup.coroutines};
  OwnerOutcome out;
  co_spawn(io, account_owner(requests, setup), [&out](std::exception_ptr error, Ledger ledger) {
    if (error) std::rethrow_exception(error);
    out.ledger = std::move(ledger);
  });
  for (int who = 0; who < setup.coroutines; ++who)
    co_spawn(io, send_deposits(requests, who, setup, senders_left), rethrow);
  out.ms = run_threads(io, setup.threads);
  out.expected = static_cast<long>(setup.coroutines) * setup.updates;
  for (long balance : out.ledger.balances) out.total += balance;
  return out;
}

// -------------------------------------------------------------------------------------------------
// Plumbing (can be skipped on a first reading): run one io_context on several threads
// -------------------------------------------------------------------------------------------------
// Every thread calls io.run(); they share its queue, and each handler runs on whichever thread takes
// it. An exception leaving run() on one thread stops the others and is rethrown here, once all joined.

double run_threads(asio::io_context& io, int threads) {
  std::mutex first_error_mutex;
  std::exception_ptr first_error;
  auto run = [&] {
    try {
      io.run();
    } catch (...) {
      const std::lock_guard lock(first_error_mutex);
      if (!first_error) first_error = std::current_exception();
      io.stop();
    }
  };
  pg::Stopwatch clock;
  {
    std::vector<std::jthread> others;
    for (int t = 1; t < threads; ++t) others.emplace_back(run);
    run();
  }  // joins the others
  const double ms = clock.elapsed_ms();
  if (first_error) std::rethrow_exception(first_error);
  return ms;
}

// How many pairs of spans with the same name overlap (for section 4: the same account).
int same_name_overlaps(std::vector<pg::Span> spans) {
  std::stable_sort(spans.begin(), spans.end(), [](const pg::Span& a, const pg::Span& b) {
    return a.name != b.name ? a.name < b.name : a.start < b.start;
  });
  int overlaps = 0;
  for (std::size_t i = 1; i < spans.size(); ++i)
    if (spans[i].name == spans[i - 1].name && pg::overlap(spans[i], spans[i - 1])) ++overlaps;
  return overlaps;
}

// -------------------------------------------------------------------------------------------------
// main: the five ways, then a table
// -------------------------------------------------------------------------------------------------

void print_outcome(const Outcome& out) {
  fmt::print("  total {} of {}: {} lost, {:.0f} ms\n", out.total, out.expected, out.expected - out.total, out.ms);
}

#ifndef PLAYGROUND_NO_MAIN  // the tests include this file and bring their own main
int main(int argc, char** argv) {
  Setup setup;
  int hold_ms = 2;
  int timeout_ms = 50;
  pg::Flags flags("shared_state_in_async", "Coroutines on two threads sharing accounts: five ways, measured.");
  flags.add("--threads", setup.threads, "threads that run the io_context", 1, 16);
  flags.add("--coroutines", setup.coroutines, "coroutines making deposits", 1, 1'000);
  flags.add("--accounts", setup.accounts, "shared accounts (coroutine i uses account i % accounts)", 1, 64);
  flags.add("--updates", setup.updates, "deposits per coroutine in sections 1, 2, 4 and 5b", 1, 100'000);
  flags.add("--held-updates", setup.held_updates, "deposits per coroutine in sections 3 and 5a", 0, 100);
  flags.add("--hold-ms", hold_ms, "the slow call awaited inside the lock in sections 3 and 5a", 0, 100);
  flags.add("--lock-timeout-ms", timeout_ms, "section 3 gives up a lock attempt after this long", 1, 1'000);
  if (auto status = flags.parse(argc, argv)) return *status;
  if (static_cast<long>(setup.coroutines) * setup.updates > 1'000'000) {
    fmt::print(stderr, "shared_state_in_async: --coroutines x --updates must be at most 1000000 (it is {})\n{}",
               static_cast<long>(setup.coroutines) * setup.updates, flags.usage());
    return 2;
  }
  setup.hold = std::chrono::milliseconds(hold_ms);
  setup.lock_timeout = std::chrono::milliseconds(timeout_ms);
  fmt::print("{} coroutines on {} thread{}, {} accounts; {} deposits each (sections 3 and 5a: {})\n", setup.coroutines,
             setup.threads, setup.threads == 1 ? "" : "s", setup.accounts, setup.updates, setup.held_updates);

  pg::banner("1. No protection");
  const auto cpu_before = pg::process_cpu_time();
  const Outcome unprotected = run_unprotected(setup);
  const double cores_got = pg::ms(pg::process_cpu_time() - cpu_before) / std::max(unprotected.ms, 1e-3);
  print_outcome(unprotected);
  if (unprotected.total < unprotected.expected) {
    fmt::print(
        "  each lost deposit was overwritten by a coroutine on the other thread: no await came between\n"
        "  read and write, yet two threads were inside at once (with --threads 1 none is lost)\n");
  } else if (setup.threads > 1) {
    fmt::print(
        "  none lost this time: the run got {:.1f} cores (CPU time / wall time), so the threads rarely ran\n"
        "  at the same moment; on a less busy machine deposits are lost. The code is wrong either way.\n",
        cores_got);
  } else {
    fmt::print("  none lost: one thread, and no await between read and write, so nothing came between them\n");
  }

  pg::banner("2. std::mutex held only between awaits");
  const Outcome mutex = run_mutex_between_awaits(setup);
  print_outcome(mutex);

  pg::banner(fmt::format("3. std::mutex held across a co_await of {} ms (shown with a timed lock)", hold_ms));
  // Every attempt may wait out the whole timeout, and 5a's holds run one after another per account.
  const double held_attempts = static_cast<double>(setup.coroutines) * setup.held_updates;
  const double worst_s = held_attempts * (timeout_ms + hold_ms) / setup.threads / 1000.0 +
                         held_attempts * hold_ms / std::min(setup.accounts, setup.coroutines) / 1000.0;
  if (worst_s > 5) fmt::print("  sections 3 and 5a may take up to {:.0f} s with these flags\n", worst_s);
  HeldOutcome held;
  pg::Timeline gave_up("gave up");
  run_mutex_held_across_await(setup, held, gave_up);
  gave_up.print(10);
  fmt::print("  total {} of {}: {} deposits refused, {:.0f} ms\n", held.total, held.expected, held.gave_up.load(),
             held.ms);
  fmt::print(
      "  {} lock attempts gave up after {} ms; up to {} of {} threads were blocked at once. While every\n"
      "  thread waits for the lock, none is left to resume its holder: with a std::mutex (no timeout)\n"
      "  that is a deadlock for ever. {} of {} held sections resumed on another thread than the one that\n"
      "  locked: with a std::mutex each of those unlocks would be undefined behaviour.\n",
      held.gave_up.load(), timeout_ms, held.most_blocked.load(), setup.threads, held.resumed_elsewhere.load(),
      held.total);

  pg::banner("4. A strand per account");
  pg::Timeline strand_spans("strand");
  const Outcome strand = run_strand_per_account(setup, strand_spans);
  print_outcome(strand);
  std::vector<int> threads_used;
  for (const auto& span : strand_spans.spans())
    if (std::find(threads_used.begin(), threads_used.end(), span.thread) == threads_used.end())
      threads_used.push_back(span.thread);
  fmt::print("  {} deposits on {} thread(s); deposits into one account overlapping in time: {}\n",
             strand_spans.spans().size(), threads_used.size(), same_name_overlaps(strand_spans.spans()));

  pg::banner(fmt::format("5a. An async mutex (a channel) held across the same {} ms await", hold_ms));
  const Outcome async_mutex = run_async_mutex(setup);
  print_outcome(async_mutex);

  pg::banner("5b. One owner coroutine, deposits sent over a channel");
  const OwnerOutcome owner = run_owner(setup);
  print_outcome(owner);
  const auto served_once = std::count(owner.ledger.served.begin(), owner.ledger.served.end(), 1);
  fmt::print(
      "  {} of {} requests served exactly once (the owner's deposits need no yield inside: nothing\n"
      "  can come between its read and write, so its time is not comparable with 1 to 4)\n",
      served_once, owner.ledger.served.size());

  pg::banner("Summary");
  fmt::print("  {:<44} {:>16} {:>8}\n", "way", "total / expected", "ms");
  const std::pair<const char*, const Outcome*> rows[] = {{"1. no protection", &unprotected},
                                                         {"2. std::mutex between awaits", &mutex},
                                                         {"3. lock held across an await (timed)", &held},
                                                         {"4. strand per account", &strand},
                                                         {"5a. async mutex across an await", &async_mutex},
                                                         {"5b. owner coroutine (actor)", &owner}};
  for (const auto& [name, out] : rows)
    fmt::print("  {:<44} {:>16} {:>8.0f}\n", name, fmt::format("{} / {}", out->total, out->expected), out->ms);
  fmt::print(
      "\nTakeaway: on a multi-threaded io_context, code between awaits is not atomic. Lock briefly and never\n"
      "across a co_await, or give each piece of state one strand or one owner; to wait inside a critical\n"
      "section, use a lock that suspends instead of blocking.\n");
  return 0;
}
#endif

// -------------------------------------------------------------------------------------------------
// Try this: change one thing, predict what the output will show, then run it. For a code change,
// rebuild with `cmake --build build/default --target shared_state_in_async`, and undo it afterwards
// with `git checkout basics/shared_state_in_async.cpp`.
// -------------------------------------------------------------------------------------------------
// 1. Run `build/default/basics/shared_state_in_async --threads 1`. What does section 1 show now?
//    Answer: "0 lost": with one thread, no coroutine runs between another's read and write, since
//    there is no await between them: asyncio's guarantee, which a second thread takes away. Section 3
//    still gives up: the one thread blocks in the lock while the holder waits to be resumed on it.
//
// 2. Build the tsan preset (`cmake --preset tsan`, then build this target in build/tsan), change
//    deposit_unprotected to deposit into `account.balance` (the plain long) instead of
//    `account.unguarded`, and run build/tsan/basics/shared_state_in_async.
//    Answer: "WARNING: ThreadSanitizer: data race" in deposit_in_two_steps, reached from section 1's
//    deposit_unprotected; without the change it stays silent: the mutex, the strand, the semaphore and
//    the async mutex order every access to the plain long, and in 5b only the owner touches its balances.
//
// 3. In run_strand_per_account, spawn on `io` instead of on the account's strand. What changes?
//    Answer: nothing keeps one account's deposits apart any more: "overlapping in time" is no longer
//    0, and the two threads now write the plain long at once, a data race. Built in the tsan preset,
//    ThreadSanitizer reports it every run; in the default build deposits are lost when the threads
//    collide, but a data race is undefined behaviour, so nothing that build prints is guaranteed.
//
// Next: multiprocessing/process_basics.cpp: processes, fork() and pipes, where nothing is shared
// unless you share it.
