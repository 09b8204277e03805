// process_basics: a process is a running program with its own memory; fork() copies this one.
// New to C++ or Asio? PRIMER.md, at the top of the repository, explains the words used here with Python analogies.
//
// What you will see: a child made with fork() and waited for with waitpid(); a child that changes a
// global while the parent's copy stays as it was; a fresh program started with posix_spawn(), given
// arguments and read back through its exit status; a normal exit told apart from a crash (a signal);
// the same CPU-heavy job run in this process one chunk after another, then in several child processes
// at once, with a timeline of when each child ran (the children send their spans back over a pipe);
// and a zombie: a child that has exited but was not reaped yet.
//
// Run it:   build/default/multiprocessing/process_basics --jobs 4 --work 2000000
// Build it by hand:
//   g++ -std=c++20 -O2 -I common multiprocessing/process_basics.cpp -lfmt -pthread -o process_basics
//
// Mirrors process_basics.py from the Python playground:
//   Process(target=f, args=(x,)).start() -> fork(), then call f(x) in the child and _exit()
//   p.join()                             -> waitpid(pid, &status, 0) (here: with a time limit)
//   p.exitcode (negative = signal)       -> WIFEXITED/WEXITSTATUS, WIFSIGNALED/WTERMSIG
//   p.pid, os.getpid()                   -> the value fork() returned, getpid()
//   subprocess.Popen([...])              -> posix_spawnp(&pid, argv[0], ..., argv, environ)
//   returning a result from a Process    -> write it to a pipe, read it in the parent
//
// What differs in C++: there is no GIL, so plain threads already run CPU work in parallel (see
// threading/). In C++ you reach for processes for other reasons: isolation (a crash, a leak or a
// corrupted heap stays in the child), a separate address space, and running other programs. C++ has
// no `multiprocessing` module: this lesson uses the POSIX calls it is built on. fork() copies the
// calling process *as it is*, so fork before starting any thread, and a child ends with _exit(),
// never by returning into the parent's code.

#include <fmt/ranges.h>  // prints a std::vector as [0, 1, 4]

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "playground.hpp"
#include "process_owners.hpp"

extern char** environ;  // the environment, handed on to programs we start

using namespace std::chrono_literals;

// -------------------------------------------------------------------------------------------------
// 1. fork() and waitpid(): one call, two processes
// -------------------------------------------------------------------------------------------------
// fork() makes a copy of the calling process and returns twice: 0 in the child, the child's pid in
// the parent. The child starts with a copy of everything: memory, open files, and *unflushed stdio
// buffers*. That is why we call fflush(nullptr) first: otherwise text printed before the fork but not
// yet written out would be printed twice, once by each process.
//
// The child must end with _exit(), not return and not exit(): returning would carry on running the
// parent's code (in a test, the rest of the test runner), and exit() would run the parent's atexit
// handlers and static destructors a second time, in the child (Python's multiprocessing ends its
// children with os._exit for the same reason). _exit() does not flush stdio, so the child flushes what
// it printed. If the body throws, the exception must not escape the child either: `catch (...)`
// catches anything thrown (not only std::exception), and the child exits with code 70 (EX_SOFTWARE,
// "internal error").
//
// The child also inherits every descriptor the parent has open, and close-on-exec does not help: the
// child never calls exec. So before its body runs, the child keeps only the descriptors it is given
// in `keep` (they become 3, 4, ..., and the body receives the new numbers) and closes every other one
// (keep_only_descriptors(), in common/process_owners.hpp, explains how and why). The owner objects it
// inherited still hold the old numbers, but the child never uses them: _exit() runs no destructor.
//
// Who reaps the child? A pid is a resource, like an open file: until the parent collects its exit
// status, an exited child stays a zombie (section 6). So the parent does not keep a bare pid: it keeps
// an OwnedChild (from common/process_owners.hpp, with OwnedFd for descriptors), an *owner* whose
// destructor kills and reaps the child if nobody has. This is RAII, C++'s answer to Python's `with`:
// the cleanup runs whenever the owner goes out of scope, on every path, including an exception thrown
// halfway through a loop that has forked some children and not others.

