// Checks the claims of basics/blocking_work_in_async.cpp on the lesson's own functions.
#include "basics/blocking_work_in_async.cpp"

#include <future>
#include <map>

#include <set>

#include "catch.hpp"
#include "support.hpp"

namespace {
const std::chrono::milliseconds tick{10};
const std::chrono::milliseconds block{200};
}  // namespace

TEST_CASE("heartbeat: a gap as long as the call when blocked inline, steady ticks when offloaded", "[basics]") {
  test_support::Watchdog watchdog(std::chrono::seconds(20), "heartbeat");
  pg::Timeline frozen("blocking inline");
  auto inline_run = run_with_heartbeat(false, 7, tick, block, frozen);
  pg::Timeline offloaded("offloaded");
  auto pool_run = run_with_heartbeat(true, 7, tick, block, offloaded);

  CHECK(inline_run.result == 49);
  CHECK(pool_run.result == 49);
  // The heartbeat ticked at least once before the call (its first tick is due at 1 tick, the call at
  // 2.5 ticks) and once after it. A late loop may fit only one tick before the call.
  REQUIRE(inline_run.ticks.size() >= 2);
  REQUIRE(pool_run.ticks.size() >= 2);
  const auto frozen_gap = inline_run.longest_gap();
  const auto steady_gap = pool_run.longest_gap();
  INFO("longest gap inline " << pg::ms(frozen_gap) << " ms, offloaded " << pg::ms(steady_gap) << " ms");
  CHECK(frozen_gap >= block);     // no tick at all during the call
  CHECK(steady_gap < block / 2);  // the loop kept ticking (one tick is 10 ms; half the call is 100 ms)
  CHECK(frozen_gap > 2 * steady_gap);
  // While offloaded, ticks kept coming *during* the call: about block / tick of them.
  CHECK(pool_run.ticks.size() >= inline_run.ticks.size() + 3);
}

TEST_CASE("inline, the call runs on the loop's thread, offloaded on a pool thread, and resumes on the loop",
          "[basics]") {
  test_support::Watchdog watchdog(std::chrono::seconds(20), "threads");
  pg::Timeline frozen("blocking inline");
  auto inline_run = run_with_heartbeat(false, 3, tick, std::chrono::milliseconds(20), frozen);
  CHECK(inline_run.work_thread == inline_run.loop_thread);
  CHECK(inline_run.resumed_on == inline_run.loop_thread);
  pg::Timeline offloaded("offloaded");
  auto pool_run = run_with_heartbeat(true, 3, tick, std::chrono::milliseconds(20), offloaded);
  CHECK(pool_run.result == 9);
  CHECK(pool_run.loop_thread == pg::thread_number());  // io.run() ran on this test's thread
  CHECK(pool_run.work_thread != pool_run.loop_thread);
  CHECK(pool_run.resumed_on == pool_run.loop_thread);
  // The call's span overlaps heartbeat ticks when offloaded.
  pg::Span call;
  std::vector<pg::Span> ticks;
  for (const auto& s : offloaded.spans()) {
    if (s.name.starts_with("tick")) {
      ticks.push_back(s);
    } else {
      call = s;
    }
  }
  REQUIRE(call.name == "slow_square, on the pool");
  CHECK(std::count_if(ticks.begin(), ticks.end(), [&](const pg::Span& t) { return pg::overlap(t, call); }) >= 1);
}

TEST_CASE("an exception thrown by the offloaded call comes back to the coroutine", "[basics]") {
  test_support::Watchdog watchdog(std::chrono::seconds(20), "exception");
  auto caught = run_failing_offload();
  CHECK(caught.message == "slow_square(-1): negative input");
  CHECK(caught.caught_on == pg::thread_number());  // caught on the loop's thread, which is this one
}

asio::awaitable<void> squares_on_pool(asio::thread_pool& pool, std::vector<int>& out) {
  for (int x = 0; x < 5; ++x) out.push_back(co_await run_on(pool, slow_square, x, 1ms));
}

TEST_CASE("run_on returns the offloaded function's value", "[basics]") {
  test_support::Watchdog watchdog(std::chrono::seconds(20), "run_on");
  asio::io_context io;
  asio::thread_pool pool(2);
  std::vector<int> results;
  co_spawn(io, squares_on_pool(pool, results), rethrow_on_failure);
  io.run();
  CHECK(results == std::vector<int>{0, 1, 4, 9, 16});
}

TEST_CASE("a strand serialises handlers on a 2-thread io_context: none overlap, in order, nothing lost", "[basics]") {
  test_support::Watchdog watchdog(std::chrono::seconds(20), "strand");
  const int handlers = 8;
  pg::Timeline timeline("strand");
  auto run = run_shared_counter(handlers, 2, true, std::chrono::milliseconds(5), timeline);
  CHECK(run.counter == handlers);
  CHECK(run.peak_inside == 1);
  auto spans = timeline.spans_by_start();
  REQUIRE(spans.size() == static_cast<std::size_t>(handlers));
  for (std::size_t i = 0; i < spans.size(); ++i) {
    CHECK(spans[i].name == fmt::format("handler {}", i));  // started in the order posted
    for (std::size_t j = i + 1; j < spans.size(); ++j) CHECK_FALSE(pg::overlap(spans[i], spans[j]));
  }
}

