// bench: the lessons' claims as numbers on your machine.
//
// The lessons say "async is best for many connections", "threads for blocking I/O", "processes for CPU
// work". This program runs the same four workloads across the models and prints what each one costs:
//   1. waiting tasks: N tasks each waiting 200 ms, as coroutines on one thread vs as threads;
//   2. CPU-bound work: counting primes, sequential vs a thread pool vs a process pool;
//   3. dispatch cost: trivial tasks through co_spawn, asio::post to a thread_pool, std::async, and a
//      process-pool round trip;
//   4. echo: a load generator against the echo servers (blocking_echo_server, tcp_echo_server on 1 thread,
//      tcp_server_in_production on 2 threads, and Python's asyncio) at 1, 100 and 1,000 connections,
//      every echo checked byte for byte.
//
// Run it:   build/default/bench/bench            (about a minute)
//           build/default/bench/bench --quick    (under 30 s, smaller sizes, noisier numbers)
//           build/default/bench/bench --json results.json && python3 bench/chart.py results.json
// Numbers depend on the machine and on what else runs on it: run it on a quiet machine, and read the
// ratios between rows more than the absolute figures.
//
// Every loop here is bounded in count and in time, and the servers listen on 127.0.0.1 only.

#include <asio.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "playground.hpp"
#include "process_owners.hpp"  // write_all, keep_only_descriptors

extern char** environ;

