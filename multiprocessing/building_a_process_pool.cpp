// building_a_process_pool: how the ProcessPool of process_pool_executor works inside: forked workers,
// two pipes each, one line of text per message, and end of file as the news that a worker is gone.
//
// What you will see: one worker made by hand (fork, two pipes, task lines out, reply lines back, end
// of file to say goodbye); then two pools at once: why a worker must close what it does not need.
//
// Run it:   build/default/multiprocessing/building_a_process_pool
// Build it by hand:
//   g++ -std=c++20 -O2 -I common multiprocessing/building_a_process_pool.cpp -lfmt -pthread -o building_a_process_pool
//
// Mirrors the inside of Python's concurrent.futures.ProcessPoolExecutor:
//   the call queue and result queue (pipes)  -> two pipes per worker, one line per message
//   pickling the function and its argument   -> "task ID NAME ARG": the worker finds NAME in a table
//   _process_worker (the worker's loop)      -> worker_main(): read a line, run it, write a reply
//   the executor's manager thread            -> pump(), run on the caller's thread while it waits
//   "A process in the process pool was terminated abruptly" -> end of file on the result pipe
//
// How to read this file: sections 1 to 3 are the idea; sections 4 and 5 are plumbing, safe to skip at
// first. The owners of descriptors and children (common/process_owners.hpp) come from process_basics.

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "playground.hpp"
// OwnedFd, OwnedChild, make_pipe, write_all, read_until_eof, keep_only_descriptors, and the headers
// they need (<chrono>, <optional>, <span>, <thread>, <poll.h>, <sys/wait.h>, <unistd.h>, ...).
#include "process_owners.hpp"

using namespace std::chrono_literals;

// -------------------------------------------------------------------------------------------------
// 1. The protocol, and the worker's loop
// -------------------------------------------------------------------------------------------------
// A pipe carries bytes one way, so each worker has two: tasks from the parent, results back. A pipe
// is a byte stream, not a message queue (one write may arrive as two reads, two writes as one read),
// so every message is one line of text ending in '\n':
//   parent -> worker   "task ID NAME ARG"
//   worker -> parent   "done ID VALUE SPAN"   (SPAN: the worker's timeline span, pg::Timeline::encode)
//                      "error ID MESSAGE"     (the task threw; the message escaped to stay on one line)
// A worker is a fork of this program, so it has the same table of functions (pool_functions()) and
// finds NAME there, as Python's worker imports a pickled function by its module and name.
//
// The worker reads tasks until end of file (the parent closed its end: shutdown), then _exit(0)s. It
// never returns: it is a copy of the parent, and returning would run the parent's code. A task's
// exception becomes an "error" reply, whatever was thrown (`catch (...)` catches even an int).

using PoolFunction = long (*)(long);  // a pointer to a function from long to long: Callable[[int], int]
struct NamedFunction {
  std::string_view name;
  PoolFunction function;
};

// The table of functions a worker can run. Like main(), it is declared here and defined by the
// program: at the end of this file for this lesson, in process_pool_executor.cpp for that one.
std::span<const NamedFunction> pool_functions();

// Declared here, defined with the plumbing (C++ needs a name declared before its use):
PoolFunction function_named(std::string_view name);
std::optional<std::string> take_line(std::string& buffer);
template <class Int>
bool take_number(std::string_view& text, Int& value);
std::string escape_line(std::string_view text);
std::string unescape_line(std::string_view text);

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
      // the timeline recognises.
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
        } catch (...) {
          reply = fmt::format("error {} the task threw something that is not a std::exception\n", id);
        }
      }
      if (!write_all(result_fd, reply)) ::_exit(1);  // the parent is gone
    }
    const ssize_t n = ::read(task_fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) ::_exit(0);  // end of file: the pool is shutting down
    buffer.append(chunk, static_cast<std::size_t>(n));
  }
}

// -------------------------------------------------------------------------------------------------
// 2. The pool: what it promises
// -------------------------------------------------------------------------------------------------
// No background thread: work moves forward whenever the caller waits (result, next_completed, map,
// shutdown). Each worker has at most one task at a time, so when a worker dies the pool knows which
// task it took with it, and a task line (far shorter than a pipe's 64 KiB buffer) never blocks.

