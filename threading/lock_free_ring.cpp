// lock_free_ring: a queue with no lock for one producer and one consumer, and what a shared cache line
// costs.
//
// What you will see: millions of numbers passed from one thread to another through a bounded ring
// buffer built from two atomic indices (release stores, acquire loads, no mutex), then through a
// mutex-and-condition-variable queue, with the items per second of each and their ratio; then two
// threads counting on two counters that share one cache line, and on two counters 64 bytes apart,
// with the slowdown that false sharing costs. The figures are measurements of this machine, printed,
// not promises: a lock-free structure is not automatically faster, and the lesson says why.
//
// Run it:   build/default/threading/lock_free_ring --items 5000000
// Build it by hand:
//   g++ -std=c++20 -O2 -I common threading/lock_free_ring.cpp -lfmt -pthread -o lock_free_ring
//
// Mirrors nothing in the Python lessons: queue.Queue is a deque under a lock, and under the GIL two
// threads never run Python code at the same moment, so neither a lock-free structure nor a cache line
// shared by two cores can matter there. In C++ both threads run at once on two cores, and both do.
//
// Read threading/memory_ordering.cpp first: the ring is its message passing, once per item.

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "playground.hpp"

using namespace std::chrono_literals;

// The size of a cache line: cores pass memory to each other in blocks of this many bytes. It is 64 on
// x86-64 (and most ARM; Apple's M-series use 128). C++17 names it
// std::hardware_destructive_interference_size, but g++ 12 warns when it decides a type's layout (its
// value may change with -mtune, so two files compiled differently would disagree on the layout) and
// clang 16 with libstdc++ does not define it, so the lesson writes the number.
constexpr std::size_t cache_line = 64;

// -------------------------------------------------------------------------------------------------
// 1. A single-producer single-consumer ring buffer
// -------------------------------------------------------------------------------------------------
// `capacity` slots in a circle. The producer writes at `tail`, the consumer reads at `head`; both
// only ever grow (the slot is index % capacity), so `tail - head` is how many items are inside:
// 0 means empty, capacity means full. Each index has ONE writer, so a plain atomic store updates it;
// no compare-exchange and no lock are needed. That is what "single producer, single consumer" buys.
//
// The memory orders are section 2 of memory_ordering, twice:
//   - the producer writes the slot, THEN stores tail with release; the consumer loads tail with
//     acquire, THEN reads the slot. The item is the payload, tail the flag: the consumer that sees
//     the new tail sees the item.
//   - the consumer reads the slot, THEN stores head with release; the producer loads head with
//     acquire before it writes that slot again. Without this pair the producer could overwrite an item
//     the consumer is still reading.
// Each side keeps a plain copy of the OTHER side's index and reads the real one (a load that must
// fetch the other core's cache line) only when its copy says full or empty. Each index sits in its
// own cache line with its owner's copy, so the two threads do not fight over one line.
template <class T>
class SpscRing {
 public:
  explicit SpscRing(std::size_t capacity) : slots_(capacity) {
    if (capacity == 0) throw std::invalid_argument("SpscRing: capacity must be at least 1");
  }

  // Producer thread only. False when the ring is full (the item is not taken).
  bool try_push(T item) {
    const std::size_t tail = tail_.load(std::memory_order_relaxed);  // our own index: we wrote it last
    if (tail - cached_head_ == slots_.size()) {                      // full, as far as we knew
      cached_head_ = head_.load(std::memory_order_acquire);          // the consumer's reads happened
      if (tail - cached_head_ == slots_.size()) return false;        // really full
    }
    slots_[tail % slots_.size()] = std::move(item);
    tail_.store(tail + 1, std::memory_order_release);  // publish: the item goes with the new tail
    return true;
  }

  // Consumer thread only. Empty when the ring is empty.
  std::optional<T> try_pop() {
    const std::size_t head = head_.load(std::memory_order_relaxed);
    if (head == cached_tail_) {                              // empty, as far as we knew
      cached_tail_ = tail_.load(std::memory_order_acquire);  // the producer's writes happened
      if (head == cached_tail_) return std::nullopt;         // really empty
    }
    T item = std::move(slots_[head % slots_.size()]);
    head_.store(head + 1, std::memory_order_release);  // hand the slot back: our read is done
    return item;
  }