TEST_CASE("a strand is a queue, not a thread: its handlers may run on either of the io_context's threads", "[basics]") {
  test_support::Watchdog watchdog(std::chrono::seconds(20), "strand threads");
  // Made deterministic by holding threads: a plain handler that waits until released keeps whichever
  // thread runs it busy. With one of the two threads held, a strand handler can only run on the other.
  asio::io_context io;
  auto strand = asio::make_strand(io);
  auto keep_running = asio::make_work_guard(io);
  std::thread first_thread([&io] { io.run(); });
  std::thread second_thread([&io] { io.run(); });
  struct Hold {
    std::promise<std::thread::id> started;
    std::promise<void> release;
  };
  auto hold_a_thread = [&io](Hold& hold) {  // returns the thread now held
    auto released = hold.release.get_future();
    asio::post(io, [&hold, released = std::move(released)]() mutable {
      hold.started.set_value(std::this_thread::get_id());
      released.wait();
    });
    return hold.started.get_future().get();
  };
  auto run_on_strand = [&strand] {  // returns the thread the strand handler ran on
    std::promise<std::thread::id> ran;
    auto ran_on = ran.get_future();
    asio::post(strand, [&ran] { ran.set_value(std::this_thread::get_id()); });
    return ran_on.get();
  };
  Hold first_hold, second_hold, third_hold;
  const auto p = hold_a_thread(first_hold);
  const auto q = hold_a_thread(second_hold);  // the only free thread
  second_hold.release.set_value();            // q is free again, p is still held
  const auto strand_first = run_on_strand();
  hold_a_thread(third_hold);       // holds q, the only free thread
  first_hold.release.set_value();  // now only p is free
  const auto strand_second = run_on_strand();
  third_hold.release.set_value();
  keep_running.reset();
  first_thread.join();
  second_thread.join();
  CHECK(p != q);
  CHECK(strand_first == q);
  CHECK(strand_second == p);  // the same strand, the other thread
}

TEST_CASE("without a strand, handlers on a 2-thread io_context overlap and lose updates", "[basics]") {
  test_support::Watchdog watchdog(std::chrono::seconds(20), "no strand");
  // The overlap needs the second thread to pick up a handler while the first sleeps in one (20 ms):
  // near-certain even on a busy machine, and the best of 3 tries makes it so.
  SharedCounterRun best;
  for (int attempt = 0; attempt < 3; ++attempt) {
    pg::Timeline timeline("no strand");
    best = run_shared_counter(8, 2, false, std::chrono::milliseconds(20), timeline);
    if (best.peak_inside == 2 && best.counter < 8) break;
  }
  CHECK(best.peak_inside == 2);  // never more than the 2 threads that run the io_context
  CHECK(best.counter < 8);       // updates were lost
  CHECK(best.threads.size() == 2);
}

TEST_CASE("blocking_work_in_async program: runs, answers --help, and rejects bad flags with exit status 2",
          "[basics][flags]") {
  using test_support::run_program;
  auto help = run_program(LESSON_BINARY, {"--help"});
  CHECK(help.exit_code == 0);
  CHECK(help.out.find("usage: blocking_work_in_async") != std::string::npos);
  test_support::check_rejects_bad_flags(LESSON_BINARY, {{"--tick-ms", "0"}, {"--threads", "x"}, {"--bogus"}});
  auto ok = run_program(LESSON_BINARY, {"--tick-ms", "10", "--block-ms", "60", "--handlers", "4", "--work-ms", "5"});
  CHECK(ok.exit_code == 0);
  CHECK(ok.out.find("result 49; longest gap") != std::string::npos);
  CHECK(ok.out.find("\"slow_square(-1): negative input\"") != std::string::npos);
  CHECK(ok.out.find("counter 4 of 4 (0 updates lost); up to 1 handler at once") != std::string::npos);
}

TEST_CASE("blocking_work_in_async trace file: --trace writes the spans of every timeline", "[basics][trace]") {
  const std::string path = fmt::format("/tmp/playground-blocking-{}.json", ::getpid());
  auto r = test_support::run_program(
      LESSON_BINARY, {"--tick-ms", "10", "--block-ms", "40", "--handlers", "3", "--work-ms", "2", "--trace", path});
  REQUIRE(r.exit_code == 0);
  auto events = test_support::read_trace(path);
  std::remove(path.c_str());
  std::map<std::string, int> per_category;
  std::map<std::string, int> call_tid;
  for (const auto& e : events)
    if (e.phase == 'X') {
      ++per_category[e.category];
      if (e.name.starts_with("slow_square")) call_tid[e.category] = e.tid;
    }
  CHECK(per_category["blocking inline"] >= 3);  // at least 2 ticks + the call
  CHECK(per_category["offloaded"] >= 3);
  CHECK(per_category["no strand"] == 3);
  CHECK(per_category["strand"] == 3);
  CHECK(call_tid["blocking inline"] == events.front().pid);  // inline: on the main thread (tid == pid)
  CHECK(call_tid["offloaded"] != events.front().pid);        // offloaded: on a pool thread
}

TEST_CASE("blocking_work_in_async program: section 3 says how long it will take; maxima stay short",
          "[basics][flags]") {
  auto r = test_support::run_program(LESSON_BINARY,
                                     {"--tick-ms", "10", "--block-ms", "30", "--handlers", "4", "--work-ms", "5"});
  INFO("stdout: " << r.out);
  CHECK(r.exit_code == 0);
  // 4 handlers x 5 ms: 2 threads need 2 rounds without a strand, the strand runs all 4 in turn.
  CHECK(r.out.find("expect about 10 ms without a strand (4 handlers x 5 ms over 2 threads), 20 ms with one") !=
        std::string::npos);
  test_support::check_rejects_bad_flags(LESSON_BINARY, {{"--handlers", "101"}, {"--work-ms", "101"}});
}
