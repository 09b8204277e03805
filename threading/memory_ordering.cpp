// memory_ordering: what one thread's writes look like to another, counted on this machine with
// litmus tests.
//
// What you will see: two tiny programs ("litmus tests") run a million times each on two threads that
// really overlap, with a table of how often each outcome happened for each std::memory_order, next
// to what the C++ memory model says about it (allowed or forbidden). Store buffering: each thread
// writes its own variable and reads the other's, and both can read the old value, on this very
// x86-64 machine, unless the order is seq_cst. Message passing: a payload then a flag; with
// release/acquire the reader that sees the flag always sees the payload. Then the smallest real use
// of acquire and release: a spin lock that counts exactly.
//
// Run it:   build/default/threading/memory_ordering --rounds 1000000
// Build it by hand:
//   g++ -std=c++20 -O2 -I common threading/memory_ordering.cpp -lfmt -pthread -o memory_ordering
//
// Mirrors nothing in Python: the GIL hands the interpreter from thread to thread with a lock, and a
// lock orders everything, so a Python program never meets the question this lesson asks. Every lock
// and atomic in the other lessons rests on the answer.
//
// The words: a std::atomic operation takes a std::memory_order that says what else it orders.
//   relaxed   the operation itself is atomic (no torn values, no lost read-modify-writes), and
//             nothing more: other memory operations may appear to move around it.
//   release   (a store) every write before it is visible to a thread whose acquire load reads it.
//   acquire   (a load) pairs with a release store: after reading its value, you see what was written
//             before that store. The pair creates "happens-before" between the two threads.
//   seq_cst   (the default when you name no order) acquire and release, and also one single order
//             of all seq_cst operations that every thread agrees on.

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <barrier>
#include <latch>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "playground.hpp"

// The orders the litmus tests compare. `seq_cst_fence` is relaxed stores and loads with a seq_cst
// fence (std::atomic_thread_fence) between each thread's store and its load.
enum class Order { relaxed, release_acquire, seq_cst, seq_cst_fence };

constexpr const char* order_name(Order order) {
  switch (order) {
    case Order::relaxed:
      return "relaxed";
    case Order::release_acquire:
      return "release/acquire";
    case Order::seq_cst:
      return "seq_cst";
    case Order::seq_cst_fence:
      return "relaxed + seq_cst fence";
  }
  return "?";
}
constexpr std::memory_order store_order(Order order) {
  return order == Order::release_acquire ? std::memory_order_release
         : order == Order::seq_cst       ? std::memory_order_seq_cst
                                         : std::memory_order_relaxed;
}
constexpr std::memory_order load_order(Order order) {
  return order == Order::release_acquire ? std::memory_order_acquire
         : order == Order::seq_cst       ? std::memory_order_seq_cst
                                         : std::memory_order_relaxed;
}
template <Order order>
void fence_between_store_and_load() {
  if constexpr (order == Order::seq_cst_fence) std::atomic_thread_fence(std::memory_order_seq_cst);
}

// One round's two variables, alone in their own cache line (64 bytes, the unit in which cores pass
// memory to each other; threading/lock_free_ring.cpp measures what sharing one costs). Every round
// uses a fresh pair, so nothing has to be reset while the two threads run.
struct alignas(64) Cell {
  std::atomic<int> x{0};
  std::atomic<int> y{0};
};
// What the two threads read in one round (each writes its own field).
struct Observed {
  int r1 = 0;
  int r2 = 0;
};

// -------------------------------------------------------------------------------------------------
// 1. Store buffering (SB): can both threads miss each other's write?
// -------------------------------------------------------------------------------------------------
//   thread A:  x = 1;  r1 = y;          thread B:  y = 1;  r2 = x;          (x = y = 0 before)
//
// Interleave the four steps any way you like: at least one store comes first, so at least one thread
// reads 1. Yet r1 == r2 == 0 happens. Each core puts its stores in a store buffer and carries on; the
// store reaches the cache (where the other core can see it) a little later. Both loads run while both
// stores still sit in their buffers, and both read 0. The C++ model allows it for relaxed and for
// release/acquire (a release store may be passed by a later acquire load of ANOTHER variable). It
// forbids it for seq_cst: all four operations are then in one order every thread agrees on, and
// whichever store is first in it is seen. On x86 g++ compiles a seq_cst store as `xchg`, which
// waits for the store buffer to drain; a seq_cst fence between store and load (g++ emits a locked
// instruction, `lock or`) does the same. ARM and POWER show this outcome too (their buffers are even looser); no common
// processor hides it, because a store buffer is what makes stores cheap.

