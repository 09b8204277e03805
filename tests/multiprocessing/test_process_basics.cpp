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
#include <set>

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
  if (mp_test::skip_without_two_cores(test_support::cores())) return;
  const long limit = 2'000'000;  // about half a second sequentially: a short neighbour test disturbs only part
  const int jobs = 2;
  double best = 0;
  for (int attempt = 0; attempt < 3 && best < 1.5; ++attempt) {
    pg::Timeline sequential("sequential");
    pg::Stopwatch sequential_clock;
    const auto counts = count_primes_sequentially(limit, jobs, sequential);
    const double sequential_ms = sequential_clock.elapsed_ms();
    pg::Timeline parallel("processes");
    pg::Stopwatch parallel_clock;
    const auto answers = count_primes_in_processes(limit, jobs, parallel);
    const double parallel_ms = parallel_clock.elapsed_ms();
    REQUIRE(answers.size() == counts.size());
    for (std::size_t i = 0; i < counts.size(); ++i) REQUIRE(answers[i].count == counts[i]);
    best = std::max(best, sequential_ms / parallel_ms);
  }
  INFO("best speedup of 3 tries: " << best);
  CHECK(best >= 1.5);
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
  test_support::check_rejects_bad_flags(LESSON_BINARY,
                                        {{"--jobs", "x"}, {"--jobs", "0"}, {"--work", "-5"}, {"--bogus"}});
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
