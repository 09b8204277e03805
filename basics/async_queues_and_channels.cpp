// async_queues_and_channels: coroutines hand work to each other through a channel, an async queue.
//
// What you will see:
//   1. A fast producer and a slow consumer joined by a channel. With room for every item, the producer
//      finishes at once and the items pile up in the buffer; with a small buffer, the producer's sends
//      wait for the consumer (backpressure): its "send" spans stretch on the timeline.
//   2. The end of the stream. Closing the channel while items are still buffered throws them away
//      (Asio 1.22); an end marker sent through the channel, after the last item, loses nothing.
//   3. Fan-out: several consumers share one channel; each item goes to exactly one of them, the work
//      is spread, and closing the channel ends every consumer.
//   4. concurrent_channel: the same thing with the producer on another thread.
//
// Run it:   build/default/basics/async_queues_and_channels --items 8 --capacity 2 --consume-ms 30
// Build it by hand:
//   g++ -std=c++20 -O2 -I common basics/async_queues_and_channels.cpp -lfmt -pthread -o async_queues_and_channels
//
// The Python playground has no async queue lesson; this mirrors asyncio.Queue and extends the threaded
// queue lesson (queues_and_worker_threads.py; in C++ threading/queues_and_worker_threads.cpp):
//   asyncio.Queue(maxsize=n)       -> asio::experimental::channel<void(asio::error_code, int)> ch(ex, n)
//   await q.put(x)                 -> co_await ch.async_send(asio::error_code{}, x, use_awaitable)
//   x = await q.get()              -> auto [ec, x] = co_await ch.async_receive(as_tuple(use_awaitable))
//   q.put(None) as "no more items" -> ch.async_send(asio::error::eof, 0, ...): the end marker
//   (no twin; Go's close(ch))      -> ch.close(): receives then fail with channel_closed (section 2: when)
//   queue.Queue across threads     -> asio::experimental::concurrent_channel (the plain channel is not thread-safe)
//
// What differs in C++: a channel carries a *completion signature*, here `void(error_code, int)`, so
// each message is an error code plus a value, and errors (end of stream, closed) travel in the same
// stream as data. The channel is still in asio::experimental (1.22 to 1.38): it works, but may change.
// Capacity 0 is allowed and means a rendezvous: every send waits for a receive (asyncio.Queue(0)
// would instead mean unbounded).

#include <fmt/ranges.h>  // prints a std::vector as [0, 1, 4]
#include <asio.hpp>
#include <asio/experimental/channel.hpp>
#include <asio/experimental/concurrent_channel.hpp>
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
#include <numeric>
#include <vector>

#include "playground.hpp"

using namespace std::chrono_literals;

// The message type. Every channel in this lesson carries one int per message, with an error code in
// front that is empty for data and `asio::error::eof` for the end marker.
using IntChannel = asio::experimental::channel<void(asio::error_code, int)>;
using SharedIntChannel = asio::experimental::concurrent_channel<void(asio::error_code, int)>;

// Without as_tuple, a receive that fails (closed channel) throws an exception. With as_tuple it returns
// the error code as a value, which suits a loop that ends on "no more items" (see the includes above for
// where as_tuple lives in each Asio release).
constexpr auto as_tuple_awaitable = as_tuple(asio::use_awaitable);

// Rethrows a coroutine's exception out of io_context::run(), so no failure is silently lost (the
// `detached` token would swallow it).
inline void rethrow_if_failed(std::exception_ptr error) {
  if (error) std::rethrow_exception(error);
}

// A pause that suspends only this coroutine: the "work" a consumer does with an item.
asio::awaitable<void> pause_for(std::chrono::milliseconds d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  co_await timer.async_wait(asio::use_awaitable);
}

// -------------------------------------------------------------------------------------------------
// 1. Producer, consumer, and a bounded channel: backpressure
// -------------------------------------------------------------------------------------------------
// The producer sends items 0..n-1 as fast as it can; the consumer takes `per_item` to handle each one.
// A channel made with capacity c buffers up to c items: a send into a channel with room completes at
// once; a send into a full channel *suspends the producer* until a consumer takes an item and makes
// room. That is backpressure: a fast producer is slowed to the consumer's pace instead of filling
// memory with a backlog. (asyncio.Queue(maxsize=c) does the same: `await q.put(x)` waits while full.)
//
// After the last item the producer sends an end marker (error code eof) through the same channel, so
// it arrives after every item; the consumer stops when it sees it (section 2 says why not close()).
//
// The run records when every send completed and when the consumer *asked* for each item, so a test
// can check the backpressure rule: with capacity c, send k cannot complete before the consumer has
// asked for item k - c (until then the buffer is full).

