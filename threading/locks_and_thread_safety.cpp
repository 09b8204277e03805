// locks_and_thread_safety: a mutex lets one thread at a time run a critical section; an atomic makes one step
// indivisible.
//
// What you will see: threads incrementing a shared counter lose updates when nothing coordinates
// them; the same count made exact with a std::mutex and with a std::atomic, with the measured cost of
// each; a shared list with a rule ("no duplicates") that breaks when the check and the insert are
// locked separately and holds when one lock covers both; and two threads transferring money in
// opposite directions that deadlock when each takes its two locks in its own order (bounded here
// with a timeout, so the lesson never hangs), fixed by std::scoped_lock.
//
// Run it:   build/default/threading/locks_and_thread_safety --threads 4 --increments 1000000
// Build it by hand:
//   g++ -std=c++20 -O2 -I common threading/locks_and_thread_safety.cpp -lfmt -pthread -o locks_and_thread_safety
//
// Mirrors locks_and_thread_safety.py from the Python playground:
//   lock = threading.Lock()        -> std::mutex mutex;
//   with lock: ...                 -> { std::lock_guard lock(mutex); ... }   (unlocks at the closing brace)
//   with lock_a, lock_b: ...       -> std::scoped_lock lock(a, b);           (deadlock-free, any order)
//   lock.acquire(timeout=t)        -> std::timed_mutex::try_lock_for(t)
//   counter += 1 under a lock      -> ++counter under a lock, or counter.fetch_add(1) on a std::atomic
//
// What differs in C++: no GIL. In Python the GIL makes many single operations (list.append) atomic by
// accident; in C++ nothing is, and two threads touching the same plain variable without a lock is a
// data race: undefined behaviour, not just a wrong result. Section 1 therefore shows the lost updates
// with std::atomic load and store as two steps (well defined); ThreadSanitizer (the tsan preset) finds
// the real data races in your own code.

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <latch>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "playground.hpp"

using namespace std::chrono_literals;

// ---- Plumbing used by every section ---------------------------------------------------------------
// Run `body(t)` on `threads` threads that all start together (held at a std::latch until the last one
// is ready), each inside a timeline span named "<label> t", and join them all. If a thread cannot be
// started (std::system_error: the system is out of threads), the ones already started are let go
// (their missing partners are counted down at the latch) and joined by their std::jthread's
// destructor, and the error reaches the caller. With std::thread, destroying the vector of running
// threads on the way out would call std::terminate; without the count_down, they would wait at the
// latch for ever.
template <class Body>
void run_together(int threads, const std::string& label, pg::Timeline& timeline, Body body) {
  std::latch start(threads);
  std::vector<std::jthread> workers;
  workers.reserve(static_cast<std::size_t>(threads));
  try {
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        start.arrive_and_wait();
        auto span = timeline.scope(fmt::format("{} {}", label, t));
        body(t);
      });
    }
  } catch (...) {
    start.count_down(threads - static_cast<std::ptrdiff_t>(workers.size()));
    throw;
  }
}  // each std::jthread joins its thread here

// -------------------------------------------------------------------------------------------------
// 1. BROKEN: no lock, lost updates
// -------------------------------------------------------------------------------------------------
// `counter += 1` is read, add, write. Two threads that read the same value both write value + 1, and
// one increment is lost. (threading/thread_basics shows the same.) On a plain int this would be a data
// race and undefined behaviour, so the read and the write are two separate, well-defined std::atomic
// operations, with a yield between them that lets another thread slip in.

int count_without_lock(int threads, int increments, pg::Timeline& timeline) {
  std::atomic<int> counter{0};
  run_together(threads, "no lock", timeline, [&](int) {
    for (int i = 0; i < increments; ++i) {
      const int seen = counter.load();
      std::this_thread::yield();  // the window in which other threads' updates get overwritten
      counter.store(seen + 1);
    }
  });
  return counter.load();
}

// -------------------------------------------------------------------------------------------------
// 2. FIXED with a mutex
// -------------------------------------------------------------------------------------------------
// A std::mutex admits one thread at a time. std::lock_guard locks it in its constructor and unlocks
// it in its destructor, so the unlock happens however the block is left (even by an exception): the
// C++ spelling of Python's `with lock:`. std::scoped_lock does the same and can take several mutexes
// (section 5). While a thread holds the lock, the others wait, so the read-add-write of a plain int
// inside it cannot interleave, and the lock also makes each thread's write visible to the next.