template <Order order>
void sb_thread_a(Cell& cell, Observed& seen) {
  cell.x.store(1, store_order(order));
  fence_between_store_and_load<order>();
  seen.r1 = cell.y.load(load_order(order));
}
template <Order order>
void sb_thread_b(Cell& cell, Observed& seen) {
  cell.y.store(1, store_order(order));
  fence_between_store_and_load<order>();
  seen.r2 = cell.x.load(load_order(order));
}

// -------------------------------------------------------------------------------------------------
// 2. Message passing (MP): does the reader that sees the flag see the payload?
// -------------------------------------------------------------------------------------------------
//   writer:  payload = 42;  flag = 1;          reader:  r1 = flag;  r2 = payload;
//
// Forbidden with release/acquire: the store to the payload is sequenced before the release store of
// the flag; the acquire load that reads that flag synchronizes with it; the payload read comes after.
// So the payload write happens-before the payload read, and the read must see 42:
//
//    writer thread                               reader thread
//    payload = 42 ............................
//        | sequenced before                   : happens-before
//    flag.store(1, release) ----synchronizes---> flag.load(acquire) reads 1
//                                  with              | sequenced before
//                                                r2 = payload     sees 42, never 0
//
// With relaxed on the flag it is allowed: nothing orders the payload against the flag. x86 will not
// show it: its processors keep stores in order with stores and loads with loads (TSO), and g++ does
// not reorder atomics, so the table counts 0 here. ARM and POWER do show it: their cores may make
// two stores visible in either order. Code that is correct only on x86 is a bug waiting for a port.
// The payload here is an atomic read relaxed, so even the relaxed row is well defined; with a plain
// payload it would be a data race, which ThreadSanitizer reports (tests/threading/relaxed_flag_demo.cpp).

template <Order order>
void mp_writer(Cell& cell, Observed&) {
  cell.x.store(42, std::memory_order_relaxed);  // the payload
  cell.y.store(1, store_order(order));          // the flag
}
template <Order order>
void mp_reader(Cell& cell, Observed& seen) {
  seen.r1 = cell.y.load(load_order(order));                        // the flag
  seen.r2 = cell.x.load(std::memory_order_relaxed) == 42 ? 1 : 0;  // 1: the payload is there
}

// -------------------------------------------------------------------------------------------------
// The harness: many rounds, two threads released together every round
// -------------------------------------------------------------------------------------------------
// Four instructions take a nanosecond or so; to catch them overlapping, both threads must start each
// round at the same moment. Each thread announces the round it has reached and spins until the other
// has reached it too, so both leave within nanoseconds of each other. (Releasing the second thread
// with a flag set by the first, and resetting the variables between rounds, is the obvious harness:
// on this machine it saw store buffering 0 times in a million, because the threads no longer met.)
class RoundBarrier {
 public:
  void arrive_and_wait(int self, long round) {
    reached_[self].round.store(round, std::memory_order_release);
    for (int spins = 1; reached_[1 - self].round.load(std::memory_order_acquire) < round; ++spins) {
      if (spins % 1024 == 0) std::this_thread::yield();  // the other thread lost its core: let it run
    }
  }

 private:
  struct alignas(64) Reached {  // each counter in its own cache line
    std::atomic<long> round{-1};
  };
  std::array<Reached, 2> reached_;
};

struct LitmusResult {
  long rounds = 0;
  std::array<std::array<long, 2>, 2> outcomes{};  // outcomes[r1][r2]: how many rounds ended so
  double wall_ms = 0;
  double cpu_ms = 0;  // CPU time of the whole process while the rounds ran
  [[nodiscard]] long count(int r1, int r2) const { return outcomes.at(r1).at(r2); }
  // How many cores the run kept busy on average: near 2.0 when both threads had a core throughout.
  [[nodiscard]] double cores() const { return wall_ms > 0 ? cpu_ms / wall_ms : 0; }
};

// Cells are made in blocks (a million cache lines would be 64 MB); between blocks the two threads
// meet at a std::barrier, whose completion step (run by one thread while the other waits) counts
// the block's outcomes and resets its cells.
constexpr long litmus_block = 50'000;