struct PipelineRun {
  std::vector<int> received;                    // in the order the consumer got them
  std::vector<pg::Clock::time_point> sent_at;   // when send k completed
  std::vector<pg::Clock::time_point> asked_at;  // when the consumer asked for item j
  pg::Clock::time_point producer_done{};        // after the last send, before the end marker
};

asio::awaitable<void> produce_items(IntChannel& channel, int items, PipelineRun& run, pg::Timeline& timeline) {
  for (int i = 0; i < items; ++i) {
    auto span = timeline.scope(fmt::format("send {}", i));  // long when the channel was full
    co_await channel.async_send(asio::error_code{}, i, asio::use_awaitable);
    run.sent_at.push_back(pg::Clock::now());
  }
  run.producer_done = pg::Clock::now();
  co_await channel.async_send(asio::error::eof, 0, asio::use_awaitable);  // "no more items"
}

asio::awaitable<void> consume_items(IntChannel& channel, std::chrono::milliseconds per_item, PipelineRun& run,
                                    pg::Timeline& timeline) {
  for (;;) {
    run.asked_at.push_back(pg::Clock::now());
    auto [error, item] = co_await channel.async_receive(as_tuple_awaitable);
    if (error) break;  // the end marker (or a closed channel): no more items
    auto span = timeline.scope(fmt::format("handle {}", item));
    co_await pause_for(per_item);
    run.received.push_back(item);
  }
}

PipelineRun run_pipeline(int items, int capacity, std::chrono::milliseconds per_item, pg::Timeline& timeline) {
  asio::io_context io;
  IntChannel channel(io, static_cast<std::size_t>(capacity));
  PipelineRun run;
  co_spawn(io, produce_items(channel, items, run, timeline), rethrow_if_failed);
  co_spawn(io, consume_items(channel, per_item, run, timeline), rethrow_if_failed);
  io.run();  // returns when both coroutines have finished
  return run;
}

// -------------------------------------------------------------------------------------------------
// 2. Ending the stream: an end marker, not close()
// -------------------------------------------------------------------------------------------------
// NOT PORTABLE: a slow consumer takes item 0 and works on it. Meanwhile the producer puts the other
// items in the buffer and calls close() straight away, as you would close a Go channel ("no more
// items"). What happens to the buffered items depends on the Asio release:
//   - Asio 1.22: close() marks the channel closed at once: every later receive, even one that would
//     find items in the buffer, completes with `channel_closed`. The buffered items are gone. Nothing
//     crashes and nothing hangs, and that is what makes it dangerous: the data just disappears.
//   - Asio 1.28 and later (as tested here; releases in between were not): receives still get the
//     buffered items, in order, and only then `channel_closed`, as with a Go channel.
// Code that relies on either behaviour breaks on the other.
//
// PORTABLE: send an end marker after the last item (an error code of eof, like putting None in a
// Python queue), as section 1 does. The channel keeps order, so the marker is received after every
// item, on every release. Whoever receives it may then close() the channel, which is how section 3
// stops several consumers.

// What close() does to items still in the buffer, in the Asio this lesson is built with.
constexpr bool close_drops_buffered_items = ASIO_VERSION < 102800;

asio::awaitable<void> fill_then_close(IntChannel& channel, int items) {
  for (int i = 0; i < items; ++i) co_await channel.async_send(asio::error_code{}, i, asio::use_awaitable);
  channel.close();  // NOT PORTABLE: the consumer has not taken them all yet
}

asio::awaitable<void> count_until_closed(IntChannel& channel, std::chrono::milliseconds per_item, int& received) {
  for (;;) {
    auto [error, item] = co_await channel.async_receive(as_tuple_awaitable);
    if (error) co_return;  // channel_closed (in Asio 1.22 while items were still buffered)
    ++received;
    co_await pause_for(per_item);
  }
}