template <class Body>
OwnedChild fork_child(Body&& body, std::initializer_list<int> keep = {}) {
  std::array<int, 4> kept{};  // a fixed array: the child may start by calling nothing but system calls
  if (keep.size() > kept.size()) throw std::invalid_argument("fork_child keeps at most 4 descriptors");
  std::copy(keep.begin(), keep.end(), kept.begin());
  const std::span<int> fds(kept.data(), keep.size());
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
  if (pid == 0) {  // in the child: every path ends in _exit
    if (!keep_only_descriptors(fds)) ::_exit(71);
    int code = 70;
    try {
      if constexpr (std::is_invocable_v<Body&>) {
        code = body();
      } else {
        code = body(std::span<const int>(fds));
      }
    } catch (...) {
      code = 70;
    }
    std::fflush(nullptr);
    ::_exit(code);
  }
  return OwnedChild(pid);  // in the parent
}

// waitpid() collects a child's exit status. Its status word packs two cases: the child exited (with
// a code 0-255), or it was killed by a signal (a crash: SIGSEGV, SIGABRT; or kill: SIGKILL). Python
// folds both into `exitcode` (negative for a signal); here we decode them into a small struct.
struct ChildExit {
  pid_t pid = 0;
  bool exited = false;     // it called exit/_exit or returned from main: `code` is valid
  int code = 0;            // exit code, when exited
  int signal = 0;          // the signal that ended it, when !exited
  bool timed_out = false;  // it ran past the time limit and we killed it

  [[nodiscard]] std::string describe() const {
    std::string what = exited ? fmt::format("exited with code {}", code)
                              : fmt::format("killed by signal {} ({})", signal, ::strsignal(signal));
    return timed_out ? what + " after running past its time limit" : what;
  }
};

ChildExit decode_wait_status(pid_t pid, int status) {
  ChildExit result;
  result.pid = pid;
  if (WIFEXITED(status)) {
    result.exited = true;
    result.code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
  }
  return result;
}

// A plain waitpid(pid, &status, 0) waits forever: a child stuck in a loop would hang the parent too.
// So we wait with a time limit: OwnedChild::wait_for() sleeps until the child ends or the limit
// passes (on Linux 5.3 and later it poll()s a pidfd, a descriptor that names the process; elsewhere it
// asks waitpid(WNOHANG) every millisecond). At the limit, the parent kills the child with SIGKILL,
// which cannot be caught or ignored, and collects it.
ChildExit wait_child(OwnedChild& child, std::chrono::milliseconds limit = 10s) {
  if (const std::optional<int> status = child.wait_for(limit)) return decode_wait_status(child.pid(), *status);
  ChildExit result = decode_wait_status(child.pid(), child.kill_and_reap().value_or(0));
  result.timed_out = true;
  return result;
}

// The first demo: the child says who it is and exits with code 0; the parent waits for it.
ChildExit hello_child() {
  const pid_t parent = ::getpid();
  OwnedChild child = fork_child([parent] {
    fmt::print("  child:  I am pid {}, my parent is pid {} (it said {})\n", ::getpid(), ::getppid(), parent);
    return 0;
  });
  fmt::print("  parent: I am pid {}, fork() gave me my child's pid: {}\n", parent, child.pid());
  return wait_child(child);
}

// -------------------------------------------------------------------------------------------------
// 2. Each process has its own memory
// -------------------------------------------------------------------------------------------------
// After fork() the child has a *copy* of the parent's memory (copied lazily, page by page, when
// either side writes: "copy on write"). A global changed in the child is changed in the child's copy
// only. The child reports what it saw through its exit code here, the smallest channel there is.

int process_basics_global = 10;  // a global variable: one per process, not one per program

