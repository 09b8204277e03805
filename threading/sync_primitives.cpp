// sync_primitives: C++20's small coordination tools, each doing one job a mutex would do badly.
//
// What you will see: six short demos, each with a timeline.
//   1. std::counting_semaphore lets at most `--limit` of `--workers` threads into a section at once:
//      the spans stack at most `--limit` deep, and the lesson prints the deepest stack it saw.
//   2. std::latch as a rendezvous: threads arrive at staggered times and all pass together the moment
//      the last one arrives; a second latch lets main() wait for all of them to finish.
//   3. std::barrier: workers run in phases; no one starts phase p+1 before everyone finished phase p,
//      and a completion step runs exactly once between phases.
//   4. std::atomic<bool>::wait / notify_one: a one-shot event, no mutex and no condition variable.
//   5. std::stop_source / std::stop_callback / std::jthread: cooperative cancellation; the callbacks
//      run once, and a jthread stops and joins itself when it goes out of scope.
//   6. Waiting with a timeout (Python's Event.wait(timeout)): condition_variable::wait_for returns
//      true when the event was set in time, false when the timeout passed first.
//
// Run it:   build/default/threading/sync_primitives --workers 6 --limit 2 --work-ms 40
// Build it by hand:
//   g++ -std=c++20 -O2 -I common threading/sync_primitives.cpp -lfmt -pthread -o sync_primitives
//
// Python has most of these in `threading`; this lesson goes beyond the Python playground's lessons:
//   threading.Semaphore(n)            -> std::counting_semaphore<> sem(n); sem.acquire() / sem.release()
//   threading.Barrier(n, action=f)    -> std::barrier sync(n, f);           sync.arrive_and_wait()
//   (no direct twin; a Barrier used once) -> std::latch done(n); done.count_down() / done.wait()
//   threading.Event: set() / wait()   -> std::atomic<bool> flag; flag = true; flag.notify_one() / flag.wait(false)
//   Event.wait(timeout) -> True/False -> cv.wait_for(lock, timeout, [&] { return set; }) -> true/false
//   a "please stop" Event you poll    -> std::stop_source / std::stop_token (std::jthread has one built in)
//
// What differs in C++: these are not wrappers around one lock; latch, barrier and atomic wait are
// built for speed (on Linux, atomic wait is a futex: the waiting thread sleeps in the kernel and costs
// nothing). No GIL means the threads here really do run at the same time. And the types are exact
// about what they promise: a latch is one-shot, a barrier is reusable, a semaphore counts.
// The mutex and the thread-safe queue have their own lessons (threading/locks_and_thread_safety.cpp,
// threading/queues_and_worker_threads.cpp); this one is about the tools for everything else.

#include <fmt/ranges.h>  // fmt::join

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <condition_variable>
#include <latch>
#include <mutex>
#include <optional>
#include <semaphore>
#include <stop_token>
#include <thread>
#include <vector>

#include "playground.hpp"

using namespace std::chrono_literals;

// ---- Plumbing for section 1 (skip on a first reading) ---------------------------------------------
// A counter that remembers the highest value it reached: `enter()` when a thread goes into the
// section, `leave()` when it comes out. The peak is how many threads were inside *at the same time*,
// measured rather than inferred from the chart. The compare-exchange loop raises `peak` only if the
// new value is higher, without a lock; two threads racing to raise it cannot lower it.
struct ConcurrencyMeter {
  std::atomic<int> inside{0};
  std::atomic<int> peak{0};
  void enter() {
    const int now = inside.fetch_add(1) + 1;
    int seen = peak.load();
    while (now > seen && !peak.compare_exchange_weak(seen, now)) {
    }
  }
  void leave() { inside.fetch_sub(1); }
};

// -------------------------------------------------------------------------------------------------
// 1. counting_semaphore: at most N inside at once
// -------------------------------------------------------------------------------------------------
// A semaphore holds a count of permits. acquire() takes one, waiting while there are none; release()
// gives one back and wakes a waiter. Started with `limit` permits, it lets at most `limit` threads
// between acquire() and release() at any moment: the classic way to cap use of something scarce (a
// connection pool, a rate-limited API, memory for big buffers). Unlike a mutex, the thread that
// releases need not be the one that acquired, which is what makes it a counter and not a lock.
//
// `limit = 0` below means "no semaphore": every worker walks straight in, so the peak is the number of
// workers. That is the "before" picture.