  [[nodiscard]] std::size_t capacity() const { return slots_.size(); }

 private:
  std::vector<T> slots_;
  alignas(cache_line) std::atomic<std::size_t> tail_{0};  // written by the producer only
  std::size_t cached_head_ = 0;                           // the producer's copy of head_
  alignas(cache_line) std::atomic<std::size_t> head_{0};  // written by the consumer only
  std::size_t cached_tail_ = 0;                           // the consumer's copy of tail_
};

// The baseline: a bounded queue from a mutex and two condition variables (the BlockingQueue of
// threading/queues_and_worker_threads.cpp, cut to put and get). A full queue puts its producer to
// sleep, an empty one its consumer, and each side wakes the other.
template <class T>
class BlockingQueue {
 public:
  explicit BlockingQueue(std::size_t capacity) : capacity_(capacity) {}
  void put(T item) {
    std::unique_lock lock(mutex_);
    not_full_.wait(lock, [&] { return items_.size() < capacity_; });
    items_.push_back(std::move(item));
    not_empty_.notify_one();
  }
  T get() {
    std::unique_lock lock(mutex_);
    not_empty_.wait(lock, [&] { return !items_.empty(); });
    T item = std::move(items_.front());
    items_.pop_front();
    not_full_.notify_one();
    return item;
  }

 private:
  std::size_t capacity_;
  std::mutex mutex_;
  std::condition_variable not_full_;
  std::condition_variable not_empty_;
  std::deque<T> items_;
};

// -------------------------------------------------------------------------------------------------
// 2. Passing items 0, 1, 2, ... from one thread to another
// -------------------------------------------------------------------------------------------------
// The producer sends 0..items-1; the consumer checks that each item is the next one expected. A ring
// has no way to sleep: when it is full the producer must wait somehow, and when it is empty the
// consumer must. Here each yields its core and tries again, and counts how often it had to: the
// waiting is yours to design (spin, yield, or sleep on a condition variable after a while, which is
// how real queues end up half lock-free). `Pace` slows one side down (a pause every so many items),
// so the tests can make the ring fill up or run dry.
struct Pace {
  long pause_every = 0;  // 0: never pause
  std::chrono::microseconds pause{0};
};

struct TransferReport {
  long received = 0;
  long out_of_order = 0;  // items that were not the next one expected (lost, repeated or swapped)
  long full_waits = 0;    // times the producer found the ring full
  long empty_waits = 0;   // times the consumer found it empty
  double elapsed_ms = 0;
  [[nodiscard]] double items_per_second() const { return elapsed_ms > 0 ? received / elapsed_ms * 1000 : 0; }
};

void pace(const Pace& p, long i) {
  if (p.pause_every > 0 && i % p.pause_every == p.pause_every - 1) std::this_thread::sleep_for(p.pause);
}

TransferReport through_ring(long items, std::size_t capacity, Pace producer_pace, Pace consumer_pace,
                            pg::Timeline& timeline) {
  SpscRing<long> ring(capacity);
  TransferReport report;
  pg::Stopwatch clock;
  std::thread producer([&] {
    auto span = timeline.scope("ring producer");
    for (long i = 0; i < items; ++i) {
      while (!ring.try_push(i)) {
        ++report.full_waits;  // only this thread writes it; read after join()
        std::this_thread::yield();
      }
      pace(producer_pace, i);
    }
  });
  {
    auto span = timeline.scope("ring consumer");
    for (long expected = 0; expected < items; ++expected) {
      std::optional<long> item;
      while (!(item = ring.try_pop())) {
        ++report.empty_waits;
        std::this_thread::yield();
      }
      ++report.received;
      if (*item != expected) ++report.out_of_order;
      pace(consumer_pace, expected);
    }
  }
  producer.join();
  report.elapsed_ms = clock.elapsed_ms();
  return report;
}

TransferReport through_queue(long items, std::size_t capacity, pg::Timeline& timeline) {
  BlockingQueue<long> queue(capacity);
  TransferReport report;
  pg::Stopwatch clock;
  std::thread producer([&] {
    auto span = timeline.scope("queue producer");
    for (long i = 0; i < items; ++i) queue.put(i);
  });
  {
    auto span = timeline.scope("queue consumer");
    for (long expected = 0; expected < items; ++expected) {
      ++report.received;
      if (queue.get() != expected) ++report.out_of_order;
    }
  }
  producer.join();
  report.elapsed_ms = clock.elapsed_ms();
  return report;
}