struct MemoryDemo {
  int child_saw = 0;     // the global in the child, after the child added 5
  int parent_after = 0;  // the global in the parent, after the child finished
};

MemoryDemo show_separate_memory() {
  OwnedChild child = fork_child([] {
    process_basics_global += 5;  // changes the child's copy only
    return process_basics_global;
  });
  const ChildExit exit = wait_child(child);
  return {exit.exited ? exit.code : -1, process_basics_global};
}

// -------------------------------------------------------------------------------------------------
// 3. Arguments in, exit status out; starting a fresh program with posix_spawn
// -------------------------------------------------------------------------------------------------
// A forked child already has the arguments: they are variables the body captured, copied with the
// rest of memory (Python's `args=(x,)` exists because its `spawn` start method starts a fresh
// interpreter that has to be *told*). To run another program, a process calls exec, which replaces
// the program it runs; posix_spawn() does fork + exec in one call, safely and cheaply. When the
// program cannot be started, glibc's posix_spawn() returns an error (the demo shows ENOENT); POSIX
// also allows a system to start the child anyway and have it exit with code 127, as a shell does. Arguments go in as
// argv, the answer comes back as the exit status (or on a pipe, as in section 5).

struct SpawnResult {
  int error = 0;  // 0, or why the program could not be started (an errno value)
  ChildExit exit;
};

SpawnResult spawn_and_wait(const std::vector<std::string>& args, std::chrono::milliseconds limit = 10s) {
  std::vector<std::string> storage(args);  // posix_spawn wants mutable, null-terminated char* arrays
  std::vector<char*> argv;
  for (auto& arg : storage) argv.push_back(arg.data());
  argv.push_back(nullptr);

  std::fflush(nullptr);
  pid_t pid = 0;
  // posix_spawnp looks argv[0] up in PATH, like a shell does. It returns an error number itself
  // (it does not set errno).
  if (const int error = ::posix_spawnp(&pid, argv[0], nullptr, nullptr, argv.data(), environ); error != 0)
    return {error, {}};
  OwnedChild child(pid);
  return {0, wait_child(child, limit)};
}

// -------------------------------------------------------------------------------------------------
// 4. A normal exit, or a crash?
// -------------------------------------------------------------------------------------------------
// Three children end three ways. One returns an exit code. One crashes: it calls abort(), which is
// what a failed assert() and std::terminate() (an uncaught exception) do, and abort() raises SIGABRT.
// One is still running when the parent's
// time limit passes, so the parent kills it with SIGKILL. The crash stays in the child: the parent
// carries on and reads what happened from the status. We switch core dumps off in the crashing child,
// so it leaves no core file behind.

enum class ChildEnding { exit_code_3, crash, run_too_long };

[[noreturn]] void crash_like_a_failed_assert() {
  const rlimit no_core{0, 0};
  ::setrlimit(RLIMIT_CORE, &no_core);
  // The child inherited the parent's signal handlers. A plain program has none for SIGABRT, but a test
  // runner does (Catch2 reports crashes): put the default action back so the child dies as a plain
  // program would, without running the parent's handler.
  std::signal(SIGABRT, SIG_DFL);
  std::abort();
}

ChildExit run_child_that(ChildEnding ending, std::chrono::milliseconds limit = 10s) {
  OwnedChild child = fork_child([ending] {
    switch (ending) {
      case ChildEnding::exit_code_3:
        return 3;
      case ChildEnding::crash:
        crash_like_a_failed_assert();
      case ChildEnding::run_too_long:
        std::this_thread::sleep_for(60s);  // far longer than the parent will wait
        return 0;
    }
    return 0;
  });
  return wait_child(child, limit);
}

