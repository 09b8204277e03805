// process_pool_executor: a pool of worker processes, fed tasks and answering results as messages.
//
// What you will see: a small ProcessPool, written here so you can read all of it. It forks N workers
// up front; a task travels to a worker as one line of text on a pipe, and the result (with the
// worker's timeline span) comes back the same way. The same CPU-heavy job runs sequentially, then on
// the pool with submit() and an as_completed loop, then with map(), which keeps input order. The cost
// of one round trip is measured. Finally a worker dies mid-task, and the pool reports a clear error
// for that task instead of hanging; shutdown reaps every worker.
//
// Run it:   build/default/multiprocessing/process_pool_executor --workers 2 --tasks 12
// Build it by hand:
//   g++ -std=c++20 -O2 -I common multiprocessing/process_pool_executor.cpp -lfmt -pthread -o process_pool_executor
//
// Mirrors process_pool_executor.py from the Python playground:
//   ProcessPoolExecutor(max_workers=n)      -> ProcessPool pool(n)
//   future = pool.submit(f, x)              -> TaskHandle h = pool.submit(f, x)
//   future.result()                         -> pool.result(h) (with a time limit)
//   for f in as_completed(futures): ...     -> while (!pending.empty()) { h = pool.next_completed(pending); ... }
//   pool.map(f, xs)                         -> pool.map(f, xs) (results in input order)
//   pickling f and x                        -> a text line "task ID FUNCTION-NAME ARG"
//   BrokenProcessPool                       -> the exception BrokenProcessPool
//   with ProcessPoolExecutor() as pool:     -> ~ProcessPool() calls shutdown(): workers exit and are reaped
//
// What differs in C++: Python pickles the function and its arguments and sends the bytes to a worker;
// only data crosses the pipe, and the worker finds the function again *by name*. We do the same,
// explicitly: a task is a function name from a table plus a number, written as text. In C++ a thread
// pool would run these tasks in parallel too (no GIL); a process pool buys isolation: a worker that
// crashes takes down only itself, and the pool survives to tell you.
//
// The core, before the details: this is all a caller writes (section 3 does exactly this).
//
//   ProcessPool pool(2);                                   // fork 2 workers now
//   TaskHandle h = pool.submit(count_primes_in_block, 7);  // "task 0 count_primes_in_block 7\n" to a worker
//   long primes = pool.result(h, 30s);                     // wait for that worker's answer line
//   auto all = pool.map(count_primes_in_block, blocks);    // many tasks, results in input order
//
// How to read this file: the idea comes first, the machinery after. Section 1 is the work, section 2
// the pool as a caller sees it (what submit, result, next_completed, map and shutdown promise),
// sections 3 and 4 use it and measure it. You may stop there. Sections 5 to 7 are how the pool keeps
// its promises: writing whole lines to a pipe and parsing them, owners for descriptors and children,
// the worker's read-run-reply loop, and the parent's bookkeeping.

#include <fmt/ranges.h>  // prints a std::vector as [0, 1, 4]

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "playground.hpp"

using namespace std::chrono_literals;

// -------------------------------------------------------------------------------------------------
// 1. The work, and the table that names it
// -------------------------------------------------------------------------------------------------
// The CPU-heavy job: count the primes in one block of 100,000 numbers (block b holds
// [b x 100,000, (b + 1) x 100,000)). Later blocks cost more, so a pool that hands the next block to
// whichever worker is free balances the load by itself.
//
// A task names its function. Python pickles a function as its module and name, and the worker
// imports it; here the worker looks the name up in `pool_functions`. A worker is a fork of this
// program, so it has the same table. The small helpers let the tests and the demos show a fast task,
// a task that throws, a slow task, and a task that crashes its worker.

constexpr long pool_block_size = 100'000;

long count_primes_in_block(long block) {
  long count = 0;
  for (long n = std::max(2L, block * pool_block_size); n < (block + 1) * pool_block_size; ++n) {
    bool prime = true;
    for (long d = 2; d * d <= n; ++d) {
      if (n % d == 0) {
        prime = false;
        break;
      }
    }
    count += prime ? 1 : 0;
  }
  return count;
}

long square(long x) { return x * x; }

// A C++ exception in a task does not kill the worker: the worker catches it and sends its message
// back, and result() rethrows it in the parent (as Python re-raises a task's exception).
long integer_sqrt(long x) {
  if (x < 0) throw std::domain_error(fmt::format("integer_sqrt of negative number {}", x));
  long r = 0;
  while ((r + 1) * (r + 1) <= x) ++r;
  return r;
}

// C++ can throw any value, not only std::exception objects: the worker must catch that too.
long throw_a_number(long x) { throw x; }

// A message is text the task chose, and may hold anything, a line break included: here a second line
// that looks like the pool's own "done" reply for task x. The worker escapes a message before it goes
// on the one-line protocol (section 6), so it arrives whole and forges nothing.
long throw_two_lines(long x) { throw std::runtime_error(fmt::format("first line\ndone {} 999", x)); }

long sleep_ms_then_echo(long ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}

// abort() raises SIGABRT: the worker process dies mid-task, as it would on a failed assert() or a
// segmentation fault. (We put back the default SIGABRT action first, in case the program installed a
// handler, as a test runner does; and switch core files off.)
long crash_worker(long) {
  const rlimit no_core{0, 0};
  ::setrlimit(RLIMIT_CORE, &no_core);
  std::signal(SIGABRT, SIG_DFL);
  std::abort();
}