int count_with_mutex(int threads, int increments, pg::Timeline& timeline) {
  int counter = 0;  // a plain int is fine: every access is under the mutex
  std::mutex mutex;
  run_together(threads, "mutex", timeline, [&](int) {
    for (int i = 0; i < increments; ++i) {
      std::lock_guard lock(mutex);
      ++counter;
    }  // unlocked here, every iteration
  });
  return counter;
}

// -------------------------------------------------------------------------------------------------
// 3. FIXED without a lock: std::atomic::fetch_add
// -------------------------------------------------------------------------------------------------
// For one integer, an atomic read-modify-write does the whole job in one indivisible step (on x86 a
// single `lock xadd` instruction): no thread ever waits for another to unlock. It only helps when the
// shared state is that one variable; as soon as two things must change together (section 4), you
// need a lock again.
//
// Both fixes have a price, and contention raises it. main() runs each fix twice on the same total
// work: once split over `threads` threads that all start together (their timeline bars overlap: all
// of them are running, but only one at a time can hold the lock), and once by one thread alone. The
// threads together spend more CPU time per increment than the lone thread: they wait for the lock
// (which puts a thread to sleep and wakes it up again, both system calls) and pass the counter's cache
// line (the 64 bytes of memory around it) from core to core. Parallel threads only pay off when most
// of their work happens outside the lock.

int count_with_atomic(int threads, int increments, pg::Timeline& timeline) {
  std::atomic<int> counter{0};
  run_together(threads, "atomic", timeline, [&](int) {
    for (int i = 0; i < increments; ++i) counter.fetch_add(1);
  });
  return counter.load();
}

// -------------------------------------------------------------------------------------------------
// 4. A compound operation: check-then-act must hold the lock across both steps
// -------------------------------------------------------------------------------------------------
// A list of unique names, with a rule (an invariant): no name appears twice. Adding is two steps:
// check that the name is absent, then append it. Locking each step separately makes each step safe
// and the *operation* unsafe: two threads can both check, both see "absent", and both append. Every
// access is under the mutex, so there is no data race and no undefined behaviour; the bug is in the
// logic. The fix is to hold one lock from the check to the append, so no other thread can act on a
// check that is no longer true.

// The work done between the check and the append (think: building the record to insert). Half a
// millisecond is long enough that the threads, once they run at the same time, meet in the window on
// nearly every name, even on a busy machine.
constexpr auto check_then_act_work = 500us;

class UniqueList {
 public:
  // BROKEN: the check and the append are each locked, but not together.
  bool add_check_then_act_broken(int item) {
    {
      std::lock_guard lock(mutex_);
      if (std::find(items_.begin(), items_.end(), item) != items_.end()) return false;
    }                                                  // unlocked: another thread may add `item` right now
    std::this_thread::sleep_for(check_then_act_work);  // work here widens that window: every run shows it
    std::lock_guard lock(mutex_);
    items_.push_back(item);
    return true;
  }

  // FIXED: one lock covers the check and the append.
  bool add(int item) {
    std::lock_guard lock(mutex_);
    if (std::find(items_.begin(), items_.end(), item) != items_.end()) return false;
    std::this_thread::sleep_for(check_then_act_work);  // the same work: harmless, the others wait at the lock
    items_.push_back(item);
    return true;
  }

  [[nodiscard]] std::vector<int> items() const {
    std::lock_guard lock(mutex_);
    return items_;
  }

 private:
  mutable std::mutex mutex_;  // guards items_; `mutable` so the const items() can lock it
  std::vector<int> items_;
};

// Every thread tries to add the same names 0..names-1. Returns the list afterwards.
std::vector<int> fill_unique_list(int threads, int names, bool broken, pg::Timeline& timeline) {
  UniqueList list;
  run_together(threads, broken ? "separate locks" : "one lock", timeline, [&](int) {
    for (int name = 0; name < names; ++name) {
      if (broken) {
        list.add_check_then_act_broken(name);
      } else {
        list.add(name);
      }
    }
  });
  return list.items();
}