// Returns how many of the `items` the consumer received.
int received_after_early_close(int items, std::chrono::milliseconds per_item) {
  asio::io_context io;
  IntChannel channel(io, static_cast<std::size_t>(items));  // room for every item: no send waits
  int received = 0;
  co_spawn(io, fill_then_close(channel, items), rethrow_if_failed);
  co_spawn(io, count_until_closed(channel, per_item, received), rethrow_if_failed);
  io.run();
  return received;
}

// -------------------------------------------------------------------------------------------------
// 3. Fan-out: several consumers, one channel, each item taken once
// -------------------------------------------------------------------------------------------------
// Consumers that wait on the same channel form a queue of their own: each item goes to exactly one of
// them, the one that has waited longest, so the work spreads over all of them without any
// coordination code. With `consumers` of them, each item taking `per_item`, the whole batch takes
// about items x per_item / consumers: they overlap their waits on one thread, as in
// basics/async_vs_sync.cpp. (Python: several `worker()` tasks doing `await q.get()` in a loop.)
//
// Ending it: the producer sends one end marker after the last item. The consumer that receives it
// calls close(), which wakes every other consumer still waiting with `channel_closed` and makes every
// later receive fail the same way. By then every item has been received (the marker was last), so
// close() throws nothing away here. One marker and one close() stop any number of consumers.

struct FanOutRun {
  std::vector<std::vector<int>> items_of;  // the items each consumer handled
  int saw_end_marker = 0;                  // consumers that ended on the end marker (one)
  int saw_closed = 0;                      // consumers that ended because the channel was closed
};

asio::awaitable<void> fan_out_consumer(IntChannel& channel, int id, std::chrono::milliseconds per_item, FanOutRun& run,
                                       pg::Timeline& timeline) {
  for (;;) {
    auto [error, item] = co_await channel.async_receive(as_tuple_awaitable);
    if (error == asio::error::eof) {
      ++run.saw_end_marker;
      channel.close();  // wakes the other consumers: their receives complete with channel_closed
      co_return;
    }
    if (error) {  // asio::experimental::error::channel_closed
      ++run.saw_closed;
      co_return;
    }
    auto span = timeline.scope(fmt::format("consumer {}: item {}", id, item));
    co_await pause_for(per_item);
    run.items_of[static_cast<std::size_t>(id)].push_back(item);
  }
}

asio::awaitable<void> produce_then_mark_end(IntChannel& channel, int items) {
  for (int i = 0; i < items; ++i) co_await channel.async_send(asio::error_code{}, i, asio::use_awaitable);
  co_await channel.async_send(asio::error::eof, 0, asio::use_awaitable);
}

FanOutRun run_fan_out(int items, int consumers, int capacity, std::chrono::milliseconds per_item,
                      pg::Timeline& timeline) {
  asio::io_context io;
  IntChannel channel(io, static_cast<std::size_t>(capacity));
  FanOutRun run;
  run.items_of.resize(static_cast<std::size_t>(consumers));
  for (int id = 0; id < consumers; ++id)
    co_spawn(io, fan_out_consumer(channel, id, per_item, run, timeline), rethrow_if_failed);
  co_spawn(io, produce_then_mark_end(channel, items), rethrow_if_failed);
  io.run();
  return run;
}

// -------------------------------------------------------------------------------------------------
// 4. Across threads: concurrent_channel
// -------------------------------------------------------------------------------------------------
// The channel above has no lock: all its users must run on one thread (or one strand). When the
// producer lives on another thread, for example on a thread_pool doing blocking work (see
// basics/blocking_work_in_async.cpp), use concurrent_channel: the same interface with a mutex inside.
// Using the plain channel from two threads would be a data race, undefined behaviour that
// ThreadSanitizer reports; this lesson does not do it.
//
// Here the consumer runs on the io_context driven by the calling thread, and the producer is a
// coroutine on a one-thread asio::thread_pool. Each side resumes on its own executor: the producer's
// sends complete on the pool thread, the consumer's receives on the calling thread. The producer's
// result comes back through asio::use_future, so an exception on the pool thread is not lost.

struct CrossThreadRun {
  std::vector<int> received;
  int producer_thread = 0;  // pg::thread_number() of each side
  int consumer_thread = 0;
};