// PoolFunction names a type: a pointer to a function that takes a long and returns a long (Python:
// Callable[[int], int]). Every function a pool can run has that shape here.
using PoolFunction = long (*)(long);

struct NamedFunction {
  std::string_view name;
  PoolFunction function;
};

inline constexpr NamedFunction pool_functions[] = {
    {"count_primes_in_block", count_primes_in_block},
    {"square", square},
    {"integer_sqrt", integer_sqrt},
    {"throw_a_number", throw_a_number},
    {"throw_two_lines", throw_two_lines},
    {"sleep_ms_then_echo", sleep_ms_then_echo},
    {"crash_worker", crash_worker},
};

std::string_view name_of(PoolFunction f) {
  for (const auto& named : pool_functions)
    if (named.function == f) return named.name;
  throw std::invalid_argument("this function is not in pool_functions, so a worker could not find it");
}

PoolFunction function_named(std::string_view name) {
  for (const auto& named : pool_functions)
    if (named.name == name) return named.function;
  return nullptr;
}

// -------------------------------------------------------------------------------------------------
// 2. The pool, as a caller sees it
// -------------------------------------------------------------------------------------------------
// The parent side runs on the caller's thread only: there is no background thread. Work moves
// forward whenever the caller waits (result, next_completed, map, shutdown): the pool sends queued
// tasks to idle workers and reads whatever results have arrived. Each worker has at most one task at
// a time, so when a worker dies we know exactly which task it took with it, and a task line (far
// shorter than a pipe's 64 KiB buffer) never blocks the parent.
//
// When a worker dies (its result pipe reaches end of file), the pool does what Python's does: the
// task that worker was running fails with BrokenProcessPool and a message saying how the worker died;
// the pool is *broken*: tasks still queued fail the same way and submit() refuses new ones. Tasks
// already running on other workers still finish.
//
// Below, the class is only *declared*: each member with what it promises, as a Python reader would
// see it in a stub file or in help(ProcessPoolExecutor). C++ lets the definitions come later; they are
// in section 7, after everything they need.

// Python: class BrokenProcessPool(RuntimeError). The `using` line keeps runtime_error's constructor,
// which takes the message.
class BrokenProcessPool : public std::runtime_error {
  using std::runtime_error::runtime_error;
};
class TaskFailed : public std::runtime_error {  // the task threw: its message, from the worker
  using std::runtime_error::runtime_error;
};

// A handle is just the task's number. Python's Future object holds the result itself; here the pool
// keeps every outcome in a map keyed by that number, and the handle is how you ask for it.
struct TaskHandle {
  long id = -1;
  friend bool operator==(const TaskHandle&, const TaskHandle&) = default;  // equal when the ids are
};

// A forward declaration: the name of a class that is defined further down (section 5, with the
// plumbing). ProcessPool holds only a pointer to one, and a pointer does not need the whole class.
class SigpipeIgnored;

class ProcessPool {
 public:
  // Fork `workers` processes now. Do this before starting any thread: fork() copies only the calling
  // thread, and a child of a multi-threaded process may find a lock held forever by a thread that
  // does not exist in the child. If a fork() or pipe2() fails halfway (EAGAIN: too many processes;
  // EMFILE: too many open files), the constructor throws, and the owners of the workers forked so far
  // kill and reap them and close their pipes.
  explicit ProcessPool(int workers, pg::Timeline* timeline = nullptr);
  ProcessPool(const ProcessPool&) = delete;
  ProcessPool& operator=(const ProcessPool&) = delete;
  ~ProcessPool();  // shutdown()

  [[nodiscard]] std::vector<pid_t> worker_pids() const;
  // How each worker ended, once reaped ("exited with code 0" after a clean shutdown), else "".
  [[nodiscard]] std::vector<std::string> worker_endings() const;
  // The worker a task was sent to (0 while it waits in the queue or after it finished).
  [[nodiscard]] pid_t worker_running(TaskHandle h) const;
  [[nodiscard]] bool broken() const { return !broken_reason_.empty(); }
  // Where the workers' spans go from now on (nullptr: nowhere).
  void record_spans_in(pg::Timeline* timeline) { timeline_ = timeline; }

  // Queue a task and return at once; the handle is how you ask for its result. The function is turned
  // into its name here, in the parent, so an unregistered function fails now, with a clear message,
  // rather than later in a worker that cannot find it.
  TaskHandle submit(PoolFunction f, long arg);

  // Wait for a task's result (at most `limit`), then return it, or throw what the worker reported.
  // While it waits, pump() also moves every other task along: results of other tasks are stored as
  // they arrive, and freed workers get the next queued task.
  long result(TaskHandle h, std::chrono::milliseconds limit = 30s);

  // The as_completed step: wait until one of `pending` is done, remove it from `pending`, return it.
  // Calling it until `pending` is empty visits every task once, in the order they finished, which is
  // what Python's `for future in as_completed(futures)` does.
  TaskHandle next_completed(std::vector<TaskHandle>& pending, std::chrono::milliseconds limit = 30s);