// How many times each name appears (the invariant says: exactly once).
std::map<int, int> count_each(const std::vector<int>& items) {
  std::map<int, int> counts;
  for (int item : items) ++counts[item];
  return counts;
}

// -------------------------------------------------------------------------------------------------
// 5. Deadlock from lock-order inversion, and std::scoped_lock
// -------------------------------------------------------------------------------------------------
// A transfer between two accounts must change both balances together, so it locks both. Thread 1
// moves money from A to B and locks A, then B. Thread 2 moves money from B to A and locks B, then A.
// If each gets its first lock, each waits forever for the lock the other holds: a deadlock. With
// plain lock() the program would hang; to keep this lesson bounded, the BROKEN version waits for its
// second lock at most `patience` (std::timed_mutex::try_lock_for) and counts a deadlock when it gives
// up. Nothing is transferred then, so the total stays right; the transfer just fails.
//
// FIXED: std::scoped_lock(a, b) locks both mutexes with a deadlock-avoidance algorithm (the same as
// std::lock): it never holds one while blocking on the other, so the argument order does not matter.
// The other classic fix is a global order: always lock the account with the lower id first.

struct Account {
  std::timed_mutex mutex;  // a timed mutex only so the broken version can give up; std::mutex otherwise
  long balance = 0;
};

// BROKEN: locks `from`, then `to`. Returns false when it gave up on the second lock (a deadlock).
bool transfer_inverted(Account& from, Account& to, long amount, std::chrono::milliseconds window,
                       std::chrono::milliseconds patience) {
  std::unique_lock first(from.mutex);
  std::this_thread::sleep_for(window);  // some work between the two locks: the other thread gets its first
  // Wait at most `patience` for the second lock; plain lock() would wait forever here. This is
  // to.mutex.try_lock_for(patience), spelled as try_lock_until on the system clock because g++ 12's
  // try_lock_for calls pthread_mutex_clocklock, which ThreadSanitizer does not follow (it then reports
  // a false "unlock of an unlocked mutex").
  std::unique_lock second(to.mutex, std::chrono::system_clock::now() + patience);
  if (!second.owns_lock()) return false;
  from.balance -= amount;
  to.balance += amount;
  return true;
}

// FIXED: both locks at once, in any order, without deadlock.
void transfer_scoped(Account& from, Account& to, long amount, std::chrono::milliseconds window) {
  std::scoped_lock both(from.mutex, to.mutex);
  std::this_thread::sleep_for(window);  // the same work, now with both locks held
  from.balance -= amount;
  to.balance += amount;
}

struct TransferReport {
  long total_before = 0;
  long total_after = 0;
  int done = 0;       // transfers that happened
  int deadlocks = 0;  // transfers that gave up waiting for their second lock (broken version only)
};

