// Checks the claims of multiprocessing/process_basics.cpp on the lesson's own functions.
// (TEST_CASE names hold no commas or semicolons: CTest's Catch2 discovery splits a name there.)
//
// Forking a test runner is safe here because Catch2 runs the tests on one thread and starts none:
// each child is a copy of a single-threaded process, and the lesson's fork_child() makes every child
// end with _exit(), so no child ever returns into Catch2. Every test ends by checking that no child
// (running or zombie) is left. ThreadSanitizer follows these forks without trouble (the children
// start no threads), so every test runs in all three presets.
#include "multiprocessing/process_basics.cpp"

#include <algorithm>
#include <fstream>
#include <optional>
#include <set>
#include <span>

#include <fcntl.h>
#include <sys/resource.h>

#include "catch.hpp"
#include "multiprocessing/children.hpp"
#include "support.hpp"

TEST_CASE("fork: the child runs and exits with code 0 and is reaped", "[multiprocessing]") {
  const ChildExit child = hello_child();
  CHECK(child.pid > 0);
  CHECK(child.pid != ::getpid());
  CHECK(child.exited);
  CHECK(child.code == 0);
  CHECK_FALSE(child.timed_out);
  CHECK(mp_test::no_children_left());
}

TEST_CASE("memory: a global changed in the child is unchanged in the parent", "[multiprocessing]") {
  const int before = process_basics_global;
  const MemoryDemo demo = show_separate_memory();
  CHECK(demo.child_saw == before + 5);
  CHECK(demo.parent_after == before);
  CHECK(process_basics_global == before);
  CHECK(mp_test::no_children_left());
}

TEST_CASE("fflush before fork: text printed before a fork appears once", "[multiprocessing]") {
  // In a forked copy of the test process (so the test runner's own stdout is untouched): stdout goes
  // to a pipe, some text waits in stdio's buffer (no newline, so even a line-buffered stdout keeps
  // it), and fork_child() forks a child that flushes its stdio before _exit. Had the buffer not been
  // flushed before fork(), the child would hold a copy of the text and write it a second time.
  const std::string answer = mp_test::run_in_forked_test_process([] {
    int fds[2];
    if (::pipe(fds) != 0) return std::string("pipe failed");
    std::fflush(stdout);
    ::dup2(fds[1], STDOUT_FILENO);
    ::close(fds[1]);
    std::printf("[written before the fork]");
    OwnedChild child = fork_child([] { return 0; });
    const ChildExit exit = wait_child(child);
    std::fflush(stdout);
    ::close(STDOUT_FILENO);
    std::string out;
    char buffer[4096];
    ssize_t n = 0;
    while ((n = ::read(fds[0], buffer, sizeof buffer)) > 0) out.append(buffer, static_cast<std::size_t>(n));
    std::size_t copies = 0;
    for (auto at = out.find("[written before the fork]"); at != std::string::npos; at = out.find("[written", at + 1))
      ++copies;
    return fmt::format("child {}; copies {}", exit.describe(), copies);
  });
  CHECK(answer == "child exited with code 0; copies 1");
  CHECK(mp_test::no_children_left());
}

TEST_CASE("a child whose body throws exits with code 70 and never returns into the parent's code",
          "[multiprocessing]") {
  OwnedChild standard = fork_child([]() -> int { throw std::runtime_error("failed in the child"); });
  const ChildExit standard_exit = wait_child(standard);
  CHECK(standard_exit.exited);
  CHECK(standard_exit.code == 70);
  // Not a std::exception: catch (...) catches it too.
  OwnedChild other = fork_child([]() -> int { throw 42; });
  const ChildExit other_exit = wait_child(other);
  CHECK(other_exit.exited);
  CHECK(other_exit.code == 70);
  CHECK(mp_test::no_children_left());
}