asio::awaitable<void> produce_on_pool(SharedIntChannel& channel, int items, CrossThreadRun& run,
                                      pg::Timeline& timeline) {
  auto span = timeline.scope("producer (pool thread)");
  run.producer_thread = pg::thread_number();
  for (int i = 0; i < items; ++i) co_await channel.async_send(asio::error_code{}, i, asio::use_awaitable);
  co_await channel.async_send(asio::error::eof, 0, asio::use_awaitable);
}

asio::awaitable<void> consume_on_loop(SharedIntChannel& channel, CrossThreadRun& run, pg::Timeline& timeline) {
  auto span = timeline.scope("consumer (this thread)");
  run.consumer_thread = pg::thread_number();
  for (;;) {
    auto [error, item] = co_await channel.async_receive(as_tuple_awaitable);
    if (error) co_return;
    run.received.push_back(item);
  }
}

// Section 4 with this many items or more prints first how long it will take.
constexpr int long_cross_run = 100'000;

CrossThreadRun run_across_threads(int items, int capacity, pg::Timeline& timeline) {
  // What both threads use is declared before the pool that runs the producer, so it is destroyed after
  // the pool: if anything throws below, ~thread_pool stops and joins its thread while the channel and
  // `run` still exist.
  asio::io_context io;
  SharedIntChannel channel(io, static_cast<std::size_t>(capacity));
  CrossThreadRun run;
  asio::thread_pool pool(1);
  co_spawn(io, consume_on_loop(channel, run, timeline), rethrow_if_failed);
  auto produced = co_spawn(pool, produce_on_pool(channel, items, run, timeline), asio::use_future);
  io.run();        // the consumer, on this thread, until it receives the end marker
  produced.get();  // rethrows if the producer failed
  pool.join();
  return run;
}

// -------------------------------------------------------------------------------------------------
// main: run the four sections and print what happened
// -------------------------------------------------------------------------------------------------

