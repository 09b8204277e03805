// Test support shared by the lesson tests: run a lesson binary as a child process, with a time limit,
// and collect its exit status and output. Used for what only a whole program shows: flags and exit
// codes, signals, a process that must not hang.
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "catch.hpp"
#include "playground.hpp"  // pg::load_average

extern char** environ;

namespace test_support {

// Where the build put things, found from this test program's own path (build/<preset>/tests/test_NAME,
// so the build folder is its folder's parent). The build passes paths relative to the build folder
// (cmake/Playground.cmake): no absolute path is compiled in, so any checkout compiles the same objects.
inline std::string in_build_folder(const char* relative) {
  static const std::filesystem::path build_folder =
      std::filesystem::read_symlink("/proc/self/exe").parent_path().parent_path();
  return (build_folder / relative).lexically_normal().string();
}

}  // namespace test_support

// The lesson's program (a test runs it for its flags, exit codes and signals), and the trace checker.
#ifdef LESSON_IN_BUILD
#define LESSON_BINARY (::test_support::lesson_binary())
namespace test_support {
inline const char* lesson_binary() {
  static const std::string path = in_build_folder(LESSON_IN_BUILD);
  return path.c_str();
}
}  // namespace test_support
#endif
#ifdef TRACE_CHECK_SCRIPT_IN_BUILD
#define TRACE_CHECK_SCRIPT (::test_support::trace_check_script())
namespace test_support {
inline const char* trace_check_script() {
  static const std::string path = in_build_folder(TRACE_CHECK_SCRIPT_IN_BUILD);
  return path.c_str();
}
}  // namespace test_support
#endif

namespace test_support {

struct ProgramResult {
  int exit_code = -1;      // valid when the program exited
  int signal = 0;          // the signal that ended it, or 0
  bool timed_out = false;  // it was still running at the deadline and was killed
  std::string out;
  std::string err;
};

// Run `path args...`, feed it nothing on stdin, capture stdout and stderr. A program still running
// after `limit` is killed with SIGKILL and reported as timed_out, so a hanging program fails a test
// instead of hanging it.
inline ProgramResult run_program(const std::string& path, const std::vector<std::string>& args,
                                 std::chrono::milliseconds limit = std::chrono::seconds(30)) {
  ProgramResult result;
  int out_pipe[2];
  int err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);

  std::vector<std::string> storage{path};
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : storage) argv.push_back(s.data());
  argv.push_back(nullptr);

  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, path.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (rc != 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    throw std::runtime_error(fmt::format("cannot start {}: {}", path, std::strerror(rc)));
  }

  const auto deadline = std::chrono::steady_clock::now() + limit;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_pipes = 2;
  while (open_pipes > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      result.timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    int ready = ::poll(fds, 2, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      char buffer[4096];
      ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
      if (n > 0) {
        sinks[i]->append(buffer, static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_pipes;
      }
    }
  }
  for (auto& f : fds)
    if (f.fd >= 0) ::close(f.fd);

  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
  return result;
}

// One event of a trace file written with --trace, as tests/trace_check.py (Python's json module) read it.
struct TraceEvent {
  char phase = 0;  // 'X': a span; 'M': a process or thread name
  double ts = 0;   // microseconds (X only)
  double dur = 0;  // microseconds (X only)
  int pid = 0;
  int tid = 0;
  std::string category;  // X: the timeline's name; M: "process_name" or "thread_name"
  std::string name;      // X: the span's name; M: the lane's name
};

// Parse a trace file with Python's JSON parser. Throws if python3 is missing or the file is not valid.
inline std::vector<TraceEvent> read_trace(const std::string& path) {
  auto r = run_program(PYTHON3_EXECUTABLE, {TRACE_CHECK_SCRIPT, path});
  if (r.exit_code != 0) throw std::runtime_error("trace file is not valid: " + r.err);
  std::vector<TraceEvent> events;
  std::size_t start = 0;
  while (start < r.out.size()) {
    std::size_t end = r.out.find('\n', start);
    std::string line = r.out.substr(start, end - start);
    start = end == std::string::npos ? r.out.size() : end + 1;
    TraceEvent e;
    const auto tab = line.find('\t');
    e.name = line.substr(tab + 1);
    char category[256] = {};
    if (line[0] == 'X') {
      std::sscanf(line.c_str(), "X %lf %lf %d %d %255[^\t]", &e.ts, &e.dur, &e.pid, &e.tid, category);
    } else {
      std::sscanf(line.c_str(), "M %d %d %255[^\t]", &e.pid, &e.tid, category);
    }
    e.phase = line[0];
    e.category = category;
    events.push_back(std::move(e));
  }
  return events;
}