  // Run f on every input; the results come back in input order, whatever order the tasks finish in.
  // Everything is submitted first, so all the workers are busy at once; then the results are collected
  // in input order. A result that arrives early simply waits in `outcomes_` until its turn.
  std::vector<long> map(PoolFunction f, const std::vector<long>& inputs, std::chrono::milliseconds limit = 60s);

  // Close every task pipe: each worker reads end of file and exits. Then read what is left on the
  // result pipes and reap every worker. A worker that does not exit in time is killed, so shutdown is
  // bounded too. Then SIGPIPE gets its old action back, if this was the last pool. Safe to call twice.
  void shutdown(std::chrono::milliseconds limit = 10s);

 private:
  struct Worker;  // one forked process, its two pipes, its task: defined in section 7
  struct Queued {
    long id;
    std::string function;
    long arg;
  };
  struct Outcome {
    bool done = false;
    bool broken = false;  // failed because a worker died
    long value = 0;
    std::string error;
  };

  // How the pool keeps its promises: section 7.
  Outcome& outcome(TaskHandle h);                         // a task's entry in outcomes_
  void start_worker();                                    // fork one worker, with its two pipes
  void dispatch();                                        // send queued tasks to idle workers
  void pump(pg::Clock::time_point deadline);              // wait for results, handle what arrived
  void handle_message(Worker& w, std::string_view text);  // one line from a worker
  void worker_died(Worker& w);                            // fail its task, break the pool
  void fail_queued(const std::string& why);               // fail every task still queued
  std::string reap(Worker& w);                            // collect its exit status, in words

  // Declared first, so it is destroyed last: SIGPIPE stays ignored until every worker is gone. A
  // pointer, so that its class can wait for section 5, with the rest of the plumbing.
  std::unique_ptr<SigpipeIgnored> sigpipe_ignored_;
  pg::Timeline* timeline_;
  std::vector<Worker> workers_;
  std::deque<Queued> queue_;
  std::map<long, Outcome> outcomes_;
  long next_id_ = 0;
  std::string broken_reason_;
  bool shut_down_ = false;
};

// -------------------------------------------------------------------------------------------------
// 3. Using it: sequential, submit + as_completed, map
// -------------------------------------------------------------------------------------------------

std::vector<long> blocks_sequentially(const std::vector<long>& blocks, pg::Timeline& timeline) {
  std::vector<long> counts;
  for (long b : blocks) {
    auto span = timeline.scope(fmt::format("count_primes_in_block({})", b));
    counts.push_back(count_primes_in_block(b));
  }
  return counts;
}

// submit every block, then take the results as they complete (Python: as_completed). Returns
// (block, count) pairs in completion order: the order is the workers', not ours.
std::vector<std::pair<long, long>> blocks_as_completed(ProcessPool& pool, const std::vector<long>& blocks) {
  std::map<long, long> block_of;  // task id -> block
  std::vector<TaskHandle> pending;
  for (long b : blocks) {
    const TaskHandle h = pool.submit(count_primes_in_block, b);
    block_of[h.id] = b;
    pending.push_back(h);
  }
  std::vector<std::pair<long, long>> done;
  while (!pending.empty()) {
    const TaskHandle h = pool.next_completed(pending);
    done.emplace_back(block_of[h.id], pool.result(h));
  }
  return done;
}

// -------------------------------------------------------------------------------------------------
// 4. What a round trip costs
// -------------------------------------------------------------------------------------------------
// Every task pays for two messages: formatting, two write() and two read() system calls, and waking
// up a sleeping process twice. That is microseconds to tens of microseconds (more when the worker
// runs on another core and has to be woken there), where calling square(x) directly takes a
// nanosecond. map() keeps every worker busy but each worker still holds one task at a time, so it
// does not make the trip cheaper. The lesson: give a pool chunks of work that take milliseconds.

struct RoundTrip {
  double one_at_a_time_us = 0;
  double pipelined_us = 0;
};

RoundTrip measure_round_trip(ProcessPool& pool, int tasks) {
  RoundTrip r;
  pg::Stopwatch one;
  for (int i = 0; i < tasks; ++i) pool.result(pool.submit(square, i));
  r.one_at_a_time_us = one.elapsed_ms() * 1000.0 / tasks;
  std::vector<long> inputs(static_cast<std::size_t>(tasks));
  for (int i = 0; i < tasks; ++i) inputs[static_cast<std::size_t>(i)] = i;
  pg::Stopwatch piped;
  pool.map(square, inputs);
  r.pipelined_us = piped.elapsed_ms() * 1000.0 / tasks;
  return r;
}

// map() against one task at a time, said the right way round: on a busy machine map() can come out
// slower, and "0.9x faster" would hide that.
std::string compare_per_task(const RoundTrip& cost) {
  const double ratio = cost.one_at_a_time_us / std::max(cost.pipelined_us, 1e-3);
  if (ratio >= 1.05) return fmt::format("map() is {:.1f}x faster per task", ratio);
  if (ratio <= 1 / 1.05) return fmt::format("map() is {:.1f}x slower per task", 1 / ratio);
  return "map() is about as fast per task (within 5%)";
}

// That is the whole idea. You may stop reading here: sections 5 to 7 are how the pool keeps its
// promises (whole lines over pipes, owners for descriptors and children, the worker's loop, and
// the parent's bookkeeping), for when you want to see every step.