// Two threads, `transfers` each: thread 0 moves 1 from A to B, thread 1 moves 1 from B to A.
TransferReport run_transfers(bool broken, int transfers, std::chrono::milliseconds window,
                             std::chrono::milliseconds patience, pg::Timeline& timeline) {
  Account a;
  Account b;
  a.balance = 1'000;
  b.balance = 1'000;
  std::atomic<int> done{0};
  std::atomic<int> deadlocks{0};
  run_together(2, broken ? "inverted" : "scoped_lock", timeline, [&](int t) {
    Account& from = t == 0 ? a : b;
    Account& to = t == 0 ? b : a;
    for (int i = 0; i < transfers; ++i) {
      if (!broken) {
        transfer_scoped(from, to, 1, window);
        done.fetch_add(1);
      } else if (transfer_inverted(from, to, 1, window, patience)) {
        done.fetch_add(1);
      } else {
        deadlocks.fetch_add(1);
      }
    }
  });
  return {2'000, a.balance + b.balance, done.load(), deadlocks.load()};
}

// -------------------------------------------------------------------------------------------------
// main: run the sections in order
// -------------------------------------------------------------------------------------------------

#ifndef PLAYGROUND_NO_MAIN  // the tests include this file and bring their own main
int main(int argc, char** argv) {
  int threads = 4;
  int increments = 1'000'000;
  int racy_increments = 10'000;
  int names = 200;
  int transfers = 10;
  int window_ms = 2;
  int patience_ms = 20;
  pg::TraceFile trace;
  pg::Flags flags("locks_and_thread_safety", "Lost updates, mutex vs atomic, check-then-act, and lock-order deadlock.");
  flags.add("--threads", threads, "threads in sections 1 to 4", 1, 16);
  flags.add("--racy-increments", racy_increments, "increments per thread in section 1 (slow: it yields)", 0, 200'000);
  flags.add("--increments", increments, "increments per thread in sections 2 and 3", 0, 5'000'000);
  flags.add("--names", names, "names each thread tries to add in section 4", 0, 100'000);
  flags.add("--transfers", transfers, "transfers per thread in section 5", 0, 10'000);
  flags.add("--window-ms", window_ms, "work between the two locks of a transfer, in milliseconds", 0, 1'000);
  flags.add("--patience-ms", patience_ms, "how long the broken transfer waits for its second lock", 1, 10'000);
  trace.add_flags(flags);  // --trace FILE and --html FILE
  if (auto status = flags.parse(argc, argv)) return *status;
  if (auto status = trace.open()) return *status;
  const long expected = static_cast<long>(threads) * increments;

  // Look for: far fewer than threads x increments. The threads overlap on the timeline, and every
  // overlap is a chance to overwrite another thread's update.
  pg::banner(fmt::format("1. BROKEN: {} threads x {} increments, no lock", threads, racy_increments));
  const long racy_expected = static_cast<long>(threads) * racy_increments;
  pg::Timeline unlocked("no lock");
  const int lost = count_without_lock(threads, racy_increments, unlocked);
  unlocked.print();
  trace.add(unlocked);
  fmt::print("  counter = {} of {}: {} updates lost (each one a thread's store overwriting another's)\n", lost,
             racy_expected, racy_expected - lost);

  // Look for: both counts exact, every run. The bars of each timeline overlap (every thread is running
  // the whole time), yet each increment costs more CPU than when one thread does them all alone: that
  // is the cost of contention. Try --threads 1 and --threads 2.
  pg::banner(
      fmt::format("2 and 3. FIXED: {} threads x {} increments, std::mutex and std::atomic", threads, increments));
  // Each run is measured in elapsed time and in CPU time (what all its threads used, summed). On a
  // busy machine elapsed time mostly says how much of the machine we got; CPU time per increment is
  // what the increments themselves cost, so the comparison uses it.
  struct Measured {
    int count = 0;
    double elapsed_ms = 0;
    double cpu_ms = 0;
  };
  auto measure = [](auto&& run) {
    const auto cpu_before = pg::process_cpu_time();
    pg::Stopwatch clock;
    Measured m;
    m.count = run();
    m.elapsed_ms = clock.elapsed_ms();
    m.cpu_ms = pg::ms(pg::process_cpu_time() - cpu_before);
    return m;
  };
  pg::Timeline locked("mutex");
  const auto mutex_run = measure([&] { return count_with_mutex(threads, increments, locked); });
  locked.print();
  trace.add(locked);
  pg::Timeline atomic("atomic");
  const auto atomic_run = measure([&] { return count_with_atomic(threads, increments, atomic); });
  atomic.print();
  trace.add(atomic);
  // The same total work on one thread: nobody to wait for, and the counter stays in one core's cache.
  const int all_increments = static_cast<int>(expected);
  pg::Timeline alone("one thread");  // not printed: a single bar
  const auto mutex_alone = measure([&] { return count_with_mutex(1, all_increments, alone); });
  const auto atomic_alone = measure([&] { return count_with_atomic(1, all_increments, alone); });
  const double per = 1e6 / static_cast<double>(std::max(expected, 1L));  // ms -> ns per increment
  auto compare = [&](const char* name, const Measured& together, const Measured& by_one) {
    fmt::print(
        "  {}: {} of {} in {:.1f} ms on {} threads, {:.1f} ns of CPU per increment; one thread alone: {:.1f} ns\n",
        name, together.count, expected, together.elapsed_ms, threads, together.cpu_ms * per, by_one.cpu_ms * per);
    if (threads == 1) return;
    const double ratio = together.cpu_ms / std::max(by_one.cpu_ms, 1e-3);
    if (ratio >= 1.2) {
      fmt::print("    contention: each increment cost {:.1f}x the CPU it costs one thread alone\n", ratio);
    } else {
      fmt::print(
          "    about the CPU of one thread alone ({:.1f}x): the threads rarely met, running one after another\n"
          "    (see the bars: on a busy machine other programs hold the cores in between)\n",
          ratio);
    }
  };
  compare("mutex ", mutex_run, mutex_alone);
  compare("atomic", atomic_run, atomic_alone);

  // Look for: duplicates only with separate locks, although every single list access is locked.
  pg::banner(fmt::format("4. A list with no duplicates: {} threads each add names 0..{}", threads, names - 1));
  pg::Timeline separate("separate locks");
  const auto broken_list = fill_unique_list(threads, names, true, separate);
  separate.print();
  trace.add(separate);
  pg::Timeline whole("one lock");
  const auto fixed_list = fill_unique_list(threads, names, false, whole);
  whole.print();
  trace.add(whole);
  fmt::print("  BROKEN (check and append locked separately): {} items for {} names, {} duplicates\n",
             broken_list.size(), names, broken_list.size() - count_each(broken_list).size());
  fmt::print("  FIXED  (one lock around both):               {} items for {} names, {} duplicates\n", fixed_list.size(),
             names, fixed_list.size() - count_each(fixed_list).size());

  // Look for: the inverted version gives up on some transfers (each give-up is a deadlock that plain
  // lock() would never leave); scoped_lock finishes every transfer. The total is right in both: a
  // transfer that gave up changed nothing.
  pg::banner(fmt::format("5. Two threads, {} transfers each, A->B and B->A", transfers));
  pg::Timeline inverted("inverted");
  const auto broken = run_transfers(true, transfers, std::chrono::milliseconds(window_ms),
                                    std::chrono::milliseconds(patience_ms), inverted);
  inverted.print();
  trace.add(inverted);
  fmt::print("  BROKEN (each locks its `from` first): {} done, {} deadlocks (gave up after {} ms), total {} -> {}\n",
             broken.done, broken.deadlocks, patience_ms, broken.total_before, broken.total_after);
  pg::Timeline scoped("scoped_lock");
  const auto fixed = run_transfers(false, transfers, std::chrono::milliseconds(window_ms),
                                   std::chrono::milliseconds(patience_ms), scoped);
  scoped.print();
  trace.add(scoped);
  fmt::print("  FIXED  (std::scoped_lock on both):    {} done, {} deadlocks, total {} -> {}\n", fixed.done,
             fixed.deadlocks, fixed.total_before, fixed.total_after);

  if (!trace.write()) return 1;
  fmt::print(
      "\nTakeaway: guard shared data with a mutex for the whole operation (an atomic for a lone counter),\n"
      "and take several locks at once with std::scoped_lock.\n");
  return 0;
}
#endif

// -------------------------------------------------------------------------------------------------
// Try this: change one thing, predict what the output will show, then run it. The answers below were
// checked with g++ 12 on Linux. Rebuild with `cmake --build build/default --target
// locks_and_thread_safety`, and undo a change with `git checkout threading/locks_and_thread_safety.cpp`.
// -------------------------------------------------------------------------------------------------
// 1. Run `build/default/threading/locks_and_thread_safety --threads 1`. What do sections 1 and 4
//    report for their BROKEN versions?
//    Answer: "10000 of 10000: 0 updates lost" and "200 items for 200 names, 0 duplicates": with one
//    thread the broken code gives the right answer, which is why races slip through tests run on one
//    thread. (Section 5 always uses two threads, so its deadlocks remain.)
//
// 2. In transfer_scoped, replace `std::scoped_lock both(from.mutex, to.mutex);` with two lines,
//    `std::lock_guard first(from.mutex);` then `std::lock_guard second(to.mutex);`.
//    Answer: the program hangs in section 5, right after the BROKEN line (press Ctrl-C). Each thread
//    holds its `from` lock and waits for ever for the other's: a deadlock, now with no time limit.
//    scoped_lock takes both locks without ever holding one while it waits for the other.
//
// Next: threading/memory_ordering.cpp: the rule under every lock and atomic of this lesson: what one
// thread's writes look like to another, counted on this machine.