TEST_CASE("a child ends with _exit so the parent's atexit handlers never run in it", "[multiprocessing]") {
  // In a forked copy of the test process (so the test runner gets no atexit handler of its own):
  // stdout goes to a pipe, and an atexit handler writes one line to stdout. Two children end, one
  // normally and one by throwing. Had either ended with exit() instead of _exit(), it would have run
  // the handler, as it would run the parent's static destructors and flush the parent's streams.
  const std::string answer = mp_test::run_in_forked_test_process([] {
    int fds[2];
    if (::pipe(fds) != 0) return std::string("pipe failed");
    std::fflush(stdout);
    ::dup2(fds[1], STDOUT_FILENO);
    ::close(fds[1]);
    std::atexit([] { (void)!::write(STDOUT_FILENO, "[atexit]", 8); });
    OwnedChild normal = fork_child([] { return 0; });
    OwnedChild throwing = fork_child([]() -> int { throw std::runtime_error("failed in the child"); });
    const ChildExit normal_exit = wait_child(normal);
    const ChildExit throwing_exit = wait_child(throwing);
    ::close(STDOUT_FILENO);  // the last write end: read() below sees end of file
    const auto out = read_until_eof(fds[0], pg::Clock::now() + 5s).value_or("(no end of file)");
    std::size_t handlers_run = 0;
    for (auto at = out.find("[atexit]"); at != std::string::npos; at = out.find("[atexit]", at + 1)) ++handlers_run;
    return fmt::format("{} and {}; atexit handlers run in the children: {}", normal_exit.describe(),
                       throwing_exit.describe(), handlers_run);
  });
  CHECK(answer == "exited with code 0 and exited with code 70; atexit handlers run in the children: 0");
  CHECK(mp_test::no_children_left());
}

TEST_CASE("an owner that is destroyed before the wait kills and reaps its child", "[multiprocessing]") {
  pid_t pid = 0;
  {
    OwnedChild child = fork_child([] {
      std::this_thread::sleep_for(5s);  // far longer than the test needs; short, should an owner leave it running
      return 0;
    });
    pid = child.pid();
    CHECK(process_state(pid) != 0);
  }  // no wait_child(): the destructor is the only cleanup, as when an exception leaves the scope
  CHECK(process_state(pid) == 0);  // killed and reaped: not even a zombie is left
  CHECK(mp_test::no_children_left());
}

TEST_CASE("a forked child keeps only the descriptors it is given and a pipe held elsewhere still ends",
          "[multiprocessing]") {
  // `elsewhere` stands for any pipe this process holds while it forks: another pool's task pipe, a
  // sibling's result pipe. A child that kept a copy of its write end would keep it open until it exits.
  Pipe elsewhere = make_pipe();
  Pipe given = make_pipe();
  const int elsewhere_write = elsewhere.write_end.get();
  const int given_write = given.write_end.get();
  OwnedChild child = fork_child(
      [&](std::span<const int> kept) {
        const bool moved = kept.size() == 1 && kept[0] == 3 && ::fcntl(kept[0], F_GETFD) >= 0;
        const bool others_closed =
            ::fcntl(elsewhere_write, F_GETFD) < 0 && (given_write == 3 || ::fcntl(given_write, F_GETFD) < 0);
        if (write_all(kept[0], fmt::format("moved {} others closed {}", moved, others_closed)))
          std::this_thread::sleep_for(60s);  // stay alive while the parent checks its other pipe
        return 0;
      },
      {given_write});
  given.write_end.reset();
  elsewhere.write_end.reset();  // this process's copy: the last one, unless the child kept one
  pg::Stopwatch clock;
  const auto ended = read_until_eof(elsewhere.read_end.get(), pg::Clock::now() + 2s);
  CHECK(ended.has_value());  // end of file, not the deadline
  CHECK(clock.elapsed() < 1s);
  char buffer[64] = {};
  const ssize_t n = ::read(given.read_end.get(), buffer, sizeof buffer - 1);
  CHECK(std::string(buffer, n > 0 ? static_cast<std::size_t>(n) : 0) == "moved true others closed true");
  const ChildExit exit = wait_child(child, 10ms);  // the child is sleeping: the limit kills it
  CHECK(exit.timed_out);
  CHECK(mp_test::no_children_left());
}

