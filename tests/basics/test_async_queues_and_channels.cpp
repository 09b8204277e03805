// Checks the claims of basics/async_queues_and_channels.cpp on the lesson's own functions.
#include "basics/async_queues_and_channels.cpp"

#include <map>
#include <set>
#include <thread>

#include "catch.hpp"
#include "support.hpp"

namespace {
std::vector<int> zero_to(int n) {
  std::vector<int> v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}
}  // namespace

TEST_CASE("one consumer receives every item exactly once and in order", "[basics]") {
  test_support::Watchdog watchdog(std::chrono::seconds(20), "pipeline order");
  for (int capacity : {0, 1, 3, 50}) {
    INFO("capacity " << capacity);
    pg::Timeline timeline("pipeline");
    auto run = run_pipeline(50, capacity, std::chrono::milliseconds(0), timeline);
    CHECK(run.received == zero_to(50));
    CHECK(run.sent_at.size() == 50);
  }
}

TEST_CASE("a full channel suspends the producer until the consumer takes an item", "[basics]") {
  test_support::Watchdog watchdog(std::chrono::seconds(20), "backpressure");
  const int items = 6;
  const std::chrono::milliseconds per_item{20};
  for (int capacity : {0, 2}) {
    INFO("capacity " << capacity);
    pg::Timeline timeline("bounded");
    auto run = run_pipeline(items, capacity, per_item, timeline);
    REQUIRE(run.received == zero_to(items));
    REQUIRE(run.sent_at.size() == static_cast<std::size_t>(items));
    REQUIRE(run.asked_at.size() == static_cast<std::size_t>(items + 1));  // + the receive of the end marker
    // The rule: send k completes only once the consumer has asked for item k - capacity.
    for (int k = capacity; k < items; ++k) {
      INFO("send " << k);
      CHECK(run.sent_at[static_cast<std::size_t>(k)] >= run.asked_at[static_cast<std::size_t>(k - capacity)]);
    }
    // So the producer is paced by the consumer: it cannot finish before (items - capacity - 1) items
    // were handled, each taking per_item.
    CHECK(run.producer_done - timeline.origin() >= (items - capacity - 1) * per_item);
  }
  // With room for everything, the producer does not wait: it is done before the consumer has finished
  // handling the first item (the consumer asks for item 1 only after that).
  pg::Timeline roomy("room for all");
  auto run = run_pipeline(items, items, std::chrono::milliseconds(50), roomy);
  CHECK(run.received == zero_to(items));
  REQUIRE(run.asked_at.size() >= 2);
  CHECK(run.producer_done <= run.asked_at[1]);
}

TEST_CASE("close() with items buffered: Asio 1.22 drops them, 1.28+ delivers them first; an end marker loses none",
          "[basics]") {
  test_support::Watchdog watchdog(std::chrono::seconds(20), "early close");
  const int items = 6;
  const std::chrono::milliseconds per_item{10};
  // NOT PORTABLE: the consumer takes item 0, and while it handles it the producer fills the buffer and closes.
  const int received = received_after_early_close(items, per_item);
  if constexpr (close_drops_buffered_items) {
    CHECK(received >= 1);     // what was taken before close() arrived
    CHECK(received < items);  // the rest was dropped by close()
  } else {
    CHECK(received == items);  // the buffered items came first, then channel_closed
  }
  // FIXED: the same producer and consumer speeds, ended by a marker sent through the channel.
  pg::Timeline timeline("pipeline");
  CHECK(run_pipeline(items, items, per_item, timeline).received == zero_to(items));
}

TEST_CASE("fan-out: each item goes to exactly one consumer, all share the work, close ends them all", "[basics]") {
  test_support::Watchdog watchdog(std::chrono::seconds(20), "fan-out");
  const int items = 12;
  const int consumers = 3;
  const std::chrono::milliseconds per_item{20};
  pg::Timeline timeline("fan-out");
  pg::Stopwatch clock;
  auto run = run_fan_out(items, consumers, 2, per_item, timeline);
  const auto took = clock.elapsed();

  std::multiset<int> all;
  for (const auto& mine : run.items_of) {
    CHECK_FALSE(mine.empty());                        // every consumer got work
    CHECK(std::is_sorted(mine.begin(), mine.end()));  // each sees the stream's order
    all.insert(mine.begin(), mine.end());
  }
  const auto expected = zero_to(items);
  CHECK(all == std::multiset<int>(expected.begin(), expected.end()));  // each exactly once
  CHECK(run.saw_end_marker == 1);
  CHECK(run.saw_closed == consumers - 1);  // the others were ended by close()
  // Shared work overlaps. Compared with quantities of the same run, so a slow machine stretches both
  // sides: the batch took less than 3/4 of the sum of its items' handling times (one consumer would
  // need all of it; three need about a third), and never less than a third of the nominal work.
  pg::Clock::duration handling{};
  for (const auto& s : timeline.spans()) handling += s.duration();
  CHECK(timeline.spans().size() == static_cast<std::size_t>(items));
  CHECK(took >= items * per_item / consumers);
  CHECK(took < handling * 3 / 4);
}