template <class ThreadA, class ThreadB>
LitmusResult run_litmus(long rounds, const std::string& label, pg::Timeline& timeline, ThreadA thread_a,
                        ThreadB thread_b) {
  const long block = std::clamp(rounds, 1L, litmus_block);
  std::vector<Cell> cells(static_cast<std::size_t>(block));
  std::vector<Observed> seen(static_cast<std::size_t>(block));
  LitmusResult result;
  result.rounds = rounds;
  long counted = 0;
  auto count_block = [&]() noexcept {
    const long n = std::min(block, rounds - counted);
    for (long i = 0; i < n; ++i) {
      auto& s = seen[static_cast<std::size_t>(i)];
      ++result.outcomes.at(s.r1 != 0).at(s.r2 != 0);
      s = {};
      cells[static_cast<std::size_t>(i)].x.store(0, std::memory_order_relaxed);
      cells[static_cast<std::size_t>(i)].y.store(0, std::memory_order_relaxed);
    }
    counted += n;
  };
  std::barrier block_done(2, count_block);
  RoundBarrier round_start;
  auto run = [&](int self, auto round_body) {
    auto span = timeline.scope(fmt::format("{} {}", label, self == 0 ? "A" : "B"));
    for (long first = 0; first < rounds; first += block) {
      const long n = std::min(block, rounds - first);
      for (long i = 0; i < n; ++i) {
        round_start.arrive_and_wait(self, first + i);
        round_body(cells[static_cast<std::size_t>(i)], seen[static_cast<std::size_t>(i)]);
      }
      block_done.arrive_and_wait();
    }
  };
  const auto cpu_before = pg::process_cpu_time();
  pg::Stopwatch clock;
  std::thread a(run, 0, thread_a);
  std::thread b(run, 1, thread_b);
  a.join();
  b.join();
  result.wall_ms = clock.elapsed_ms();
  result.cpu_ms = pg::ms(pg::process_cpu_time() - cpu_before);
  return result;
}

template <Order order>
LitmusResult store_buffering(long rounds, pg::Timeline& timeline) {
  return run_litmus(rounds, fmt::format("SB {}", order_name(order)), timeline, sb_thread_a<order>, sb_thread_b<order>);
}
template <Order order>
LitmusResult message_passing(long rounds, pg::Timeline& timeline) {
  return run_litmus(rounds, fmt::format("MP {}", order_name(order)), timeline, mp_writer<order>, mp_reader<order>);
}

// -------------------------------------------------------------------------------------------------
// 3. Release and acquire on plain data: handing over a message
// -------------------------------------------------------------------------------------------------
// Real code publishes plain data (a struct, a string), not atomics. The picture of section 2 is what
// makes that legal: the writer fills the message, then stores `ready` with release; the reader waits
// for `ready` with acquire, then reads the message. Without the pair (relaxed on either side) the
// plain reads and writes would be a data race: undefined behaviour, which ThreadSanitizer reports
// (the tsan preset runs this function and the demo named in section 2).
struct Mailbox {
  std::string text;  // plain data, written before `ready` is set and read after it is seen
  long number = 0;
  std::atomic<bool> ready{false};
};

// Hands `messages` messages from one thread to another, one mailbox each; returns how many the reader
// found complete.
long hand_over_messages(long messages) {
  std::vector<Mailbox> boxes(static_cast<std::size_t>(messages));
  long complete = 0;
  std::thread reader([&] {
    for (long i = 0; i < messages; ++i) {
      auto& box = boxes[static_cast<std::size_t>(i)];
      while (!box.ready.load(std::memory_order_acquire)) std::this_thread::yield();
      if (box.number == i && box.text == fmt::format("message {}", i)) ++complete;
    }
  });
  for (long i = 0; i < messages; ++i) {
    auto& box = boxes[static_cast<std::size_t>(i)];
    box.text = fmt::format("message {}", i);
    box.number = i;
    box.ready.store(true, std::memory_order_release);  // publish: everything above is now visible
  }
  reader.join();
  return complete;
}