// -------------------------------------------------------------------------------------------------
// 5. CPU-heavy work: one chunk after another, then in parallel processes
// -------------------------------------------------------------------------------------------------
// The job: count the primes below `limit` by trial division (pure CPU work, no I/O). It is split into
// `jobs` chunks dealt like cards: the numbers go in blocks of 1,000, and chunk k takes blocks k,
// k + jobs, k + 2 x jobs, ... Big numbers cost more to test, so dealing the blocks round the table
// (rather than giving chunk 0 the low numbers) makes every chunk cost about the same.

constexpr long prime_block = 1'000;

bool is_prime(long n) {
  if (n < 2) return false;
  for (long d = 2; d * d <= n; ++d)
    if (n % d == 0) return false;
  return true;
}

long count_primes_in_chunk(long limit, int chunk, int jobs) {
  long count = 0;
  for (long block_start = chunk * prime_block; block_start < limit; block_start += jobs * prime_block)
    for (long n = block_start; n < std::min(limit, block_start + prime_block); ++n) count += is_prime(n) ? 1 : 0;
  return count;
}

// Sequentially: this process runs the chunks one after another.
std::vector<long> count_primes_sequentially(long limit, int jobs, pg::Timeline& timeline) {
  std::vector<long> counts;
  for (int chunk = 0; chunk < jobs; ++chunk) {
    auto span = timeline.scope(fmt::format("chunk {}", chunk));
    counts.push_back(count_primes_in_chunk(limit, chunk, jobs));
  }
  return counts;
}

// The child's answer travels back over a pipe: a one-way byte channel with a read end and a write
// end, both file descriptors (owned by OwnedFd: common/process_owners.hpp). Only bytes cross between
// processes, so the answer is written as text: a line "count N CPU_NS" (the primes, and the CPU time
// the child used, in nanoseconds), then the child's timeline span as one line (pg::Timeline::encode).
// The monotonic clock is the same in every process, so the parent can put the child's span straight
// onto its own timeline. write_all() and read_until_eof() loop until every byte has moved (a pipe may
// take or give fewer bytes than asked, and a signal may interrupt a call), and the reader has a
// deadline, so a child that never finishes cannot hang the parent. The pipes are close-on-exec, so a
// program this process starts later (posix_spawn, system()) does not inherit them.

// In parallel: one child process per chunk, all started before the parent waits for any of them.
// After fork() both processes hold both ends of the child's pipe. Each side closes the end it does
// not use: the parent closes the write end at once, so that when the child exits, the last write end
// is gone and the parent's read() sees end of file. The child keeps only its pipe's write end
// (fork_child's `keep`): every other descriptor it inherited, its own read end and its older
// siblings' read ends included, is closed before its body runs.
//
// The owners make the error paths safe: if fork() or pipe2() fails for chunk 3, the function throws,
// and the destructors of `children` and `read_ends` kill and reap chunks 0-2 and close their pipes.
struct ChildAnswer {
  long count = -1;
  double cpu_ms = 0;  // CPU time the child used, as it measured it
  pid_t pid = 0;
  ChildExit exit;
};

