// sharing_between_processes: processes share nothing unless you map the same memory into both.
//
// What you will see: children change a global and the parent's copy stays 0; the recommended way to
// get data back, returning results over a pipe; then memory that really is shared, mapped with
// mmap(MAP_SHARED | MAP_ANONYMOUS) before the fork: a counter that loses updates when it is changed
// in two steps (load, then store) and is exact with one atomic fetch_add, and a fixed-capacity list
// guarded by a process-shared, robust pthread mutex, which even survives a child that dies holding
// the lock.
//
// Run it:   build/default/multiprocessing/sharing_between_processes --children 2 --increments 100000 --items 2000
// Build it by hand:
//   g++ -std=c++20 -O2 -I common multiprocessing/sharing_between_processes.cpp -lfmt -pthread -o
//   sharing_between_processes
//
// Mirrors sharing_between_processes.py from the Python playground:
//   a module-level global                  -> a global: each process has its own copy
//   return values from ProcessPoolExecutor -> results written to a pipe and read by the parent
//   multiprocessing.Value('i', 0)          -> std::atomic<long> placed in mmap(MAP_SHARED) memory
//   multiprocessing.Manager().list()       -> SharedList: a fixed array + pthread mutex in shared memory
//   Lock() shared by processes             -> pthread_mutex_t with PTHREAD_PROCESS_SHARED (+ ROBUST)
//
// What differs in C++: Python's Manager is a server process that owns the real list; other
// processes hold proxies that send each call to it as a message. Here the list itself lives in
// memory both processes map, so an append is a few instructions under a lock, not a round trip. The
// price: only plain, fixed-size data can live there (no std::vector or std::string: their heap
// memory is private to each process), and only lock-free atomics and process-shared mutexes work
// across processes.

#include <fmt/ranges.h>  // prints a std::vector as [0, 1, 4]

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <pthread.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "playground.hpp"
#include "process_owners.hpp"

using namespace std::chrono_literals;

// Every section runs children with run_children(count, body, timeline, label): it forks `count`
// children; child k runs body(k) and sends back the text the body returns, and the parent returns one
// report per child. How it does that (owned pipes and children, time limits, the descriptors a child
// keeps) is the plumbing of process_basics; it is at the end of this file, and you can skip it on a
// first reading.
struct ChildReport {
  pid_t pid = 0;
  std::string text;              // what the child's body returned
  bool ok = false;               // it exited with code 0 and its message arrived
  int exit_code = -1;            // its exit code, when it exited
  int signal = 0;                // the signal that ended it, or 0
  bool killed_at_limit = false;  // still running at the time limit: we killed it
};

template <class Body>
std::vector<ChildReport> run_children(int count, Body body, pg::Timeline& timeline, std::string_view label,
                                      std::chrono::milliseconds limit = 60s);

// -------------------------------------------------------------------------------------------------
// 1. Globals are not shared
// -------------------------------------------------------------------------------------------------
// Each child adds to the global 1,000 times and reports what it sees: 1,000, because it changed its
// own copy (fork copied the parent's memory). The parent's global is still 0 afterwards, and no child
// saw another's additions.

long sharing_global_counter = 0;

struct GlobalDemo {
  std::vector<long> children_saw;
  long parent_after = 0;
};