int semaphore_demo(int workers, int limit, std::chrono::milliseconds work, pg::Timeline& timeline) {
  std::counting_semaphore<> permits(limit);  // the template argument is only an upper bound on the count
  ConcurrencyMeter meter;
  std::vector<std::thread> threads;
  for (int id = 0; id < workers; ++id) {
    threads.emplace_back([&, id] {
      if (limit > 0) permits.acquire();  // waits here while `limit` others are inside
      meter.enter();
      {
        auto span = timeline.scope(fmt::format("worker {}", id));
        std::this_thread::sleep_for(work);  // the scarce thing, in use
      }
      meter.leave();
      if (limit > 0) permits.release();  // lets the next waiter in
    });
  }
  for (auto& t : threads) t.join();
  return meter.peak.load();
}

// -------------------------------------------------------------------------------------------------
// 2. latch: a one-shot rendezvous, and a completion count
// -------------------------------------------------------------------------------------------------
// A latch starts at a count and only goes down. count_down() lowers it; wait() blocks until it is zero;
// arrive_and_wait() does both. Once at zero it stays open forever: it is one-shot (reusable gates are
// barriers, section 3).
//
// Here the workers arrive at staggered times (worker i after i x stagger) with arrive_and_wait() on a
// `gate` latch of count `workers`: the early ones wait, and they are all released at the moment the
// last one arrives. That is a start gate: use it when threads must begin together (a fair benchmark,
// a test that wants maximum contention). A second latch, `finished`, counts the workers down as they
// end, so main() can wait for "all done" without joining each thread (useful when the threads belong
// to a pool and cannot be joined).

struct LatchRun {
  std::vector<pg::Clock::time_point> arrived;  // when each worker reached the gate
  std::vector<pg::Clock::time_point> passed;   // when each worker got through it
  pg::Clock::time_point all_finished{};        // when main()'s wait on `finished` returned
  std::vector<pg::Clock::time_point> ended;    // when each worker counted `finished` down
};

LatchRun latch_demo(int workers, std::chrono::milliseconds stagger, pg::Timeline& timeline) {
  LatchRun run;
  const auto n = static_cast<std::size_t>(workers);
  run.arrived.resize(n);
  run.passed.resize(n);
  run.ended.resize(n);
  std::latch gate(workers);
  std::latch finished(workers);
  std::vector<std::jthread> threads;  // jthread joins itself when destroyed (more in section 5)
  for (int id = 0; id < workers; ++id) {
    threads.emplace_back([&, id] {
      const auto i = static_cast<std::size_t>(id);
      {
        auto span = timeline.scope(fmt::format("worker {} getting ready", id));
        std::this_thread::sleep_for(id * stagger);
      }
      run.arrived[i] = pg::Clock::now();  // each worker writes only its own slot
      {
        auto span = timeline.scope(fmt::format("worker {} waits at the gate", id));
        gate.arrive_and_wait();
      }
      run.passed[i] = pg::Clock::now();
      {
        auto span = timeline.scope(fmt::format("worker {} runs", id));
        std::this_thread::sleep_for(stagger);
      }
      run.ended[i] = pg::Clock::now();
      finished.count_down();  // "one more done"; does not wait
    });
  }
  finished.wait();  // main() sleeps until every worker has counted down
  run.all_finished = pg::Clock::now();
  return run;  // the jthreads join here, as `threads` is destroyed (after `run` was copied out)
}

// -------------------------------------------------------------------------------------------------
// 3. barrier: phases that never interleave, with one step in between
// -------------------------------------------------------------------------------------------------
// A barrier is a latch that resets itself. Each of `workers` threads calls arrive_and_wait() at the end
// of a phase; when the last one arrives, the barrier runs its *completion function* once, on one of the
// threads, while the others are still held; then it releases them all into the next phase and resets
// its count. Iterative algorithms use it: every worker computes its slice of step p, the completion
// step combines the slices (or swaps buffers), then everyone starts step p+1 from a consistent state.
//
// Phases count from 1, as the chart shows them. In phase p each worker writes (its id + 1) x p to its
// own slot in `partial`, and the completion step after it sums the slots into the phase's total. Reading the other
// workers' slots is safe only because the barrier guarantees they have all finished writing and none has started the
// next phase. The completion function must be noexcept: an exception from it would have nowhere to go.

struct BarrierRun {
  std::vector<long> totals;                          // one per phase, computed by the completion step
  std::vector<pg::Clock::time_point> completion_at;  // when each completion step ran
  int completions = 0;                               // how many times the completion step ran
};

