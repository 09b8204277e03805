// Checks the claims of threading/thread_basics.cpp on the lesson's own functions.
#include "threading/thread_basics.cpp"

#include "catch.hpp"
#include "support.hpp"

#include <csignal>
#include <cstdio>
#include <set>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {
const std::chrono::milliseconds delay{40};
}  // namespace

TEST_CASE("join waits until the thread's function has returned", "[threading]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(20),
                                        "join waits until the thread's function has returned");
  pg::Timeline timeline("join");
  const auto before = pg::Clock::now();
  const auto waited = start_and_join(delay, timeline);
  const auto after_join = pg::Clock::now();
  auto spans = timeline.spans();  // the span is recorded when slow_greeting returns
  REQUIRE(spans.size() == 1);
  CHECK(spans[0].end <= after_join);
  CHECK(spans[0].duration() >= delay);
  CHECK(spans[0].thread != pg::thread_number());  // it ran on another thread
  // join() was called right after the thread started, so it waited for most of the thread's sleep.
  // (Half the delay: the caller may lose its core for a moment between starting the thread and join.)
  CHECK(waited >= delay / 2);
  CHECK(waited <= after_join - before);
}

TEST_CASE("arguments: a copy stays in the thread, std::ref reaches the caller's variable", "[threading]") {
  const test_support::Watchdog watchdog(
      std::chrono::seconds(20), "arguments: a copy stays in the thread, std::ref reaches the caller's variable");
  pg::Timeline timeline("arguments");
  const auto results = pass_arguments(timeline);
  CHECK(results.after_by_value == 0);
  CHECK(results.after_by_reference == 10);
  CHECK(timeline.spans().size() == 2);

  std::string out;
  std::thread owner = start_owning_thread(out);  // the function that built the data has returned
  owner.join();
  CHECK(out == "built in a function that has already returned");
}

TEST_CASE("threads: waiting tasks overlap on separate threads, one by one they do not", "[threading]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(20),
                                        "threads: waiting tasks overlap on separate threads, one by one they do not");
  constexpr int tasks = 4;
  pg::Timeline sequential("one by one");
  run_one_by_one(tasks, delay, sequential);
  auto one_by_one = sequential.spans_by_start();
  REQUIRE(one_by_one.size() == tasks);
  for (int i = 1; i < tasks; ++i) CHECK_FALSE(pg::overlap(one_by_one[i - 1], one_by_one[i]));

  pg::Timeline parallel("threads");
  pg::Stopwatch clock;
  run_on_threads(tasks, delay, parallel);
  const auto took = clock.elapsed();
  auto spans = parallel.spans();
  REQUIRE(spans.size() == tasks);
  std::set<int> threads;
  for (std::size_t i = 0; i < spans.size(); ++i) {
    threads.insert(spans[i].tid);
    for (std::size_t j = i + 1; j < spans.size(); ++j) CHECK(pg::overlap(spans[i], spans[j]));
  }
  CHECK(threads.size() == tasks);
  CHECK(took >= delay);
  CHECK(took < tasks * delay * 3 / 4);  // one by one takes tasks x delay
}