GlobalDemo show_globals_are_not_shared(int children, pg::Timeline& timeline) {
  auto reports = run_children(
      children,
      [](int) {
        for (int i = 0; i < 1'000; ++i) ++sharing_global_counter;
        return fmt::format("{}\n", sharing_global_counter);
      },
      timeline, "add to global");
  GlobalDemo demo;
  for (const auto& r : reports) demo.children_saw.push_back(r.ok ? std::strtol(r.text.c_str(), nullptr, 10) : -1);
  demo.parent_after = sharing_global_counter;
  return demo;
}

// -------------------------------------------------------------------------------------------------
// 2. The recommended way: return results
// -------------------------------------------------------------------------------------------------
// Instead of sharing state, each child computes its part and *returns* it: here as "i value" lines on
// its pipe (process_pool_executor does the same with a pool). Nothing is shared, so nothing needs a
// lock; the parent assembles the answer. Prefer this whenever the work splits into independent parts.

// Child k takes the numbers k, k + children, k + 2 x children, ... and sends "i i*i" for each; the
// parent puts each value in slot i. A slot left at -1 would mean an answer went missing.
std::vector<long> squares_returned_by_children(int children, int n, pg::Timeline& timeline) {
  auto reports = run_children(
      children,
      [children, n](int k) {
        std::string lines;
        for (long i = k; i < n; i += children) lines += fmt::format("{} {}\n", i, i * i);
        return lines;
      },
      timeline, "squares");
  std::vector<long> results(static_cast<std::size_t>(n), -1);  // -1: missing
  for (const auto& r : reports) {
    std::istringstream lines(r.text);  // reads whitespace-separated numbers, like Python's split()
    long i = 0;
    long value = 0;
    while (lines >> i >> value)
      if (i >= 0 && i < n) results[static_cast<std::size_t>(i)] = value;
  }
  return results;
}

// -------------------------------------------------------------------------------------------------
// 3. Truly shared memory: an atomic counter
// -------------------------------------------------------------------------------------------------
// mmap(MAP_SHARED | MAP_ANONYMOUS) asks the kernel for pages that are *not* copied on fork: parent
// and children see the very same bytes. SharedObject<T> builds one T in such pages (placement new)
// and unmaps them at the end. Map before you fork: a child inherits the mapping; a mapping made later
// exists only in the process that made it.
//
// What may live there: plain data with no pointers into private memory. A std::atomic<long> works
// because it is *lock-free*: its operations are single CPU instructions on those shared bytes. An
// atomic that is not lock-free (a big struct) is implemented with locks kept in a table inside each
// process, so two processes would take two different locks: no protection at all. The static_assert
// makes the compiler check it. Nor does a std::mutex work here, even placed in these pages: it is a
// process-private pthread mutex, whose waiters sleep on a queue of their own process, so an unlock in
// another process never wakes them. Use a pthread mutex marked PTHREAD_PROCESS_SHARED (section 4).

template <class T>
class SharedObject {
 public:
  template <class... Args>
  explicit SharedObject(Args&&... args) {
    void* memory = ::mmap(nullptr, sizeof(T), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) throw std::system_error(errno, std::generic_category(), "mmap");
    object_ = new (memory) T(std::forward<Args>(args)...);
  }
  SharedObject(const SharedObject&) = delete;
  SharedObject& operator=(const SharedObject&) = delete;
  ~SharedObject() {
    object_->~T();
    ::munmap(object_, sizeof(T));
  }
  T& operator*() const { return *object_; }
  T* operator->() const { return object_; }

 private:
  T* object_ = nullptr;
};

static_assert(std::atomic<long>::is_always_lock_free, "only lock-free atomics work across processes");

// BROKEN: read, then write back one more: two steps. Between them another process may write its own
// increments, and this store overwrites them all with an old value plus one: lost updates (a process
// that was paused between its load and its store can undo thousands at once). No undefined behaviour
// (each step is atomic), just the wrong total, as with unguarded `counter.value += 1` on a
// multiprocessing.Value.
//
// A real program does some work between the read and the write; here a busy wait of a fraction of a
// microsecond stands for it, wide enough for the loss to show in every run: when both processes run
// at once, their gaps overlap; when they take turns on a busy machine, the one paused in its gap
// undoes the other's whole turn. (A sched_yield() would hand the core to any other program, and the
// run time would depend on the machine's load, not on --increments.)
void busy_for(std::chrono::nanoseconds how_long) {
  const auto until = pg::Clock::now() + how_long;
  while (pg::Clock::now() < until) {
  }
}

void increment_in_two_steps(std::atomic<long>& counter, long times) {
  for (long i = 0; i < times; ++i) {
    const long seen = counter.load();
    busy_for(200ns);  // the work between the read and the write
    counter.store(seen + 1);
  }
}

// FIXED: fetch_add reads, adds and writes as one indivisible step, across processes too.
void increment_atomically(std::atomic<long>& counter, long times) {
  for (long i = 0; i < times; ++i) counter.fetch_add(1);
}

// The counter, plus a start gate: each child checks in, then waits (a bounded spin) until all have,
// so they really do increment at the same time instead of one finishing before the next starts.
struct SharedCounter {
  std::atomic<long> value{0};
  std::atomic<int> arrived{0};
};
static_assert(std::atomic<int>::is_always_lock_free);

void wait_at_start_gate(std::atomic<int>& arrived, int children) {
  arrived.fetch_add(1);
  const auto give_up = pg::Clock::now() + 5s;  // never wait forever, even if a sibling died
  while (arrived.load() < children && pg::Clock::now() < give_up) std::this_thread::yield();
}

// The count, and how many children were still counting at the time limit (killed: their share is
// missing from the count, and that is not a lost update).
struct CountResult {
  long value = 0;
  int killed_at_limit = 0;
};

CountResult count_in_shared_memory(int children, long times, bool atomically, pg::Timeline& timeline,
                                   std::chrono::milliseconds limit = 60s) {
  SharedObject<SharedCounter> counter;
  const auto reports = run_children(
      children,
      [&counter, children, times, atomically](int) {
        wait_at_start_gate(counter->arrived, children);
        if (atomically) {
          increment_atomically(counter->value, times);
        } else {
          increment_in_two_steps(counter->value, times);
        }
        return std::string();
      },
      timeline, atomically ? "fetch_add" : "load+store", limit);
  CountResult result;
  result.value = counter->value.load();
  for (const auto& r : reports) result.killed_at_limit += r.killed_at_limit ? 1 : 0;
  return result;
}

// -------------------------------------------------------------------------------------------------
// 4. A shared list guarded by a process-shared mutex (the counterpart of Manager().list())
// -------------------------------------------------------------------------------------------------
// The list is a fixed array and a size, next to a pthread mutex, all in one struct in shared memory.
// PTHREAD_PROCESS_SHARED lets processes that map the mutex use it together. PTHREAD_MUTEX_ROBUST
// handles the worst case: a process that dies while holding the lock. Without it, everyone else would
// wait forever; with it, the next locker gets EOWNERDEAD: it now holds the lock, but the data may be
// half-updated. It must check the data (and repair it if it can) *before* calling
// pthread_mutex_consistent(), which tells the mutex "the data is fine again". If the data cannot be
// repaired, it unlocks without that call: the mutex then refuses every later locker
// (ENOTRECOVERABLE), which is better than working on damaged data. (std::mutex offers none of this.)
//
// A process can die at any instruction, so an update must never pass through a state that the check
// cannot accept. `items[size++] = item` gives no such promise: nothing orders its two stores, and a
// holder killed between them could leave the size counting a slot that holds no item. So append()
// takes two ordered steps: (1) write the item into the first free slot, which is not part of the list
// yet, then (2) publish it by storing the new size. The size is a std::atomic stored with
// memory_order_release: neither the compiler nor the CPU may move the item's store after it. A holder
// that dies between (1) and (2) leaves only an uncounted slot, which the next append overwrites. What
// is left to check after a death is the size itself, and the demo below kills a child right between
// the two steps to show that the list comes through whole.
//
// Manager().list() vs this (see the opening comment): a Manager's list holds any picklable objects
// and can grow, at the price of a round trip per append. Shared memory is the right tool for many small
// updates to plain fixed-size data; returning results (section 2) for everything else.

struct SharedList {
  static constexpr int capacity = 8'192;

  SharedList() {
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&mutex, &attr);
    pthread_mutexattr_destroy(&attr);
  }
  ~SharedList() { pthread_mutex_destroy(&mutex); }
  SharedList(const SharedList&) = delete;
  SharedList& operator=(const SharedList&) = delete;

  // lock() and unlock() make SharedList usable with std::lock_guard, which locks in its constructor
  // and unlocks in its destructor, however the scope is left.
  void lock() {
    const int rc = pthread_mutex_lock(&mutex);
    if (rc == EOWNERDEAD) {  // we hold the lock, and its last holder died holding it
      ++recoveries;
      if (!invariant_holds()) {
        pthread_mutex_unlock(&mutex);  // not marked consistent: every later lock() fails
        throw std::runtime_error("shared list: a process died holding the lock and left it damaged");
      }
      pthread_mutex_consistent(&mutex);
    } else if (rc != 0) {
      throw std::system_error(rc, std::generic_category(), "pthread_mutex_lock");
    }
  }
  void unlock() { pthread_mutex_unlock(&mutex); }

  // What must be true whenever nobody holds the lock: the size is within the array. (The slots below
  // the size hold items: append() publishes a slot only after writing it.)
  [[nodiscard]] bool invariant_holds() const {
    const int n = size.load();
    return n >= 0 && n <= capacity;
  }

  // Append under the lock; false when the list is full. `die` exists for the demo: a process killed
  // between the two steps, the worst moment for it to die.
  enum class Die { never, after_writing_the_item };
  bool append(long item, Die die = Die::never) {
    std::lock_guard guard(*this);
    const int n = size.load(std::memory_order_relaxed);
    if (n >= capacity) return false;
    items[n] = item;  // 1. write the item into the first free slot: not part of the list yet
    if (die == Die::after_writing_the_item) ::kill(::getpid(), SIGKILL);
    size.store(n + 1, std::memory_order_release);  // 2. publish it
    return true;
  }
  std::vector<long> snapshot() {
    std::lock_guard guard(*this);
    return std::vector<long>(items, items + size.load());
  }

  // Everything below lives in the shared pages: plain data only. `items` is an array, not a
  // std::vector, because a vector's elements sit on the heap of the process that allocated them,
  // where the other processes cannot see them.
  pthread_mutex_t mutex;
  int recoveries = 0;  // how many times a lock was taken over from a dead holder
  std::atomic<int> size{0};
  long items[capacity] = {};
};