// -------------------------------------------------------------------------------------------------
// 4. The smallest real use: a spin lock
// -------------------------------------------------------------------------------------------------
// exchange(true) sets the flag and returns what it was, in one indivisible step: the one thread that
// gets `false` back owns the lock. Checking with a load and then storing would be two steps, and two
// threads could both see `false` (the lost update of locks_and_thread_safety, section 1). The
// exchange is `acquire`: the owner sees everything the previous owner wrote. unlock() is a `release`
// store: everything written inside the lock is visible to the next owner. That is all a mutex
// promises about memory; std::mutex adds sleeping in the kernel instead of spinning, which is why it
// wins as soon as a lock is held for long or there are more threads than cores.
class SpinLock {
 public:
  void lock() {
    while (locked_.exchange(true, std::memory_order_acquire)) {
      // Wait with plain loads until it looks free (an exchange would grab the cache line every time),
      // and yield the core: on a busy machine the owner may be waiting for one.
      while (locked_.load(std::memory_order_relaxed)) std::this_thread::yield();
    }
  }
  void unlock() { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

// `threads` threads each add 1 to a plain long `increments` times, under the spin lock.
long count_with_spin_lock(int threads, long increments, pg::Timeline& timeline) {
  long counter = 0;  // plain: every access is under the lock
  SpinLock lock;
  std::latch start(threads);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      start.arrive_and_wait();
      auto span = timeline.scope(fmt::format("spin lock {}", t));
      for (long i = 0; i < increments; ++i) {
        std::lock_guard guard(lock);  // lock() here, unlock() at the closing brace
        ++counter;
      }
    });
  }
  for (auto& w : workers) w.join();
  return counter;
}

// -------------------------------------------------------------------------------------------------
// main: run the litmus tests and print the table (plumbing from here on)
// -------------------------------------------------------------------------------------------------

struct Row {
  const char* shape;
  const char* order;
  const char* outcome;
  bool allowed;
  long seen;
  const LitmusResult* result;
};

void print_table(const std::vector<Row>& rows) {
  fmt::print("  {:<5} {:<24} {:<27} {:<10} {:>10}   {}\n", "shape", "memory order", "outcome", "C++ model", "seen",
             "cores");
  for (const auto& r : rows) {
    fmt::print("  {:<5} {:<24} {:<27} {:<10} {:>10}   {:.2f}\n", r.shape, r.order, r.outcome,
               r.allowed ? "allowed" : "FORBIDDEN", r.seen, r.result->cores());
  }
}