// -------------------------------------------------------------------------------------------------
// 5. Plumbing: whole writes, whole lines; owning what we open; SIGPIPE
// -------------------------------------------------------------------------------------------------
// A pipe is a byte stream, not a message queue: one write() may arrive as two read()s, or two writes
// as one read. So each message is one line ending in '\n', and the reader keeps a buffer and takes out
// complete lines. write() may also write less than asked, and any call may be interrupted by a signal
// (EINTR): the helper loops.

bool pool_write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;  // EPIPE: nobody reads the other end any more
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Take the first complete line (without its '\n') out of `buffer`, if there is one.
std::optional<std::string> take_line(std::string& buffer) {
  const auto newline = buffer.find('\n');
  if (newline == std::string::npos) return std::nullopt;
  std::string line = buffer.substr(0, newline);
  buffer.erase(0, newline + 1);
  return line;
}

// A message travels on one line, so the line breaks inside it (and the backslash that marks them) are
// escaped on the way out, as "\n" and "\\", and put back on the way in.
std::string escape_line(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string unescape_line(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 1 < text.size()) {
      ++i;
      out += text[i] == 'n' ? '\n' : text[i];
    } else {
      out += text[i];
    }
  }
  return out;
}

// Parse a whole number from the front of `text` and drop it (and the space after it).
template <class Int>
bool take_number(std::string_view& text, Int& value) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{}) return false;
  text.remove_prefix(static_cast<std::size_t>(end - text.data()));
  if (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  return true;
}

// Every descriptor and every child the pool makes has an *owner* object (RAII, as in process_basics:
// the destructor gives the resource back on every path, including an exception). OwnedFd closes its
// descriptor. OwnedChild kills and reaps its child unless the pool already reaped it: if the pool's
// constructor fails while forking worker 3, workers 0-2 are killed and reaped, their pipes closed,
// and nothing is left behind. (A forked worker holds copies of these owners too, but it ends with
// _exit(), which runs no destructor, so it never closes or kills anything of its siblings.)