class BrokenProcessPool : public std::runtime_error {  // a worker died: Python's BrokenProcessPool
  using std::runtime_error::runtime_error;             // (keeps runtime_error's constructor)
};
class TaskFailed : public std::runtime_error {  // the task threw: its message, from the worker
  using std::runtime_error::runtime_error;
};

// A handle is the task's number; the pool keeps every outcome in a map keyed by it.
struct TaskHandle {
  long id = -1;
};

class SigpipeIgnored;  // defined with the plumbing; the pool holds only a pointer to one

class ProcessPool {
 public:
  // Fork `workers` processes now, before any thread starts (fork() copies only the calling thread).
  // If a fork() or pipe2() fails halfway, the constructor throws, and the owners of the workers forked
  // so far kill and reap them and close their pipes.
  explicit ProcessPool(int workers, pg::Timeline* timeline = nullptr);
  ProcessPool(const ProcessPool&) = delete;
  ProcessPool& operator=(const ProcessPool&) = delete;
  ~ProcessPool();  // shutdown()

  [[nodiscard]] std::vector<pid_t> worker_pids() const {
    std::vector<pid_t> pids;
    for (const auto& w : workers_) pids.push_back(w.process.pid());
    return pids;
  }
  [[nodiscard]] std::vector<std::string> worker_endings() const {  // "exited with code 0", once reaped
    std::vector<std::string> endings;
    for (const auto& w : workers_) endings.push_back(w.ending);
    return endings;
  }
  [[nodiscard]] bool broken() const { return !broken_reason_.empty(); }
  void record_spans_in(pg::Timeline* timeline) { timeline_ = timeline; }  // nullptr: nowhere

  // Queue a task and return at once. An unregistered function fails here, not in a worker.
  TaskHandle submit(PoolFunction f, long arg);
  // Wait for a task's result (at most `limit`), or throw what the worker reported.
  long result(TaskHandle h, std::chrono::milliseconds limit = 30s);
  // Python's as_completed and map, built on submit() and result(): process_pool_executor.cpp defines
  // them, next to their use. (A member that is never called needs no definition in this program.)
  TaskHandle next_completed(std::vector<TaskHandle>& pending, std::chrono::milliseconds limit = 30s);
  std::vector<long> map(PoolFunction f, const std::vector<long>& inputs, std::chrono::milliseconds limit = 60s);
  // Close every task pipe, let each worker read end of file and exit, and reap it; a worker that does
  // not exit within `limit` is killed. Then SIGPIPE gets its old action back. Safe to call twice.
  void shutdown(std::chrono::milliseconds limit = 10s);

 private:
  struct Worker {
    OwnedChild process;
    OwnedFd task_fd;    // parent writes tasks here
    OwnedFd result_fd;  // parent reads results here
    long task = -1;     // the task it is running, or -1 when idle
    bool alive = true;
    std::string ending;  // how it ended, once reaped
    std::string buffer;  // bytes read but not yet a whole line
  };
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

  Outcome& outcome(TaskHandle h);                         // a task's entry in outcomes_
  void start_worker();                                    // fork one worker, with its two pipes
  void dispatch();                                        // send queued tasks to idle workers
  void pump(pg::Clock::time_point deadline);              // wait for results, handle what arrived
  void handle_message(Worker& w, std::string_view text);  // one line from a worker
  void worker_died(Worker& w);                            // fail its task, break the pool
  void fail_queued(const std::string& why);               // fail every task still queued
  std::string reap(Worker& w);                            // collect its exit status, in words