namespace bench {

using namespace std::chrono_literals;
using Clock = pg::Clock;

// -------------------------------------------------------------------------------------------------
// Results: rows of named values, printed as a table and written as JSON
// -------------------------------------------------------------------------------------------------

struct Value {
  std::string text;  // shown in the table (and written as a string in JSON when not a number)
  double number = 0;
  bool is_number = false;
};
Value num(double v, int precision = 0) { return {fmt::format("{:.{}f}", v, precision), v, true}; }
Value str(std::string s) { return {std::move(s), 0, false}; }

using Row = std::vector<std::pair<std::string, Value>>;

struct Section {
  std::string id;
  std::string title;
  std::vector<Row> rows;
  std::vector<std::string> notes;
};

void print_section(const Section& s) {
  if (!s.rows.empty()) {
    std::vector<std::string> keys;
    for (const auto& row : s.rows)
      for (const auto& [key, value] : row)
        if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(key);
    std::vector<std::size_t> widths;
    for (const auto& key : keys) {
      std::size_t w = key.size();
      for (const auto& row : s.rows)
        for (const auto& [k, v] : row)
          if (k == key) w = std::max(w, v.text.size());
      widths.push_back(w);
    }
    std::string line = " ";
    for (std::size_t i = 0; i < keys.size(); ++i) line += fmt::format(" {:<{}} ", keys[i], widths[i]);
    auto print_line = [](std::string text) {
      while (!text.empty() && text.back() == ' ') text.pop_back();
      fmt::print("{}\n", text);
    };
    print_line(line);
    line = " ";
    for (std::size_t w : widths) line += " " + std::string(w, '-') + " ";
    print_line(line);
    for (const auto& row : s.rows) {
      line = " ";
      for (std::size_t i = 0; i < keys.size(); ++i) {
        const Value* v = nullptr;
        for (const auto& [k, value] : row)
          if (k == keys[i]) v = &value;
        const std::string text = v ? v->text : "";
        line +=
            (v && v->is_number) ? fmt::format(" {:>{}} ", text, widths[i]) : fmt::format(" {:<{}} ", text, widths[i]);
      }
      print_line(line);
    }
  }
  for (const auto& note : s.notes) fmt::print("  note: {}\n", note);
  std::fflush(stdout);
}

// One line while a workload runs, so a long run shows progress: "tasks 10000, model coroutines, ..."
void print_progress(const Row& row) {
  std::string line;
  for (const auto& [key, value] : row) line += fmt::format("{}{} {}", line.empty() ? "  " : ", ", key, value.text);
  fmt::print("{}\n", line);
  std::fflush(stdout);
}

std::string json_string(std::string_view text) { return "\"" + pg::json_escape(text) + "\""; }

std::string json_number(double v) { return std::isfinite(v) ? fmt::format("{}", v) : "null"; }

// -------------------------------------------------------------------------------------------------
// The machine
// -------------------------------------------------------------------------------------------------

std::string read_text_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string cpu_model() {
  std::istringstream in(read_text_file("/proc/cpuinfo"));
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

long read_long_file(const std::string& path) {
  std::string text = read_text_file(path);
  return text.empty() ? -1 : std::atol(text.c_str());
}

// A field of /proc/self/status in kB ("VmRSS", "VmHWM").
long status_kb(const char* field) {
  std::istringstream in(read_text_file("/proc/self/status"));
  for (std::string line; std::getline(in, line);)
    if (line.rfind(field, 0) == 0 && line[std::strlen(field)] == ':')
      return std::atol(line.c_str() + std::strlen(field) + 1);
  return -1;
}

// CPU time (user + system) of process `pid` so far, from /proc/PID/stat, in microseconds.
double process_cpu_us(pid_t pid) {
  std::string text = read_text_file(fmt::format("/proc/{}/stat", pid));
  auto close = text.rfind(')');  // the command name may contain spaces: fields start after ')'
  if (close == std::string::npos) return -1;
  std::istringstream in(text.substr(close + 2));
  std::string field;
  double utime = 0;
  double stime = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {  // field 3 is the state; 14 utime, 15 stime
    if (i == 14) utime = std::atof(field.c_str());
    if (i == 15) stime = std::atof(field.c_str());
  }
  return (utime + stime) * 1e6 / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// CPU time of this process (all its threads), in microseconds.
double own_cpu_us() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  auto us = [](const timeval& t) { return static_cast<double>(t.tv_sec) * 1e6 + static_cast<double>(t.tv_usec); };
  return us(usage.ru_utime) + us(usage.ru_stime);
}

// -------------------------------------------------------------------------------------------------
// A small fork-based process pool (workloads 2 and 3)
// -------------------------------------------------------------------------------------------------
// Workers are forked at program start, before any thread exists (a process with threads may call only
// async-signal-safe functions in a forked child). Each worker has two pipes: tasks in, replies out.
// Tasks and replies are small fixed-size structs, written whole (under PIPE_BUF, so atomically).
// The parent keeps up to `depth` tasks in flight per worker: depth 1 is a ping-pong round trip, a
// larger depth pipelines them, so the pipe and wake-up latency overlaps with work.

struct Task {
  std::int64_t id = 0;
  std::int32_t kind = 0;  // 0: do nothing (dispatch cost), 1: count primes in a chunk
  std::int64_t a = 0, b = 0, c = 0;
};
struct Reply {
  std::int64_t id = 0;
  std::int64_t result = 0;
  std::int64_t divisions = 0;
};

// Count the primes in chunk `chunk` of `chunks`: the numbers below `limit` are cut in blocks of 1,000
// dealt out like cards (block i goes to chunk i % chunks). Trial division costs more for bigger
// numbers, so contiguous ranges would have unequal costs; dealt blocks give every chunk the same mix.
// The answer of a task: for a prime chunk, the primes found and the trial divisions it took (its cost,
// counted the same way in every model, so chunk costs can be compared without a noisy clock).
struct Answer {
  std::int64_t value = 0;
  std::int64_t divisions = 0;
};

Answer count_primes_chunk(std::int64_t chunk, std::int64_t chunks, std::int64_t limit) {
  constexpr std::int64_t block = 1'000;
  Answer answer;
  for (std::int64_t start = chunk * block; start < limit; start += chunks * block) {
    for (std::int64_t n = start; n < std::min(start + block, limit); ++n) {
      if (n < 2 || (n % 2 == 0 && n != 2)) continue;
      bool prime = true;
      for (std::int64_t d = 3; d * d <= n; d += 2) {
        ++answer.divisions;
        if (n % d == 0) {
          prime = false;
          break;
        }
      }
      answer.value += prime ? 1 : 0;
    }
  }
  return answer;
}

Answer run_task(const Task& t) { return t.kind == 1 ? count_primes_chunk(t.a, t.b, t.c) : Answer{t.a, 0}; }

// Writes every byte of a fixed-size message (write_all, from common/process_owners.hpp).
template <class Message>
bool write_message(int fd, const Message& message) {
  return write_all(fd, std::string_view(reinterpret_cast<const char*>(&message), sizeof message));
}
bool read_full(int fd, void* data, std::size_t size) {
  char* p = static_cast<char*>(data);
  while (size > 0) {
    ssize_t n = ::read(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

class ForkPool {
 public:
  ForkPool() = default;
  ForkPool(const ForkPool&) = delete;
  ForkPool& operator=(const ForkPool&) = delete;
  ~ForkPool() { stop(); }

  // Fork `count` workers. Call before any thread exists.
  bool start(int count) {
    std::fflush(nullptr);  // or buffered output would be printed by every child too
    for (int i = 0; i < count; ++i) {
      int to[2];
      int from[2];
      if (::pipe2(to, O_CLOEXEC) != 0 || ::pipe2(from, O_CLOEXEC) != 0) return false;
      const pid_t pid = ::fork();
      if (pid < 0) return false;
      if (pid == 0) {
        // The worker keeps only its own two ends and closes everything else it inherited (the parent's
        // ends, earlier workers' pipes), or closing a pipe in the parent would not reach its worker;
        // then it serves tasks until the pipe closes.
        int keep[] = {to[0], from[1]};
        if (!keep_only_descriptors(keep)) ::_exit(71);
        Task task;
        while (read_full(keep[0], &task, sizeof task)) {
          const Answer answer = run_task(task);
          if (!write_message(keep[1], Reply{task.id, answer.value, answer.divisions})) break;
        }
        ::_exit(0);
      }
      ::close(to[0]);
      ::close(from[1]);
      workers_.push_back({pid, to[1], from[0]});
    }
    return true;
  }
  [[nodiscard]] int size() const { return static_cast<int>(workers_.size()); }
  // CPU time the workers have used so far, in microseconds.
  [[nodiscard]] double cpu_us() const {
    double total = 0;
    for (const auto& w : workers_) total += process_cpu_us(w.pid);
    return total;
  }

  // Run `tasks` on the first `use` workers with up to `depth` in flight each; results by task index.
  // Throws if a worker dies or stays silent for 30 s.
  std::vector<Answer> run(std::vector<Task> tasks, int use, int depth) {
    use = std::clamp(use, 1, size());
    std::vector<Answer> results(tasks.size());
    std::vector<int> in_flight(static_cast<std::size_t>(use), 0);
    std::size_t next = 0;
    std::size_t done = 0;
    auto send_next = [&](int w) {
      tasks[next].id = static_cast<std::int64_t>(next);
      if (!write_message(workers_[static_cast<std::size_t>(w)].to, tasks[next]))
        throw std::runtime_error("process pool: a worker is gone");
      ++next;
      ++in_flight[static_cast<std::size_t>(w)];
    };
    for (int d = 0; d < depth; ++d)
      for (int w = 0; w < use && next < tasks.size(); ++w) send_next(w);
    std::vector<pollfd> fds;
    for (int w = 0; w < use; ++w) fds.push_back({workers_[static_cast<std::size_t>(w)].from, POLLIN, 0});
    while (done < tasks.size()) {
      const int ready = ::poll(fds.data(), fds.size(), 30'000);
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) throw std::runtime_error("process pool: no reply for 30 s");
      for (int w = 0; w < use; ++w) {
        if ((fds[static_cast<std::size_t>(w)].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
        Reply reply;
        if (!read_full(fds[static_cast<std::size_t>(w)].fd, &reply, sizeof reply))
          throw std::runtime_error("process pool: a worker died");
        results[static_cast<std::size_t>(reply.id)] = {reply.result, reply.divisions};
        ++done;
        --in_flight[static_cast<std::size_t>(w)];
        if (next < tasks.size()) send_next(w);
      }
    }
    return results;
  }

  void stop() {
    for (auto& w : workers_) ::close(w.to);  // end of input: the worker leaves its loop and _exits
    for (auto& w : workers_) {
      ::close(w.from);
      ::waitpid(w.pid, nullptr, 0);
    }
    workers_.clear();
  }

 private:
  struct Worker {
    pid_t pid;
    int to;    // tasks, parent -> worker
    int from;  // replies, worker -> parent
  };
  std::vector<Worker> workers_;
};

// -------------------------------------------------------------------------------------------------
// Workload 1: waiting tasks, coroutines vs threads
// -------------------------------------------------------------------------------------------------
// Each case runs in a forked child, so its peak memory (VmHWM) is its own and starts from a known
// baseline: peak memory per task = (peak RSS - RSS before) / tasks alive at the peak. The bench has no
// thread when it forks these children; the thread case creates its threads in the child.

struct WaitResult {
  double wall_ms = 0;
  double peak_kb = 0;     // peak RSS growth
  long tasks_done = 0;    // tasks that finished their wait
  long peak_alive = 0;    // most tasks waiting at the same moment
  int refused_errno = 0;  // when the system refused a thread
};

asio::awaitable<void> waiting_coroutine(std::chrono::milliseconds delay, long& done) {
  asio::steady_timer timer(co_await asio::this_coro::executor, delay);
  co_await timer.async_wait(asio::use_awaitable);
  ++done;
}

WaitResult wait_with_coroutines(long tasks, std::chrono::milliseconds delay) {
  WaitResult r;
  pg::Stopwatch clock;
  asio::io_context io(1);
  long done = 0;
  for (long i = 0; i < tasks; ++i)
    co_spawn(io, waiting_coroutine(delay, done), [](std::exception_ptr e) {
      if (e) std::rethrow_exception(e);
    });
  io.run();
  r.wall_ms = clock.elapsed_ms();
  r.tasks_done = done;
  r.peak_alive = tasks;  // co_spawn queues them all before run(): all wait at once
  return r;
}

WaitResult wait_with_threads(long tasks, std::chrono::milliseconds delay) {
  WaitResult r;
  std::atomic<long> alive{0};
  std::atomic<long> peak{0};
  std::atomic<long> done{0};
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(tasks));
  pg::Stopwatch clock;
  for (long i = 0; i < tasks; ++i) {
    try {
      threads.emplace_back([&] {
        long now = alive.fetch_add(1) + 1;
        for (long seen = peak.load(); now > seen && !peak.compare_exchange_weak(seen, now);) {
        }
        std::this_thread::sleep_for(delay);
        alive.fetch_sub(1);
        done.fetch_add(1);
      });
    } catch (const std::system_error& e) {
      r.refused_errno = e.code().value();  // the system's thread limit: stop creating
      break;
    }
  }
  for (auto& t : threads) t.join();
  r.wall_ms = clock.elapsed_ms();
  r.tasks_done = done.load();
  r.peak_alive = peak.load();
  return r;
}

// Run `work` in a forked child and bring back its result and its peak memory growth.
template <class Work>
std::optional<WaitResult> in_child(Work work) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return std::nullopt;
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) return std::nullopt;
  if (pid == 0) {
    int keep[] = {fds[1]};  // its end of the pipe; everything else it inherited is closed
    if (!keep_only_descriptors(keep)) ::_exit(71);
    const long before = status_kb("VmRSS");
    std::ofstream("/proc/self/clear_refs") << "5";  // reset the peak (VmHWM) to the current RSS
    WaitResult r = work();
    r.peak_kb = static_cast<double>(status_kb("VmHWM") - before);
    write_message(keep[0], r);
    ::_exit(0);
  }
  ::close(fds[1]);
  // Bounded: a child that has not answered within 120 s is killed and the case reported as failed.
  WaitResult r;
  pollfd ready{fds[0], POLLIN, 0};
  int polled = 0;
  while ((polled = ::poll(&ready, 1, 120'000)) < 0 && errno == EINTR) {
  }
  const bool ok = polled > 0 && read_full(fds[0], &r, sizeof r);
  if (!ok) ::kill(pid, SIGKILL);
  ::close(fds[0]);
  ::waitpid(pid, nullptr, 0);
  if (!ok) return std::nullopt;
  return r;
}

Section workload_waiting(const std::vector<long>& sizes, int delay_ms, long max_threads) {
  Section s{"waiting",
            fmt::format("1. Waiting tasks: each waits {} ms (coroutines on 1 thread vs 1 thread each)", delay_ms),
            {},
            {}};
  pg::banner(s.title);
  const std::chrono::milliseconds delay(delay_ms);
  for (long n : sizes) {
    for (int model = 0; model < 2; ++model) {
      const long run_n = model == 0 ? n : std::min(n, max_threads);
      auto r =
          in_child([&] { return model == 0 ? wait_with_coroutines(run_n, delay) : wait_with_threads(run_n, delay); });
      if (!r) {
        s.notes.push_back(
            fmt::format("{} tasks as {}: the child process failed", n, model == 0 ? "coroutines" : "threads"));
        continue;
      }
      std::string cap = "-";
      if (model == 1 && r->refused_errno != 0)
        cap = fmt::format("system refused thread {} ({})", r->tasks_done + 1, std::strerror(r->refused_errno));
      else if (model == 1 && run_n < n)
        cap = fmt::format("capped at {} (--max-threads)", run_n);
      s.rows.push_back({{"tasks", num(static_cast<double>(n))},
                        {"model", str(model == 0 ? "coroutines" : "threads")},
                        {"ran", num(static_cast<double>(r->tasks_done))},
                        {"wall ms", num(r->wall_ms)},
                        {"wall/delay", num(r->wall_ms / delay_ms, 2)},
                        {"peak KB/task", num(r->peak_kb / std::max(1L, r->peak_alive), 2)},
                        {"peak alive", num(static_cast<double>(r->peak_alive))},
                        {"thread cap", str(cap)}});
      print_progress(s.rows.back());
    }
  }
  s.notes.push_back(fmt::format(
      "thread limits here: kernel.threads-max {}, kernel.pid_max {} (shared by every process), vm.max_map_count {} "
      "(2 maps a thread), ulimit -s {} KB of address space per stack",
      read_long_file("/proc/sys/kernel/threads-max"), read_long_file("/proc/sys/kernel/pid_max"),
      read_long_file("/proc/sys/vm/max_map_count"), [] {
        rlimit l{};
        ::getrlimit(RLIMIT_STACK, &l);
        return l.rlim_cur == RLIM_INFINITY ? -1L : static_cast<long>(l.rlim_cur / 1024);
      }()));
  s.notes.push_back(
      "threads are created one by one, so their wall time is mostly creation time, and the early ones "
      "finish before the last start (peak alive < tasks)");
  return s;
}

// -------------------------------------------------------------------------------------------------
// Workload 2: CPU-bound work, sequential vs thread pool vs process pool
// -------------------------------------------------------------------------------------------------

Section workload_cpu(ForkPool& pool, long limit, int chunks, int workers, int repeat) {
  Section s{"cpu",
            fmt::format("2. CPU-bound: count primes below {} in {} equal chunks, {} workers, {} cores", limit, chunks,
                        workers, std::thread::hardware_concurrency()),
            {},
            {}};
  pg::banner(s.title);
  std::vector<Task> tasks;
  for (int c = 0; c < chunks; ++c) tasks.push_back({0, 1, c, chunks, limit});
  auto total = [](const std::vector<Answer>& v) {
    std::int64_t t = 0;
    for (auto x : v) t += x.value;
    return t;
  };

  auto sequential = [&] {
    std::vector<Answer> out;
    for (const auto& t : tasks) out.push_back(run_task(t));
    return out;
  };
  auto threads = [&] {
    asio::thread_pool threads_pool(static_cast<std::size_t>(workers));
    std::vector<std::future<Answer>> futures;
    for (const auto& t : tasks)
      futures.push_back(asio::post(threads_pool, asio::use_future([t] { return run_task(t); })));
    std::vector<Answer> out;
    for (auto& f : futures) out.push_back(f.get());
    return out;
  };
  auto processes = [&] { return pool.run(tasks, workers, 2); };

  double sequential_ms = 0;
  std::int64_t expected = -1;
  std::vector<Answer> answers;  // the sequential run's, for the cost of each chunk
  const char* names[] = {"sequential", "thread pool (asio::thread_pool)", "process pool (fork + pipes)"};
  for (int mode = 0; mode < 3; ++mode) {
    if (mode == 2 && pool.size() == 0) {
      s.notes.push_back("process pool: no workers (fork failed)");
      continue;
    }
    double best = 1e300;
    std::int64_t primes = 0;
    for (int r = 0; r < repeat; ++r) {
      pg::Stopwatch clock;
      auto results = mode == 0 ? sequential() : mode == 1 ? threads() : processes();
      best = std::min(best, clock.elapsed_ms());
      primes = total(results);
      if (mode == 0) answers = results;
    }
    if (mode == 0) {
      sequential_ms = best;
      expected = primes;
    }
    if (primes != expected)
      throw std::runtime_error(fmt::format("{} counted {} primes, sequential {}", names[mode], primes, expected));
    s.rows.push_back({{"model", str(names[mode])},
                      {"workers", num(mode == 0 ? 1 : workers)},
                      {"best ms", num(best, 1)},
                      {"speedup", num(sequential_ms / best, 2)},
                      {"primes", num(static_cast<double>(primes))}});
    print_progress(s.rows.back());
  }
  // The cost of a chunk is its number of trial divisions: exact, unlike a time on a busy machine.
  const auto [lo, hi] = std::minmax_element(answers.begin(), answers.end(),
                                            [](const Answer& x, const Answer& y) { return x.divisions < y.divisions; });
  const double spread =
      1.0 - static_cast<double>(lo->divisions) / static_cast<double>(std::max<std::int64_t>(1, hi->divisions));
  s.notes.push_back(fmt::format(
      "best of {} runs; chunk costs from {} to {} trial divisions ({:.1f}% apart): {}", repeat, lo->divisions,
      hi->divisions, 100 * spread,
      spread < 0.05 ? "equal, so the work splits evenly" : "UNEQUAL chunks: the costliest one caps the speedup"));
  s.notes.push_back(fmt::format("{} cores; a speedup near {} needs that many idle cores",
                                std::thread::hardware_concurrency(), workers));
  return s;
}

// -------------------------------------------------------------------------------------------------
// Workload 3: dispatch cost of a trivial task
// -------------------------------------------------------------------------------------------------

asio::awaitable<void> trivial_coroutine(long& counter) {
  ++counter;
  co_return;
}

Section workload_dispatch(ForkPool& pool, long scale, int workers) {
  Section s{"dispatch", "3. Dispatch cost: trivial tasks, amortised time per task", {}, {}};
  pg::banner(s.title);
  // CPU time is counted next to wall time: this process (all its threads) plus the pool's workers.
  // On a busy machine the wall time includes waiting for a core; the CPU time does not.
  auto cpu_now = [&] { return own_cpu_us() + pool.cpu_us(); };
  auto add = [&](const std::string& how, long tasks, double elapsed_ms, double cpu_us, long checked,
                 const std::string& detail) {
    if (checked != tasks) throw std::runtime_error(fmt::format("{}: {} of {} tasks ran", how, checked, tasks));
    const double us = elapsed_ms * 1000.0 / static_cast<double>(tasks);
    s.rows.push_back({{"how", str(how)},
                      {"tasks", num(static_cast<double>(tasks))},
                      {"us/task", num(us, 3)},
                      {"CPU us/task", num(cpu_us / static_cast<double>(tasks), 3)},
                      {"tasks/s", num(1e6 / us)},
                      {"detail", str(detail)}});
    print_progress(s.rows.back());
  };

  {  // co_spawn on one io_context, one thread
    const long n = 10 * scale;
    long counter = 0;
    pg::Stopwatch clock;
    const double cpu0 = cpu_now();
    asio::io_context io(1);
    for (long i = 0; i < n; ++i) co_spawn(io, trivial_coroutine(counter), asio::detached);
    io.run();
    add("co_spawn (io_context, 1 thread)", n, clock.elapsed_ms(), cpu_now() - cpu0, counter,
        "spawn all from outside, then run()");
  }
  {  // co_spawn from a coroutine already running on the io_context: dispatch runs the child inline
    const long n = 10 * scale;
    long counter = 0;
    pg::Stopwatch clock;
    const double cpu0 = cpu_now();
    asio::io_context io(1);
    // A named lambda: a coroutine lambda's captures live in the lambda object, which must outlive the
    // coroutine (a temporary one would be gone before run() resumes it).
    auto spawner = [&]() -> asio::awaitable<void> {
      auto executor = co_await asio::this_coro::executor;
      for (long i = 0; i < n; ++i) co_spawn(executor, trivial_coroutine(counter), asio::detached);
    };
    co_spawn(io, spawner(), asio::detached);
    io.run();
    add("co_spawn from inside the loop", n, clock.elapsed_ms(), cpu_now() - cpu0, counter,
        "runs inline to its first suspension");
  }
  {  // asio::post to a thread_pool
    const long n = 10 * scale;
    std::atomic<long> counter{0};
    pg::Stopwatch clock;
    const double cpu0 = cpu_now();
    asio::thread_pool threads(static_cast<std::size_t>(workers));
    for (long i = 0; i < n; ++i) asio::post(threads, [&counter] { counter.fetch_add(1, std::memory_order_relaxed); });
    threads.join();
    add(fmt::format("asio::post to thread_pool({})", workers), n, clock.elapsed_ms(), cpu_now() - cpu0, counter.load(),
        "post all, then join()");
  }
  {  // std::async: a new thread per task
    const long n = scale / 5;
    long counter = 0;
    pg::Stopwatch clock;
    const double cpu0 = cpu_now();
    for (long i = 0; i < n; i += 64) {
      std::vector<std::future<int>> batch;
      for (long j = i; j < std::min(n, i + 64); ++j) batch.push_back(std::async(std::launch::async, [] { return 1; }));
      for (auto& f : batch) counter += f.get();
    }
    add("std::async(launch::async)", n, clock.elapsed_ms(), cpu_now() - cpu0, counter,
        "a thread per task, 64 in flight");
  }
  if (pool.size() > 0) {
    for (int pipelined = 1; pipelined >= 0; --pipelined) {
      const long n = pipelined ? 2 * scale : scale / 5;
      std::vector<Task> tasks(static_cast<std::size_t>(n), Task{0, 0, 1, 0, 0});
      pg::Stopwatch clock;
      const double cpu0 = cpu_now();
      auto results = pool.run(tasks, pipelined ? workers : 1, pipelined ? 64 : 1);
      long counter = 0;
      for (auto r : results) counter += r.value;
      add(pipelined ? fmt::format("process pool round trip, pipelined") : "process pool round trip, ping-pong", n,
          clock.elapsed_ms(), cpu_now() - cpu0, counter,
          pipelined ? fmt::format("{} workers, 64 in flight each", workers) : "1 worker, 1 in flight");
    }
  }
  return s;
}

// -------------------------------------------------------------------------------------------------
// Workload 4: echo servers under load
// -------------------------------------------------------------------------------------------------
// The load generator is one thread running an io_context with one coroutine per connection. Each
// connection sends a 64-byte line, waits for its echo, checks it byte for byte, and sends the next
// (closed loop: one message in flight per connection). After a warm-up, a measuring window counts the
// echoes that came back, their round-trip times, the server's CPU time (/proc/PID/stat) and the
// generator's own CPU time (getrusage), so you can see whether the generator was the bottleneck.

struct ServerProcess {
  pid_t pid = -1;
  int port = 0;
  std::string log_path;
  std::string error;  // why it did not start

  ServerProcess() = default;
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;
  ~ServerProcess() { stop(); }

  // Start `argv` with its output in a temporary file; wait up to 5 s for "listening on ADDRESS:PORT".
  bool start(const std::vector<std::string>& argv) {
    char path[] = "/tmp/bench-server-XXXXXX";
    const int fd = ::mkstemp(path);
    if (fd < 0) {
      error = "cannot create a log file";
      return false;
    }
    log_path = path;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, fd, 1);
    posix_spawn_file_actions_adddup2(&actions, fd, 2);
    std::vector<std::string> storage = argv;
    std::vector<char*> args;
    for (auto& a : storage) args.push_back(a.data());
    args.push_back(nullptr);
    const int rc = ::posix_spawn(&pid, storage[0].c_str(), &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fd);
    if (rc != 0) {
      pid = -1;
      error = fmt::format("cannot start {}: {}", argv[0], std::strerror(rc));
      return false;
    }
    pg::Stopwatch clock;
    while (clock.elapsed() < 5s) {
      const std::string text = read_text_file(log_path);
      if (auto at = text.find("listening on "); at != std::string::npos) {
        const auto end = text.find('\n', at);
        if (end != std::string::npos) {
          const std::string line = text.substr(at, end - at);
          port = std::atoi(line.c_str() + line.rfind(':') + 1);
          return port > 0;
        }
      }
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        pid = -1;
        std::string first = text.substr(0, text.find('\n'));
        error = fmt::format("it exited at once: {}", first.empty() ? "(no output)" : first);
        return false;
      }
      std::this_thread::sleep_for(10ms);
    }
    error = "no 'listening on' line within 5 s";
    return false;
  }

  // SIGINT, then up to 3 s for a clean exit, then SIGKILL. Returns the exit status (or -1).
  int stop() {
    int code = -1;
    if (pid > 0) {
      ::kill(pid, SIGINT);
      pg::Stopwatch clock;
      int status = 0;
      bool exited = false;
      while (clock.elapsed() < 3s) {
        if (::waitpid(pid, &status, WNOHANG) == pid) {
          exited = true;
          break;
        }
        std::this_thread::sleep_for(5ms);
      }
      if (!exited) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
      }
      code = exited && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      pid = -1;
    }
    if (!log_path.empty()) std::remove(log_path.c_str());
    log_path.clear();
    return code;
  }
};

struct EchoResult {
  long messages = 0;
  double window_s = 0;
  double p50_us = 0, p99_us = 0;
  double server_cpu_us = 0;
  double own_cpu_us = 0;
  std::string error;  // a mismatch, a lost connection, a timeout
};

EchoResult run_echo_load(int port, pid_t server, int connections, std::chrono::milliseconds warmup,
                         std::chrono::milliseconds measure) {
  using asio::ip::tcp;
  EchoResult result;
  asio::io_context io(1);
  const tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port));
  asio::steady_timer go(io, Clock::time_point::max());  // released when every client is connected
  asio::steady_timer window_open(io);
  asio::steady_timer window_close(io);
  asio::steady_timer watchdog(io, Clock::now() + 20s + warmup + measure);
  Clock::time_point open_at = Clock::time_point::max();
  Clock::time_point close_at = Clock::time_point::max();
  double server_cpu_start = 0, own_cpu_start = 0;
  int connected = 0;
  int finished = 0;
  std::vector<double> latencies;
  latencies.reserve(1'000'000);

  auto fail = [&](std::string why) {
    if (result.error.empty()) result.error = std::move(why);
    io.stop();  // abandon the run: every coroutine frame is destroyed with the io_context
  };
  watchdog.async_wait([&](asio::error_code ec) {
    if (!ec) fail("timed out (no progress within the run's time limit)");
  });

  auto client = [&](int id) -> asio::awaitable<void> {
    tcp::socket socket(io);
    co_await socket.async_connect(endpoint, asio::use_awaitable);
    socket.set_option(tcp::no_delay(true));
    if (++connected == connections) {
      // Everyone is connected: start, and schedule the measuring window after the warm-up.
      const auto now = Clock::now();
      go.cancel();
      window_open.expires_at(now + warmup);
      window_open.async_wait([&](asio::error_code ec) {
        if (ec) return;
        open_at = Clock::now();
        server_cpu_start = process_cpu_us(server);
        own_cpu_start = own_cpu_us();
      });
      window_close.expires_at(now + warmup + measure);
      window_close.async_wait([&](asio::error_code ec) {
        if (ec) return;
        close_at = Clock::now();
        result.server_cpu_us = process_cpu_us(server) - server_cpu_start;
        result.own_cpu_us = own_cpu_us() - own_cpu_start;
      });
    } else {
      asio::error_code ignored;
      co_await go.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    }
    std::array<char, 64> line{};
    std::array<char, 64> echo{};
    // Bounded: at most 10 million messages, and never past the end of the window.
    for (long seq = 0; seq < 10'000'000 && close_at == Clock::time_point::max(); ++seq) {
      // A unique line: who sent it and its number, padded to 63 bytes, then '\n'.
      auto text = fmt::format_to_n(line.data(), line.size() - 1, "conn {:05} msg {:012} ", id, seq);
      std::fill(text.out, line.end() - 1, static_cast<char>('a' + seq % 26));
      line.back() = '\n';
      const auto sent_at = Clock::now();
      co_await asio::async_write(socket, asio::buffer(line), asio::use_awaitable);
      co_await asio::async_read(socket, asio::buffer(echo), asio::use_awaitable);
      const auto back_at = Clock::now();
      if (echo != line) {
        fail(fmt::format("ECHO MISMATCH on connection {} message {}: sent '{}', got '{}'", id, seq,
                         std::string_view(line.data(), 63), std::string_view(echo.data(), 63)));
        co_return;
      }
      if (sent_at >= open_at && close_at == Clock::time_point::max())
        latencies.push_back(std::chrono::duration<double, std::micro>(back_at - sent_at).count());
    }
  };
  for (int i = 0; i < connections; ++i)
    co_spawn(io, client(i), [&](std::exception_ptr e) {
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& x) {
          fail(fmt::format("a connection failed: {}", x.what()));
        }
      }
      if (++finished == connections) watchdog.cancel();
    });
  io.run();
  if (!result.error.empty()) return result;
  if (close_at == Clock::time_point::max() || latencies.empty()) {
    result.error = "no echo came back in the measuring window";
    return result;
  }
  result.messages = static_cast<long>(latencies.size());
  result.window_s = std::chrono::duration<double>(close_at - open_at).count();
  auto percentile = [&](double p) {
    auto at = latencies.begin() + static_cast<long>(p * static_cast<double>(latencies.size() - 1));
    std::nth_element(latencies.begin(), at, latencies.end());
    return *at;
  };
  result.p50_us = percentile(0.50);
  result.p99_us = percentile(0.99);
  return result;
}