class OwnedFd {
 public:
  OwnedFd() = default;
  explicit OwnedFd(int fd) : fd_(fd) {}
  OwnedFd(OwnedFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  OwnedFd& operator=(OwnedFd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  OwnedFd(const OwnedFd&) = delete;
  OwnedFd& operator=(const OwnedFd&) = delete;
  ~OwnedFd() { reset(); }

  [[nodiscard]] int get() const { return fd_; }
  void reset() {  // close now (a no-op when already closed)
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

class OwnedChild {
 public:
  OwnedChild() = default;
  explicit OwnedChild(pid_t pid) : pid_(pid) {}
  OwnedChild(OwnedChild&& other) noexcept : pid_(std::exchange(other.pid_, 0)), reaped_(other.reaped_) {}
  OwnedChild& operator=(OwnedChild&& other) noexcept {
    if (this != &other) {
      kill_and_reap();
      pid_ = std::exchange(other.pid_, 0);
      reaped_ = other.reaped_;
    }
    return *this;
  }
  OwnedChild(const OwnedChild&) = delete;
  OwnedChild& operator=(const OwnedChild&) = delete;
  ~OwnedChild() { kill_and_reap(); }

  [[nodiscard]] pid_t pid() const { return pid_; }  // still known after reaping, for messages
  void mark_reaped() { reaped_ = true; }            // waitpid() has collected it: nothing left to do

 private:
  void kill_and_reap() noexcept {
    if (pid_ <= 0 || reaped_) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
  }

  pid_t pid_ = 0;
  bool reaped_ = false;
};

struct Pipe {
  OwnedFd read_end;
  OwnedFd write_end;
};

// O_CLOEXEC: close-on-exec. fork() keeps every descriptor, so a worker still gets its ends; but a
// program this process starts with exec (posix_spawn, system(), popen()) gets none of them. Without
// the flag, a program started while the pool is alive inherits every task pipe's write end, and the
// pool's shutdown is stuck: it closes its own write end, but the worker sees end of file only when
// *every* write end is closed, including the copy held by that unrelated program. (Measured: with a
// `sleep 30` started beside a 2-worker pool, shutdown waited its whole 10 s limit and then had to kill
// the workers; with O_CLOEXEC it takes a few milliseconds.)
Pipe make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe2");
  return {OwnedFd(fds[0]), OwnedFd(fds[1])};
}

// Writing to a pipe whose reader is dead raises SIGPIPE, whose default action kills *this* process.
// A dead worker must not kill the parent, so while a pool exists SIGPIPE is ignored, and write() fails
// with EPIPE instead, which the pool handles. (CPython ignores SIGPIPE at startup for the same reason.)
// The signal's action belongs to the whole process, and an ignored signal stays ignored across exec:
// a program started while it is ignored (`yes | head` run by system(), say) would get EPIPE errors
// where it expects to die quietly. So the pool ignores SIGPIPE only while a pool is alive, and the
// last pool to shut down puts back whatever action was there before. (A program that starts other
// programs while a pool is alive can reset SIGPIPE for them with posix_spawnattr_setsigdefault.)
// The count of live pools is shared by every pool, so a mutex guards it.
class SigpipeIgnored {
 public:
  SigpipeIgnored() {
    std::lock_guard lock(mutex_);
    if (users_++ > 0) return;
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    ::sigaction(SIGPIPE, &ignore, &saved_);
  }
  ~SigpipeIgnored() {
    std::lock_guard lock(mutex_);
    if (--users_ == 0) ::sigaction(SIGPIPE, &saved_, nullptr);
  }
  SigpipeIgnored(const SigpipeIgnored&) = delete;
  SigpipeIgnored& operator=(const SigpipeIgnored&) = delete;

 private:
  static inline std::mutex mutex_;
  static inline int users_ = 0;
  static inline struct sigaction saved_ {};
};

// -------------------------------------------------------------------------------------------------
// 6. The worker: a loop in a child process
// -------------------------------------------------------------------------------------------------
// The protocol, one line per message:
//   parent -> worker   "task ID NAME ARG"
//   worker -> parent   "done ID VALUE SPAN"   (SPAN: the worker's timeline span, pg::Timeline::encode)
//                      "error ID MESSAGE"     (the task threw, or the name is unknown; escape_line
//                                              keeps the message on one line)
// The worker reads tasks until end of file (the parent closed its end: shutdown), then _exit(0)s.
// It never returns: it is a forked copy of the parent, and returning would run the parent's code.
// A task's exception becomes an "error" reply, whatever was thrown (`catch (...)` catches anything,
// not only std::exception); start_worker() adds a last `catch (...)` around the whole worker, so even
// a failure outside a task ends in _exit, never in the parent's code.

[[noreturn]] void worker_main(int task_fd, int result_fd) {
  std::string buffer;
  char chunk[4096];
  for (;;) {
    while (auto line = take_line(buffer)) {
      std::string_view text = *line;
      long id = 0;
      long arg = 0;
      if (!text.starts_with("task ")) continue;
      text.remove_prefix(5);
      if (!take_number(text, id)) continue;
      const auto space = text.find(' ');
      const std::string_view name = text.substr(0, space);
      text.remove_prefix(std::min(text.size(), space + 1));
      take_number(text, arg);

      std::string reply;
      // The span is named after the call, e.g. "count_primes_in_block(3)": that is what a reader of
      // the timeline recognises (task ids keep counting across the demos).
      pg::Span span = pg::Timeline::start_span(fmt::format("{}({})", name, arg));
      if (PoolFunction f = function_named(name); f == nullptr) {
        reply = fmt::format("error {} no function named '{}' in this worker\n", id, name);
      } else {
        try {
          const long value = f(arg);
          span.end = pg::Clock::now();
          reply = fmt::format("done {} {} {}", id, value, pg::Timeline::encode(span));  // encode ends with '\n'
        } catch (const std::exception& e) {
          reply = fmt::format("error {} {}\n", id, escape_line(e.what()));
        } catch (...) {  // C++ can throw anything, even an int: it must not unwind out of the worker
          reply = fmt::format("error {} the task threw something that is not a std::exception\n", id);
        }
      }
      if (!pool_write_all(result_fd, reply)) ::_exit(1);  // the parent is gone
    }
    const ssize_t n = ::read(task_fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) ::_exit(0);  // end of file: the pool is shutting down
    buffer.append(chunk, static_cast<std::size_t>(n));
  }
}

// -------------------------------------------------------------------------------------------------
// 7. The pool inside: workers, dispatch, pump, deaths, shutdown
// -------------------------------------------------------------------------------------------------
// The definitions of what section 2 declared. A Worker is one child process, the two pipe ends the
// parent keeps, the task it runs, and the bytes read from it that are not yet a whole line.

struct ProcessPool::Worker {
  OwnedChild process;
  OwnedFd task_fd;    // parent writes tasks here
  OwnedFd result_fd;  // parent reads results here
  long task = -1;     // the task it is running, or -1 when idle
  bool alive = true;
  std::string ending;  // how it ended, once reaped
  std::string buffer;  // bytes read but not yet a whole line
};

ProcessPool::ProcessPool(int workers, pg::Timeline* timeline)
    : sigpipe_ignored_(std::make_unique<SigpipeIgnored>()), timeline_(timeline) {
  workers_.reserve(static_cast<std::size_t>(std::max(0, workers)));
  for (int i = 0; i < workers; ++i) start_worker();
}

ProcessPool::~ProcessPool() { shutdown(); }

std::vector<pid_t> ProcessPool::worker_pids() const {
  std::vector<pid_t> pids;
  for (const auto& w : workers_) pids.push_back(w.process.pid());
  return pids;
}

std::vector<std::string> ProcessPool::worker_endings() const {
  std::vector<std::string> endings;
  for (const auto& w : workers_) endings.push_back(w.ending);
  return endings;
}

pid_t ProcessPool::worker_running(TaskHandle h) const {
  for (const auto& w : workers_)
    if (w.alive && w.task == h.id) return w.process.pid();
  return 0;
}

TaskHandle ProcessPool::submit(PoolFunction f, long arg) {
  if (broken()) throw BrokenProcessPool("cannot submit: " + broken_reason_);
  if (shut_down_) throw std::logic_error("cannot submit: the pool was shut down");
  const TaskHandle h{next_id_++};
  queue_.push_back({h.id, std::string(name_of(f)), arg});
  outcomes_[h.id];  // not done yet
  dispatch();
  return h;
}

long ProcessPool::result(TaskHandle h, std::chrono::milliseconds limit) {
  const auto deadline = pg::Clock::now() + limit;
  while (!outcome(h).done) {
    if (pg::Clock::now() >= deadline) throw std::runtime_error(fmt::format("task {} timed out", h.id));
    pump(deadline);
  }
  const Outcome& o = outcome(h);
  if (o.broken) throw BrokenProcessPool(o.error);
  if (!o.error.empty()) throw TaskFailed(o.error);
  return o.value;
}

TaskHandle ProcessPool::next_completed(std::vector<TaskHandle>& pending, std::chrono::milliseconds limit) {
  const auto deadline = pg::Clock::now() + limit;
  for (;;) {
    for (auto it = pending.begin(); it != pending.end(); ++it) {
      if (outcome(*it).done) {
        const TaskHandle h = *it;
        pending.erase(it);
        return h;
      }
    }
    if (pg::Clock::now() >= deadline) throw std::runtime_error("next_completed timed out");
    pump(deadline);
  }
}

std::vector<long> ProcessPool::map(PoolFunction f, const std::vector<long>& inputs, std::chrono::milliseconds limit) {
  std::vector<TaskHandle> handles;
  for (long x : inputs) handles.push_back(submit(f, x));
  std::vector<long> results;
  for (const TaskHandle h : handles) results.push_back(result(h, limit));
  return results;
}

void ProcessPool::shutdown(std::chrono::milliseconds limit) {
  if (shut_down_) return;
  shut_down_ = true;
  const auto deadline = pg::Clock::now() + limit;
  for (auto& w : workers_) w.task_fd.reset();
  while (std::any_of(workers_.begin(), workers_.end(), [](const Worker& w) { return w.alive; }) &&
         pg::Clock::now() < deadline)
    pump(deadline);
  for (auto& w : workers_) {
    if (w.alive) {  // still running past the deadline: kill it; its task fails as BrokenProcessPool
      ::kill(w.process.pid(), SIGKILL);
      worker_died(w);
    }
    reap(w);
  }
  fail_queued("the pool was shut down");
  sigpipe_ignored_.reset();
}

ProcessPool::Outcome& ProcessPool::outcome(TaskHandle h) {
  auto it = outcomes_.find(h.id);
  if (it == outcomes_.end()) throw std::invalid_argument(fmt::format("no task {} in this pool", h.id));
  return it->second;
}

// Two pipes per worker, because a pipe carries bytes one way only: `tasks` from parent to worker,
// `results` back. After fork() each side closes the ends it does not use, so that the only write
// end of `tasks` is the parent's and the only write end of `results` is the worker's: closing one is
// then seen as end of file by the other (that is how shutdown and worker deaths are noticed).
void ProcessPool::start_worker() {
  Pipe tasks = make_pipe();
  Pipe results = make_pipe();
  // Flush stdio first: the worker gets a copy of this process's unwritten output buffer, and
  // anything in it would be written twice if the worker ever flushed it.
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
  if (pid == 0) {
    // In the worker: close the parent's ends of every earlier worker's pipes. If worker 2 kept
    // worker 1's task pipe open, closing it in the parent would never give worker 1 end of file.
    try {
      for (auto& w : workers_) {
        w.task_fd.reset();
        w.result_fd.reset();
      }
      tasks.write_end.reset();
      results.read_end.reset();
      worker_main(tasks.read_end.get(), results.write_end.get());
    } catch (...) {
    }
    ::_exit(70);  // only reached if something failed outside a task
  }
  Worker w;
  w.process = OwnedChild(pid);
  tasks.read_end.reset();
  results.write_end.reset();
  w.task_fd = std::move(tasks.write_end);
  w.result_fd = std::move(results.read_end);
  workers_.push_back(std::move(w));
}

// Send queued tasks to idle workers.
void ProcessPool::dispatch() {
  for (auto& w : workers_) {
    if (queue_.empty()) return;
    if (!w.alive || w.task >= 0 || w.task_fd.get() < 0) continue;
    const Queued q = queue_.front();
    queue_.pop_front();
    w.task = q.id;
    if (!pool_write_all(w.task_fd.get(), fmt::format("task {} {} {}\n", q.id, q.function, q.arg)))
      worker_died(w);  // EPIPE: it is dead already
  }
}

// Wait (until `deadline` at most) for messages from any live worker, and handle what arrived.
// poll() sleeps until at least one result pipe has bytes to read or has been closed, so the parent
// uses no CPU while the workers compute. A pipe that is readable may hold half a message, or two:
// bytes go into the worker's buffer and only complete lines are handled.
void ProcessPool::pump(pg::Clock::time_point deadline) {
  dispatch();
  std::vector<pollfd> fds;
  std::vector<Worker*> owners;
  for (auto& w : workers_) {
    if (!w.alive) continue;
    fds.push_back({w.result_fd.get(), POLLIN, 0});
    owners.push_back(&w);
  }
  if (fds.empty()) {  // no live worker: nothing can arrive; do not spin while the caller's deadline runs
    std::this_thread::sleep_for(1ms);
    return;
  }
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - pg::Clock::now());
  const int ready = ::poll(fds.data(), fds.size(), static_cast<int>(std::max<long>(0, left.count())));
  if (ready <= 0) return;  // timeout, or EINTR: the caller checks its deadline and asks again
  for (std::size_t i = 0; i < fds.size(); ++i) {
    if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
    Worker& w = *owners[i];
    char chunk[4096];
    const ssize_t n = ::read(w.result_fd.get(), chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {  // end of file: the worker exited (or was killed)
      worker_died(w);
      continue;
    }
    w.buffer.append(chunk, static_cast<std::size_t>(n));
    while (auto line = take_line(w.buffer)) handle_message(w, *line);
  }
  dispatch();
}

// One line from a worker: "done ID VALUE SPAN" or "error ID MESSAGE". A line that does not parse,
// or names a task we do not know, is ignored: the bytes come from another process, so they are
// checked like any input, never trusted.
void ProcessPool::handle_message(Worker& w, std::string_view text) {
  long id = 0;
  const bool done = text.starts_with("done ");
  if (!done && !text.starts_with("error ")) return;
  text.remove_prefix(done ? 5 : 6);
  if (!take_number(text, id) || outcomes_.count(id) == 0) return;
  Outcome& o = outcomes_[id];
  if (done) {
    take_number(text, o.value);
    if (auto span = pg::Timeline::decode(text); span && timeline_ != nullptr) timeline_->add(*span);
  } else {
    o.error = unescape_line(text);
  }
  o.done = true;
  if (w.task == id) w.task = -1;
}

// A worker's result pipe ended. Collect its exit status, fail its task, and break the pool.
void ProcessPool::worker_died(Worker& w) {
  w.alive = false;
  w.task_fd.reset();
  const std::string how = reap(w);
  const bool expected = shut_down_ && w.task < 0;  // an idle worker leaving at shutdown is normal
  if (expected) return;
  const std::string reason = fmt::format("worker process {} {} while running task {}", w.process.pid(), how, w.task);
  if (w.task >= 0) {
    Outcome& o = outcomes_[w.task];
    o = Outcome{true, true, 0, reason};
    w.task = -1;
  }
  if (broken_reason_.empty()) broken_reason_ = reason;
  fail_queued("the pool is broken: " + broken_reason_);
}

void ProcessPool::fail_queued(const std::string& why) {
  for (const auto& q : queue_) outcomes_[q.id] = Outcome{true, true, 0, why};
  queue_.clear();
}

// waitpid with a time limit, as in process_basics: the worker has closed its pipe, so it is exiting;
// if it has not exited within 2 s, kill it. Returns how it ended, in words.
std::string ProcessPool::reap(Worker& w) {
  w.task_fd.reset();
  w.result_fd.reset();
  w.alive = false;
  if (!w.ending.empty()) return w.ending;
  const pid_t pid = w.process.pid();
  int status = 0;
  const auto deadline = pg::Clock::now() + 2s;
  pid_t done = 0;
  while ((done = ::waitpid(pid, &status, WNOHANG)) == 0 || (done < 0 && errno == EINTR)) {
    if (pg::Clock::now() >= deadline) ::kill(pid, SIGKILL);
    std::this_thread::sleep_for(1ms);
  }
  w.process.mark_reaped();
  if (done < 0) {
    w.ending = "vanished";
  } else if (WIFSIGNALED(status)) {
    w.ending = fmt::format("was killed by signal {} ({})", WTERMSIG(status), ::strsignal(WTERMSIG(status)));
  } else {
    w.ending = fmt::format("exited with code {}", WEXITSTATUS(status));
  }
  return w.ending;
}

// -------------------------------------------------------------------------------------------------
// main
// -------------------------------------------------------------------------------------------------

#ifndef PLAYGROUND_NO_MAIN  // the tests include this file and bring their own main
int main(int argc, char** argv) {
  int workers = 2;
  int tasks = 12;
  int round_trips = 2'000;
  pg::Flags flags("process_pool_executor", "A process pool: tasks and results as messages over pipes.");
  flags.add("--workers", workers, "number of worker processes", 1, 64);
  flags.add("--tasks", tasks, "number of prime-counting blocks of 100,000 numbers (100: about 10 s)", 1, 100);
  flags.add("--round-trips", round_trips, "tiny tasks used to measure the cost of one round trip", 1, 100'000);
  std::string trace_path;
  flags.add("--trace", trace_path, "also write the timelines to this file for a trace viewer (ui.perfetto.dev)");
  if (auto status = flags.parse(argc, argv)) return *status;
  pg::TraceFile trace;
  if (auto status = trace.open(trace_path)) return *status;
  std::vector<long> blocks;
  for (long b = 0; b < tasks; ++b) blocks.push_back(b);

  pg::banner(fmt::format("1. Sequentially: {} blocks in this process", tasks));
  pg::Timeline sequential("sequential");
  pg::Stopwatch sequential_clock;
  const auto expected = blocks_sequentially(blocks, sequential);
  const double sequential_ms = sequential_clock.elapsed_ms();
  sequential.print();
  trace.add(sequential);
  fmt::print("  counts {}, took {:.0f} ms\n", expected, sequential_ms);

  pg::banner(fmt::format("2. submit + as_completed on {} worker processes", workers));
  pg::Timeline completed("as_completed");
  // The workers are forked here, as copies of this process; they wait for tasks on their pipes and
  // use no CPU until the first submit().
  ProcessPool pool(workers, &completed);  // forked here, before anything else could start a thread
  fmt::print("  worker pids {}\n", pool.worker_pids());
  pg::Stopwatch completed_clock;
  const auto finished = blocks_as_completed(pool, blocks);
  const double completed_ms = completed_clock.elapsed_ms();
  completed.print();
  trace.add(completed);
  fmt::print("  (block, count) in the order they completed: {}\n", finished);
  // The best a pool can do is min(workers, tasks, cores) times faster. A speedup below that has a
  // cause: other programs wanted the cores (the load average counts runnable programs, averaged over
  // the last minute, as `uptime` shows), or the tasks were too small to pay for their messages.
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  const unsigned ideal = std::min({static_cast<unsigned>(workers), static_cast<unsigned>(tasks), cores});
  const double speedup = sequential_ms / std::max(completed_ms, 1e-3);
  double load_average = 0;
  ::getloadavg(&load_average, 1);
  fmt::print("  took {:.0f} ms: speedup {:.1f}x over sequential (ideal: min({} workers, {} tasks, {} cores) = {}x)\n",
             completed_ms, speedup, workers, tasks, cores, ideal);
  if (speedup < 0.8 * ideal && load_average >= 0.5) {
    fmt::print("  below the ideal: the load average was {:.1f} on {} cores, so other programs held some of them\n",
               load_average, cores);
  } else if (speedup < 0.8 * ideal) {
    fmt::print("  below the ideal on an idle machine: the tasks were too short to pay for their messages\n");
  }

  pg::banner("3. map: the same work, results in input order");
  pg::Timeline mapping("map");
  pool.record_spans_in(&mapping);
  pg::Stopwatch map_clock;
  const auto mapped = pool.map(count_primes_in_block, blocks);
  const double map_ms = map_clock.elapsed_ms();
  pool.record_spans_in(nullptr);
  mapping.print();
  trace.add(mapping);
  fmt::print("  counts {}, took {:.0f} ms; same as sequential: {}\n", mapped, map_ms, mapped == expected);

  pg::banner("4. The cost of a round trip");
  const RoundTrip cost = measure_round_trip(pool, round_trips);
  fmt::print("  {} x square(x): {:.1f} us per task one at a time, {:.1f} us per task with map()\n", round_trips,
             cost.one_at_a_time_us, cost.pipelined_us);
  // Why map() helps so little here: it keeps every worker busy, but each worker holds one task at a
  // time, so each task still waits for its own trip there and back. At best the trips of the different
  // workers overlap: about `workers` times fewer microseconds per task, never fewer than one trip.
  fmt::print(
      "  {} (ideal: {}x faster, as its {} workers' trips overlap; but each worker still takes\n"
      "  one task at a time, and each task waits for its own round trip)\n",
      compare_per_task(cost), workers, workers);
  fmt::print("  a function call costs a few nanoseconds: send a pool work that takes milliseconds\n");

  pg::banner("5. Errors: a task that throws, a worker that dies");
  try {
    pool.result(pool.submit(integer_sqrt, -4));
  } catch (const TaskFailed& e) {
    fmt::print("  a task threw, the worker lives on: TaskFailed: {}\n", e.what());
  }
  // One worker will crash (SIGABRT) while the other runs a 100 ms task. The crashed worker's task fails
  // with BrokenProcessPool, the running task still completes, and the broken pool refuses new work.
  const TaskHandle doomed = pool.submit(crash_worker, 0);
  const TaskHandle bystander = pool.submit(sleep_ms_then_echo, 100);
  try {
    pool.result(doomed, 10s);
  } catch (const BrokenProcessPool& e) {
    fmt::print("  BrokenProcessPool: {}\n", e.what());
    fmt::print("  (task numbers count every task this pool was given, the round trips of part 4 included)\n");
  }
  try {
    fmt::print("  a task already running on another worker still finishes: {}\n", pool.result(bystander, 10s));
  } catch (const BrokenProcessPool& e) {
    fmt::print("  BrokenProcessPool: {}\n", e.what());
  }
  try {
    pool.submit(square, 3);
  } catch (const BrokenProcessPool& e) {
    fmt::print("  and new work is refused: {}\n", e.what());
  }
  pool.shutdown();
  fmt::print("  shutdown: every worker reaped; how each ended: {}\n", pool.worker_endings());

  if (!trace.write()) return 1;
  fmt::print(
      "\nTakeaway: a process pool sends data, not objects, over pipes; give it big tasks, and expect a worker\n"
      "to die someday: a good pool turns that into an error for the affected tasks, never a hang.\n");
  return 0;
}
#endif

// -------------------------------------------------------------------------------------------------
// Try this: predict what the output will show, then run it. The answers below were checked with
// g++ 12 on Linux, 2 cores.
// -------------------------------------------------------------------------------------------------
// 1. Run `build/default/multiprocessing/process_pool_executor --workers 1`. What order do the results
//    under "2. submit + as_completed" come in, and what speedup does it print?
//    Answer: block order, 0 to 11, and a speedup a little under 1x (0.8x measured, on a busy
//    machine): one worker does the blocks one after another, and each round trip over the pipes adds
//    to the sequential time.
//
// 2. Run it with `--tasks 1`. What speedup does "2. submit + as_completed" print?
//    Answer: below 1x (0.6x measured): one block goes to one worker while the other idles, and the
//    task still pays for its messages. A pool speeds up only work that can be split into several
//    pieces, each much longer than a round trip ("4. The cost of a round trip" prints what one costs).
//
// Next: multiprocessing/sharing_between_processes.cpp: what processes share (nothing, unless you ask)
// and how to share memory when you must.