// -------------------------------------------------------------------------------------------------
// 3. False sharing: two variables, one cache line
// -------------------------------------------------------------------------------------------------
// Two threads, each incrementing ITS OWN counter: no data is shared, and yet when both counters sit
// in one 64-byte cache line, every increment needs that line in its core's cache in exclusive mode,
// so the line bounces between the two cores on every step. Give each counter its own line
// (alignas(cache_line)) and each core keeps its line. The ring above puts head_ and tail_ in
// separate lines for this reason.
struct alignas(cache_line) CountersInOneLine {  // starts a line, so that both fit in it
  std::atomic<long> a{0};
  std::atomic<long> b{0};  // 8 bytes after a: the same cache line
};
struct CountersInTwoLines {
  alignas(cache_line) std::atomic<long> a{0};
  alignas(cache_line) std::atomic<long> b{0};  // 64 bytes after a: a line of its own
};

struct CountReport {
  long a = 0;
  long b = 0;
  double elapsed_ms = 0;
  double cpu_ms = 0;  // CPU time of the process meanwhile: near 2 x elapsed when both threads had a core
  [[nodiscard]] double cores() const { return elapsed_ms > 0 ? cpu_ms / elapsed_ms : 0; }
};

template <class Counters>
CountReport count_on_two_threads(long increments, const std::string& label, pg::Timeline& timeline) {
  Counters counters;
  const auto cpu_before = pg::process_cpu_time();
  pg::Stopwatch clock;
  auto count = [&](std::atomic<long>& mine, int id) {
    auto span = timeline.scope(fmt::format("{} {}", label, id));
    for (long i = 0; i < increments; ++i) mine.fetch_add(1, std::memory_order_relaxed);
  };
  std::thread first(count, std::ref(counters.a), 0);
  std::thread second(count, std::ref(counters.b), 1);
  first.join();
  second.join();
  const double elapsed_ms = clock.elapsed_ms();
  return {counters.a.load(), counters.b.load(), elapsed_ms, pg::ms(pg::process_cpu_time() - cpu_before)};
}

// -------------------------------------------------------------------------------------------------
// 4. What "lock-free" promises
// -------------------------------------------------------------------------------------------------
// Lock-free is a promise about progress, not speed: however the threads are scheduled, some thread
// always completes its operation in a bounded number of its own steps. With a mutex, a thread that
// is paused (by the scheduler, a page fault, a debugger) while it holds the lock stops every other
// thread that needs it; nothing a lock-free structure's user does can stop the other side. (This
// ring is even wait-free: try_push and try_pop finish in a few steps, every time.)
//
// It does not promise that the whole program is faster. The ring's cost is its waiting: it cannot
// sleep, so on a busy machine a waiting side burns or yields a core that the other side needed; the
// queue's consumer sleeps and is woken by a system call. The ring wins by a large factor when both
// threads own a core; on a crowded machine the gap shrinks. And every atomic operation on a cache
// line that another core just wrote costs a trip between cores (section 3); a lock-free design that
// makes both threads write the same line can lose to a mutex. Measure before you choose.

// -------------------------------------------------------------------------------------------------
// main: run the sections and print the figures (plumbing from here on)
// -------------------------------------------------------------------------------------------------

