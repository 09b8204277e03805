// Checks the claims of multiprocessing/sharing_between_processes.cpp on the lesson's own functions.
//
// The children are forked from the test process. That is safe because Catch2 runs tests on one
// thread and starts none, and run_children() makes every child end with _exit(). ThreadSanitizer
// sees only its own process: the other processes' accesses to shared memory are invisible to it, so
// it can neither confirm nor refute the cross-process claims; the tests still run (and pass) under
// it, and what they check there is the totals. Every test ends by checking that no child is left.
// (TEST_CASE names hold no commas or semicolons: CTest's Catch2 discovery splits a name there.)
#include "multiprocessing/sharing_between_processes.cpp"

#include <set>

#include "catch.hpp"
#include "multiprocessing/children.hpp"
#include "support.hpp"

TEST_CASE("globals: each child changes its own copy and the parent's global stays unchanged", "[multiprocessing]") {
  pg::Timeline timeline("globals");
  const GlobalDemo demo = show_globals_are_not_shared(3, timeline);
  CHECK(demo.children_saw == std::vector<long>{1000, 1000, 1000});  // nobody saw a sibling's additions
  CHECK(demo.parent_after == 0);
  CHECK(sharing_global_counter == 0);
  std::set<int> pids;
  for (const auto& s : timeline.spans()) pids.insert(s.pid);
  CHECK(pids.size() == 3);
  CHECK(pids.count(::getpid()) == 0);
  CHECK(mp_test::no_children_left());
}

TEST_CASE("returned results are complete and correct", "[multiprocessing]") {
  pg::Timeline timeline("returned");
  const int n = 1'000;
  const auto results = squares_returned_by_children(3, n, timeline);
  REQUIRE(results.size() == static_cast<std::size_t>(n));
  for (long i = 0; i < n; ++i) CHECK(results[static_cast<std::size_t>(i)] == i * i);
  CHECK(timeline.spans().size() == 3);
  CHECK(mp_test::no_children_left());
}

TEST_CASE("shared memory: children x 100000 atomic increments give the exact total", "[multiprocessing]") {
  for (int children : {2, 3}) {
    pg::Timeline timeline("fetch_add");
    CHECK(count_in_shared_memory(children, 100'000, true, timeline) == children * 100'000L);
    CHECK(timeline.spans().size() == static_cast<std::size_t>(children));
  }
  CHECK(mp_test::no_children_left());
}

TEST_CASE("shared memory: load then store in two steps loses updates", "[multiprocessing]") {
  // Lost updates need the two children to interleave; the start gate and the yield make that
  // near-certain, and we allow three tries so that a quiet moment on a busy machine cannot fail it.
  const long expected = 2 * 100'000L;
  long lost = 0;
  for (int attempt = 0; attempt < 3 && lost == 0; ++attempt) {
    pg::Timeline timeline("load+store");
    const long total = count_in_shared_memory(2, 100'000, false, timeline);
    CHECK(total <= expected);
    CHECK(total > 0);  // (it can fall below one child's 100,000: a late store undoes many of the other's)
    lost = expected - total;
  }
  CHECK(lost > 0);
  CHECK(mp_test::no_children_left());
}

TEST_CASE("shared list: every item appended by every child is there exactly once", "[multiprocessing]") {
  SharedObject<SharedList> list;
  pg::Timeline timeline("shared list");
  const int children = 3;
  const int per_child = 1'000;
  auto items = fill_shared_list(*list, children, per_child, timeline);
  REQUIRE(items.size() == static_cast<std::size_t>(children * per_child));
  std::sort(items.begin(), items.end());
  std::vector<long> expected;
  for (int k = 0; k < children; ++k)
    for (int i = 0; i < per_child; ++i) expected.push_back(k * 1'000'000L + i);
  CHECK(items == expected);
  CHECK(list->recoveries == 0);
  CHECK(mp_test::no_children_left());
}

TEST_CASE("shared list: a full list refuses appends instead of overflowing", "[multiprocessing]") {
  SharedObject<SharedList> list;
  for (int i = 0; i < SharedList::capacity; ++i) REQUIRE(list->append(i));
  CHECK_FALSE(list->append(-1));
  CHECK(list->snapshot().size() == static_cast<std::size_t>(SharedList::capacity));
}

TEST_CASE("robust mutex: a child that dies holding the lock does not block the parent", "[multiprocessing]") {
  SharedObject<SharedList> list;
  pg::Timeline timeline("dead holder");
  pg::Stopwatch clock;
  CHECK(survive_a_dead_lock_holder(*list, timeline));
  CHECK(clock.elapsed() < 5s);
  CHECK(list->recoveries == 1);
  CHECK(list->snapshot() == std::vector<long>{-1});
  CHECK(list->append(7));  // the lock works normally again
  CHECK(list->recoveries == 1);
  CHECK(mp_test::no_children_left());
}

TEST_CASE("sharing_between_processes: the program runs and rejects bad flags with exit status 2",
          "[multiprocessing][flags]") {
  using test_support::run_program;
  test_support::check_rejects_bad_flags(LESSON_BINARY,
                                        {{"--children", "x"}, {"--children", "0"}, {"--items", "100000"}, {"--bogus"}});
  // Each value is fine alone, but together they overflow the shared list: a one-line error, exit 2.
  const auto too_many = run_program(LESSON_BINARY, {"--children", "64", "--items", "8000"});
  CHECK(too_many.exit_code == 2);
  CHECK(too_many.err.rfind("sharing_between_processes: ", 0) == 0);
  CHECK(too_many.out.empty());
  const std::string path = fmt::format("/tmp/playground-sharing-{}.json", ::getpid());
  auto ok = run_program(LESSON_BINARY, {"--children", "2", "--increments", "20000", "--items", "50", "--trace", path});
  CHECK(ok.exit_code == 0);
  CHECK(ok.out.find("saw [1000, 1000]; the parent's global is still 0") != std::string::npos);
  CHECK(ok.out.find("fetch_add:       40000 of 40000 (exact)") != std::string::npos);
  CHECK(ok.out.find("holds 100 items (expected 100), each exactly once: true") != std::string::npos);
  CHECK(ok.out.find("(1 recovery) and appended: true") != std::string::npos);
  auto events = test_support::read_trace(path);
  std::remove(path.c_str());
  int spans = 0;
  for (const auto& e : events) {
    if (e.phase != 'X') continue;
    ++spans;
    CHECK(e.dur >= 0);
  }
  CHECK(spans == 5 * 2);  // globals, returned, load+store, fetch_add, shared list: one span per child
  CHECK(mp_test::no_children_left());
}