  // Declared first, so it is destroyed last: SIGPIPE stays ignored until every worker is gone.
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
// 3. The parent's side: fork a worker, wait with poll(), learn of a death from end of file
// -------------------------------------------------------------------------------------------------
// A pipe's reader sees end of file only when *every* copy of its write end is closed, in every
// process. That is how both sides learn that the other is gone: the parent closes a task pipe and its
// worker reads end of file (shutdown); a worker exits or is killed, the kernel closes its result pipe,
// and the parent reads end of file (a death). Both work only if nobody else holds a copy of those
// ends. fork() copies every descriptor the parent has, so a new worker would otherwise hold its
// siblings' pipe ends, and those of any other pool alive in the process: its first act is to keep
// only its own two ends, as descriptors 3 and 4, and close the rest (keep_only_descriptors).

void ProcessPool::start_worker() {
  Pipe tasks = make_pipe();
  Pipe results = make_pipe();
  std::fflush(nullptr);  // or the worker's copy of unwritten output might be written a second time
  const pid_t pid = ::fork();
  if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
  if (pid == 0) {
    int keep[] = {tasks.read_end.get(), results.write_end.get()};
    if (!keep_only_descriptors(keep)) ::_exit(71);
    try {
      worker_main(keep[0], keep[1]);
    } catch (...) {
    }
    ::_exit(70);  // only reached if something failed outside a task
  }
  Worker w;
  w.process = OwnedChild(pid);
  w.task_fd = std::move(tasks.write_end);
  w.result_fd = std::move(results.read_end);
  workers_.push_back(std::move(w));  // the ends the worker uses close here, at the end of scope
}

// Wait (until `deadline` at most) for messages from any live worker, and handle what arrived.
// poll() sleeps until at least one result pipe has bytes to read or has been closed, so the parent
// uses no CPU while the workers compute. A readable pipe may hold half a message, or two: bytes go
// into the worker's buffer and only complete lines are handled.
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
  const int ready = ::poll(fds.data(), fds.size(), ms_until(deadline));
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

// One line from a worker: "done ID VALUE SPAN" or "error ID MESSAGE". A line that does not parse, or
// names a task we do not know, is ignored: the bytes come from another process, so they are checked
// like any input, never trusted.
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

// A worker's result pipe ended. Collect its exit status, fail its task, and break the pool, as
// Python's does: the queued tasks fail too and submit() refuses new ones; tasks running on other
// workers still finish.
void ProcessPool::worker_died(Worker& w) {
  w.alive = false;
  w.task_fd.reset();
  const std::string how = reap(w);
  if (shut_down_ && w.task < 0) return;  // an idle worker leaving at shutdown is normal
  const std::string reason = fmt::format("worker process {} {} while running task {}", w.process.pid(), how, w.task);
  if (w.task >= 0) {
    outcomes_[w.task] = Outcome{true, true, 0, reason};
    w.task = -1;
  }
  if (broken_reason_.empty()) broken_reason_ = reason;
  fail_queued("the pool is broken: " + broken_reason_);
}

void ProcessPool::shutdown(std::chrono::milliseconds limit) {
  if (shut_down_) return;
  shut_down_ = true;
  const auto deadline = pg::Clock::now() + limit;
  for (auto& w : workers_) w.task_fd.reset();  // each worker reads end of file and exits
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

// That is the idea. Sections 4 and 5 are plumbing, safe to skip on a first reading: the functions a
// worker can run, the line helpers, SIGPIPE, and the pool's bookkeeping.

// -------------------------------------------------------------------------------------------------
// 4. Plumbing: small tasks, a function's name, lines and escapes, SIGPIPE
// -------------------------------------------------------------------------------------------------

long square(long x) { return x * x; }

// A message may hold anything, a line break included: here a second line that looks like the pool's
// own "done" reply for task x. Escaped, it arrives whole and forges nothing.
long throw_two_lines(long x) { throw std::runtime_error(fmt::format("first line\ndone {} 999", x)); }

long sleep_ms_then_echo(long ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}

long descriptors_open_in(pid_t pid) {  // as /proc/PID/fd lists them
  return std::distance(std::filesystem::directory_iterator(fmt::format("/proc/{}/fd", pid)), {});
}

std::string_view name_of(PoolFunction f) {
  for (const auto& named : pool_functions())
    if (named.function == f) return named.name;
  throw std::invalid_argument("this function is not in pool_functions, so a worker could not find it");
}

PoolFunction function_named(std::string_view name) {
  for (const auto& named : pool_functions())
    if (named.name == name) return named.function;
  return nullptr;
}

// Take the first complete line (without its '\n') out of `buffer`, if there is one.
std::optional<std::string> take_line(std::string& buffer) {
  const auto newline = buffer.find('\n');
  if (newline == std::string::npos) return std::nullopt;
  std::string line = buffer.substr(0, newline);
  buffer.erase(0, newline + 1);
  return line;
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

// A message travels on one line, so the line breaks inside it (and the backslash that marks them) are
// escaped on the way out, as "\n" and "\\", and put back on the way in.
std::string escape_line(std::string_view text) {
  std::string out;
  for (char c : text) out += c == '\\' ? std::string("\\\\") : c == '\n' ? std::string("\\n") : std::string(1, c);
  return out;
}

std::string unescape_line(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const bool escaped = text[i] == '\\' && i + 1 < text.size();
    if (escaped) ++i;  // the character after the backslash: 'n' for a line break, else itself
    out += escaped && text[i] == 'n' ? '\n' : text[i];
  }
  return out;
}

// Writing to a pipe whose reader is dead raises SIGPIPE, whose default action kills *this* process. So
// while a pool exists SIGPIPE is ignored, and write() fails with EPIPE instead, which the pool handles
// (CPython ignores SIGPIPE at startup for the same reason). An ignored signal stays ignored across
// exec, and a program started then (`yes | head` run by system()) would get EPIPE where it expects to
// die quietly: so the last pool to shut down puts back the old action. The count of live pools is
// shared by every pool (`static inline` members: one variable per program, not per object), so a
// mutex guards it.
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
// 5. Plumbing: the pool's bookkeeping
// -------------------------------------------------------------------------------------------------

ProcessPool::ProcessPool(int workers, pg::Timeline* timeline)
    : sigpipe_ignored_(std::make_unique<SigpipeIgnored>()), timeline_(timeline) {
  workers_.reserve(static_cast<std::size_t>(std::max(0, workers)));
  for (int i = 0; i < workers; ++i) start_worker();
}

ProcessPool::~ProcessPool() { shutdown(); }

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

ProcessPool::Outcome& ProcessPool::outcome(TaskHandle h) {
  auto it = outcomes_.find(h.id);
  if (it == outcomes_.end()) throw std::invalid_argument(fmt::format("no task {} in this pool", h.id));
  return it->second;
}

void ProcessPool::dispatch() {
  for (auto& w : workers_) {
    if (queue_.empty()) return;
    if (!w.alive || w.task >= 0 || w.task_fd.get() < 0) continue;
    const Queued q = queue_.front();
    queue_.pop_front();
    w.task = q.id;
    if (!write_all(w.task_fd.get(), fmt::format("task {} {} {}\n", q.id, q.function, q.arg)))
      worker_died(w);  // EPIPE: it is dead already
  }
}

void ProcessPool::fail_queued(const std::string& why) {
  for (const auto& q : queue_) outcomes_[q.id] = Outcome{true, true, 0, why};
  queue_.clear();
}

// The worker has closed its result pipe, so it is exiting: wait for it (2 s at most, then kill it),
// and say how it ended, in words.
std::string ProcessPool::reap(Worker& w) {
  w.task_fd.reset();
  w.result_fd.reset();
  w.alive = false;
  if (!w.ending.empty()) return w.ending;
  std::optional<int> status;
  try {
    status = w.process.wait_for(2s);
    if (!status) status = w.process.kill_and_reap();
  } catch (const std::system_error&) {  // reaped by someone else
  }
  if (!status) {
    w.ending = "vanished";
  } else if (WIFSIGNALED(*status)) {
    w.ending = fmt::format("was killed by signal {} ({})", WTERMSIG(*status), ::strsignal(WTERMSIG(*status)));
  } else {
    w.ending = fmt::format("exited with code {}", WEXITSTATUS(*status));
  }
  return w.ending;
}

// -------------------------------------------------------------------------------------------------
// main
// -------------------------------------------------------------------------------------------------

#ifndef PROCESS_POOL_ONLY  // process_pool_executor.cpp includes this file for its pool, with its own table

inline constexpr NamedFunction lesson_functions[] = {
    {"square", square},
    {"throw_two_lines", throw_two_lines},
    {"sleep_ms_then_echo", sleep_ms_then_echo},
};
std::span<const NamedFunction> pool_functions() { return lesson_functions; }

#ifndef PLAYGROUND_NO_MAIN  // the tests include this file and bring their own main
int main(int argc, char** argv) {
  pg::Flags flags("building_a_process_pool", "A process pool inside: worker processes, pipes, lines.");
  if (auto status = flags.parse(argc, argv)) return *status;

  pg::banner("1. One worker by hand: fork, two pipes, one line each way, end of file");
  Pipe tasks = make_pipe();
  Pipe results = make_pipe();
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
  if (pid == 0) {
    int keep[] = {tasks.read_end.get(), results.write_end.get()};
    if (keep_only_descriptors(keep)) worker_main(keep[0], keep[1]);
    ::_exit(71);
  }
  OwnedChild worker(pid);
  tasks.read_end.reset();  // the parent keeps only its own ends: the worker's copies are the others
  results.write_end.reset();
  // Two task lines; throw_two_lines(0) throws "first line\ndone 0 999", a message with a line break.
  const std::string task_lines = "task 0 square 7\ntask 1 throw_two_lines 0\n";
  write_all(tasks.write_end.get(), task_lines);
  tasks.write_end.reset();  // no more tasks: after these, the worker reads end of file
  std::string replies = read_until_eof(results.read_end.get(), pg::Clock::now() + 5s).value_or("");
  const auto status = worker.wait_for(5s).value_or(-1);
  fmt::print("  sent      task 0 square 7\n  sent      task 1 throw_two_lines 0\n");
  while (auto line = take_line(replies)) {  // a done line ends with the span's name and times: cut
    const bool done = line->starts_with("done ");
    fmt::print("  received  {}{}\n", line->substr(0, done ? line->find(' ', 7) : line->npos), done ? " ..." : "");
  }
  fmt::print("  (the line break went as the two characters \\n); end of file, and the worker {}\n",
             WIFEXITED(status) ? fmt::format("exited with code {}", WEXITSTATUS(status)) : "did not exit");

  pg::banner("2. Two pools alive at once: each worker keeps only its own two pipe ends");
  {
    ProcessPool first(1);
    ProcessPool second(1);
    second.result(second.submit(square, 2));  // the worker is running its loop: it has closed the rest
    fmt::print("  descriptors open in second's worker: {} (stdin, stdout, stderr, its two pipe ends)\n",
               descriptors_open_in(second.worker_pids()[0]));
    pg::Stopwatch clock;
    first.shutdown();
    fmt::print("  first.shutdown() took {:.1f} ms; its worker {}\n", clock.elapsed_ms(), first.worker_endings()[0]);
  }

  fmt::print(
      "\nTakeaway: a pool is forked workers, pipes and lines of text; end of file says who has gone, as\n"
      "long as every process keeps only the pipe ends it uses.\n");
  return 0;
}
#endif
#endif

// -------------------------------------------------------------------------------------------------
// Try this: predict what the output will show, then run it. The answers below were checked with
// g++ 12 on Linux, 2 cores.
// -------------------------------------------------------------------------------------------------
// 1. In start_worker(), delete the line with keep_only_descriptors (the worker keeps everything it
//    inherited). What do part 2's two lines say?
//    Answer: 14 descriptors, not 5 (first's pipe ends among them), and first.shutdown() took 10,007 ms:
//    its worker never read end of file, so the pool waited its whole limit and killed it (signal 9).
//
// 2. In worker_main(), send `e.what()` instead of `escape_line(e.what())`. What does part 1 print?
//    Answer: three replies: "done 0 49", "error 1 first line" and a forged "done 0 999", which a pool
//    would take as task 0's result.
//
// Next: multiprocessing/sharing_between_processes.cpp: what processes share (nothing, unless you ask)
// and how to share memory when you must.