TEST_CASE("a detached thread does not keep its process alive", "[threading]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(50), "a detached thread does not keep its process alive");
  // The detached thread would print after 3 s; the child's main() returns after 20 ms. If process
  // exit waited for the thread, the child would live 3 s and print both lines.
  pg::Timeline timeline("detach");
  const auto child = run_detach_child(LESSON_BINARY, 3'000, 20, timeline);
  INFO("child output: " << child.output);
  CHECK(child.exit_status == 0);
  CHECK(child.output.find("main() returns now") != std::string::npos);
  CHECK(child.output.find("detached thread finished") == std::string::npos);
  CHECK(child.took_ms >= 20);
  CHECK(child.took_ms < 2'000);
}

TEST_CASE("jthread: stops when asked and is joined by its destructor", "[threading]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(20),
                                        "jthread: stops when asked and is joined by its destructor");
  pg::Timeline timeline("jthread");
  const auto tick = std::chrono::milliseconds(5);
  const auto result = run_ticker(tick, std::chrono::milliseconds(100), timeline);
  INFO("ticks " << result.ticks << ", stop requested after " << result.requested_after_ms << " ms");
  CHECK(result.saw_stop);
  CHECK(result.ticks >= 1);
  CHECK(result.ticks <= result.requested_after_ms / 5 + 2);  // sleep_for never returns early
  CHECK(result.stop_to_joined_ms < 1'000);                   // it stopped within a tick or so, not never
  // The span closes when the thread's function returns, so it exists only if ~jthread joined the thread
  // before run_ticker returned; and the thread ran until it was asked to stop, not a tick or two.
  REQUIRE(timeline.spans().size() == 1);
  CHECK(timeline.spans()[0].duration() >= std::chrono::milliseconds(50));
}

namespace {
// Fork a child that runs `body` with its stderr silenced, and return its wait status. The test program
// has no other thread at this point (every earlier test joined its threads), so the child may start
// threads of its own. A child still running after 10 s is killed, so the test cannot hang.
template <class Body>
int status_of_child(Body body) {
  std::fflush(nullptr);  // or output buffered before fork() would be printed twice
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    std::signal(SIGABRT, SIG_DFL);  // Catch2's crash handler is the parent's business, not the child's
    const int null_fd = ::open("/dev/null", O_WRONLY);
    if (null_fd >= 0) ::dup2(null_fd, 2);  // std::terminate's message is expected, not interesting
    body();
    ::_exit(0);
  }
  int status = 0;
  for (int waited_ms = 0; ::waitpid(pid, &status, WNOHANG) == 0; waited_ms += 5) {
    if (waited_ms > 10'000) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      FAIL("the child was still running after 10 s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return status;
}
}  // namespace

TEST_CASE("start_and_join joins its thread (section 1), so returning from it does not terminate", "[threading]") {
  // In a child process, since std::terminate ends the whole program (with SIGABRT): a start_and_join
  // that forgot its join() (Try this 1) would kill the child.
  const int status = status_of_child([] {
    pg::Timeline timeline("join");
    start_and_join(std::chrono::milliseconds(20), timeline);
  });
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("library demonstration: destroying a std::thread neither joined nor detached calls std::terminate",
          "[threading]") {
  // No lesson code here: this checks the C++ library rule section 1 states, so that the lesson's
  // claim stays true on this compiler.
  const int forgotten = status_of_child([] {
    std::thread worker([] { std::this_thread::sleep_for(std::chrono::milliseconds(20)); });
  });  // ~thread on a joinable thread
  REQUIRE(WIFSIGNALED(forgotten));
  CHECK(WTERMSIG(forgotten) == SIGABRT);
}

TEST_CASE("counter: load-then-store loses updates, fetch_add is exact", "[threading]") {
  // 50 s: the yield in every increment makes this slow when other programs share the cores.
  const test_support::Watchdog watchdog(std::chrono::seconds(50),
                                        "counter: load-then-store loses updates, fetch_add is exact");
  constexpr int threads = 4;
  constexpr int increments = 5'000;
  pg::Timeline racy_timeline("lost updates");
  pg::Timeline fixed_timeline("fetch_add");
  const int racy = count_with_lost_updates(threads, increments, racy_timeline);
  const int fixed = count_exactly(threads, increments, fixed_timeline);
  CHECK(racy <= threads * increments);  // can never gain updates
  CHECK(racy < threads * increments);   // with the yield in the window, updates are lost every run
  CHECK(fixed == threads * increments);
  CHECK(racy_timeline.spans().size() == threads);
  CHECK(fixed_timeline.spans().size() == threads);
}

TEST_CASE("the lesson program rejects bad flags with a message and exit status 2", "[threading][flags]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(50),
                                        "the lesson program rejects bad flags with a message and exit status 2");
  using test_support::run_program;
  test_support::check_rejects_bad_flags(LESSON_BINARY,
                                        {{"--threads", "x"}, {"--threads", "0"}, {"--delay-ms", "-5"}, {"--bogus"}});
  auto help = run_program(LESSON_BINARY, {"--help"});
  CHECK(help.exit_code == 0);
  CHECK(help.out.find("--trace") != std::string::npos);
}

TEST_CASE("trace file: one event per span, in time order, each thread with its real tid", "[threading][trace]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(50),
                                        "trace file: one event per span, in time order, each thread with its real tid");
  const std::string path = fmt::format("/tmp/playground-thread-basics-trace-{}.json", ::getpid());
  constexpr int tasks = 3;
  constexpr int threads = 2;
  auto r = test_support::run_program(
      LESSON_BINARY, {"--tasks", std::to_string(tasks), "--delay-ms", "10", "--threads", std::to_string(threads),
                      "--increments", "1000", "--tick-ms", "5", "--trace", path});
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  auto events = test_support::read_trace(path);
  std::remove(path.c_str());

  // The lesson prints its pid; the main thread's tid is the pid.
  const auto at = r.out.find("main thread: pid ");
  REQUIRE(at != std::string::npos);
  const int lesson_pid = std::stoi(r.out.substr(at + 17));
  CHECK(lesson_pid != ::getpid());

  std::vector<test_support::TraceEvent> spans;
  for (const auto& e : events)
    if (e.phase == 'X') spans.push_back(e);
  // 1 join + 2 arguments + tasks one by one + tasks on threads + 1 child + 1 ticker + 2 x threads counting
  REQUIRE(spans.size() == static_cast<std::size_t>(1 + 2 + tasks + tasks + 1 + 1 + 2 * threads));
  CHECK(r.out.find(fmt::format("trace: {} spans written to {}", spans.size(), path)) != std::string::npos);
  for (std::size_t i = 0; i < spans.size(); ++i) {
    CHECK(spans[i].dur >= 0);
    CHECK(spans[i].pid == lesson_pid);
    if (i > 0) CHECK(spans[i].ts >= spans[i - 1].ts);
  }
  // One thread runs one span at a time here (no span is nested in another on its thread), so any two
  // spans that overlap in time ran on different threads and must carry different kernel tids.
  // (1 us of slack: the file rounds to nanoseconds, and back-to-back spans touch.)
  int overlapping_pairs = 0;
  for (std::size_t i = 0; i < spans.size(); ++i) {
    for (std::size_t j = i + 1; j < spans.size(); ++j) {
      const bool overlap = spans[i].ts + spans[i].dur > spans[j].ts + 1 && spans[j].ts + spans[j].dur > spans[i].ts + 1;
      if (!overlap) continue;
      ++overlapping_pairs;
      INFO(spans[i].name << " and " << spans[j].name);
      CHECK(spans[i].tid != spans[j].tid);
    }
  }
  CHECK(overlapping_pairs >= tasks * (tasks - 1) / 2);  // at least the tasks on threads overlap pairwise
  // The tasks on threads ran at the same time, so on different kernel threads, none of them main.
  std::set<int> task_tids;
  for (const auto& e : spans) {
    if (e.category == "one by one" || e.category == "detach") CHECK(e.tid == lesson_pid);  // main thread
    if (e.category == "threads") task_tids.insert(e.tid);
  }
  CHECK(task_tids.size() == tasks);
  CHECK(task_tids.count(lesson_pid) == 0);
  // Spans from different threads (thread numbers differ in the lesson) carry different tids: the
  // counting threads ran at the same time, held at a latch.
  std::set<int> counter_tids;
  for (const auto& e : spans)
    if (e.category == "lost updates") counter_tids.insert(e.tid);
  CHECK(counter_tids.size() == threads);
}

TEST_CASE("thread numbers: thread 1 is the main thread, other threads get other numbers", "[threading]") {
  // Catch2 runs test cases on the process's main thread, whose kernel thread id is the process id.
  REQUIRE(pg::os_thread_id() == static_cast<int>(::getpid()));
  CHECK(pg::thread_number() == 1);
  int worker_number = 0;
  std::thread worker([&] { worker_number = pg::thread_number(); });
  worker.join();
  CHECK(worker_number >= 2);
}

TEST_CASE("process CPU time grows while a thread computes, barely while it sleeps", "[threading]") {
  test_support::Watchdog watchdog(std::chrono::seconds(20), "cpu time");
  const auto before_sleep = pg::process_cpu_time();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto slept = pg::process_cpu_time() - before_sleep;
  CHECK(slept < std::chrono::milliseconds(50));  // sleeping uses no CPU
  const auto before_spin = pg::process_cpu_time();
  std::atomic<long> spins{0};
  while (pg::process_cpu_time() - before_spin < std::chrono::milliseconds(20))
    spins.fetch_add(1);  // ends once 20 ms of CPU is used
  CHECK(spins.load() > 0);
}

TEST_CASE("thread_basics program: a speedup below the ideal says why", "[threading][flags]") {
  auto r = test_support::run_program(LESSON_BINARY, {"--tasks", "3", "--delay-ms", "0", "--threads", "2",
                                                     "--increments", "100", "--worker-ms", "50", "--main-ms", "5"});
  INFO("stdout: " << r.out);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("(ideal 3x: all 3 waits at once)") != std::string::npos);
  CHECK(r.out.find("with --delay-ms 0 there is no wait to overlap") != std::string::npos);
  CHECK(r.out.find("thread 1 is the main thread") != std::string::npos);
  test_support::check_rejects_bad_flags(LESSON_BINARY, {{"--increments", "200001"}, {"--threads", "17"}});
}

TEST_CASE("thread_basics program: a detached thread that finishes before main() returns is said to", "[threading]") {
  // Try this 2: the detached thread needs 10 ms, the child's main() returns after 100 ms, so its line
  // appears, and the output must not claim that it never did.
  auto r = test_support::run_program(LESSON_BINARY, {"--tasks", "1", "--delay-ms", "1", "--threads", "1",
                                                     "--increments", "10", "--worker-ms", "10", "--main-ms", "100"});
  INFO("stdout: " << r.out);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("child: detached thread finished its work") != std::string::npos);
  CHECK(r.out.find("so it finished before main()") != std::string::npos);
  CHECK(r.out.find("never appeared") == std::string::npos);
  // And the other way round: the thread needs far longer than main() runs (and than a sanitizer's exit).
  r = test_support::run_program(LESSON_BINARY, {"--tasks", "1", "--delay-ms", "1", "--threads", "1", "--increments",
                                                "10", "--worker-ms", "3000", "--main-ms", "10"});
  INFO("stdout: " << r.out);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("child: detached thread finished its work") == std::string::npos);
  CHECK(r.out.find("so its last line never appeared") != std::string::npos);
}