#ifndef PLAYGROUND_NO_MAIN  // the tests include this file and bring their own main
int main(int argc, char** argv) {
  long rounds = 1'000'000;
  long messages = 100'000;
  int threads = 2;
  long increments = 200'000;
  pg::TraceFile trace;
  pg::Flags flags("memory_ordering", "Litmus tests of std::memory_order counted on this machine, and a spin lock.");
  flags.add("--rounds", rounds, "rounds of each litmus test", 1, 100'000'000);
  flags.add("--messages", messages, "messages handed over in section 3", 0, 10'000'000);
  flags.add("--threads", threads, "threads taking the spin lock in section 4", 1, 16);
  flags.add("--increments", increments, "increments per thread under the spin lock", 0, 10'000'000);
  trace.add_flags(flags);  // --trace FILE and --html FILE
  if (auto status = flags.parse(argc, argv)) return *status;
  if (auto status = trace.open()) return *status;

  // Look for: the two threads' bars overlapping in every run (they meet at every round), and in the
  // table a count above 0 only in the "allowed" rows of SB. "cores" is CPU time over elapsed time:
  // near 2.00 the two threads really ran at once; near 1.00 they took turns on one core, and then
  // store buffering cannot show (nothing overlaps), however many rounds you run.
  pg::banner(fmt::format("1 and 2. Litmus tests: {} rounds each, two threads meeting every round", rounds));
  pg::Timeline litmus("litmus");
  const auto sb_relaxed = store_buffering<Order::relaxed>(rounds, litmus);
  const auto sb_release_acquire = store_buffering<Order::release_acquire>(rounds, litmus);
  const auto sb_seq_cst = store_buffering<Order::seq_cst>(rounds, litmus);
  const auto sb_fence = store_buffering<Order::seq_cst_fence>(rounds, litmus);
  const auto mp_relaxed = message_passing<Order::relaxed>(rounds, litmus);
  const auto mp_release_acquire = message_passing<Order::release_acquire>(rounds, litmus);
  litmus.print();
  trace.add(litmus);
  const char* both_zero = "r1 == 0 && r2 == 0";
  const char* flag_no_payload = "flag == 1 && payload == 0";
  print_table({
      {"SB", order_name(Order::relaxed), both_zero, true, sb_relaxed.count(0, 0), &sb_relaxed},
      {"SB", order_name(Order::release_acquire), both_zero, true, sb_release_acquire.count(0, 0), &sb_release_acquire},
      {"SB", order_name(Order::seq_cst), both_zero, false, sb_seq_cst.count(0, 0), &sb_seq_cst},
      {"SB", order_name(Order::seq_cst_fence), both_zero, false, sb_fence.count(0, 0), &sb_fence},
      {"MP", order_name(Order::relaxed), flag_no_payload, true, mp_relaxed.count(1, 0), &mp_relaxed},
      {"MP", order_name(Order::release_acquire), flag_no_payload, false, mp_release_acquire.count(1, 0),
       &mp_release_acquire},
  });
  fmt::print("  SB release/acquire, all four outcomes (r1,r2): 1,1: {}  1,0: {}  0,1: {}  0,0: {}\n",
             sb_release_acquire.count(1, 1), sb_release_acquire.count(1, 0), sb_release_acquire.count(0, 1),
             sb_release_acquire.count(0, 0));
  fmt::print("  MP release/acquire: the reader saw the flag in {} of {} rounds, and missed the payload in {} of them\n",
             mp_release_acquire.count(1, 1) + mp_release_acquire.count(1, 0), rounds, mp_release_acquire.count(1, 0));
  fmt::print("  MP relaxed: seen {} times; x86 processors keep stores in order and show 0, ARM and POWER may not\n",
             mp_relaxed.count(1, 0));

  pg::banner(fmt::format("3. {} messages of plain data handed over with release/acquire", messages));
  const long complete = hand_over_messages(messages);
  fmt::print("  {} of {} messages complete when the reader saw `ready`\n", complete, messages);

  // Look for: the exact count, from a lock that is nothing but one atomic bool.
  pg::banner(fmt::format("4. Spin lock: {} threads x {} increments of a plain long", threads, increments));
  pg::Timeline spin("spin lock");
  pg::Stopwatch clock;
  const long counted = count_with_spin_lock(threads, increments, spin);
  const double elapsed = clock.elapsed_ms();
  spin.print();
  trace.add(spin);
  fmt::print("  counter = {} of {} in {:.1f} ms\n", counted, static_cast<long>(threads) * increments, elapsed);

  if (!trace.write()) return 1;
  fmt::print(
      "\nTakeaway: an atomic is indivisible; its memory order says what ELSE the other thread sees.\n"
      "Publish with release, read with acquire; use seq_cst when two threads each store then load.\n");
  return 0;
}
#endif

// -------------------------------------------------------------------------------------------------
// Try this: change one thing, predict what the output will show, then run it. The answers below were
// checked with g++ 12 on Linux x86-64. Rebuild with `cmake --build build/default --target
// memory_ordering`, and undo a change with `git checkout threading/memory_ordering.cpp`.
// -------------------------------------------------------------------------------------------------
// 1. Run `taskset -c 0 build/default/threading/memory_ordering --rounds 20000` (both threads
//    pinned to one core; slow, since every round now needs the two threads to take turns). What do
//    the SB rows count, and what does the cores column say?
//    Answer: 0 in every row, and cores at most 1.00. One core runs one thread at a time, and a
//    thread always sees its own core's store buffer, so store buffering needs two cores running at
//    once. A test that "never saw a problem" on one core proved nothing about two.
//
// 2. In SpinLock::lock, replace `locked_.exchange(true, std::memory_order_acquire)` with
//    `locked_.exchange(true, std::memory_order_relaxed)`, and run `build/default/threading/memory_ordering
//    --rounds 1`. Then build the tsan preset's copy (`cmake --preset tsan && cmake --build build/tsan
//    --target memory_ordering`) and run `build/tsan/threading/memory_ordering --rounds 1`.
//    Answer: the plain build still counts exactly ("counter = 400000 of 400000"): on x86 every
//    exchange orders memory anyway. The tsan build prints "WARNING: ThreadSanitizer: data race" on
//    `counter` in count_with_spin_lock: by the C++ rules nothing orders one owner's increment before
//    the next owner's, and an ARM processor is free to show the difference.
//
// Next: threading/queues_and_worker_threads.cpp: share a queue instead of variables, built from a
// mutex and condition variables; then threading/lock_free_ring.cpp builds one with no lock at all.