TEST_CASE("without close_range a child closes every descriptor above the kept ones one by one", "[multiprocessing]") {
  // The fallback for kernels before Linux 5.9, run in a forked copy of the test process: descriptors
  // at 100 and at 900 (above a soft limit lowered after they were opened) are closed, stderr is kept.
  const std::string answer = mp_test::run_in_forked_test_process([] {
    Pipe pipe = make_pipe();
    const int low = ::fcntl(pipe.read_end.get(), F_DUPFD, 100);
    const int high = ::fcntl(pipe.write_end.get(), F_DUPFD, 900);
    rlimit lowered{};
    ::getrlimit(RLIMIT_NOFILE, &lowered);
    lowered.rlim_cur = 200;
    ::setrlimit(RLIMIT_NOFILE, &lowered);
    close_descriptors_one_by_one(10);
    return fmt::format("low closed {}, high closed {}, stderr open {}", ::fcntl(low, F_GETFD) < 0,
                       ::fcntl(high, F_GETFD) < 0, ::fcntl(STDERR_FILENO, F_GETFD) >= 0);
  });
  CHECK(answer == "low closed true, high closed true, stderr open true");
}

TEST_CASE("waiting for a child with a time limit sleeps until it ends instead of polling", "[multiprocessing]") {
  OwnedChild child = fork_child([] {
    std::this_thread::sleep_for(300ms);
    return 0;
  });
  if (child.pidfd() < 0) {
    std::printf("SKIPPED: this kernel has no pidfd_open (Linux 5.3+): wait_for polls every millisecond\n");
    wait_child(child);
    return;
  }
  rusage before{};
  ::getrusage(RUSAGE_SELF, &before);
  pg::Stopwatch clock;
  const ChildExit exit = wait_child(child, 10s);
  rusage after{};
  ::getrusage(RUSAGE_SELF, &after);
  CHECK(exit.exited);
  CHECK(exit.code == 0);
  CHECK(clock.elapsed() < 5s);
  // Polling every millisecond would put this process to sleep about 300 times; poll() on the pidfd
  // sleeps once (a few more if a signal wakes it).
  const long sleeps = after.ru_nvcsw - before.ru_nvcsw;
  INFO("voluntary context switches while waiting: " << sleeps);
  CHECK(sleeps < 30);
  CHECK(mp_test::no_children_left());
}

namespace {
// Give `pid` to a new process (a child of this one that sleeps), by telling the kernel which pid it
// handed out last (/proc/sys/kernel/ns_last_pid: root only). Other programs may take the pid first, so
// try several times. Returns the new process's owner, or an empty owner if the pid could not be had.
OwnedChild take_over_pid(pid_t pid) {
  for (int attempt = 0; attempt < 50; ++attempt) {
    {
      std::ofstream last("/proc/sys/kernel/ns_last_pid");
      if (!(last << pid - 1 << std::flush)) return OwnedChild();
    }
    OwnedChild stranger = fork_child([] {
      std::this_thread::sleep_for(60s);
      return 0;
    });
    if (stranger.pid() == pid) return stranger;
  }
  return OwnedChild();
}
}  // namespace

TEST_CASE("an owner whose child was reaped elsewhere never signals that pid again", "[multiprocessing]") {
  for (const bool waited : {true, false}) {
    INFO((waited ? "wait_child() after the child was reaped elsewhere" : "the owner destroyed after that"));
    std::optional<OwnedChild> owner(fork_child([] { return 0; }));
    const pid_t pid = owner->pid();
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);  // reaped behind the owner's back (as waitpid(-1) would)
    if (waited) {
      CHECK_THROWS_AS(wait_child(*owner), std::system_error);  // ECHILD: not our child any more
      CHECK(owner->reaped());
    }
    if (!waited && owner->pidfd() < 0) {
      std::printf("SKIPPED: without a pidfd (Linux 5.3+) an owner cannot tell its child from a new child of ours\n");
      owner->mark_reaped();
      return;
    }
    // The pid is free now, and a new process may get it: here, a stranger that sleeps.
    OwnedChild stranger = take_over_pid(pid);
    if (stranger.pid() == 0) {
      std::printf("SKIPPED: could not give pid %d to a new process (needs root: /proc/sys/kernel/ns_last_pid)\n", pid);
      return;
    }
    owner.reset();                                      // the owner's destructor must leave the stranger alone
    CHECK_FALSE(stranger.wait_for(100ms).has_value());  // still running 100 ms later: not killed
  }
  CHECK(mp_test::no_children_left());
}