// A watchdog for tests whose failure mode is a hang (a coroutine that never resumes, a channel nobody
// closes, a deadlock). Made at the top of a test, it gives the test `limit` to finish; if the test is
// still running then, it names the test on stderr and ends the test program with exit status 124 (as
// timeout(1) does), so the failure is reported in seconds and never hangs ctest.
//
//   TEST_CASE("...") {
//     const test_support::Watchdog watchdog(std::chrono::seconds(20), "gather");
//     ...
//   }  // leaving the scope disarms it
//
// `last_words`, if given, runs on the watchdog's thread just before the program ends (the process
// tests kill the children they leave behind with it: tests/multiprocessing/children.hpp).
class Watchdog {
 public:
  Watchdog(std::chrono::milliseconds limit, std::string what, std::function<void()> last_words = {})
      : what_(std::move(what)), last_words_(std::move(last_words)) {
    thread_ = std::thread([this, limit] {
      std::unique_lock lock(mutex_);
      if (!wake_.wait_for(lock, limit, [this] { return disarmed_; })) {
        std::fprintf(stderr, "watchdog: '%s' still running after %lld ms: ending the test program\n", what_.c_str(),
                     static_cast<long long>(limit.count()));
        if (last_words_) last_words_();
        std::fflush(nullptr);
        std::_Exit(124);
      }
    });
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
  ~Watchdog() {
    {
      std::lock_guard lock(mutex_);
      disarmed_ = true;
    }
    wake_.notify_one();
    thread_.join();
  }

 private:
  std::string what_;
  std::function<void()> last_words_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool disarmed_ = false;
  std::thread thread_;  // started in the constructor body, after the members above exist
};

// Every lesson rejects a bad flag the same way (see pg::Flags): exit status 2, "PROGRAM: what is wrong"
// then the usage on stderr, and nothing on stdout, since it stopped before any work. Runs the lesson
// once per argument list and checks all of that; Catch2's INFO names the arguments of a failure.
inline void check_rejects_bad_flags(const std::string& path, const std::vector<std::vector<std::string>>& bad_args) {
  const std::string program = path.substr(path.rfind('/') + 1);
  for (const auto& args : bad_args) {
    const auto r = run_program(path, args, std::chrono::seconds(10));
    std::string shown;
    for (const auto& a : args) shown += a + " ";
    INFO("args: " << shown << "stderr: " << r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.err.rfind(program + ": ", 0) == 0);
    CHECK(r.err.find("usage: " + program) != std::string::npos);
    CHECK(r.out.empty());
  }
}

// While it lives, the calling thread and every thread it starts run on one core only. A test uses it
// to make a lost wake-up likely: on one core, a notify that wakes a thread which slept long usually
// hands it the core at once, before the notifier's next line runs, so a notify placed before the state
// change it announces is seen by a waiter that re-checks too early. (On two cores the notifier almost
// always gets there first.) Nothing changes where the affinity cannot be set.
class OnOneCore {
 public:
  OnOneCore() {
    saved_ = ::sched_getaffinity(0, sizeof before_, &before_) == 0;
    const int cpu = ::sched_getcpu();
    if (!saved_ || cpu < 0) return;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    ::sched_setaffinity(0, sizeof one, &one);
  }
  OnOneCore(const OnOneCore&) = delete;
  OnOneCore& operator=(const OnOneCore&) = delete;
  ~OnOneCore() {
    if (saved_) ::sched_setaffinity(0, sizeof before_, &before_);
  }