// Each child appends `per_child` items, k x 1,000,000 + i, so every item says who added it. The
// children wait for each other at a start gate (as the counters do) and then append at the same
// time, so the lock really is contended: without it, two appends would take the same free slot and
// one item would be lost. Between appends each child works for a few microseconds (busy_for stands
// for making the item), so the children's appends spread over the same milliseconds and interleave.
struct FilledList {
  std::vector<long> items;  // in the order they were appended
  int owner_changes = 0;    // how often the next item came from a different child than the one before
  bool children_ok = true;  // every child exited with code 0
};

FilledList fill_shared_list(SharedList& list, int children, int per_child, pg::Timeline& timeline) {
  SharedObject<std::atomic<int>> arrived(0);
  const auto reports = run_children(
      children,
      [&list, &arrived, children, per_child](int k) {
        wait_at_start_gate(*arrived, children);
        int refused = 0;
        for (int i = 0; i < per_child; ++i) {
          busy_for(3us);
          refused += list.append(k * 1'000'000L + i) ? 0 : 1;
        }
        return fmt::format("{}\n", refused);
      },
      timeline, "append");
  FilledList filled;
  filled.items = list.snapshot();
  for (std::size_t i = 1; i < filled.items.size(); ++i)
    if (filled.items[i] / 1'000'000 != filled.items[i - 1] / 1'000'000) ++filled.owner_changes;
  for (const auto& r : reports) filled.children_ok = filled.children_ok && r.ok;
  return filled;
}

