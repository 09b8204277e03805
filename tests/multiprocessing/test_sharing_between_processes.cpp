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
    const CountResult result = count_in_shared_memory(children, 100'000, true, timeline);
    CHECK(result.value == children * 100'000L);
    CHECK(result.killed_at_limit == 0);
    CHECK(timeline.spans().size() == static_cast<std::size_t>(children));
  }
  CHECK(mp_test::no_children_left());
}

TEST_CASE("shared memory: load then store in two steps loses updates", "[multiprocessing]") {
  // Lost updates need the two children to interleave, or one to be paused between its load and its
  // store; the start gate and the work between the two steps make that near-certain, and we allow
  // three tries so that a lucky run on a busy machine cannot fail it.
  const long expected = 2 * 100'000L;
  long lost = 0;
  for (int attempt = 0; attempt < 3 && lost == 0; ++attempt) {
    pg::Timeline timeline("load+store");
    const long total = count_in_shared_memory(2, 100'000, false, timeline).value;
    CHECK(total <= expected);
    CHECK(total > 0);  // (it can fall below one child's 100,000: a late store undoes many of the other's)
    lost = expected - total;
  }
  CHECK(lost > 0);
  CHECK(mp_test::no_children_left());
}

TEST_CASE("shared list: children appending at the same time lose no item and duplicate none", "[multiprocessing]") {
  // The children pass a start gate and then append together, so an append without the lock would
  // let two children take the same slot and lose an item. Whether they really run at the same time
  // depends on the machine: a busy one often runs them in turn, and then even a missing lock loses
  // nothing. So the test fills twenty lists (each takes milliseconds) and checks every one: on a quiet
  // machine every fill overlaps, and even on a busy one (load average 20 on 2 cores) about one in four
  // does, where a missing lock loses items.
  const int children = 3;
  const int per_child = 2'000;
  std::vector<long> expected;
  for (int k = 0; k < children; ++k)
    for (int i = 0; i < per_child; ++i) expected.push_back(k * 1'000'000L + i);
  for (int fill = 0; fill < 20; ++fill) {
    SharedObject<SharedList> list;
    pg::Timeline timeline("shared list");
    const FilledList filled = fill_shared_list(*list, children, per_child, timeline);
    INFO("fill " << fill << ": the appending child changed " << filled.owner_changes << " times along the list");
    CHECK(filled.children_ok);
    auto items = filled.items;
    REQUIRE(items.size() == expected.size());
    std::sort(items.begin(), items.end());
    REQUIRE(items == expected);
    CHECK(list->recoveries == 0);
    REQUIRE(timeline.spans().size() == static_cast<std::size_t>(children));
  }
  CHECK(mp_test::no_children_left());
}

TEST_CASE("shared list: append() waits while another process holds the lock", "[multiprocessing]") {
  // The test above shows what the lock is for, but only when the children really run at the same
  // time, which a busy machine may not give it. This one checks the lock itself, whatever the load:
  // child 0 takes the list's lock and holds it; child 1 then calls append(). Until child 0 lets go,
  // the append must wait, so the size child 0 reads 100 ms later, still holding the lock, is 0. An
  // append that skips the lock is done within microseconds of starting, and child 0 would read 1.
  SharedObject<SharedList> list;
  SharedObject<std::atomic<int>> step(0);  // 1: child 0 holds the lock; 2: child 1 is about to append
  pg::Timeline timeline("lock held");
  const auto wait_for_step = [&step](int wanted) {
    const auto give_up = pg::Clock::now() + 10s;
    while (step->load() < wanted && pg::Clock::now() < give_up) std::this_thread::yield();
    return step->load() >= wanted;
  };
  const auto reports = run_children(
      2,
      [&](int k) -> std::string {
        if (k == 0) {
          std::lock_guard guard(*list);
          step->store(1);
          if (!wait_for_step(2)) return "child 1 never came\n";
          std::this_thread::sleep_for(100ms);
          return fmt::format("{}\n", list->size.load());
        }
        if (!wait_for_step(1)) return "child 0 never took the lock\n";
        step->store(2);
        return list->append(7) ? "appended\n" : "refused\n";
      },
      timeline, "lock or append");
  REQUIRE(reports.size() == 2);
  CHECK(reports[0].ok);
  CHECK(reports[1].ok);
  CHECK(reports[0].text == "0\n");  // the size while the lock was held: the append had to wait
  CHECK(reports[1].text == "appended\n");
  CHECK(list->snapshot() == std::vector<long>{7});
  CHECK(mp_test::no_children_left());
}

TEST_CASE("shared list: a full list refuses appends instead of overflowing", "[multiprocessing]") {
  SharedObject<SharedList> list;
  for (int i = 0; i < SharedList::capacity; ++i) REQUIRE(list->append(i));
  CHECK_FALSE(list->append(-1));
  CHECK(list->snapshot().size() == static_cast<std::size_t>(SharedList::capacity));
}

TEST_CASE("robust mutex: a child killed in the middle of an append leaves the list whole", "[multiprocessing]") {
  SharedObject<SharedList> list;
  for (long i = 1; i <= 3; ++i) REQUIRE(list->append(i));
  pg::Timeline timeline("dead holder");
  pg::Stopwatch clock;
  // The child locks, writes its item into the free slot, and is killed before publishing the size.
  const DeadHolderDemo demo = survive_a_dead_lock_holder(*list, timeline, 4);
  CHECK(clock.elapsed() < 5s);
  CHECK(demo.child_signal == SIGKILL);
  CHECK(demo.size_before == 3);
  CHECK(demo.size_after_death == 3);  // the dead child's item was never counted
  CHECK(demo.appended);
  CHECK(list->recoveries == 1);
  CHECK(list->snapshot() == std::vector<long>{1, 2, 3, 4});  // its slot was taken by the next append
  CHECK(list->append(5));                                    // the lock works normally again
  CHECK(list->recoveries == 1);
  CHECK(mp_test::no_children_left());
}

TEST_CASE("robust mutex: an appender killed at a random moment never leaves a gap or a stray item",
          "[multiprocessing]") {
  // A child appends 1, 2, 3, ... in a loop until the parent kills it at an arbitrary moment, sometimes
  // while it holds the lock. Whatever the moment, the list must be exactly 1..n, twenty times over. (How
  // many kills land while the child holds the lock depends on the machine: on a busy one the child is
  // mostly paused elsewhere, so the test does not require one; the test before this one kills a
  // child at the worst moment on purpose.)
  for (int attempt = 0; attempt < 20; ++attempt) {
    SharedObject<SharedList> list;
    SharedObject<std::atomic<long>> appended(0);
    OwnedChild child;
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      for (long i = 1; i < SharedList::capacity; ++i) {
        list->append(i);
        appended->store(i);
      }
      ::_exit(0);
    }
    child = OwnedChild(pid);
    // Kill it once it has appended a few items, at a moment that varies from try to try.
    const auto give_up = pg::Clock::now() + 5s;
    while (appended->load() < 50 + 37 * attempt && pg::Clock::now() < give_up) std::this_thread::yield();
    ::kill(pid, SIGKILL);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    child.mark_reaped();
    const auto items = list->snapshot();
    std::vector<long> expected(items.size());
    for (std::size_t i = 0; i < expected.size(); ++i) expected[i] = static_cast<long>(i) + 1;
    INFO("try " << attempt << ": " << items.size() << " items");
    REQUIRE(items == expected);
  }
  CHECK(mp_test::no_children_left());
}

