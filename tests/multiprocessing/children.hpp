// Helpers shared by the multiprocessing tests (kept here, not in tests/support.hpp, because only
// this folder forks).
#pragma once

#include <fmt/format.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <exception>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <system_error>
#include <thread>

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "process_owners.hpp"
#include "support.hpp"

namespace mp_test {

// True when this process has no child at all, running or zombie: waitpid(-1) fails with ECHILD.
// Every test ends with this check, so a test that forgets to reap a child fails (and the zombie it
// left is reaped here, so it cannot spoil the next test).
inline bool no_children_left() {
  int status = 0;
  const pid_t pid = ::waitpid(-1, &status, WNOHANG);
  return pid == -1 && errno == ECHILD;
}

// Timing claims need free cores: say why we skip, in the form ctest recognises (SKIP_REGULAR_EXPRESSION).
inline bool skip_without_two_cores(unsigned cores) {
  if (cores >= 2) return false;
  std::printf("SKIPPED: a speedup needs at least 2 cores, this machine has %u\n", cores);
  return true;
}

// The file descriptors open in this process (from /proc/self/fd, without the one used to read it).
inline std::set<int> open_descriptors() {
  std::set<int> fds;
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return fds;
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    const int fd = std::atoi(entry->d_name);
    if (fd != ::dirfd(dir)) fds.insert(fd);
  }
  ::closedir(dir);
  return fds;
}

// Lower this process's open-file limit (RLIMIT_NOFILE) so that exactly `more` new descriptors can be
// opened: a new descriptor takes the lowest free number, and the limit caps that number. The next
// pipe2() or open() after those fails with EMFILE. Works for root too (unlike RLIMIT_NPROC, which
// root ignores). Returns the old limit, to put back with setrlimit.
inline rlimit allow_only_more_descriptors(int more) {
  rlimit old{};
  ::getrlimit(RLIMIT_NOFILE, &old);
  const std::set<int> open = open_descriptors();
  rlim_t limit = 0;
  int free_below = 0;
  while (free_below < more) {
    if (open.count(static_cast<int>(limit)) == 0) ++free_below;
    ++limit;
  }
  rlimit lowered = old;
  lowered.rlim_cur = limit;
  ::setrlimit(RLIMIT_NOFILE, &lowered);
  return old;
}

// Make fork() fail with EAGAIN once `more` more processes exist. RLIMIT_NPROC caps the processes of
// this process's user, but root ignores it; so a root test process first becomes a user id that
// nothing else on the machine uses (its own pid + 200,000), where it is that user's only process.
// Returns false, and changes nothing, when this process is not root: a normal user's count includes
// every other program that user runs, so the limit would not be exact. Call it in a forked test
// process only: the process cannot become root again.
inline bool allow_only_more_processes(int more) {
  if (::geteuid() != 0) return false;
  const auto fresh_user = static_cast<uid_t>(200'000 + ::getpid());
  const rlimit limit{static_cast<rlim_t>(1 + more), static_cast<rlim_t>(1 + more)};
  if (::setrlimit(RLIMIT_NPROC, &limit) != 0 || ::setgid(fresh_user) != 0 || ::setuid(fresh_user) != 0) return false;
  ::prctl(PR_SET_DUMPABLE, 1);  // changing user hides /proc/self from the process unless it is dumpable
  return true;
}

// UBSan's vptr check (in the asan preset) tests whether memory is readable by writing it to a pipe
// of its own; at a lowered open-file limit that pipe fails and UBSan reports a false error. So the
// open-file variant of the "fails halfway" tests runs only without UBSan.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool descriptor_limit_usable = false;
#else
inline constexpr bool descriptor_limit_usable = true;
#endif

// How many SIGCHLD signals arrived since count_sigchld() was called (at least one per child that ended
// while counting, though signals that arrive together may count once): proof that a child existed.
inline volatile std::sig_atomic_t sigchld_count = 0;
inline void count_sigchld() {
  sigchld_count = 0;
  struct sigaction on_child {};
  on_child.sa_handler = [](int) { sigchld_count = sigchld_count + 1; };
  sigemptyset(&on_child.sa_mask);
  on_child.sa_flags = SA_RESTART;
  ::sigaction(SIGCHLD, &on_child, nullptr);
}

// Run `body` in a forked copy of this test process and return the text it returns (or what it
// threw). For what a test must not do to the test runner itself: lower its resource limits, point its
// stdout elsewhere, install signal handlers. Catch2's assertions do not work in the copy, so the body
// describes what it found as text and the test checks that text. The copy ends with _exit(); a copy
// that runs past `limit` is killed, so this never hangs.
inline std::string run_in_forked_test_process(const std::function<std::string()>& body,
                                              std::chrono::milliseconds limit = std::chrono::seconds(20)) {
  Pipe pipe = make_pipe();
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) return "fork failed";
  if (pid == 0) {
    int keep[] = {pipe.write_end.get()};  // the copy keeps stdin, stdout, stderr and its answer pipe
    if (!keep_only_descriptors(keep)) ::_exit(71);
    std::string answer;
    try {
      answer = body();
    } catch (const std::exception& e) {
      answer = std::string("threw: ") + e.what();
    } catch (...) {
      answer = "threw something";
    }
    ::_exit(write_all(keep[0], answer) ? 0 : 1);
  }
  OwnedChild copy(pid);
  pipe.write_end.reset();
  const auto deadline = std::chrono::steady_clock::now() + limit;
  const std::optional<std::string> text = read_until_eof(pipe.read_end.get(), deadline);
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  const std::optional<int> status = copy.wait_for(std::max(left, std::chrono::milliseconds(0)));
  if (!text || !status) return "the forked test process ran past its time limit: " + text.value_or("");
  if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0)
    return fmt::format("the forked test process ended badly (status {:#x}): {}", *status, *text);
  return *text;
}