struct ServerSpec {
  std::string name;
  std::vector<std::string> argv;  // empty: skipped, see `skip`
  std::string skip;
};

Section workload_echo(const std::vector<ServerSpec>& servers, const std::vector<int>& connection_counts,
                      std::chrono::milliseconds warmup, std::chrono::milliseconds measure, bool& failed) {
  Section s{"echo",
            fmt::format("4. Echo: 64-byte lines, one in flight per connection, {} ms measured after {} ms warm-up",
                        measure.count(), warmup.count()),
            {},
            {}};
  pg::banner(s.title);
  for (const auto& spec : servers) {
    if (spec.argv.empty()) {
      s.notes.push_back(fmt::format("{}: skipped, {}", spec.name, spec.skip));
      fmt::print("  {}: skipped, {}\n", spec.name, spec.skip);
      continue;
    }
    ServerProcess server;
    if (!server.start(spec.argv)) {
      s.notes.push_back(fmt::format("{}: skipped, {}", spec.name, server.error));
      fmt::print("  {}: skipped, {}\n", spec.name, server.error);
      continue;
    }
    for (int connections : connection_counts) {
      EchoResult r = run_echo_load(server.port, server.pid, connections, warmup, measure);
      if (!r.error.empty()) {
        failed = true;  // a mismatch, a lost connection or a timeout fails the whole run
        s.notes.push_back(fmt::format("{} at {} connections: FAILED: {}", spec.name, connections, r.error));
        fmt::print("  {} at {} connections: FAILED: {}\n", spec.name, connections, r.error);
        continue;
      }
      const double msgs = static_cast<double>(r.messages);
      s.rows.push_back({{"server", str(spec.name)},
                        {"conns", num(connections)},
                        {"msgs/s", num(msgs / r.window_s)},
                        {"p50 us", num(r.p50_us, 1)},
                        {"p99 us", num(r.p99_us, 1)},
                        {"server CPU us/msg", num(r.server_cpu_us / msgs, 2)},
                        {"server CPU %", num(100.0 * r.server_cpu_us / (r.window_s * 1e6))},
                        {"loadgen CPU %", num(100.0 * r.own_cpu_us / (r.window_s * 1e6))},
                        {"verified", num(msgs)}});
      print_progress(s.rows.back());
    }
    const int code = server.stop();
    if (code != 0) s.notes.push_back(fmt::format("{}: exit status {} after SIGINT (expected 0)", spec.name, code));
  }
  s.notes.push_back("CPU % is of one core; the machine's total is 100 x cores. Every echo was compared byte for byte.");
  s.notes.push_back(
      "server CPU time comes from /proc/PID/stat in clock ticks (10 ms): short windows at low load are coarse");
  return s;
}