BarrierRun barrier_demo(int workers, int phases, std::chrono::milliseconds work, pg::Timeline& timeline) {
  BarrierRun run;
  std::vector<long> partial(static_cast<std::size_t>(workers), 0);
  int phase = 1;  // the phase that just ended; changed only by the completion step, between phases
  auto between_phases = [&]() noexcept {
    auto span = timeline.scope(fmt::format("completion step after phase {}", phase));
    long sum = 0;
    for (long p : partial) sum += p;
    run.totals.push_back(sum);
    run.completion_at.push_back(pg::Clock::now());
    ++run.completions;
    ++phase;
  };
  std::barrier sync(workers, between_phases);
  std::vector<std::jthread> threads;
  for (int id = 0; id < workers; ++id) {
    threads.emplace_back([&, id] {
      for (int p = 1; p <= phases; ++p) {
        {
          auto span = timeline.scope(fmt::format("phase {} worker {}", p, id));
          // Uneven work (worker id takes a bit longer), so the early finishers visibly wait.
          std::this_thread::sleep_for(work + id * work / 4);
          partial[static_cast<std::size_t>(id)] = static_cast<long>(id + 1) * p;
        }
        sync.arrive_and_wait();  // the last to arrive runs between_phases(), then all go on
      }
    });
  }
  threads.clear();  // joins every worker
  return run;
}

// -------------------------------------------------------------------------------------------------
// 4. atomic wait / notify: a one-shot event without a mutex
// -------------------------------------------------------------------------------------------------
// Since C++20 every std::atomic can be waited on: flag.wait(old) blocks while the value equals `old`,
// and flag.notify_one() (or notify_all) wakes the waiters after a store. It is what Python's
// threading.Event does, with no lock and no condition variable; on Linux it is a futex, so the waiter
// uses no CPU while it sleeps. wait() re-checks the value itself, so a notify that comes before the
// wait is not lost (the waiter sees `true` and does not sleep) and a spurious wake-up goes back to sleep.
// What atomic wait cannot do is give up after a while: it has no timeout. Section 6 has one.

struct EventRun {
  pg::Clock::time_point set_at{};
  pg::Clock::time_point woke_at{};
  bool seen = false;  // what the waiter read after waking
};

EventRun atomic_event_demo(std::chrono::milliseconds delay, pg::Timeline& timeline) {
  EventRun run;
  std::atomic<bool> ready{false};
  std::jthread waiter([&] {
    auto span = timeline.scope("waiter: flag.wait(false)");
    ready.wait(false);  // sleeps until the value is no longer false
    run.woke_at = pg::Clock::now();
    run.seen = ready.load();
  });
  {
    auto span = timeline.scope("setter: working before set()");
    std::this_thread::sleep_for(delay);
  }
  run.set_at = pg::Clock::now();
  ready.store(true);
  ready.notify_one();  // the store alone would not wake the waiter: wait() sleeps until notified
  waiter.join();       // the join makes the waiter's writes to `run` visible here
  return run;
}

// -------------------------------------------------------------------------------------------------
// 5. stop_source, stop_callback, jthread: asking threads to stop
// -------------------------------------------------------------------------------------------------
// C++ never kills a thread from outside; it *asks*. A std::stop_source is the "please stop" button, and
// the std::stop_tokens made from it are what the workers look at: stop_requested() in a loop, or a
// std::stop_callback, a function registered on a token that runs once when stop is requested
// (immediately, on the requesting thread), to wake up whatever the worker is blocked on. Here each
// worker blocks on a semaphore, and its callback counts, timestamps, and releases that semaphore.
//
// Why block instead of polling stop_requested()? request_stop() first sets the flag, then runs the
// callbacks one by one. A polling worker could see the flag, leave, and destroy its stop_callback
// before request_stop() reached it, and a callback destroyed before it runs never runs (its
// destructor just unregisters it). A worker that waits for its own callback cannot miss it.
//
// request_stop() returns true only the first time; later calls do nothing, so callbacks never run twice.
// A callback registered *after* the stop request runs at once, in its constructor. And std::jthread has
// a stop_source built in: its function may take a std::stop_token, and its destructor calls
// request_stop() and then join(), so a jthread cannot be left running by accident (a std::thread
// left unjoined calls std::terminate).

