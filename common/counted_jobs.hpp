// counted_jobs.hpp: the demo tasks of basics/tasks_gather_wait_cancel.cpp and
// basics/cancellation_and_timeouts.cpp. A job waits, then succeeds or fails, holding a counted
// resource; a Crew records when each job ran and how it ended; run_coroutine (from
// run_coroutine.hpp) is asyncio.run().
// The lessons need only what these do, so this file can be skipped on a first reading.
#pragma once

#include <fmt/ranges.h>  // prints a std::vector as [1, 2, 3]
#include <asio.hpp>
// as_tuple ("give me the error as a value instead of throwing it") moved out of asio::experimental:
// Asio 1.22 has only asio::experimental::as_tuple; newer releases (1.28 and later, as tested here) spell
// it asio::as_tuple, and 1.38 removed the experimental header. This lesson uses the form its Asio offers.
#if ASIO_VERSION >= 102800
#include <asio/as_tuple.hpp>
using asio::as_tuple;
#else
#include <asio/experimental/as_tuple.hpp>
using asio::experimental::as_tuple;
#endif

#include <chrono>
#include <exception>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "playground.hpp"
#include "run_coroutine.hpp"

// `await asyncio.sleep(delay)`: suspend this coroutine, not the thread.
inline asio::awaitable<void> async_sleep(std::chrono::milliseconds delay) {
  asio::steady_timer timer(co_await asio::this_coro::executor, delay);
  co_await timer.async_wait(asio::use_awaitable);
}

// -------------------------------------------------------------------------------------------------
// The tasks used throughout: a job that holds a resource, waits, then succeeds or fails
// -------------------------------------------------------------------------------------------------
// Every job holds a Resource while it exists. A Resource is RAII: it adds one to a counter when
// made and takes it off when destroyed, however the job ends (it returned, threw, or was cancelled).
// If the counter is back to 0 after a demo, nothing leaked. The jobs of one demo share a Crew: that
// counter, a timeline of when each job ran, and a log of how each one ended.

struct Crew {
  explicit Crew(std::string name) : timeline(std::move(name)) {}
  pg::Timeline timeline;
  std::vector<std::string> log;      // "b: finished", "a: cancelled", "c: failed", in the order they happened
  int live = 0;                      // resources held right now
  int acquired = 0;                  // resources ever taken
  std::vector<std::string> planned;  // "a 300 ms": how long each job would run if nobody stopped it
};

class Resource {
 public:
  explicit Resource(Crew& crew) : crew_(&crew) {
    ++crew_->live;
    ++crew_->acquired;
  }
  Resource(const Resource&) = delete;
  Resource& operator=(const Resource&) = delete;
  ~Resource() { --crew_->live; }

 private:
  Crew* crew_;
};

// A cancelled wait throws std::system_error (asio::system_error is the same type) with this code.
inline bool is_cancellation(const std::system_error& e) { return e.code() == asio::error::operation_aborted; }

enum class Ending { succeed, fail };

inline asio::awaitable<int> job(Crew& crew, std::string name, std::chrono::milliseconds delay, int value,
                                Ending ending = Ending::succeed) {
  Resource held(crew);
  crew.planned.push_back(fmt::format("{} {} ms", name, delay.count()));
  auto span = crew.timeline.scope(name);
  try {
    co_await async_sleep(delay);
  } catch (const std::system_error& e) {
    if (is_cancellation(e)) crew.log.push_back(name + ": cancelled");
    throw;  // a cancelled task must still end with the cancellation, as Python's CancelledError
  }
  if (ending == Ending::fail) {
    crew.log.push_back(name + ": failed");
    throw std::runtime_error(name + " failed");
  }
  crew.log.push_back(name + ": finished");
  co_return value;
}

// What an exception is, in words: "cancelled", "multiple_exceptions", or its message.
inline std::string describe(std::exception_ptr error) {
  if (!error) return "no error";
  try {
    std::rethrow_exception(error);
  } catch (const asio::multiple_exceptions&) {
    return "multiple_exceptions";
  } catch (const std::system_error& e) {
    return is_cancellation(e) ? "cancelled" : e.what();
  } catch (const std::exception& e) {
    return e.what();
  }
}

// Print a demo's timeline (and add it to the trace file), then what each job planned and how it ended.
inline void show(const Crew& crew, pg::TraceFile& trace) {
  crew.timeline.print();
  trace.add(crew.timeline);
  fmt::print("  planned: {} (a cancelled span stops short of that)\n", fmt::join(crew.planned, ", "));
  fmt::print("  how each ended: {}\n  resources still held: {} (of {} taken)\n", crew.log, crew.live, crew.acquired);
}