std::vector<long> parse_list(const std::string& text) {
  std::vector<long> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    char* end = nullptr;
    const long v = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v <= 0) return {};
    out.push_back(v);
  }
  return out;
}

std::string find_in_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream in(path ? path : "");
  for (std::string dir; std::getline(in, dir, ':');) {
    const std::string candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

}  // namespace bench

int main(int argc, char** argv) {
  using namespace bench;
  bool quick = false;
  std::string json_path;
  std::string only = "1,2,3,4";
  int delay_ms = 200;
  std::string wait_sizes;
  long max_threads = 10'000;
  long primes_limit = 0;
  int chunks = 16;
  int workers = static_cast<int>(std::max(2u, std::thread::hardware_concurrency()));
  int repeat = 0;
  long dispatch_scale = 0;
  std::string connection_list = "1,100,1000";
  int warmup_ms = 0;
  int measure_ms = 0;
  const std::filesystem::path build_dir = std::filesystem::read_symlink("/proc/self/exe").parent_path().parent_path();
  std::string blocking_server = (build_dir / "networking" / "blocking_echo_server").string();
  std::string async_server = (build_dir / "networking" / "tcp_echo_server").string();
  std::string production_server = (build_dir / "networking" / "tcp_server_in_production").string();
  std::string python = find_in_path("python3");
  std::string python_server =
      (build_dir / BENCH_SOURCE_IN_BUILD / "asyncio_echo_server.py").lexically_normal().string();

  pg::Flags flags("bench",
                  "Runs the same workloads across coroutines, threads and processes and prints what each costs.");
  flags.add_switch("--quick", quick, "smaller sizes and shorter windows: about 10 s on an idle machine, noisier");
  flags.add("--json", json_path, "also write the results to this file as JSON (bench/chart.py draws it)");
  flags.add("--only", only, "workloads to run, e.g. 1,4");
  flags.add("--delay-ms", delay_ms, "workload 1: how long each task waits", 1, 10'000);
  flags.add("--wait-tasks", wait_sizes, "workload 1: task counts; empty: 10000,100000 (quick: 10000)");
  flags.add("--max-threads", max_threads, "workload 1: most threads to create (pid_max is shared by the machine)", 1,
            1'000'000);
  flags.add("--primes-limit", primes_limit, "workload 2: count primes below this; 0: 4000000 (quick: 1500000)", 0,
            1'000'000'000);
  flags.add("--chunks", chunks, "workload 2: chunks of equal cost", 1, 10'000);
  flags.add("--workers", workers, "workloads 2-3: threads in the thread pool, processes in the process pool", 1, 256);
  flags.add("--repeat", repeat, "workload 2: best of this many runs; 0: 3 (quick: 1)", 0, 100);
  flags.add("--dispatch-scale", dispatch_scale, "workload 3: 10x this many coroutines/posts; 0: 100000 (quick: 20000)",
            0, 10'000'000);
  flags.add("--connections", connection_list, "workload 4: connection counts");
  flags.add("--warmup-ms", warmup_ms, "workload 4: warm-up before measuring; 0: 500 (quick: 200)", 0, 60'000);
  flags.add("--measure-ms", measure_ms, "workload 4: measuring window; 0: 2000 (quick: 500)", 0, 600'000);
  flags.add("--blocking-server", blocking_server, "workload 4: path of blocking_echo_server");
  flags.add("--async-server", async_server, "workload 4: path of tcp_echo_server");
  flags.add("--production-server", production_server, "workload 4: path of tcp_server_in_production (--threads 2)");
  flags.add("--python", python, "workload 4: python3 for the asyncio server (empty: skip that row)");
  flags.add("--python-server", python_server, "workload 4: the asyncio echo server script");
  if (auto status = flags.parse(argc, argv)) return *status;

  auto fail = [](const std::string& what) {
    fmt::print(stderr, "bench: {}\n", what);
    return 2;
  };
  const auto selected = parse_list(only);
  if (selected.empty() || std::any_of(selected.begin(), selected.end(), [](long w) { return w > 4; }))
    return fail(fmt::format("bad --only '{}': a comma-separated list of 1, 2, 3, 4", only));
  auto wants = [&](long w) { return std::find(selected.begin(), selected.end(), w) != selected.end(); };
  if (wait_sizes.empty()) wait_sizes = quick ? "10000" : "10000,100000";
  const auto sizes = parse_list(wait_sizes);
  if (sizes.empty()) return fail(fmt::format("bad --wait-tasks '{}'", wait_sizes));
  std::vector<int> connection_counts;
  for (long c : parse_list(connection_list)) connection_counts.push_back(static_cast<int>(std::min(c, 10'000L)));
  if (connection_counts.empty()) return fail(fmt::format("bad --connections '{}'", connection_list));
  if (primes_limit == 0) primes_limit = quick ? 1'500'000 : 4'000'000;
  if (repeat == 0) repeat = quick ? 1 : 3;
  if (dispatch_scale == 0) dispatch_scale = quick ? 20'000 : 100'000;
  if (warmup_ms == 0) warmup_ms = quick ? 200 : 500;
  if (measure_ms == 0) measure_ms = quick ? 500 : 2'000;
  std::FILE* json_file = nullptr;
  if (!json_path.empty() && (json_file = std::fopen(json_path.c_str(), "w")) == nullptr)
    return fail(fmt::format("cannot write '{}': {}", json_path, std::strerror(errno)));

  // A server that dies must not kill the bench with SIGPIPE; a write then fails with EPIPE instead.
  std::signal(SIGPIPE, SIG_IGN);

  // The process pool is forked first, while this process has exactly one thread.
  ForkPool pool;
  if ((wants(2) || wants(3)) && !pool.start(workers)) fmt::print(stderr, "bench: could not fork the process pool\n");

  utsname uts{};
  ::uname(&uts);
  std::string command;
  for (int i = 0; i < argc; ++i) command += (i ? " " : "") + std::string(argv[i]);
  fmt::print("bench: {} cores, {}, Linux {}{}\n", std::thread::hardware_concurrency(), cpu_model(), uts.release,
             quick ? " (quick run: noisier numbers)" : "");
  fmt::print("load average before the run: {}", read_text_file("/proc/loadavg"));
  std::fflush(stdout);

  pg::Stopwatch total;
  std::vector<Section> sections;
  bool echo_failed = false;
  try {
    if (wants(1)) sections.push_back(workload_waiting(sizes, delay_ms, max_threads));
    if (wants(2)) sections.push_back(workload_cpu(pool, primes_limit, chunks, workers, repeat));
    if (wants(3)) sections.push_back(workload_dispatch(pool, dispatch_scale, workers));
    if (wants(4)) {
      std::vector<ServerSpec> servers;
      auto binary = [](const std::string& name, const std::string& path, std::vector<std::string> args,
                       const std::string& missing) {
        ServerSpec spec{name, {}, {}};
        if (::access(path.c_str(), X_OK) != 0) {
          spec.skip = fmt::format("{} not found ({})", path, missing);
        } else {
          spec.argv = {path};
          spec.argv.insert(spec.argv.end(), args.begin(), args.end());
        }
        return spec;
      };
      servers.push_back(binary("blocking_echo_server", blocking_server, {"--port", "0"}, "build it"));
      // --quiet: without it the server writes (and flushes) a log line for every echoed line. At 100
      // connections that added about 0.9 us of server CPU per message on 1 thread (+40%) and 2.3 us on 2
      // threads (+65%: both threads queue for the log file's lock), so we would be measuring the log.
      servers.push_back(binary("tcp_echo_server (1 thread)", async_server, {"--port", "0", "--quiet"},
                               "it comes with the networking lessons"));
      servers.push_back(binary("tcp_server_in_production --threads 2", production_server,
                               {"--port", "0", "--quiet", "--threads", "2"}, "it comes with the networking lessons"));
      if (python.empty()) {
        servers.push_back({"python asyncio", {}, "no python3 (not in PATH, or --python was empty)"});
      } else {
        servers.push_back({"python asyncio", {python, python_server, "--port", "0"}, {}});
      }
      sections.push_back(workload_echo(servers, connection_counts, std::chrono::milliseconds(warmup_ms),
                                       std::chrono::milliseconds(measure_ms), echo_failed));
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench: FAILED: {}\n", e.what());
    return 1;
  }
  pool.stop();

  fmt::print("\n== Summary {}\n", std::string(61, '='));
  for (const auto& s : sections) {
    fmt::print("\n{}\n", s.title);
    print_section(s);
  }
  fmt::print("\nbench took {:.1f} s\n", total.elapsed_ms() / 1000);

  if (json_file != nullptr) {
    std::string out = "{\n";
    out += fmt::format("  \"machine\": {{\"cores\": {}, \"cpu\": {}, \"kernel\": {}}},\n",
                       std::thread::hardware_concurrency(), json_string(cpu_model()), json_string(uts.release));
    out += fmt::format("  \"command\": {},\n  \"quick\": {},\n  \"seconds\": {},\n", json_string(command),
                       quick ? "true" : "false", json_number(total.elapsed_ms() / 1000));
    out += "  \"sections\": [\n";
    for (std::size_t i = 0; i < sections.size(); ++i) {
      const auto& s = sections[i];
      out += fmt::format("    {{\"id\": {}, \"title\": {}, \"rows\": [\n", json_string(s.id), json_string(s.title));
      for (std::size_t r = 0; r < s.rows.size(); ++r) {
        out += "      {";
        for (std::size_t k = 0; k < s.rows[r].size(); ++k) {
          const auto& [key, value] = s.rows[r][k];
          out += fmt::format("{}{}: {}", k ? ", " : "", json_string(key),
                             value.is_number ? json_number(value.number) : json_string(value.text));
        }
        out += r + 1 < s.rows.size() ? "},\n" : "}\n";
      }
      out += "    ], \"notes\": [";
      for (std::size_t n = 0; n < s.notes.size(); ++n) out += (n ? ", " : "") + json_string(s.notes[n]);
      out += i + 1 < sections.size() ? "]},\n" : "]}\n";
    }
    out += "  ]\n}\n";
    const bool ok = std::fwrite(out.data(), 1, out.size(), json_file) == out.size();
    if (std::fclose(json_file) != 0 || !ok) return fail(fmt::format("writing '{}' failed", json_path));
    fmt::print("results written to {}\n", json_path);
  }
  if (echo_failed) {
    fmt::print(stderr, "bench: FAILED: an echo run failed (see the notes above)\n");
    return 1;
  }
  return 0;
}