struct StopRun {
  pg::Clock::time_point requested_at{};
  bool first_request = false;  // request_stop()'s answer the first time
  bool second_request = true;  // and the second time
  int callbacks_run = 0;       // how many stop callbacks ran (one per worker expected)
  std::vector<pg::Clock::time_point> callback_at;
  std::vector<pg::Clock::time_point> worker_stopped_at;
  bool late_callback_ran_at_once = false;  // a callback registered after the request
  bool jthread_stopped_by_destructor = false;
};

StopRun stop_demo(int workers, std::chrono::milliseconds run_for, std::chrono::milliseconds slice,
                  pg::Timeline& timeline) {
  StopRun run;
  const auto n = static_cast<std::size_t>(workers);
  run.callback_at.resize(n);
  run.worker_stopped_at.resize(n);
  std::atomic<int> callbacks{0};
  std::latch registered(workers);  // so the stop request cannot come before every callback exists
  std::stop_source source;
  {
    std::vector<std::jthread> threads;
    for (int id = 0; id < workers; ++id) {
      threads.emplace_back([&, id, token = source.get_token()] {
        const auto i = static_cast<std::size_t>(id);
        auto span = timeline.scope(fmt::format("worker {}", id));
        std::binary_semaphore woken{0};
        std::stop_callback on_stop(token, [&, i] {  // runs on the thread that calls request_stop()
          run.callback_at[i] = pg::Clock::now();
          callbacks.fetch_add(1);
          woken.release();  // wake the worker: this is what a stop_callback is for
        });
        registered.count_down();
        woken.acquire();  // blocked, using no CPU, until stop is requested
        run.worker_stopped_at[i] = pg::Clock::now();
      });  // on_stop unregisters here; if stop was never requested it never runs
    }
    registered.wait();
    std::this_thread::sleep_for(run_for);
    run.requested_at = pg::Clock::now();
    run.first_request = source.request_stop();   // runs every callback, here, before returning
    run.second_request = source.request_stop();  // already stopped: false, and no callback runs again
  }                                              // the jthreads join here
  run.callbacks_run = callbacks.load();

  bool late = false;
  std::stop_callback late_callback(source.get_token(), [&] { late = true; });  // stop already requested
  run.late_callback_ran_at_once = late;

  // jthread's own stop_source: no request_stop() call anywhere, the destructor does it.
  std::atomic<bool> saw_stop{false};
  {
    std::jthread ticker([&](std::stop_token own) {
      auto span = timeline.scope("jthread stopped by its destructor");
      while (!own.stop_requested()) std::this_thread::sleep_for(slice);
      saw_stop = true;
    });
    std::this_thread::sleep_for(slice * 3);
  }  // ~jthread: request_stop(), then join()
  run.jthread_stopped_by_destructor = saw_stop.load();
  return run;
}

// -------------------------------------------------------------------------------------------------
// 6. Waiting with a timeout: Python's Event.wait(timeout)
// -------------------------------------------------------------------------------------------------
// Python's `event.wait(timeout=0.1)` returns True if the event was set within 0.1 s, False if the time
// ran out. C++ has no Event class; the usual one is a bool guarded by a std::mutex, plus a
// std::condition_variable to sleep on (Python's threading.Condition): the waiter sleeps until another
// thread changes the bool and notifies. `cv.wait_for(lock, timeout, predicate)` is the timed wait: it
// unlocks the mutex, sleeps until notified *or* until `timeout` has passed, locks again, and returns
// the predicate's value, so `true` means "set", `false` means "timed out, still not set". The
// predicate also makes it immune to a notify that came before the wait and to spurious wake-ups.
// std::unique_lock is the lock object that wait_for can unlock and relock (std::lock_guard cannot).
//
// (Other timed waits in the standard library: a semaphore's try_acquire_for(timeout), a
// std::timed_mutex's try_lock_for(timeout), a std::future's wait_for(timeout).)

class Event {
 public:
  void set() {
    {
      std::lock_guard lock(mutex_);
      set_ = true;
    }
    changed_.notify_all();  // wake every waiter; notifying after unlocking saves them a wait for the lock
  }
  // Python's event.wait(timeout): true if the event is set, false if `timeout` passed first.
  bool wait_for(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return set_; });
  }

 private:
  std::mutex mutex_;  // guards set_
  std::condition_variable changed_;
  bool set_ = false;
};

struct TimedWaitRun {
  bool returned = false;                // what wait_for answered
  pg::Clock::duration waited{};         // how long it waited
  pg::Clock::time_point set_at{};       // when the setter set the event (if it did)
  pg::Clock::time_point returned_at{};  // when wait_for returned
};

