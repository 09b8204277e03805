// Checks the claims of multiprocessing/building_a_process_pool.cpp on the lesson's own ProcessPool.
//
// The pool forks its workers in the test process. That is safe because Catch2 runs tests on one
// thread and starts none, and a worker never returns into the test runner (worker_main ends in
// _exit). ThreadSanitizer follows these forks (the workers start no threads), so every test runs in
// all three presets. Every test ends by checking that no child process, running or zombie, is left.
// (TEST_CASE names hold no commas or semicolons: CTest's Catch2 discovery splits a name there.)
#include "multiprocessing/building_a_process_pool.cpp"

#include <spawn.h>
#include <sys/time.h>

#include "catch.hpp"
#include "multiprocessing/children.hpp"
#include "support.hpp"

namespace {
bool process_exists(pid_t pid) { return ::kill(pid, 0) == 0 || errno != ESRCH; }
}  // namespace

TEST_CASE("a worker killed with SIGKILL mid-task gives BrokenProcessPool within a bounded time", "[multiprocessing]") {
  {
    ProcessPool pool(1);
    const TaskHandle victim = pool.submit(sleep_ms_then_echo, 60'000);  // would run a minute
    const TaskHandle queued = pool.submit(square, 4);                   // waits behind it: one worker
    const pid_t worker = pool.worker_pids().at(0);                      // the only worker: it took the task
    REQUIRE(worker > 0);
    std::this_thread::sleep_for(20ms);  // let the worker start the task
    REQUIRE(::kill(worker, SIGKILL) == 0);

    pg::Stopwatch clock;
    std::string error;
    try {
      pool.result(victim, 5s);
    } catch (const BrokenProcessPool& e) {
      error = e.what();
    }
    CHECK(clock.elapsed() < 3s);  // not the minute the task would have taken, nor the 5 s limit
    CHECK(error.find(fmt::format("worker process {} was killed by signal 9 (Killed)", worker)) != std::string::npos);
    CHECK(error.find(fmt::format("while running task {}", victim.id)) != std::string::npos);
    CHECK(pool.broken());
    // The queued task is affected too, and new work is refused; neither waits.
    CHECK_THROWS_AS(pool.result(queued, 1s), BrokenProcessPool);
    CHECK_THROWS_AS(pool.submit(square, 5), BrokenProcessPool);
    CHECK_FALSE(process_exists(worker));  // already reaped by the pool
  }
  CHECK(mp_test::no_children_left());
}

TEST_CASE("after shutdown no worker process remains", "[multiprocessing]") {
  ProcessPool pool(3);
  const auto pids = pool.worker_pids();
  REQUIRE(pids.size() == 3);
  for (pid_t pid : pids) CHECK(process_exists(pid));
  CHECK(pool.result(pool.submit(square, 9)) == 81);
  // Shutdown has a 10 s limit, but idle workers leave at once when their task pipe closes: a pool
  // that had to wait out the limit and kill them would fail both checks below.
  pg::Stopwatch clock;
  pool.shutdown();
  CHECK(clock.elapsed() < 3s);
  CHECK(pool.worker_endings() == std::vector<std::string>(3, "exited with code 0"));
  for (pid_t pid : pids) CHECK_FALSE(process_exists(pid));
  CHECK(mp_test::no_children_left());
  CHECK_THROWS_AS(pool.submit(square, 1), std::logic_error);
}

TEST_CASE("shutdown is bounded: a worker still busy at the time limit is killed and reaped", "[multiprocessing]") {
  ProcessPool pool(1);
  const TaskHandle h = pool.submit(sleep_ms_then_echo, 60'000);
  pg::Stopwatch clock;
  pool.shutdown(200ms);
  CHECK(clock.elapsed() >= 200ms);
  CHECK(clock.elapsed() < 5s);
  CHECK(mp_test::no_children_left());
  CHECK_THROWS_WITH(pool.result(h, 1s), contains_text("was killed by signal 9 (Killed) while running task 0"));
}

TEST_CASE("a program started while the pool is alive does not hold up its shutdown", "[multiprocessing]") {
  // The program inherits no pipe end (they are close-on-exec), so closing the task pipes still gives
  // every worker end of file, and shutdown takes milliseconds, not its 10 s limit.
  pid_t sleeper = 0;
  double shutdown_ms = 0;
  std::vector<std::string> endings;
  {
    ProcessPool pool(2);
    CHECK(pool.result(pool.submit(square, 3)) == 9);
    char program[] = "sleep";
    char seconds[] = "30";
    char* argv[] = {program, seconds, nullptr};
    REQUIRE(::posix_spawnp(&sleeper, "sleep", nullptr, nullptr, argv, environ) == 0);
    pg::Stopwatch clock;
    pool.shutdown();
    shutdown_ms = clock.elapsed_ms();
    endings = pool.worker_endings();
  }
  const bool sleeper_was_running = process_exists(sleeper);
  ::kill(sleeper, SIGKILL);
  int status = 0;
  ::waitpid(sleeper, &status, 0);
  INFO("shutdown took " << shutdown_ms << " ms");
  CHECK(sleeper_was_running);
  CHECK(shutdown_ms < 3000);
  CHECK(endings == std::vector<std::string>(2, "exited with code 0"));  // none had to be killed
  CHECK(mp_test::no_children_left());
}

TEST_CASE("a second pool's worker holds none of the first pool's pipes: the first shuts down at once",
          "[multiprocessing]") {
  // second's worker is forked while first is alive. If it kept a copy of first's task pipe (fork copies
  // every descriptor, and close-on-exec does nothing without exec), first's worker would never read end
  // of file: shutdown would wait its whole 10 s limit and then kill a healthy worker.
  double shutdown_ms = 0;
  std::vector<std::string> first_endings;
  std::vector<std::string> second_endings;
  {
    ProcessPool first(1);
    CHECK(first.result(first.submit(square, 3)) == 9);
    ProcessPool second(1);
    CHECK(second.result(second.submit(square, 4)) == 16);
    CHECK(descriptors_open_in(second.worker_pids().at(0)) == 5);  // stdin, stdout, stderr, its two ends
    pg::Stopwatch clock;
    first.shutdown();
    shutdown_ms = clock.elapsed_ms();
    first_endings = first.worker_endings();
    second.shutdown();
    second_endings = second.worker_endings();
  }
  INFO("the first pool's shutdown took " << shutdown_ms << " ms");
  CHECK(shutdown_ms < 1000);
  CHECK(first_endings == std::vector<std::string>{"exited with code 0"});
  CHECK(second_endings == std::vector<std::string>{"exited with code 0"});
  CHECK(mp_test::no_children_left());
}

TEST_CASE("a task's message with a line break arrives whole and forges no other task's result", "[multiprocessing]") {
  CHECK(unescape_line(escape_line("a\\nb\nc\\")) == "a\\nb\nc\\");
  CHECK(escape_line("two\nlines").find('\n') == std::string::npos);
  {
    ProcessPool pool(2);
    const TaskHandle slow = pool.submit(sleep_ms_then_echo, 200);
    // Its message's second line reads "done <slow's id> 999": read as a line of its own, it would
    // complete the slow task with 999 while that task is still running.
    const TaskHandle forger = pool.submit(throw_two_lines, slow.id);
    std::string error;
    try {
      pool.result(forger, 5s);
    } catch (const TaskFailed& e) {
      error = e.what();
    }
    CHECK(error == fmt::format("first line\ndone {} 999", slow.id));
    CHECK(pool.result(slow, 5s) == 200);
    CHECK_FALSE(pool.broken());
  }
  CHECK(mp_test::no_children_left());
}

namespace {
void on_alarm(int) {}  // does nothing: its only effect is to interrupt a blocked write()
}  // namespace

TEST_CASE("write_all writes every byte in order when a signal cuts writes short", "[multiprocessing]") {
  // A write() into a full pipe blocks; a signal caught by a handler installed without SA_RESTART ends
  // it early, returning the bytes written so far (a partial write) or failing with EINTR. A 1 ms timer
  // signal and a slow reader on a 4 KiB pipe make that happen dozens of times in one 256 KiB write.
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  OwnedFd read_end(fds[0]);
  OwnedFd write_end(fds[1]);
  ::fcntl(write_end.get(), F_SETPIPE_SZ, 4096);
  std::string payload(256 * 1024, '\0');
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>('a' + (i * 7) % 26);

  // The reader thread blocks SIGALRM (a new thread inherits the mask), so the signal lands on the writer.
  sigset_t alarm_only;
  sigset_t old_mask;
  sigemptyset(&alarm_only);
  sigaddset(&alarm_only, SIGALRM);
  ::pthread_sigmask(SIG_BLOCK, &alarm_only, &old_mask);
  std::string received;
  std::thread reader([&] {
    char chunk[512];
    for (;;) {
      const ssize_t n = ::read(read_end.get(), chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      received.append(chunk, static_cast<std::size_t>(n));
      std::this_thread::sleep_for(50us);
    }
  });
  ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);

  struct sigaction interrupt {};
  struct sigaction old_action {};
  interrupt.sa_handler = on_alarm;
  sigemptyset(&interrupt.sa_mask);
  interrupt.sa_flags = 0;  // no SA_RESTART: a blocked write() returns early
  ::sigaction(SIGALRM, &interrupt, &old_action);
  itimerval every_ms{{0, 1000}, {0, 1000}};
  ::setitimer(ITIMER_REAL, &every_ms, nullptr);

  // First, proof that this set-up cuts writes short: one plain write() stops partway.
  const ssize_t first = ::write(write_end.get(), payload.data(), payload.size());
  const bool ok = write_all(write_end.get(),
                            std::string_view(payload).substr(static_cast<std::size_t>(std::max<ssize_t>(first, 0))));
  const itimerval stop{};
  ::setitimer(ITIMER_REAL, &stop, nullptr);
  ::sigaction(SIGALRM, &old_action, nullptr);
  write_end.reset();  // end of file for the reader
  reader.join();

  INFO("the plain write() wrote " << first << " of " << payload.size() << " bytes");
  CHECK(first < static_cast<ssize_t>(payload.size()));
  CHECK(ok);
  CHECK(received.size() == payload.size());
  const bool every_byte_in_order = received == payload;  // (not printed: 256 KiB)
  CHECK(every_byte_in_order);
}

TEST_CASE("SIGPIPE is ignored while a pool is alive and restored after the last one shuts down", "[multiprocessing]") {
  auto sigpipe_action = [] {
    struct sigaction now {};
    ::sigaction(SIGPIPE, nullptr, &now);
    return now.sa_handler;
  };
  const auto before = sigpipe_action();
  REQUIRE(before != SIG_IGN);  // the test runner leaves SIGPIPE at its default
  {
    ProcessPool first(1);
    CHECK(sigpipe_action() == SIG_IGN);
    {
      ProcessPool second(1);
      CHECK(sigpipe_action() == SIG_IGN);
      first.shutdown();
      CHECK(sigpipe_action() == SIG_IGN);  // the second pool still writes to its worker
    }
    CHECK(sigpipe_action() == before);
  }
  CHECK(sigpipe_action() == before);
  CHECK(mp_test::no_children_left());
}

// RLIMIT_NPROC counts threads as well as processes, and ThreadSanitizer starts a background thread of its
// own in the forked test process: under it, one more task must be allowed for the same workers to start.
#if defined(__SANITIZE_THREAD__)
constexpr int sanitizer_threads = 1;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
constexpr int sanitizer_threads = 1;
#else
constexpr int sanitizer_threads = 0;
#endif
#else
constexpr int sanitizer_threads = 0;
#endif

TEST_CASE("a constructor that fails halfway leaves no worker and no open pipe behind", "[multiprocessing]") {
  // In a forked copy of the test process, lower a limit so that the first workers start but a later
  // pipe2() (open files: worker 0 needs 4 descriptors and keeps 2, so 4 more fail at worker 1 and 6 at
  // worker 2) or fork() (processes: 1 or 2 more) fails. The constructor throws after forking workers;
  // their owners must kill and reap them and close every pipe, and SIGPIPE must get its action back.
  const auto start = [] { ProcessPool pool(3); };
  const auto sigpipe_restored = [] {
    struct sigaction sigpipe {};
    ::sigaction(SIGPIPE, nullptr, &sigpipe);
    return sigpipe.sa_handler != SIG_IGN;
  };
  REQUIRE(sigpipe_restored());
  int ran = 0;
  for (int more : {1, 2}) {
    if (mp_test::descriptor_limit_usable) {
      INFO("open files, " << 2 + 2 * more << " more allowed");
      const std::string answer = mp_test::fail_halfway(mp_test::Exhaust::descriptors, 2 + 2 * more, start);
      CHECK_THAT(answer, contains_text("pipe2: Too many open files; children forked: true; children left: false; "
                                       "descriptors leaked: false"));
      ++ran;
    }
    INFO("processes, " << more << " more allowed (plus " << sanitizer_threads << " for the sanitizer's own thread)");
    const std::string answer = mp_test::fail_halfway(mp_test::Exhaust::processes, more + sanitizer_threads, start);
    if (answer == "skipped") continue;
    CHECK_THAT(answer, contains_text("fork: Resource temporarily unavailable; children forked: true; children left: "
                                     "false; descriptors leaked: false"));
    ++ran;
  }
  // SIGPIPE: checked in one more forked test process, where the constructor fails the same way.
  if (mp_test::descriptor_limit_usable) {
    const std::string answer = mp_test::run_in_forked_test_process([&] {
      const rlimit old = mp_test::allow_only_more_descriptors(4);
      try {
        ProcessPool pool(3);
      } catch (const std::system_error&) {
      }
      ::setrlimit(RLIMIT_NOFILE, &old);
      return std::string(sigpipe_restored() ? "restored" : "still ignored");
    });
    CHECK(answer == "restored");
  }
  if (ran == 0) std::printf("SKIPPED: needs root to limit processes, and open files cannot be limited under UBSan\n");
  CHECK(mp_test::no_children_left());
}

TEST_CASE("building_a_process_pool: the program runs and rejects bad flags with exit status 2",
          "[multiprocessing][flags]") {
  using test_support::run_program;
  test_support::check_rejects_bad_flags(LESSON_BINARY, {{"--bogus"}, {"--workers"}});
  auto ok = run_program(LESSON_BINARY, {});
  CHECK(ok.exit_code == 0);
  CHECK(ok.out.find("received  done 0 49 ...") != std::string::npos);
  CHECK(ok.out.find("received  error 1 first line\\ndone 0 999\n") != std::string::npos);  // one line
  CHECK(ok.out.find("end of file, and the worker exited with code 0") != std::string::npos);
  CHECK(ok.out.find("descriptors open in second's worker: 5 ") != std::string::npos);
  CHECK(ok.out.find("; its worker exited with code 0") != std::string::npos);
  CHECK(mp_test::no_children_left());
}