std::vector<ChildAnswer> count_primes_in_processes(long limit, int jobs, pg::Timeline& timeline,
                                                   std::chrono::milliseconds limit_per_run = 60s) {
  std::vector<OwnedFd> read_ends;
  std::vector<OwnedChild> children;
  for (int chunk = 0; chunk < jobs; ++chunk) {
    Pipe pipe = make_pipe();
    OwnedChild child = fork_child(
        [&, chunk](std::span<const int> kept) {  // kept[0]: this child's copy of the write end
          pg::Span span = pg::Timeline::start_span(fmt::format("chunk {}", chunk));
          const long count = count_primes_in_chunk(limit, chunk, jobs);
          span.end = pg::Clock::now();
          const long long cpu_ns = std::chrono::nanoseconds(pg::process_cpu_time()).count();  // CPU time, not wall
          return write_all(kept[0], fmt::format("count {} {}\n", count, cpu_ns) + pg::Timeline::encode(span)) ? 0 : 1;
        },
        {pipe.write_end.get()});
    pipe.write_end.reset();
    read_ends.push_back(std::move(pipe.read_end));
    children.push_back(std::move(child));
  }

  // Every child is running now. Collect the answers in chunk order (a slow chunk 0 only delays the
  // reading; the children keep running meanwhile), then reap each child.
  std::vector<ChildAnswer> answers(static_cast<std::size_t>(jobs));
  const auto deadline = pg::Clock::now() + limit_per_run;
  for (std::size_t i = 0; i < answers.size(); ++i) {
    auto text = read_until_eof(read_ends[i].get(), deadline);
    read_ends[i].reset();
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - pg::Clock::now());
    answers[i].pid = children[i].pid();
    answers[i].exit = wait_child(children[i], std::max(left, 1ms));
    if (!text) continue;
    const auto newline = text->find('\n');
    std::string_view first(text->data(), std::min(newline, text->size()));
    if (first.starts_with("count ")) {
      char* end = nullptr;
      answers[i].count = std::strtol(first.data() + 6, &end, 10);
      answers[i].cpu_ms = static_cast<double>(std::strtoll(end, nullptr, 10)) / 1e6;
    }
    if (newline == std::string::npos) continue;
    if (auto span = pg::Timeline::decode(std::string_view(*text).substr(newline + 1))) timeline.add(*span);
  }
  return answers;
}

// A speedup below the ideal is not a failure of processes: it has a cause, and the output names it.
// The ideal is min(processes, cores). Two causes are common. The machine was busy: other programs
// held some cores, so the children got less CPU than they asked for. The children's own numbers show
// it: their CPU time divided by the wall time of the run is how many cores they really used. Or the
// work was too small: the children did use the cores, but starting and reaping processes (about a
// millisecond each) cost as much as the work. Returns "" when the speedup is close to the ideal.
std::string explain_speedup(double speedup, int jobs, unsigned cores, double cores_used, double load_average) {
  const double ideal = std::min<double>(jobs, cores);
  if (speedup >= 0.8 * ideal) return "";
  if (cores_used < 0.8 * ideal)
    return fmt::format(
        "below the ideal {:.0f}x because the children got only {:.1f} cores' worth of CPU time; the load average "
        "was {:.1f}: other programs held the rest",
        ideal, cores_used, load_average);
  return fmt::format(
      "below the ideal {:.0f}x although the children used {:.1f} cores: the work was too small to pay for starting "
      "the processes (try a larger --work)",
      ideal, cores_used);
}

// -------------------------------------------------------------------------------------------------
// 6. Zombies, and why we reap
// -------------------------------------------------------------------------------------------------
// A child that has exited does not vanish: the kernel keeps its pid and exit status until the parent
// collects them with waitpid(). Until then it is a *zombie* (state Z in `ps`): it uses no memory or
// CPU, but it holds a pid and a slot in the process table, and a long-running parent that never reaps
// leaks them until fork() fails. Reaping is what p.join() does in Python. /proc/PID/stat shows the
// state; after waitpid() the pid is gone.

// The state letter of process `pid` (R running, S sleeping, Z zombie, ...), or 0 if there is none.
char process_state(pid_t pid) {
  std::ifstream stat(fmt::format("/proc/{}/stat", pid));
  std::string line;
  if (!std::getline(stat, line)) return 0;
  // "PID (COMMAND) STATE ...": the command may contain spaces and parentheses, so look after the last ')'.
  const auto paren = line.rfind(')');
  if (paren == std::string::npos || paren + 2 >= line.size()) return 0;
  return line[paren + 2];
}

struct ZombieDemo {
  pid_t pid = 0;
  char before_reaping = 0;  // 'Z' once the child has exited
  char after_reaping = 0;   // 0: the pid is gone
  ChildExit exit;
};