// What runs out in a "fails halfway" test: open files (pipe2() fails with EMFILE) or processes
// (fork() fails with EAGAIN).
enum class Exhaust { descriptors, processes };

// In a forked test process, allow `more` more descriptors or processes, run `start` (which forks
// children and throws std::system_error when a pipe2() or fork() fails), and describe what it left:
// "ERROR; children forked: true; children left: false; descriptors leaked: false" is the good answer.
// Returns "skipped" when the limit cannot be set here (processes, when not root).
inline std::string fail_halfway(Exhaust what, int more, const std::function<void()>& start) {
  return run_in_forked_test_process([&] {
    const auto before = open_descriptors();
    count_sigchld();
    rlimit old{};
    ::getrlimit(RLIMIT_NOFILE, &old);
    if (what == Exhaust::descriptors) {
      allow_only_more_descriptors(more);
    } else if (!allow_only_more_processes(more)) {
      return std::string("skipped");
    }
    std::string error = "no exception";
    try {
      start();
    } catch (const std::system_error& e) {
      error = e.what();
    }
    ::setrlimit(RLIMIT_NOFILE, &old);
    return fmt::format("{}; children forked: {}; children left: {}; descriptors leaked: {}", error, sigchld_count > 0,
                       !no_children_left(), open_descriptors() != before);
  });
}

// The pids of this process's children, running or zombie (every /proc/PID/stat whose parent is us).
inline std::set<pid_t> children_of_this_process() {
  std::set<pid_t> children;
  DIR* dir = ::opendir("/proc");
  if (dir == nullptr) return children;
  while (const dirent* entry = ::readdir(dir)) {
    const int pid = std::atoi(entry->d_name);
    if (pid <= 0) continue;
    std::ifstream stat(fmt::format("/proc/{}/stat", pid));
    std::string line;
    if (!std::getline(stat, line)) continue;
    const auto paren = line.rfind(')');  // "PID (COMMAND) STATE PPID ...": the command may hold spaces
    if (paren == std::string::npos) continue;
    char state = 0;
    int parent = 0;
    if (std::sscanf(line.c_str() + paren + 1, " %c %d", &state, &parent) == 2 && parent == ::getpid())
      children.insert(pid);
  }
  ::closedir(dir);
  return children;
}

// For a time limit on waiting for children: in a forked copy of this test process, every child forked
// from then on first stalls for 10 s (a pthread_atfork handler), as a child stuck in a loop or a
// deadlock would: far past a limit of a few hundred milliseconds, yet bounded, so that code without a
// limit fails the test instead of leaving stuck children behind for ever. `call` forks the children
// and waits for them under `limit`; the answer says what happened. The good answer:
// "threw: WHAT; after the limit: true; within 5 s: true; children left: false".
inline std::string call_with_stalled_children(const std::function<void()>& call, std::chrono::milliseconds limit) {
  return run_in_forked_test_process([&] {
    ::pthread_atfork(nullptr, nullptr, [] { ::sleep(10); });
    const auto start = std::chrono::steady_clock::now();
    std::string outcome = "returned";
    try {
      call();
    } catch (const std::exception& e) {
      outcome = std::string("threw: ") + e.what();
    }
    const auto took = std::chrono::steady_clock::now() - start;
    return fmt::format("{}; after the limit: {}; within 5 s: {}; children left: {}", outcome, took >= limit,
                       took < std::chrono::seconds(5), !children_of_this_process().empty());
  });
}

// test_support::Watchdog for tests that fork: when the limit passes, it kills this process's children
// before ending the test program, so that a child stuck for ever (waiting on a lock that cannot work
// across processes, say) is not left behind, orphaned, when the test gives up.
class ChildrenWatchdog : public test_support::Watchdog {
 public:
  ChildrenWatchdog(std::chrono::milliseconds limit, std::string what)
      : Watchdog(limit, std::move(what), [] {
          const std::set<pid_t> children = children_of_this_process();
          for (const pid_t child : children) ::kill(child, SIGKILL);
          std::fprintf(stderr, "watchdog: killed %zu child processes it left behind\n", children.size());
        }) {}
};

}  // namespace mp_test