// A child is killed in the middle of an append, holding the lock: after writing its item, before
// publishing it. The robust mutex lets the parent lock anyway; the check passes, because the size
// was never published; the dead child's item is not in the list. Returns whether the parent's own
// append got through.
struct DeadHolderDemo {
  std::size_t size_before = 0;
  std::size_t size_after_death = 0;  // the list as the parent finds it, before its own append
  int child_signal = 0;              // how the child died
  bool appended = false;
};

DeadHolderDemo survive_a_dead_lock_holder(SharedList& list, pg::Timeline& timeline, long item = -1) {
  DeadHolderDemo demo;
  demo.size_before = static_cast<std::size_t>(list.size.load());
  const auto reports = run_children(
      1,
      [&list](int) {
        list.append(424242, SharedList::Die::after_writing_the_item);
        return std::string();  // never reached: the child died above
      },
      timeline, "die holding lock");
  demo.child_signal = reports[0].signal;
  demo.size_after_death = list.snapshot().size();
  demo.appended = list.append(item);
  return demo;
}

// -------------------------------------------------------------------------------------------------
// main
// -------------------------------------------------------------------------------------------------

#ifndef PLAYGROUND_NO_MAIN  // the tests include this file and bring their own main
int main(int argc, char** argv) {
  int children = 2;
  long increments = 100'000;
  int items = 2'000;
  int limit_ms = 60'000;
  pg::Flags flags("sharing_between_processes", "Globals are copied; shared memory is shared; return results.");
  flags.add("--children", children, "number of child processes", 1, 64);
  flags.add("--increments", increments, "increments of the shared counter per child (10,000,000: about 5 s)", 1,
            10'000'000);
  flags.add("--items", items, "items each child appends to the shared list", 1, SharedList::capacity);
  flags.add("--limit-ms", limit_ms, "time limit for the counting children of section 3, in ms", 1, 600'000);
  pg::TraceFile trace;
  trace.add_flags(flags);  // --trace FILE and --html FILE
  if (auto status = flags.parse(argc, argv)) return *status;
  // The shared list cannot grow (its size is fixed when it is mapped), so refuse what would not fit.
  if (static_cast<long>(children) * items > SharedList::capacity) {
    fmt::print(stderr, "sharing_between_processes: --children x --items must be at most {}\n", SharedList::capacity);
    return 2;
  }
  if (auto status = trace.open()) return *status;

  pg::banner("1. Globals are not shared");
  pg::Timeline globals("globals");
  const GlobalDemo demo = show_globals_are_not_shared(children, globals);
  globals.print();
  trace.add(globals);
  fmt::print("  each child added 1000 to its global and saw {}; the parent's global is still {}\n", demo.children_saw,
             demo.parent_after);

  pg::banner("2. The recommended way: return results");
  pg::Timeline returned("returned");
  const auto squares = squares_returned_by_children(children, 20, returned);
  returned.print();
  trace.add(returned);
  fmt::print("  squares of 0..19, computed by {} children and sent back: {}\n", children, squares);

  pg::banner(fmt::format("3. A counter in shared memory: {} children x {} increments", children, increments));
  const auto limit = std::chrono::milliseconds(limit_ms);
  pg::Timeline two_steps("load+store");
  const CountResult broken = count_in_shared_memory(children, increments, false, two_steps, limit);
  two_steps.print();
  trace.add(two_steps);
  pg::Timeline atomic("fetch_add");
  const CountResult fixed = count_in_shared_memory(children, increments, true, atomic, limit);
  atomic.print();
  trace.add(atomic);
  const long expected = children * increments;
  // A child killed at the time limit did not finish its increments: the count is short for that reason,
  // not because updates were lost, so the numbers below would mean nothing. Say so and fail.
  if (broken.killed_at_limit + fixed.killed_at_limit > 0) {
    fmt::print(
        "  {} of the counting children ran past the {} ms limit (--limit-ms) and were killed;\n"
        "  their increments are missing, so these counts say nothing about lost updates: {} and {} of {}\n",
        broken.killed_at_limit + fixed.killed_at_limit, limit_ms, broken.value, fixed.value, expected);
    fmt::print(stderr,
               "sharing_between_processes: counting children killed at the time limit; try fewer --increments\n");
    return 1;
  }
  fmt::print("  BROKEN load then store: {} of {} ({} updates lost)\n", broken.value, expected, expected - broken.value);
  fmt::print("  FIXED  fetch_add:       {} of {} (exact)\n", fixed.value, expected);

  pg::banner(fmt::format("4. A shared list: {} children x {} appends under a process-shared mutex", children, items));
  pg::Timeline appends("shared list");
  // Mapped here, before fill_shared_list() forks: the children inherit this mapping, so their appends
  // land in the very pages the parent reads afterwards.
  SharedObject<SharedList> list;
  const FilledList filled = fill_shared_list(*list, children, items, appends);
  appends.print();
  trace.add(appends);
  auto sorted = filled.items;
  std::sort(sorted.begin(), sorted.end());
  const bool unique = std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end();
  fmt::print("  the list holds {} items (expected {}), each exactly once: {}\n", filled.items.size(),
             static_cast<long>(children) * items, unique);
  fmt::print(
      "  item = child x 1000000 + i (child k's i-th append); the first ones, in the order they were appended:\n"
      "    {}\n",
      std::vector<long>(filled.items.begin(),
                        filled.items.begin() + std::min<std::ptrdiff_t>(8, std::ssize(filled.items))));
  fmt::print("  along the list, the child that appended changed {} times", filled.owner_changes);
  if (filled.owner_changes >= 20) {
    fmt::print(":\n  the children appended at the same time, and the lock kept every append whole\n");
  } else {
    fmt::print(
        ":\n  the children mostly took turns (a busy machine runs them one at a time), so the lock had less to do;\n"
        "  on a quieter machine they append at the same time\n");
  }
  pg::Timeline dead("dead holder");
  const DeadHolderDemo death = survive_a_dead_lock_holder(*list, dead);
  trace.add(dead);
  fmt::print("  a child took the lock, wrote its item, and was killed (signal {}) before publishing it\n",
             death.child_signal);
  fmt::print(
      "  the parent's lock() got EOWNERDEAD, checked the list and marked the mutex consistent ({} recovery):\n"
      "  the list still holds {} items (the dead child's item was never counted); the parent then appended: {}\n",
      list->recoveries, death.size_after_death, death.appended);

  if (!trace.write()) return 1;
  fmt::print(
      "\nTakeaway: processes share nothing by default. Return results when you can; share memory only for\n"
      "plain data, with lock-free atomics or a process-shared mutex.\n");
  return 0;
}
#endif

// -------------------------------------------------------------------------------------------------
// Plumbing: running children and hearing back from them (you can skip this on a first reading)
// -------------------------------------------------------------------------------------------------
// The tools of process_basics (common/process_owners.hpp), put together: fork `count` children; each
// first keeps only its pipe's write end (keep_only_descriptors: a child holding its siblings' pipe
// ends would delay their end of file), runs `body(k)` (k = 0, 1, ...) and _exit()s; what the body
// returns (text) travels back on the pipe, after the child's timeline span (pg::Timeline::encode, one
// line). The parent closes each write end at once (so that end of file arrives when the child exits),
// reads every pipe to the end, and reaps every child; both waits share one deadline, so a stuck child
// is killed, never waited for forever, and the report says so.
//
// Owners (RAII) hold every descriptor and child: if a fork() fails for child 3, the exception leaves
// run_children and the owners clean up children 0-2: no zombie, no open pipe. Every path of a child
// ends in _exit(): a body that throws anything (`catch (...)`) exits with code 70 (EX_SOFTWARE).

template <class Body>
std::vector<ChildReport> run_children(int count, Body body, pg::Timeline& timeline, std::string_view label,
                                      std::chrono::milliseconds limit) {
  std::vector<OwnedFd> read_ends;
  std::vector<OwnedChild> children;
  for (int k = 0; k < count; ++k) {
    Pipe pipe = make_pipe();
    std::fflush(nullptr);  // or output buffered in stdio would be printed again by a child that flushes
    const pid_t pid = ::fork();
    if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
    if (pid == 0) {  // the child: keep only its write end, run the body, send the span and the answer
      int kept[] = {pipe.write_end.get()};
      if (!keep_only_descriptors(kept)) ::_exit(71);
      int code = 0;
      try {
        pg::Span span = pg::Timeline::start_span(fmt::format("{} {}", label, k));
        const std::string answer = body(k);
        span.end = pg::Clock::now();
        if (!write_all(kept[0], pg::Timeline::encode(span) + answer)) code = 1;
      } catch (...) {
        code = 70;
      }
      ::_exit(code);
    }
    OwnedChild child(pid);
    pipe.write_end.reset();
    read_ends.push_back(std::move(pipe.read_end));
    children.push_back(std::move(child));
  }
  std::vector<ChildReport> reports(static_cast<std::size_t>(count));
  const auto deadline = pg::Clock::now() + limit;
  for (std::size_t i = 0; i < reports.size(); ++i) {
    ChildReport& report = reports[i];
    auto text = read_until_eof(read_ends[i].get(), deadline);
    read_ends[i].reset();
    report.pid = children[i].pid();
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - pg::Clock::now());
    std::optional<int> status = children[i].wait_for(std::max(left, 1ms));
    if (!status) {
      status = children[i].kill_and_reap();
      report.killed_at_limit = true;
    }
    if (status && WIFEXITED(*status)) report.exit_code = WEXITSTATUS(*status);
    if (status && WIFSIGNALED(*status)) report.signal = WTERMSIG(*status);
    if (!text) continue;
    const auto newline = text->find('\n');
    if (newline == std::string::npos) continue;
    if (auto span = pg::Timeline::decode(std::string_view(*text).substr(0, newline + 1))) timeline.add(*span);
    report.text = text->substr(newline + 1);
    report.ok = report.exit_code == 0;
  }
  return reports;
}

// -------------------------------------------------------------------------------------------------
// Try this: change one thing, predict what the output will show, then run it. The answers below were
// checked with g++ 12 on Linux. Rebuild with `cmake --build build/default --target
// sharing_between_processes`, and undo a change with `git checkout multiprocessing/sharing_between_processes.cpp`.
// -------------------------------------------------------------------------------------------------
// 1. Run `build/default/multiprocessing/sharing_between_processes --children 1`. How many updates
//    does section 3's BROKEN counter lose?
//    Answer: none: "100000 of 100000 (0 updates lost)". A lost update needs two processes between
//    their load and their store at the same time.
//
// 2. In SharedObject's constructor, change MAP_SHARED to MAP_PRIVATE.
//    Answer: section 3 reports "0 of 200000" for both counters and section 4 "the list holds 0
//    items": each child now writes to its own copy-on-write copy, as with the global of section 1, and
//    the parent's copy stays as it was. The run also takes longer (11 s instead of under 4 s): every
//    child waits at the start gate for siblings whose arrival it can no longer see, until the gate
//    gives up after 5 s.
//
// Next: networking/tcp_echo_server.cpp: coroutines on real sockets, one per connection.