TEST_CASE("a counting child killed at the time limit is reported as killed", "[multiprocessing]") {
  pg::Timeline timeline("load+store");
  // Ten million increments take seconds; the limit is 50 ms.
  const CountResult result = count_in_shared_memory(2, 10'000'000, false, timeline, 50ms);
  CHECK(result.killed_at_limit == 2);
  CHECK(result.value < 2 * 10'000'000L);
  CHECK(mp_test::no_children_left());
}

TEST_CASE("a child whose body throws exits with code 70", "[multiprocessing]") {
  pg::Timeline timeline("throws");
  const auto reports = run_children(
      2,
      [](int k) -> std::string {
        if (k == 0) throw std::runtime_error("failed in the child");
        throw 42;  // not a std::exception: caught as well
      },
      timeline, "throws");
  REQUIRE(reports.size() == 2);
  for (const auto& r : reports) {
    CHECK_FALSE(r.ok);
    CHECK(r.exit_code == 70);
    CHECK(r.signal == 0);
    CHECK_FALSE(r.killed_at_limit);
  }
  CHECK(mp_test::no_children_left());
}

TEST_CASE("a child keeps only its own pipe and no descriptor this process holds elsewhere", "[multiprocessing]") {
  // `elsewhere` stands for any pipe open in the parent while it forks (another pool's task pipe, say):
  // a child holding a copy of its write end would keep its reader from seeing end of file.
  // (Moved to numbers above 100, so that they cannot be the numbers the child's own pipe moves to.)
  Pipe made = make_pipe();
  const OwnedFd elsewhere_read(::fcntl(made.read_end.get(), F_DUPFD_CLOEXEC, 100));
  const OwnedFd elsewhere_write(::fcntl(made.write_end.get(), F_DUPFD_CLOEXEC, 100));
  const int read_fd = elsewhere_read.get();
  const int write_fd = elsewhere_write.get();
  REQUIRE(read_fd >= 100);
  pg::Timeline timeline("children");
  const auto reports = run_children(
      2,
      [read_fd, write_fd](int) {
        const bool closed = ::fcntl(read_fd, F_GETFD) < 0 && ::fcntl(write_fd, F_GETFD) < 0;
        // What is open in the child: stdin, stdout, stderr and its pipe's write end (3), nothing else.
        const bool only_four = ::fcntl(4, F_GETFD) < 0 && ::fcntl(3, F_GETFD) >= 0;
        return fmt::format("closed {} only stdio and the pipe {}", closed, only_four);
      },
      timeline, "child");
  for (const auto& r : reports) {
    CHECK(r.ok);
    CHECK(r.text == "closed true only stdio and the pipe true");
  }
  CHECK(mp_test::no_children_left());
}