// One waiter calls event.wait_for(timeout). If `set_after` is given, another thread sets the event
// after that long; otherwise nobody ever sets it.
TimedWaitRun timed_wait_demo(std::chrono::milliseconds timeout, std::optional<std::chrono::milliseconds> set_after,
                             pg::Timeline& timeline) {
  TimedWaitRun run;
  Event event;
  std::jthread setter;  // an empty jthread (no thread) when nobody sets the event
  if (set_after) {
    setter = std::jthread([&, delay = *set_after] {
      auto span = timeline.scope("setter: working before set()");
      std::this_thread::sleep_for(delay);
      run.set_at = pg::Clock::now();  // read by main() only after the join below
      event.set();
    });
  }
  {
    auto span = timeline.scope(fmt::format("waiter: wait_for({} ms)", timeout.count()));
    pg::Stopwatch clock;
    run.returned = event.wait_for(timeout);
    run.waited = clock.elapsed();
    run.returned_at = pg::Clock::now();
  }
  if (setter.joinable()) setter.join();
  return run;
}

// -------------------------------------------------------------------------------------------------
// main: run the six demos, print what each measured
// -------------------------------------------------------------------------------------------------

#ifndef PLAYGROUND_NO_MAIN  // the tests include this file and bring their own main
int main(int argc, char** argv) {
  int workers = 6;
  int limit = 2;
  int work_ms = 40;
  int phases = 3;
  pg::Flags flags("sync_primitives", "C++20 semaphore, latch, barrier, atomic wait and stop tokens, with timelines.");
  flags.add("--workers", workers, "threads in each demo", 1, 64);
  flags.add("--limit", limit, "semaphore permits in section 1", 1, 64);
  flags.add("--work-ms", work_ms, "how long each piece of work takes, in milliseconds", 1, 5'000);
  flags.add("--phases", phases, "barrier phases in section 3", 1, 100);
  pg::TraceFile trace;
  trace.add_flags(flags);  // --trace FILE and --html FILE
  if (auto status = flags.parse(argc, argv)) return *status;
  if (auto status = trace.open()) return *status;
  const std::chrono::milliseconds work(work_ms);

  pg::banner(fmt::format("1. counting_semaphore: {} workers, at most {} inside at once", workers, limit));
  pg::Timeline unlimited("no semaphore");
  const int peak_without = semaphore_demo(workers, 0, work, unlimited);
  unlimited.print();
  trace.add(unlimited);
  pg::Timeline limited("semaphore");
  const int peak_with = semaphore_demo(workers, limit, work, limited);
  limited.print();
  trace.add(limited);
  fmt::print("  most workers inside at once: {} without a semaphore, {} with {} permits\n", peak_without, peak_with,
             limit);

  pg::banner(fmt::format("2. latch: {} workers meet at a gate, main() waits for all", workers));
  pg::Timeline gate("latch");
  auto latch_run = latch_demo(workers, work, gate);
  gate.print();
  trace.add(gate);
  const auto last_arrival = *std::max_element(latch_run.arrived.begin(), latch_run.arrived.end());
  const auto first_pass = *std::min_element(latch_run.passed.begin(), latch_run.passed.end());
  const auto last_pass = *std::max_element(latch_run.passed.begin(), latch_run.passed.end());
  fmt::print("  last arrival at {:.1f} ms; all {} passed between {:.1f} and {:.1f} ms (none before the last arrival)\n",
             pg::ms(last_arrival - gate.origin()), workers, pg::ms(first_pass - gate.origin()),
             pg::ms(last_pass - gate.origin()));

  pg::banner(fmt::format("3. barrier: {} workers x {} phases, one completion step per phase", workers, phases));
  pg::Timeline phased("barrier");
  auto barrier_run = barrier_demo(workers, phases, work, phased);
  phased.print(40);
  trace.add(phased);
  // What the totals mean: in phase p (counting from 1, as the chart does), worker w writes (w + 1) x p, so the
  // completion step, summing every slot, expects p x (1 + 2 + ... + workers).
  std::vector<long> expected_totals;
  for (int p = 1; p <= phases; ++p) expected_totals.push_back(static_cast<long>(p) * workers * (workers + 1) / 2);
  fmt::print("  completion step ran {} times (once per phase)\n", barrier_run.completions);
  fmt::print("  totals per phase: {}; expected {}: in phase p each worker w wrote (w + 1) x p to its own slot,\n",
             fmt::join(barrier_run.totals, ", "), fmt::join(expected_totals, ", "));
  if (barrier_run.totals == expected_totals) {
    fmt::print(
        "  and the step summed the slots: the totals match, so it saw every worker's value of that phase\n"
        "  and none of the next (no worker had started it)\n");
  } else {
    fmt::print("  and the step summed the slots: the totals DIFFER, so it read a slot from the wrong phase\n");
  }

  pg::banner("4. atomic<bool>::wait / notify_one: a one-shot event");
  pg::Timeline event("atomic wait");
  auto event_run = atomic_event_demo(work, event);
  event.print();
  trace.add(event);
  fmt::print(
      "  the waiter woke {:.2f} ms after the flag was set (the kernel's wake-up time), and read the flag as {}\n",
      pg::ms(event_run.woke_at - event_run.set_at), event_run.seen);

  pg::banner(fmt::format("5. stop_source / stop_callback / jthread: {} workers asked to stop", workers));
  pg::Timeline stopping("stop tokens");
  auto stop_run = stop_demo(workers, work, 2ms, stopping);
  stopping.print();
  trace.add(stopping);
  fmt::print(
      "  request_stop() was called twice: it returned {} the first time (this call made the request and ran\n"
      "  the callbacks) and {} the second (already requested: nothing happens again)\n",
      stop_run.first_request, stop_run.second_request);
  fmt::print("  {} callbacks ran for {} workers (one each, even after two requests)\n", stop_run.callbacks_run,
             workers);
  fmt::print("  a callback registered after the request ran at once, in its constructor: {}\n",
             stop_run.late_callback_ran_at_once);
  fmt::print("  a jthread whose destructor asked it to stop (no request_stop() call in the code) stopped: {}\n",
             stop_run.jthread_stopped_by_destructor);

  pg::banner("6. Event.wait(timeout): condition_variable::wait_for");
  const auto timeout = 3 * work;
  pg::Timeline in_time("wait_for, set in time");
  const auto set_run = timed_wait_demo(timeout, work, in_time);
  in_time.print();
  trace.add(in_time);
  fmt::print(
      "  set after {} ms, timeout {} ms: wait_for returned {} after {:.1f} ms (woken by set(), not the timeout)\n",
      work_ms, timeout.count(), set_run.returned, pg::ms(set_run.waited));
  pg::Timeline never("wait_for, never set");
  const auto timeout_run = timed_wait_demo(work, std::nullopt, never);
  never.print();
  trace.add(never);
  fmt::print(
      "  never set, timeout {} ms: wait_for returned {} after {:.1f} ms (gave up at the timeout; at least\n"
      "  {} ms, a little more because waking a thread takes time)\n",
      work_ms, timeout_run.returned, pg::ms(timeout_run.waited), work_ms);

  if (!trace.write()) return 1;
  fmt::print(
      "\nTakeaway: pick the tool that says what you mean: a semaphore counts, a latch opens once, a barrier\n"
      "separates phases, atomic wait is an event, a stop token asks a thread to finish, and a condition\n"
      "variable's wait_for is a wait that can give up.\n");
  return 0;
}
#endif

// -------------------------------------------------------------------------------------------------
// Try this: change one thing, predict what the output will show, then run it. The answers below were
// checked with g++ 12 on Linux. Rebuild with `cmake --build build/default --target
// sync_primitives`, and undo a change with `git checkout threading/sync_primitives.cpp`.
// -------------------------------------------------------------------------------------------------
// 1. Run `build/default/threading/sync_primitives --limit 1`, then `--limit 6`. How many workers are
//    inside at once in section 1, and how long does the semaphore timeline take?
//    Answer: with 1 permit, 1 inside at once and the spans end to end (about 6 x 40 = 240 ms): a
//    semaphore of 1 is a lock. With 6 permits for 6 workers, 6 at once and about 40 ms: the semaphore
//    never makes anyone wait.
//
// 2. In atomic_event_demo, delete the line `ready.notify_one();`.
//    Answer: the program hangs in section 4 (press Ctrl-C): the waiter sleeps until notified, and the
//    store alone does not wake it. (In one run of many, with a loaded machine, the waiter woke anyway:
//    libstdc++ re-checks the value in a short spin before it sleeps, and the store fell in that spin.
//    Never count on it.)
//
// Next: basics/blocking_work_in_async.cpp: back to coroutines, now with a thread pool underneath, and
// several threads on one io_context.