#ifndef PLAYGROUND_NO_MAIN  // the tests include this file and bring their own main
int main(int argc, char** argv) {
  long items = 5'000'000;
  int capacity = 1024;
  long increments = 20'000'000;
  pg::TraceFile trace;
  pg::Flags flags("lock_free_ring", "A lock-free SPSC ring vs a mutex queue, and false sharing, measured.");
  flags.add("--items", items, "items passed through each queue", 0, 1'000'000'000);
  flags.add("--capacity", capacity, "slots in the ring and places in the queue", 1, 1 << 24);
  flags.add("--increments", increments, "increments per thread in section 3", 0, 2'000'000'000);
  trace.add_flags(flags);  // --trace FILE and --html FILE
  if (auto status = flags.parse(argc, argv)) return *status;
  if (auto status = trace.open()) return *status;
  const auto slots = static_cast<std::size_t>(capacity);

  // Look for: every item received in order by both; the ring's items per second several times the
  // queue's when the machine is quiet (run it twice: the ratio moves with the load, the order not).
  pg::banner(fmt::format("1 and 2. {} items from one thread to another, capacity {}", items, capacity));
  pg::Timeline passing("passing items");
  const auto ring = through_ring(items, slots, {}, {}, passing);
  const auto queue = through_queue(items, slots, passing);
  passing.print();
  trace.add(passing);
  fmt::print(
      "  ring  (lock-free):          {} of {} received, {} out of order, {:>12.0f} items/s  ({} full, {} empty)\n",
      ring.received, items, ring.out_of_order, ring.items_per_second(), ring.full_waits, ring.empty_waits);
  fmt::print("  queue (mutex + condvars):   {} of {} received, {} out of order, {:>12.0f} items/s\n", queue.received,
             items, queue.out_of_order, queue.items_per_second());
  fmt::print("  ring / queue: {:.1f}x the items per second (a measurement of this run, not a promise)\n",
             ring.items_per_second() / std::max(queue.items_per_second(), 1e-9));
  fmt::print("  std::atomic<std::size_t> is lock-free here: {}\n", std::atomic<std::size_t>::is_always_lock_free);

  // Look for: the same work, the same counts, and the counters in one line several times slower.
  pg::banner(fmt::format("3. False sharing: two threads x {} increments, each on its own counter", increments));
  pg::Timeline sharing("false sharing");
  const auto one_line = count_on_two_threads<CountersInOneLine>(increments, "one line", sharing);
  const auto two_lines = count_on_two_threads<CountersInTwoLines>(increments, "two lines", sharing);
  sharing.print();
  trace.add(sharing);
  fmt::print("  counters 8 bytes apart (one cache line): {} and {} in {:.1f} ms, cores {:.2f}\n", one_line.a,
             one_line.b, one_line.elapsed_ms, one_line.cores());
  fmt::print("  counters {} bytes apart (two lines):     {} and {} in {:.1f} ms, cores {:.2f}\n", cache_line,
             two_lines.a, two_lines.b, two_lines.elapsed_ms, two_lines.cores());
  fmt::print("  false sharing cost {:.1f}x (one line / two lines)\n",
             one_line.elapsed_ms / std::max(two_lines.elapsed_ms, 1e-9));
  if (std::min(one_line.cores(), two_lines.cores()) < 1.5) {
    fmt::print(
        "  (cores below 2: the threads took turns on a busy machine, and a line only bounces between\n"
        "   two cores that run at once, so the cost shows less; the load average is {:.1f})\n",
        pg::load_average().value_or(0));
  }

  if (!trace.write()) return 1;
  fmt::print(
      "\nTakeaway: one writer per index and a release/acquire pair per hand-over make a queue without a\n"
      "lock; keep what different threads write in different cache lines; measure before choosing.\n");
  return 0;
}
#endif

// -------------------------------------------------------------------------------------------------
// Try this: change one thing, predict what the output will show, then run it. The answers below were
// checked with g++ 12 on Linux x86-64. Rebuild with `cmake --build build/default --target
// lock_free_ring`, and undo a change with `git checkout threading/lock_free_ring.cpp`.
// -------------------------------------------------------------------------------------------------
// 1. Run `build/default/threading/lock_free_ring --capacity 1 --items 200000 --increments 0`. What
//    happens to the ring's items per second and to its full and empty counts?
//    Answer: the counts are now about one per item (200,000 each): every item waits for the other
//    thread. The ring passes some 200 times fewer items per second than with 1024 slots (about
//    170,000 on this machine, busy, against tens of millions), and the queue slows down as much. A
//    ring is fast because each side can run ahead of the other, not merely because it has no lock.
//
// 2. In CountersInTwoLines, delete both `alignas(cache_line)` and run with `--items 0`.
//    Answer: the two runs of section 3 now take about the same time and the printed cost is about
//    1.0x: both structures put the counters 8 bytes apart, and (most of the time) in one line.
//
// Next: threading/thread_pool_executor.cpp: a ready-made pool of worker threads, and std::future for
// the results.