ZombieDemo show_zombie(std::chrono::milliseconds limit = 5s) {
  ZombieDemo demo;
  OwnedChild child = fork_child([] { return 0; });
  demo.pid = child.pid();
  // The child exits at once; give it up to `limit` to do so, without reaping it.
  const auto deadline = pg::Clock::now() + limit;
  while ((demo.before_reaping = process_state(demo.pid)) != 'Z' && pg::Clock::now() < deadline)
    std::this_thread::sleep_for(1ms);
  demo.exit = wait_child(child, limit);
  demo.after_reaping = process_state(demo.pid);
  return demo;
}

// -------------------------------------------------------------------------------------------------
// main: run the sections in order
// -------------------------------------------------------------------------------------------------

#ifndef PLAYGROUND_NO_MAIN  // the tests include this file and bring their own main
int main(int argc, char** argv) {
  int jobs = 4;
  long work = 2'000'000;
  pg::Flags flags("process_basics", "fork, waitpid, posix_spawn, exit statuses, parallel CPU work, zombies.");
  flags.add("--jobs", jobs, "number of chunks, and of child processes in section 5", 1, 64);
  flags.add("--work", work, "count the primes below this number in section 5 (10,000,000: about 10 s)", 2, 10'000'000);
  pg::TraceFile trace;
  trace.add_flags(flags);  // --trace FILE and --html FILE
  if (auto status = flags.parse(argc, argv)) return *status;
  if (auto status = trace.open()) return *status;
  // This program never starts a thread, so every fork() below copies a single-threaded process, and
  // the children may call anything (fmt, malloc) before they _exit().

  pg::banner("1. fork() and waitpid()");
  fmt::print("  the child {}\n", hello_child().describe());

  pg::banner("2. Each process has its own memory");
  const MemoryDemo memory = show_separate_memory();
  fmt::print("  the global started at 10; the child added 5 and saw {}; the parent still sees {}\n", memory.child_saw,
             memory.parent_after);

  pg::banner("3. Arguments in, exit status out: posix_spawn a fresh program");
  const std::vector<std::string> command = {"sh", "-c", "echo \"  sh (pid $$) got: $*\"; exit $(($1 * $2))",
                                            "sh", "6",  "7"};
  const SpawnResult spawned = spawn_and_wait(command);
  if (spawned.error != 0) {
    fmt::print("  could not start sh: {}\n", std::strerror(spawned.error));
  } else {
    fmt::print("  sh {} (6 x 7, passed in as arguments)\n", spawned.exit.describe());
  }
  const SpawnResult missing = spawn_and_wait({"no-such-program-here"});
  fmt::print("  starting a program that does not exist: {}\n", std::strerror(missing.error));

  pg::banner("4. A normal exit, or a crash?");
  fmt::print("  a child that returns 3:            {}\n", run_child_that(ChildEnding::exit_code_3).describe());
  fmt::print("  a child that calls abort():        {}\n", run_child_that(ChildEnding::crash).describe());
  fmt::print("  a child that sleeps for a minute:  {}\n", run_child_that(ChildEnding::run_too_long, 200ms).describe());
  fmt::print("  the parent is fine: a crash in a child stays in the child\n");

  pg::banner(fmt::format("5. Counting primes below {}: {} chunks, then {} processes", work, jobs, jobs));
  pg::Timeline sequential("sequential");
  pg::Stopwatch sequential_clock;
  const auto counts = count_primes_sequentially(work, jobs, sequential);
  const double sequential_ms = sequential_clock.elapsed_ms();
  sequential.print();
  trace.add(sequential);
  long total = 0;
  for (long c : counts) total += c;
  fmt::print("  in this process: {} primes (chunks {}), took {:.0f} ms\n\n", total, counts, sequential_ms);

  double load_average = 0;  // runnable processes, averaged over the last minute (as `uptime` shows)
  ::getloadavg(&load_average, 1);
  pg::Timeline parallel("processes");
  pg::Stopwatch parallel_clock;
  const auto answers = count_primes_in_processes(work, jobs, parallel);
  const double parallel_ms = parallel_clock.elapsed_ms();
  parallel.print();
  trace.add(parallel);
  long parallel_total = 0;
  double children_cpu_ms = 0;
  for (const auto& a : answers) {
    fmt::print("  child pid {} answered {} after {:.0f} ms of CPU time, {}\n", a.pid, a.count, a.cpu_ms,
               a.exit.describe());
    parallel_total += a.count;
    children_cpu_ms += a.cpu_ms;
  }
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  const double speedup = sequential_ms / std::max(parallel_ms, 1e-3);
  const double cores_used = children_cpu_ms / std::max(parallel_ms, 1e-3);
  fmt::print(
      "  in {} processes: {} primes, took {:.0f} ms; speedup {:.1f}x (ideal: min({} processes, {} cores) = {}x)\n",
      jobs, parallel_total, parallel_ms, speedup, jobs, cores, std::min<unsigned>(jobs, cores));
  fmt::print("  the children used {:.1f} cores on average (their CPU time / the wall time)\n", cores_used);
  if (const auto why = explain_speedup(speedup, jobs, cores, cores_used, load_average); !why.empty())
    fmt::print("  {}\n", why);

  pg::banner("6. Zombies, and why we reap");
  const ZombieDemo zombie = show_zombie();
  fmt::print("  child {} has exited; before waitpid its state is '{}' (a zombie)\n", zombie.pid,
             zombie.before_reaping == 0 ? '?' : zombie.before_reaping);
  fmt::print("  after waitpid ({}), /proc/{} is {}\n", zombie.exit.describe(), zombie.pid,
             zombie.after_reaping == 0 ? "gone: the pid is free again" : "still there");

  if (!trace.write()) return 1;
  fmt::print(
      "\nTakeaway: fork() copies the process, memory and all; the child _exit()s and the parent reaps it\n"
      "with waitpid(). In C++, choose processes for isolation, not for parallelism: threads already have that.\n");
  return 0;
}
#endif