#ifndef PLAYGROUND_NO_MAIN  // the tests include this file and bring their own main
int main(int argc, char** argv) {
  int items = 8;
  int capacity = 2;
  int consume_ms = 30;
  int consumers = 3;
  int cross_items = 20'000;
  pg::Flags flags("async_queues_and_channels",
                  "Coroutines connected by Asio channels: backpressure, end of stream, fan-out, across threads.");
  flags.add("--items", items, "items the producer sends in sections 1 to 3", 1, 10'000);
  flags.add("--capacity", capacity, "buffer size of the bounded channel (0: every send waits for a receive)", 0,
            10'000);
  flags.add("--consume-ms", consume_ms, "how long a consumer takes per item, in milliseconds", 0, 10'000);
  flags.add("--consumers", consumers, "consumers sharing the channel in section 3", 1, 1'000);
  flags.add("--cross-items", cross_items, "items sent across threads in section 4 (about 8 us each)", 1, 1'000'000);
  pg::TraceFile trace;
  trace.add_flags(flags);  // --trace FILE and --html FILE
  if (auto status = flags.parse(argc, argv)) return *status;
  if (auto status = trace.open()) return *status;
  const std::chrono::milliseconds per_item(consume_ms);

  pg::banner(fmt::format("1. Backpressure: {} items, consumer {} ms each", items, consume_ms));
  fmt::print("  a channel with room for all {} items: the producer never waits\n", items);
  pg::Timeline roomy("room for all");
  auto roomy_run = run_pipeline(items, items, per_item, roomy);
  roomy.print();
  trace.add(roomy);
  fmt::print("  a channel with capacity {}: sends wait until the consumer makes room\n", capacity);
  pg::Timeline bounded("bounded");
  auto bounded_run = run_pipeline(items, capacity, per_item, bounded);
  bounded.print();
  trace.add(bounded);
  fmt::print("  received {} (in order, once each)\n", bounded_run.received);
  fmt::print("  the producer was done after {:.1f} ms with room for all, after {:.1f} ms with capacity {}\n",
             pg::ms(roomy_run.producer_done - roomy.origin()), pg::ms(bounded_run.producer_done - bounded.origin()),
             capacity);

  pg::banner(fmt::format("2. Ending the stream: close() vs an end marker, {} items", items));
  const int kept = received_after_early_close(items, per_item);
  fmt::print("  NOT PORTABLE: send {} items, then close() at once: the consumer received {}, {} lost\n", items, kept,
             items - kept);
  fmt::print("    (this is Asio {}.{}.{}: {})\n", ASIO_VERSION / 100000, ASIO_VERSION / 100 % 1000, ASIO_VERSION % 100,
             close_drops_buffered_items ? "close() drops buffered items; Asio 1.28 and later deliver them first"
                                        : "close() delivers buffered items first; Asio 1.22 drops them");
  fmt::print("  PORTABLE: send {} items, then an end marker: the consumer received {} (section 1 did this)\n", items,
             roomy_run.received.size());

  pg::banner(fmt::format("3. Fan-out: {} consumers share {} items of {} ms", consumers, items, consume_ms));
  pg::Timeline fan("fan-out");
  pg::Stopwatch fan_clock;
  auto fan_run = run_fan_out(items, consumers, capacity, per_item, fan);
  const double fan_ms = fan_clock.elapsed_ms();
  fan.print();
  trace.add(fan);
  for (std::size_t c = 0; c < fan_run.items_of.size(); ++c)
    fmt::print("  consumer {} handled {}\n", c, fan_run.items_of[c]);
  fmt::print("  took {:.0f} ms (one consumer: about {} ms); {} consumer ended on the end marker, {} on close()\n",
             fan_ms, items * consume_ms, fan_run.saw_end_marker, fan_run.saw_closed);

  pg::banner(fmt::format("4. Across threads: concurrent_channel, {} items", cross_items));
  // Each item crosses between two threads, and with a small buffer nearly every send waits for the
  // other thread to wake up: about 8 us per item on the machines this was written on.
  if (cross_items >= long_cross_run) fmt::print("  this takes a while: expect about {:.0f} s\n", cross_items * 8e-6);
  pg::Timeline cross("across threads");
  auto cross_run = run_across_threads(cross_items, capacity, cross);
  cross.print();
  trace.add(cross);
  std::vector<int> expected(static_cast<std::size_t>(cross_items));
  std::iota(expected.begin(), expected.end(), 0);
  fmt::print("  producer on thread {}, consumer on thread {}: received {} items, all in order: {}\n",
             cross_run.producer_thread, cross_run.consumer_thread, cross_run.received.size(),
             cross_run.received == expected);

  if (!trace.write()) return 1;
  fmt::print(
      "\nTakeaway: a bounded channel paces a fast producer to its consumers; end the stream with a marker\n"
      "sent through the channel, and use concurrent_channel when the two sides live on different threads.\n");
  return 0;
}
#endif

// -------------------------------------------------------------------------------------------------
// Try this: change one thing, predict what the output will show, then run it. The answers below were
// checked on Asio 1.22. Rebuild with `cmake --build build/default --target async_queues_and_channels`,
// and undo a change with `git checkout basics/async_queues_and_channels.cpp`.
// -------------------------------------------------------------------------------------------------
// 1. Run `build/default/basics/async_queues_and_channels --capacity 0`. When is the producer done in
//    section 1, compared with the default capacity 2?
//    Answer: about 210 ms (measured 216 ms), against about 150 ms with capacity 2: with no buffer,
//    send k completes only when the consumer takes item k (a rendezvous), so the last send waits for
//    7 items x 30 ms; with capacity 2 it waits only until item 5 is taken. Capacity 0 is not
//    "unbounded", as maxsize=0 is for asyncio.Queue.
//
// 2. Run it with `--consumers 8`. How long does section 3 take?
//    Answer: about 30 ms, one item's time, where one consumer needs about 240 ms: each of the 8
//    consumers takes one item and they all wait at once. One consumer ends on the end marker, the
//    other 7 on close().
//
// 3. In produce_items, delete the last line (the async_send of asio::error::eof, the end marker).
//    What does the program do now?
//    Answer: section 1 never ends: the program hangs before its first timeline (press Ctrl-C). The consumer
//    waits for an item that never comes, and a pending receive is work, so io_context::run() never
//    returns. Asyncio would hang the same way on `await q.get()`.
//
// Next: threading/thread_basics.cpp: threads, where C++ and Python differ most (no GIL, and a data
// race is undefined behaviour).