 private:
  cpu_set_t before_{};
  bool saved_ = false;
};

// Runs `body` in a child process that can start only three more threads: three threads started and
// joined first leave their stacks in the C library's cache, ready for reuse, and then the address space
// is capped a little above what is in use, so a fourth stack (8 MB) no longer fits and creating a
// fourth thread throws std::system_error. The child exits with what `body` returns. Returns the
// child's wait status, or nullopt if it was still running after `limit` (it is then killed). Not under
// a sanitizer, whose runtime needs the address space this takes away.
inline std::optional<int> status_when_threads_run_out(const std::function<int()>& body,
                                                      std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    std::signal(SIGABRT, SIG_DFL);  // std::terminate must end the child, not reach Catch2's handler
    std::thread warm[3] = {std::thread([] {}), std::thread([] {}), std::thread([] {})};
    for (auto& t : warm) t.join();
    long pages = 0;
    std::ifstream("/proc/self/statm") >> pages;
    const auto in_use = static_cast<rlim_t>(pages) * static_cast<rlim_t>(::sysconf(_SC_PAGESIZE));
    const rlimit cap{in_use + (4 << 20), in_use + (4 << 20)};
    ::setrlimit(RLIMIT_AS, &cap);
    ::_exit(body());
  }
  int status = 0;
  for (auto waited = std::chrono::milliseconds(0); ::waitpid(pid, &status, WNOHANG) == 0;
       waited += std::chrono::milliseconds(5)) {
    if (waited > limit) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return std::nullopt;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return status;
}

// How many cores the machine has; timing tests that need free cores skip below 2.
inline unsigned cores() { return std::max(1u, std::thread::hardware_concurrency()); }

// ---------------------------------------------------------------------------------------------------
// Speedup tests on a shared machine
// ---------------------------------------------------------------------------------------------------
// A claim such as "2 workers are 1.5x faster" holds only when the machine gives the work two cores.
// On a busy machine (other builds running) it may get 1.2 cores, and no correct program is then 1.5x
// faster. So check_speedup() measures, besides the speedup, the cores the parallel work actually got
// (its CPU time over its wall time) and the cores free just before and after it (a probe: two threads
// spinning for a moment). Then:
//   - the speedup was there:                                 the test passes;
//   - the work got two cores and still no speedup:           it fails (overhead, a lock, a busy wait);
//   - two cores were free around it and the work used one:   it fails (the work does not run in parallel);
//   - the cores were not free:                               it prints "SKIPPED: ..." with the figures.
// Up to 3 tries; the best one is judged, since another program may take a core during any one try.

// Cumulative CPU time, in milliseconds, of whoever does the parallel work.
inline double cpu_ms_of_this_process() {
  timespec t{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) / 1e6;
}
// Children that have ended and been waited for (getrusage counts no child still running).
inline double cpu_ms_of_waited_children() {
  rusage usage{};
  ::getrusage(RUSAGE_CHILDREN, &usage);
  const auto ms = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_usec) / 1e3;
  };
  return ms(usage.ru_utime) + ms(usage.ru_stime);
}
// Processes still running (a pool's workers): user plus system time from /proc/PID/stat, in clock ticks.
inline double cpu_ms_of_processes(const std::vector<pid_t>& pids) {
  double total = 0;
  for (const pid_t pid : pids) {
    std::FILE* file = std::fopen(fmt::format("/proc/{}/stat", pid).c_str(), "r");
    if (file == nullptr) throw std::runtime_error(fmt::format("cannot read /proc/{}/stat", pid));
    char line[1024] = {};
    const bool read = std::fgets(line, sizeof line, file) != nullptr;
    std::fclose(file);
    // Fields after the command name, which is in parentheses and may hold spaces: state is field 3,
    // utime field 14, stime field 15.
    const char* after_name = read ? std::strrchr(line, ')') : nullptr;
    unsigned long user = 0;
    unsigned long system = 0;
    if (after_name == nullptr ||
        std::sscanf(after_name + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &user, &system) != 2)
      throw std::runtime_error(fmt::format("cannot parse /proc/{}/stat", pid));
    total += static_cast<double>(user + system) * 1e3 / static_cast<double>(::sysconf(_SC_CLK_TCK));
  }
  return total;
}

// The cores free right now, as two threads spinning for `span` see them (their CPU time over the wall
// time): about 2.0 on an idle machine of 2 cores or more, 1.2 when other programs keep a core busy.
inline double free_cores_probe(std::chrono::milliseconds span = std::chrono::milliseconds(60)) {
  std::atomic<double> cpu_ms{0};
  const auto start = std::chrono::steady_clock::now();
  const auto spin = [&] {
    const auto thread_cpu_ms = [] {
      timespec t{};
      ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
      return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) / 1e6;
    };
    const double before = thread_cpu_ms();
    while (std::chrono::steady_clock::now() - start < span) {
    }
    cpu_ms.fetch_add(thread_cpu_ms() - before);
  };
  std::thread other(spin);
  spin();
  other.join();
  const double wall_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return cpu_ms.load() / wall_ms;
}