TEST_CASE("a fork loop that fails halfway leaves no child and no open pipe behind", "[multiprocessing]") {
  // In a forked copy of the test process, lower a limit so that the first children start but a later
  // pipe2() (open files: each child's pipe needs 2 descriptors and the parent keeps 1) or fork()
  // (processes) fails. run_children() throws with children already forked: their owners must kill and
  // reap them and close their pipes.
  const auto start = [] {
    pg::Timeline timeline("sleepers");
    run_children(
        4,
        [](int) {
          std::this_thread::sleep_for(60s);
          return std::string();
        },
        timeline, "sleeper");
  };
  int ran = 0;
  for (int more : {2, 3}) {
    if (mp_test::descriptor_limit_usable) {
      INFO("open files, " << more << " more allowed");
      const std::string answer = mp_test::fail_halfway(mp_test::Exhaust::descriptors, more, start);
      CHECK_THAT(answer, contains_text("pipe2: Too many open files; children forked: true; children left: false; "
                                       "descriptors leaked: false"));
      ++ran;
    }
    INFO("processes, " << more << " more allowed");
    const std::string answer = mp_test::fail_halfway(mp_test::Exhaust::processes, more, start);
    if (answer == "skipped") continue;
    CHECK_THAT(answer, contains_text("fork: Resource temporarily unavailable; children forked: true; children left: "
                                     "false; descriptors leaked: false"));
    ++ran;
  }
  if (ran == 0) std::printf("SKIPPED: needs root to limit processes, and open files cannot be limited under UBSan\n");
  CHECK(mp_test::no_children_left());
}

TEST_CASE("sharing_between_processes: the program runs and rejects bad flags with exit status 2",
          "[multiprocessing][flags]") {
  using test_support::run_program;
  test_support::check_rejects_bad_flags(LESSON_BINARY, {{"--children", "x"},
                                                        {"--children", "0"},
                                                        {"--items", "100000"},
                                                        {"--increments", "100000000"},
                                                        {"--limit-ms", "0"},
                                                        {"--bogus"}});
  // Each value is fine alone, but together they overflow the shared list: a one-line error, exit 2.
  const auto too_many = run_program(LESSON_BINARY, {"--children", "64", "--items", "8000"});
  CHECK(too_many.exit_code == 2);
  CHECK(too_many.err.rfind("sharing_between_processes: ", 0) == 0);
  CHECK(too_many.out.empty());
  const std::string path = fmt::format("/tmp/playground-sharing-{}.json", ::getpid());
  auto ok = run_program(LESSON_BINARY, {"--children", "2", "--increments", "20000", "--items", "50", "--trace", path});
  INFO("stdout: " << ok.out);
  CHECK(ok.exit_code == 0);
  CHECK(ok.out.find("saw [1000, 1000]; the parent's global is still 0") != std::string::npos);
  CHECK(ok.out.find("fetch_add:       40000 of 40000 (exact)") != std::string::npos);
  CHECK(ok.out.find("holds 100 items (expected 100), each exactly once: true") != std::string::npos);
  CHECK(ok.out.find("was killed (signal 9) before publishing it") != std::string::npos);
  CHECK(ok.out.find("marked the mutex consistent (1 recovery)") != std::string::npos);
  CHECK(ok.out.find("the list still holds 100 items (the dead child's item was never counted); the parent then "
                    "appended: true") != std::string::npos);
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

TEST_CASE("sharing_between_processes: counting children killed at the time limit fail the run",
          "[multiprocessing][flags]") {
  // Ten million increments per child take seconds: with a 20 ms limit the counting children are
  // killed, and the program says so and exits with status 1 instead of calling them lost updates.
  const auto r =
      test_support::run_program(LESSON_BINARY, {"--increments", "10000000", "--limit-ms", "20", "--items", "10"});
  INFO("stdout: " << r.out << "stderr: " << r.err);
  CHECK(r.exit_code == 1);
  CHECK(r.out.find("ran past the 20 ms limit (--limit-ms) and were killed") != std::string::npos);
  CHECK(r.out.find("updates lost") == std::string::npos);
  CHECK(r.err.find("killed at the time limit") != std::string::npos);
  CHECK(mp_test::no_children_left());
}