TEST_CASE("fan-out with more consumers than items: the idle ones still end on close", "[basics]") {
  test_support::Watchdog watchdog(std::chrono::seconds(20), "fan-out idle");
  pg::Timeline timeline("fan-out");
  auto run = run_fan_out(2, 5, 0, std::chrono::milliseconds(5), timeline);
  std::size_t handled = 0;
  for (const auto& mine : run.items_of) handled += mine.size();
  CHECK(handled == 2);
  CHECK(run.saw_end_marker + run.saw_closed == 5);
  CHECK(run.saw_end_marker == 1);
}

TEST_CASE("concurrent_channel carries every item across threads, in order", "[basics]") {
  test_support::Watchdog watchdog(std::chrono::seconds(30), "across threads");
  for (int capacity : {0, 16}) {
    INFO("capacity " << capacity);
    pg::Timeline timeline("across threads");
    auto run = run_across_threads(20'000, capacity, timeline);
    CHECK(run.received == zero_to(20'000));
    CHECK(run.producer_thread != run.consumer_thread);
    CHECK(run.consumer_thread == pg::thread_number());  // the consumer ran where io.run() was called
    auto spans = timeline.spans();
    REQUIRE(spans.size() == 2);
    CHECK(pg::overlap(spans[0], spans[1]));  // both sides ran at the same time
  }
}

TEST_CASE("across threads: the producer's exception comes back through use_future", "[basics]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(20), "producer's exception");
  // The same producer and the same co_spawn(pool, ..., use_future) as run_across_threads, on a channel
  // closed before it starts: its first send fails on the pool thread, and get() rethrows that here.
  // The channel belongs to `io`, and newer Asio releases (1.28 on, as tested here) complete the failed
  // send through the channel's executor, so a thread runs `io` meanwhile, as in run_across_threads.
  asio::io_context io;
  auto keep_running = asio::make_work_guard(io);
  std::thread loop_thread([&io] { io.run(); });
  asio::thread_pool pool(1);
  SharedIntChannel channel(io, 1);
  channel.close();
  CrossThreadRun run;
  pg::Timeline timeline("closed");
  auto produced = co_spawn(pool, produce_on_pool(channel, 3, run, timeline), asio::use_future);
  const auto status = produced.wait_for(std::chrono::seconds(10));
  keep_running.reset();
  loop_thread.join();
  REQUIRE(status == std::future_status::ready);
  pool.join();
  CHECK_THROWS_AS(produced.get(), asio::system_error);
  CHECK(timeline.spans().size() == 1);  // the producer ran, and failed
}

TEST_CASE("async_queues_and_channels program: runs, answers --help, and rejects bad flags with exit status 2",
          "[basics][flags]") {
  using test_support::run_program;
  auto help = run_program(LESSON_BINARY, {"--help"});
  CHECK(help.exit_code == 0);
  CHECK(help.out.find("usage: async_queues_and_channels") != std::string::npos);
  test_support::check_rejects_bad_flags(LESSON_BINARY,
                                        {{"--capacity", "-1"}, {"--items", "0"}, {"--consumers", "x"}, {"--bogus"}});
  auto ok = run_program(LESSON_BINARY, {"--items", "6", "--capacity", "1", "--consume-ms", "5", "--consumers", "2",
                                        "--cross-items", "500"});
  CHECK(ok.exit_code == 0);
  CHECK(ok.out.find("received [0, 1, 2, 3, 4, 5] (in order, once each)") != std::string::npos);
  CHECK(ok.out.find("then close() at once: the consumer received ") != std::string::npos);
  CHECK(ok.out.find("1 consumer ended on the end marker, 1 on close()") != std::string::npos);
  CHECK(ok.out.find("received 500 items, all in order: true") != std::string::npos);
  CHECK(ok.out.find("expect about") == std::string::npos);  // a short run says nothing about its length
}

TEST_CASE(
    "async_queues_and_channels program: a long cross-thread run says first how long it will take, and "
    "an absurd one is refused",
    "[basics][flags]") {
  test_support::check_rejects_bad_flags(LESSON_BINARY, {{"--cross-items", "1000001"}, {"--cross-items", "10000000"}});
  auto r = test_support::run_program(LESSON_BINARY, {"--items", "2", "--consume-ms", "0", "--cross-items", "100000"});
  CHECK(r.exit_code == 0);
  const auto estimate = r.out.find("this takes a while: expect about 1 s");
  const auto section = r.out.find("4. Across threads");
  CHECK(estimate != std::string::npos);
  CHECK(estimate > section);
  CHECK(r.out.find("received 100000 items, all in order: true") > estimate);  // printed before the run
}

TEST_CASE("async_queues_and_channels trace file: --trace writes the spans of every timeline", "[basics][trace]") {
  const std::string path = fmt::format("/tmp/playground-channels-{}.json", ::getpid());
  auto r = test_support::run_program(LESSON_BINARY, {"--items", "4", "--capacity", "1", "--consume-ms", "2",
                                                     "--consumers", "2", "--cross-items", "100", "--trace", path});
  REQUIRE(r.exit_code == 0);
  auto events = test_support::read_trace(path);
  std::remove(path.c_str());
  std::map<std::string, int> per_category;
  for (const auto& e : events)
    if (e.phase == 'X') ++per_category[e.category];
  CHECK(per_category["room for all"] == 8);  // 4 sends + 4 handled items
  CHECK(per_category["bounded"] == 8);
  CHECK(per_category["fan-out"] == 4);
  CHECK(per_category["across threads"] == 2);
}