// One try: serial and parallel wall times, the parallel work's CPU time, the probes around it.
struct SpeedupTry {
  double serial_ms = 0;
  double parallel_ms = 0;
  double parallel_cpu_ms = 0;
  double free_before = 0;  // free_cores_probe() just before the parallel work
  double free_after = 0;   // and just after
  [[nodiscard]] double speedup() const { return parallel_ms > 0 ? serial_ms / parallel_ms : 0; }
  [[nodiscard]] double cores_obtained() const { return parallel_ms > 0 ? parallel_cpu_ms / parallel_ms : 0; }
  [[nodiscard]] double free_cores() const { return std::min(free_before, free_after); }
};

enum class SpeedupVerdict { passed, failed, skipped };

// The rule above, on the tries made so far (kept apart from the measuring, so that it can be tested).
inline constexpr double two_cores = 1.8;  // of 2.0: "two cores" allowing for the odd interrupt
inline constexpr double one_core_at_most = 1.5;
inline SpeedupVerdict judge_speedup(const std::vector<SpeedupTry>& tries, double needed) {
  if (tries.empty()) return SpeedupVerdict::skipped;
  for (const auto& t : tries)
    if (t.speedup() >= needed) return SpeedupVerdict::passed;
  for (const auto& t : tries) {
    if (t.cores_obtained() >= two_cores) return SpeedupVerdict::failed;
    if (t.free_cores() >= two_cores && t.cores_obtained() < one_core_at_most) return SpeedupVerdict::failed;
  }
  return SpeedupVerdict::skipped;
}

// The figures of every try, then the verdict's reason: what a failure or a skip prints.
inline std::string describe_speedup(const std::vector<SpeedupTry>& tries, double needed) {
  std::string text;
  for (std::size_t i = 0; i < tries.size(); ++i) {
    const auto& t = tries[i];
    text += fmt::format(
        "try {}: serial {:.0f} ms, parallel {:.0f} ms, speedup {:.2f}x; the parallel work got {:.2f} cores; "
        "free cores before {:.2f}, after {:.2f}\n",
        i + 1, t.serial_ms, t.parallel_ms, t.speedup(), t.cores_obtained(), t.free_before, t.free_after);
  }
  const auto load = pg::load_average();
  const std::string load_text = load ? fmt::format("{:.1f}", *load) : std::string("unknown");
  switch (judge_speedup(tries, needed)) {
    case SpeedupVerdict::passed:
      text += fmt::format("speedup of at least {}x reached", needed);
      break;
    case SpeedupVerdict::failed:
      text += fmt::format("FAILED: no {}x speedup although two cores were there (load average {})", needed, load_text);
      break;
    case SpeedupVerdict::skipped: {
      double most_cores = 0;
      double most_free = 0;
      double best_speedup = 0;
      for (const auto& t : tries) {
        most_cores = std::max(most_cores, t.cores_obtained());
        most_free = std::max(most_free, t.free_cores());
        best_speedup = std::max(best_speedup, t.speedup());
      }
      text += fmt::format(
          "SKIPPED: two free cores needed, the machine is busy (load average {}): the work got at most {:.2f} "
          "cores, at most {:.2f} were free around it; best speedup {:.2f}x of the {}x claimed",
          load_text, most_cores, most_free, best_speedup, needed);
      break;
    }
  }
  return text;
}

// Time `serial` and `parallel` (each runs the same work; each checks its own results) up to 3 times,
// `parallel` with the CPU time `cpu_ms` counts, and check the claim "parallel is `needed` times faster"
// by the rule above. Prints the figures; a skip prints "SKIPPED: ..." for ctest.
template <class Serial, class Parallel, class CpuMs>
void check_speedup(double needed, Serial serial, Parallel parallel, CpuMs cpu_ms) {
  if (cores() < 2) {
    std::printf("SKIPPED: a speedup needs at least 2 cores, this machine has %u\n", cores());
    return;
  }
  std::vector<SpeedupTry> tries;
  for (int attempt = 0; attempt < 3; ++attempt) {
    SpeedupTry t;
    auto clock = std::chrono::steady_clock::now();
    serial();
    t.serial_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - clock).count();
    t.free_before = free_cores_probe();
    const double cpu_before = cpu_ms();
    clock = std::chrono::steady_clock::now();
    parallel();
    t.parallel_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - clock).count();
    t.parallel_cpu_ms = cpu_ms() - cpu_before;
    t.free_after = free_cores_probe();
    tries.push_back(t);
    if (judge_speedup(tries, needed) == SpeedupVerdict::passed) break;
  }
  const std::string figures = describe_speedup(tries, needed);
  std::printf("%s\n", figures.c_str());
  std::fflush(stdout);
  INFO(figures);
  CHECK(judge_speedup(tries, needed) != SpeedupVerdict::failed);
}

}  // namespace test_support