// -------------------------------------------------------------------------------------------------
// Try this: change one thing, predict what the output will show, then run it. The answers below were
// checked with g++ 12 on Linux. Rebuild with `cmake --build build/default --target
// process_basics`, and undo a change with `git checkout multiprocessing/process_basics.cpp`.
// -------------------------------------------------------------------------------------------------
// 1. In count_primes_in_processes, the parent closes its copy of each pipe's write end with
//    `pipe.write_end.reset();` (the line after the fork_child call). Delete that line and run
//    `build/default/multiprocessing/process_basics --jobs 2 --work 200000`: what changes? Then put it
//    back and, instead, keep the write ends: declare `std::vector<OwnedFd> kept_write_ends;` next to
//    `read_ends`, and replace the line with `kept_write_ends.push_back(std::move(pipe.write_end));`.
//    Answer: deleting the line changes nothing: `pipe` is a local of the loop, and at the end of each
//    turn its owner (OwnedFd) closes the write end anyway. Keeping the write ends alive makes section 5
//    take a full minute, then print "processes: no spans recorded", "answered -1" for every child and
//    "-2 primes". The children finished in milliseconds and exited with code 0, but read() sees end
//    of file only when every write end is closed, and the parent still holds one of each: it waits
//    for itself until its 60 s deadline. Close the ends you do not use.
//
// 2. In fork_child, delete the line `std::fflush(nullptr);`, then run
//    `build/default/multiprocessing/process_basics --jobs 2 --work 200000 | cat`.
//    Answer: section 5's "in this process: ... primes" line appears three times. With stdout going to
//    a pipe, printed text waits in a buffer; each fork copies that buffer, and the parent and both
//    children each write it out. In a terminal stdout is flushed at every newline, so nothing is
//    repeated there: the bug shows up only when the output is redirected.
//
// Next: multiprocessing/process_pool_executor.cpp: a pool of worker processes, tasks and results as
// messages over pipes.