TEST_CASE("pipes are close-on-exec so programs started later do not inherit them", "[multiprocessing]") {
  Pipe pipe = make_pipe();
  CHECK((::fcntl(pipe.read_end.get(), F_GETFD) & FD_CLOEXEC) != 0);
  CHECK((::fcntl(pipe.write_end.get(), F_GETFD) & FD_CLOEXEC) != 0);
  // A program started now sees none of this process's descriptors beyond what it was given: ask sh to
  // check that the write end's number is not open in it.
  const auto fd = std::to_string(pipe.write_end.get());
  const SpawnResult probe = spawn_and_wait({"sh", "-c", "test -e /proc/self/fd/" + fd + " && exit 1; exit 0"});
  REQUIRE(probe.error == 0);
  CHECK(probe.exit.code == 0);
  CHECK(mp_test::no_children_left());
}

TEST_CASE("a fork loop that fails halfway leaves no child and no open pipe behind", "[multiprocessing]") {
  // In a forked copy of the test process, lower a limit so that chunk 0 (and chunk 1) start but a
  // later pipe2() (open files) or fork() (processes) fails. count_primes_in_processes() then throws
  // with children already running: their owners must kill and reap them and close the pipes.
  // (Each chunk's pipe needs 2 descriptors at once and the parent keeps 1.)
  const auto start = [] {
    pg::Timeline timeline("processes");
    count_primes_in_processes(2'000'000, 4, timeline);
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

TEST_CASE("exit status: an exit code and a crash and a kill are decoded correctly", "[multiprocessing]") {
  const ChildExit three = run_child_that(ChildEnding::exit_code_3);
  CHECK(three.exited);
  CHECK(three.code == 3);
  CHECK(three.signal == 0);

  const ChildExit crash = run_child_that(ChildEnding::crash);
  CHECK_FALSE(crash.exited);
  CHECK(crash.signal == SIGABRT);
  CHECK_FALSE(crash.timed_out);

  pg::Stopwatch clock;
  const ChildExit slow = run_child_that(ChildEnding::run_too_long, 100ms);
  CHECK(clock.elapsed() >= 100ms);
  CHECK(clock.elapsed() < 10s);  // the child would sleep a minute: the time limit ended it
  CHECK(slow.timed_out);
  CHECK_FALSE(slow.exited);
  CHECK(slow.signal == SIGKILL);
  CHECK(slow.describe().find("killed by signal 9") != std::string::npos);
  CHECK(mp_test::no_children_left());
}

TEST_CASE("posix_spawn: arguments go in and the exit status comes out and a missing program is an error",
          "[multiprocessing]") {
  const SpawnResult product = spawn_and_wait({"sh", "-c", "exit $(($1 * $2))", "sh", "6", "7"});
  REQUIRE(product.error == 0);
  CHECK(product.exit.exited);
  CHECK(product.exit.code == 42);

  const SpawnResult missing = spawn_and_wait({"no-such-program-here"});
  CHECK(missing.error == ENOENT);
  CHECK(mp_test::no_children_left());
}

TEST_CASE("parallel processes give the sequential results and their spans reach the parent's timeline",
          "[multiprocessing]") {
  const long limit = 100'000;  // pi(100,000) = 9,592
  const int jobs = 3;
  pg::Timeline sequential("sequential");
  const auto counts = count_primes_sequentially(limit, jobs, sequential);
  pg::Timeline parallel("processes");
  const auto answers = count_primes_in_processes(limit, jobs, parallel);

  REQUIRE(answers.size() == static_cast<std::size_t>(jobs));
  long total = 0;
  std::set<int> child_pids;
  for (std::size_t i = 0; i < answers.size(); ++i) {
    CHECK(answers[i].count == counts[i]);
    CHECK(answers[i].exit.exited);
    CHECK(answers[i].exit.code == 0);
    total += answers[i].count;
    child_pids.insert(answers[i].pid);
  }
  CHECK(total == 9'592);
  for (const auto& a : answers) CHECK(a.cpu_ms > 0);  // each child measured its own CPU time

  // One span per child, recorded in the child (its pid) and decoded on this side.
  const auto spans = parallel.spans();
  REQUIRE(spans.size() == static_cast<std::size_t>(jobs));
  std::set<int> span_pids;
  for (const auto& s : spans) {
    CHECK(s.pid != ::getpid());
    CHECK(s.tid == s.pid);                // the child's only thread is its main thread
    CHECK(s.start >= parallel.origin());  // the shared monotonic clock: child times fit the parent's
    CHECK(s.end >= s.start);
    CHECK(s.end <= pg::Clock::now());
    span_pids.insert(s.pid);
  }
  CHECK(span_pids == child_pids);  // every child, each one once
  for (const auto& s : sequential.spans()) CHECK(s.pid == ::getpid());
  CHECK(parallel.render().find("of process") != std::string::npos);
  CHECK(mp_test::no_children_left());
}

TEST_CASE("parallel processes: CPU work on 2 processes is at least 1.5x faster than in one",
          "[multiprocessing][timing]") {
  const long limit = 2'000'000;  // about half a second sequentially: a short neighbour test disturbs only part
  const int jobs = 2;
  std::vector<long> counts;
  // The children are waited for before count_primes_in_processes returns, so their CPU time is in
  // RUSAGE_CHILDREN by then. check_speedup (tests/support.hpp) skips, with the figures, on a busy machine.
  test_support::check_speedup(
      1.5,
      [&] {
        pg::Timeline sequential("sequential");
        counts = count_primes_sequentially(limit, jobs, sequential);
      },
      [&] {
        pg::Timeline parallel("processes");
        const auto answers = count_primes_in_processes(limit, jobs, parallel);
        REQUIRE(answers.size() == counts.size());
        for (std::size_t i = 0; i < counts.size(); ++i) REQUIRE(answers[i].count == counts[i]);
      },
      test_support::cpu_ms_of_waited_children);
  CHECK(mp_test::no_children_left());
}

TEST_CASE("a speedup below the ideal names its cause", "[multiprocessing]") {
  // Close to the ideal min(processes, cores): nothing to explain.
  CHECK(explain_speedup(1.9, 4, 2, 1.95, 0.3).empty());
  CHECK(explain_speedup(0.95, 1, 8, 1.0, 0.3).empty());  // one process: the ideal is 1x
  // The children got one core between them: a busy machine.
  CHECK_THAT(explain_speedup(1.0, 4, 2, 1.0, 3.2), contains_text("got only 1.0 cores' worth of CPU time"));
  CHECK_THAT(explain_speedup(1.0, 4, 2, 1.0, 3.2), contains_text("load average was 3.2"));
  // The children did use both cores, and still no speedup: the work was too small.
  CHECK_THAT(explain_speedup(1.0, 2, 2, 1.9, 0.1), contains_text("the work was too small"));
}

TEST_CASE("the children's CPU time fits the wall time of the run", "[multiprocessing]") {
  // The numbers behind the speedup's explanation: each child measured its CPU time itself, and
  // together they cannot have used more than every core for the whole run.
  pg::Timeline parallel("processes");
  pg::Stopwatch clock;
  const auto answers = count_primes_in_processes(300'000, 2, parallel);
  const double wall_ms = clock.elapsed_ms();
  double cpu_ms = 0;
  for (const auto& a : answers) cpu_ms += a.cpu_ms;
  INFO("children's CPU time " << cpu_ms << " ms, wall time " << wall_ms << " ms");
  CHECK(cpu_ms > 0);
  CHECK(cpu_ms <= wall_ms * test_support::cores() * 1.05 + 5);
  CHECK(mp_test::no_children_left());
}

TEST_CASE("zombies: an exited child is a zombie until waitpid and then its pid is gone", "[multiprocessing]") {
  const ZombieDemo demo = show_zombie();
  CHECK(demo.before_reaping == 'Z');
  CHECK(demo.exit.exited);
  CHECK(demo.after_reaping == 0);
  CHECK(process_state(::getpid()) == 'R');  // the reader itself works: this process is running
  CHECK(mp_test::no_children_left());
}

TEST_CASE("process_basics: the program runs and rejects bad flags with a message and exit status 2",
          "[multiprocessing][flags]") {
  using test_support::run_program;
  test_support::check_rejects_bad_flags(
      LESSON_BINARY, {{"--jobs", "x"}, {"--jobs", "0"}, {"--work", "-5"}, {"--work", "100000000"}, {"--bogus"}});
  auto help = run_program(LESSON_BINARY, {"--help"});
  CHECK(help.exit_code == 0);
  CHECK(help.out.find("--jobs") != std::string::npos);

  auto ok = run_program(LESSON_BINARY, {"--jobs", "2", "--work", "20000"});
  CHECK(ok.exit_code == 0);
  CHECK(ok.out.find("the child exited with code 0") != std::string::npos);
  CHECK(ok.out.find("the child added 5 and saw 15; the parent still sees 10") != std::string::npos);
  CHECK(ok.out.find("sh exited with code 42") != std::string::npos);
  CHECK(ok.out.find("killed by signal 6") != std::string::npos);
  CHECK(ok.out.find("state is 'Z'") != std::string::npos);
  CHECK(ok.out.find("2262 primes") != std::string::npos);  // pi(20,000), both ways
  CHECK(ok.out.find("(ideal: min(2 processes, ") != std::string::npos);
  CHECK(ok.out.find("cores on average (their CPU time / the wall time)") != std::string::npos);
  CHECK(mp_test::no_children_left());
}

TEST_CASE("trace file: one complete event per span and the children's spans carry their real pids",
          "[multiprocessing][trace]") {
  const std::string path = fmt::format("/tmp/playground-process-basics-{}.json", ::getpid());
  const int jobs = 3;
  auto r = test_support::run_program(LESSON_BINARY, {"--jobs", "3", "--work", "30000", "--trace", path});
  REQUIRE(r.exit_code == 0);
  auto events = test_support::read_trace(path);
  std::remove(path.c_str());

  // The lesson says how many spans it recorded; the file must hold exactly one event for each.
  const std::string said = "trace: ";
  const auto at = r.out.find(said);
  REQUIRE(at != std::string::npos);
  const long recorded = std::strtol(r.out.c_str() + at + said.size(), nullptr, 10);
  CHECK(recorded == 2 * jobs);  // sequential chunks + one per child

  int main_pid = 0;
  for (const auto& e : events)
    if (e.phase == 'M' && e.category == "process_name" && e.name.find("(main)") != std::string::npos) main_pid = e.pid;
  REQUIRE(main_pid != 0);
  CHECK(main_pid != ::getpid());  // the lesson's process, not this test's

  std::vector<test_support::TraceEvent> spans;
  for (const auto& e : events)
    if (e.phase == 'X') spans.push_back(e);
  REQUIRE(static_cast<long>(spans.size()) == recorded);
  std::set<int> child_pids;
  for (std::size_t i = 0; i < spans.size(); ++i) {
    INFO("span " << i << ": " << spans[i].category << " / " << spans[i].name);
    CHECK(spans[i].dur >= 0);
    if (i > 0) CHECK(spans[i].ts >= spans[i - 1].ts);  // in time order
    if (spans[i].category == "sequential") {
      CHECK(spans[i].pid == main_pid);
    } else {
      CHECK(spans[i].category == "processes");
      CHECK(spans[i].pid != main_pid);
      CHECK(spans[i].tid == spans[i].pid);
      // The pid the lesson printed for a child is the one its span carries.
      CHECK(r.out.find(fmt::format("child pid {} answered", spans[i].pid)) != std::string::npos);
      child_pids.insert(spans[i].pid);
    }
  }
  CHECK(child_pids.size() == static_cast<std::size_t>(jobs));  // different from each other
  CHECK(mp_test::no_children_left());
}
