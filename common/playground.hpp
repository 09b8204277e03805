// playground.hpp: the small toolbox every lesson shares.
//
//   pg::Stopwatch  measures elapsed time on the monotonic clock.
//   pg::banner     prints a section heading.
//   pg::Flags      parses `--name value` flags, answers --help, rejects bad input with exit status 2.
//   pg::Timeline   records named spans (who ran when, on which thread and process) from any thread,
//                  and prints them as a text chart; tests read the same spans to check overlap and order.
//   pg::TraceFile  writes timelines for a trace viewer (`--trace FILE`, Chrome trace event format) and
//                  as a web page that draws them (`--html FILE`, timeline_page.hpp).
//   pg::process_cpu_time, pg::load_average  say how many cores a run really got, so a lesson can
//                  explain a speedup below the ideal.
//
// Everything a lesson is *about* lives in the lesson file; this header only holds what every lesson
// needs to show its results. It depends on the standard library, POSIX and fmt, not on Asio.
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <errno.h>  // program_invocation_short_name (glibc): the page's title
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "timeline_page.hpp"

namespace pg {

// ---------------------------------------------------------------------------------------------------
// Time
// ---------------------------------------------------------------------------------------------------

// steady_clock is CLOCK_MONOTONIC on Linux: it never jumps, and it is the same clock in every process
// on the machine, so spans measured in a child process line up with the parent's.
using Clock = std::chrono::steady_clock;

// Milliseconds as a double, for printing and for ratios in tests.
inline double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

class Stopwatch {
 public:
  Stopwatch() : start_(Clock::now()) {}
  void restart() { start_ = Clock::now(); }
  [[nodiscard]] Clock::duration elapsed() const { return Clock::now() - start_; }
  [[nodiscard]] double elapsed_ms() const { return ms(elapsed()); }

 private:
  Clock::time_point start_;
};

// A section heading, so the output of a lesson reads like its source: one banner per numbered section.
inline void banner(std::string_view title) {
  std::string rule(std::max<std::ptrdiff_t>(4, 72 - static_cast<std::ptrdiff_t>(title.size()) - 4), '=');
  fmt::print("\n== {} {}\n", title, rule);
  std::fflush(stdout);
}

// ---------------------------------------------------------------------------------------------------
// Threads and processes, as the timeline names them
// ---------------------------------------------------------------------------------------------------

// The kernel's id of the calling thread (what `top -H`, `gdb` and trace viewers show).
inline int os_thread_id() { return static_cast<int>(::syscall(SYS_gettid)); }

// A small, readable number for the calling thread, the same convention in every lesson: thread 1 is
// always the main thread (the one that runs main(); the kernel gives it the process id as its thread
// id), and every other thread gets 2, 3, ... in the order it first asks (usually: first records a
// span). "thread 1" reads better in a chart than 140234885609216.
inline int thread_number() {
  static std::atomic<int> next{2};
  thread_local const int mine = os_thread_id() == static_cast<int>(::getpid()) ? 1 : next.fetch_add(1);
  return mine;
}

// ---------------------------------------------------------------------------------------------------
// Cores: how many this process really got, to explain a speedup below the ideal
// ---------------------------------------------------------------------------------------------------

// CPU time used so far by every thread of this process. CPU time divided by elapsed (wall-clock) time
// is how many cores the process kept busy on average: 2.0 means two cores the whole time. When other
// programs share the machine, a pool of 2 workers on 2 cores may get only 1.3 of them, and its speedup
// can be no better than that.
inline Clock::duration process_cpu_time() {
  timespec t{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return std::chrono::seconds(t.tv_sec) + std::chrono::nanoseconds(t.tv_nsec);
}

// The machine's 1-minute load average (/proc/loadavg): about how many threads, of every program,
// were running or ready to run, on average over the last minute. Above the number of cores, threads
// queue for a core. Empty if it cannot be read.
inline std::optional<double> load_average() {
  std::FILE* file = std::fopen("/proc/loadavg", "r");
  if (file == nullptr) return std::nullopt;
  double one_minute = 0;
  const bool ok = std::fscanf(file, "%lf", &one_minute) == 1;
  std::fclose(file);
  if (!ok) return std::nullopt;
  return one_minute;
}

// ---------------------------------------------------------------------------------------------------
// Timeline: who ran when
// ---------------------------------------------------------------------------------------------------

struct Span {
  std::string name;  // e.g. "task 3"
  Clock::time_point start{};
  Clock::time_point end{};
  int pid = 0;     // process that ran it
  int tid = 0;     // kernel thread id
  int thread = 0;  // small per-process thread number (see thread_number)

  [[nodiscard]] Clock::duration duration() const { return end - start; }
};

// Two spans overlap when each starts before the other ends: they were running at the same time.
inline bool overlap(const Span& a, const Span& b) { return a.start < b.end && b.start < a.end; }

class Timeline {
 public:
  // A RAII guard: the span starts when the guard is made and is recorded when the guard is destroyed,
  // however the scope ends (normal return, exception, or a coroutine frame being destroyed).
  class Scope {
   public:
    Scope(Timeline& timeline, std::string name) : timeline_(&timeline), span_(Timeline::start_span(std::move(name))) {}
    Scope(Scope&& other) noexcept : timeline_(std::exchange(other.timeline_, nullptr)), span_(std::move(other.span_)) {}
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;
    Scope& operator=(Scope&&) = delete;
    ~Scope() {
      if (timeline_ != nullptr) {
        span_.end = Clock::now();
        timeline_->add(std::move(span_));
      }
    }

   private:
    Timeline* timeline_;
    Span span_;
  };

  // `name` says what the spans are, e.g. "blocking" or "async"; trace files use it as the category.
  explicit Timeline(std::string name = "timeline") : name_(std::move(name)), origin_(Clock::now()) {}

  [[nodiscard]] const std::string& name() const { return name_; }
  // Time zero of the chart: when the timeline was made.
  [[nodiscard]] Clock::time_point origin() const { return origin_; }

  // Start a span now, on the calling thread: `auto span = timeline.scope("task 1");`
  [[nodiscard]] Scope scope(std::string name) { return Scope(*this, std::move(name)); }

  // A span that starts now on the calling thread; finish it with `finish(span)`.
  static Span start_span(std::string name) {
    return Span{std::move(name), Clock::now(), {}, static_cast<int>(::getpid()), os_thread_id(), thread_number()};
  }
  void finish(Span span) {
    span.end = Clock::now();
    add(std::move(span));
  }

  // Record a finished span. Safe to call from any thread.
  void add(Span span) {
    std::lock_guard lock(mutex_);
    spans_.push_back(std::move(span));
  }

  // A copy of the spans in the order they were recorded (the order they *finished*).
  [[nodiscard]] std::vector<Span> spans() const {
    std::lock_guard lock(mutex_);
    return spans_;
  }
  // The same spans sorted by start time.
  [[nodiscard]] std::vector<Span> spans_by_start() const {
    auto all = spans();
    std::stable_sort(all.begin(), all.end(), [](const Span& a, const Span& b) { return a.start < b.start; });
    return all;
  }

  // The chart, one lane per span in start order, e.g.
  //
  //   blocking: 3 spans over 601.2 ms, one column = 10.0 ms
  //     task 0 |████████████████████··········································|   0.0 -> 200.4 ms  thread 1
  //     task 1 |····················████████████████████······················| 200.4 -> 400.6 ms  thread 1
  //
  // With more than `max_lanes` spans, the first ones are drawn and the rest summarised.
  [[nodiscard]] std::string render(std::size_t max_lanes = 20, int width = 60) const {
    const auto all = spans_by_start();
    if (all.empty()) return fmt::format("  {}: no spans recorded\n", name_);
    Clock::time_point last = origin_;
    for (const auto& s : all) last = std::max(last, s.end);
    const double total = std::max(ms(last - origin_), 1e-3);
    const double column = total / width;

    std::size_t label_width = 0;
    for (std::size_t i = 0; i < all.size() && i < max_lanes; ++i)
      label_width = std::max(label_width, all[i].name.size());
    const int own_pid = static_cast<int>(::getpid());

    // Short runs are told in microseconds, so that no column reads "0.0 ms".
    const auto duration_text = [](double milliseconds) {
      return milliseconds >= 1.0   ? fmt::format("{:.1f} ms", milliseconds)
             : milliseconds >= 0.1 ? fmt::format("{:.0f} us", milliseconds * 1000)
                                   : fmt::format("{:.1f} us", milliseconds * 1000);
    };
    std::string out = fmt::format("  {}: {} span{} over {}, one column = {}\n", name_, all.size(),
                                  all.size() == 1 ? "" : "s", duration_text(total), duration_text(column));
    for (std::size_t i = 0; i < all.size() && i < max_lanes; ++i) {
      const Span& s = all[i];
      const double from = ms(s.start - origin_);
      const double to = ms(s.end - origin_);
      // A span shorter than one column still gets one mark, so nothing disappears from the chart.
      int first = std::clamp(static_cast<int>(from / column), 0, width - 1);
      int last_col = std::clamp(static_cast<int>(to / column - 1e-9), first, width - 1);
      std::string bar;
      for (int c = 0; c < width; ++c) bar += (c >= first && c <= last_col) ? "█" : "·";
      std::string who = fmt::format("thread {}", s.thread);
      if (s.pid != own_pid) who += fmt::format(" of process {}", s.pid);
      out += fmt::format("    {:<{}} |{}| {:7.1f} -> {:7.1f} ms  {}\n", s.name, label_width, bar, from, to, who);
    }
    if (all.size() > max_lanes) out += fmt::format("    ... and {} more spans\n", all.size() - max_lanes);
    return out;
  }
  void print(std::size_t max_lanes = 20) const {
    fmt::print("{}", render(max_lanes));
    std::fflush(stdout);
  }

  // Spans recorded in another process travel back as one line of text each (see the multiprocessing
  // lessons): the monotonic clock is shared, so the numbers mean the same thing on both sides.
  static std::string encode(const Span& s) {
    return fmt::format("{} {} {} {} {} {}\n", s.start.time_since_epoch().count(), s.end.time_since_epoch().count(),
                       s.pid, s.tid, s.thread, s.name);
  }
  static std::optional<Span> decode(std::string_view line) {
    Span s;
    long long start = 0;
    long long end = 0;
    const char* p = line.data();
    const char* const stop = line.data() + line.size();
    auto field = [&](auto& value) {
      while (p < stop && *p == ' ') ++p;
      auto [next, ec] = std::from_chars(p, stop, value);
      p = next;
      return ec == std::errc{};
    };
    if (!(field(start) && field(end) && field(s.pid) && field(s.tid) && field(s.thread))) return std::nullopt;
    if (p < stop && *p == ' ') ++p;
    std::string_view rest(p, static_cast<std::size_t>(stop - p));
    if (!rest.empty() && rest.back() == '\n') rest.remove_suffix(1);
    s.name = std::string(rest);
    s.start = Clock::time_point(Clock::duration(start));
    s.end = Clock::time_point(Clock::duration(end));
    return s;
  }

 private:
  std::string name_;
  Clock::time_point origin_;
  mutable std::mutex mutex_;
  std::vector<Span> spans_;
};

// ---------------------------------------------------------------------------------------------------
// Trace files: the same spans, for a real trace viewer
// ---------------------------------------------------------------------------------------------------

// The body of a JSON string for `text` (without the quotes): quotes, backslashes and control
// characters escaped. Trace files and the benchmark's --json output use it.
inline std::string json_escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += fmt::format("\\u{:04x}", static_cast<int>(c));
    } else {
      out += c;
    }
  }
  return out;
}

// `--trace FILE` writes the timelines in the Chrome trace event format, which Perfetto
// (ui.perfetto.dev) and chrome://tracing open: drag the file onto the page. Each span becomes one
// complete event ("ph":"X") in its real process and thread lane; the timeline's name is the category.
// `--html FILE` writes the same spans as a web page that draws them, offline (timeline_page.hpp).
//
//   pg::TraceFile trace;
//   trace.add_flags(flags);                        // --trace FILE and --html FILE
//   if (auto status = trace.open()) return *status; // before any work: a bad path exits 2
//   ...
//   trace.add(timeline);                            // after each section
//   trace.write();                                  // once, at the end
class Flags;

class TraceFile {
 public:
  TraceFile() = default;
  TraceFile(const TraceFile&) = delete;
  TraceFile& operator=(const TraceFile&) = delete;
  ~TraceFile() {
    for (auto& out : outputs_)
      if (out.file != nullptr) std::fclose(out.file);
  }

  // The lesson's `--trace FILE` and `--html FILE` flags, read into this object (defined after Flags).
  void add_flags(Flags& flags);

  // Open the files named by the flags now, so an unwritable path fails before the lesson does any work.
  // Empty paths mean "no file". Returns the exit status (2) and prints why when a file cannot be written.
  [[nodiscard]] std::optional<int> open() {
    for (auto& out : outputs_) {
      if (out.path.empty()) continue;
      out.file = std::fopen(out.path.c_str(), "w");
      if (out.file == nullptr) {
        fmt::print(stderr, "cannot write {} '{}': {}\n", out.what, out.path, std::strerror(errno));
        return 2;
      }
    }
    return std::nullopt;
  }
  // The same, for a trace file named in code (tests).
  [[nodiscard]] std::optional<int> open(const std::string& trace_path, const std::string& html_path = "") {
    outputs_[0].path = trace_path;
    outputs_[1].path = html_path;
    return open();
  }

  [[nodiscard]] bool enabled() const { return outputs_[0].file != nullptr || outputs_[1].file != nullptr; }

  void add(const Timeline& timeline) {
    if (!enabled()) return;
    for (auto& span : timeline.spans_by_start()) entries_.push_back({timeline.name(), std::move(span)});
  }

  // The JSON text for the spans added so far (tests read it; write() saves it).
  [[nodiscard]] std::string json() const {
    // Microseconds since the first span, so the viewer opens at zero.
    Clock::time_point zero = Clock::time_point::max();
    for (const auto& e : entries_) zero = std::min(zero, e.span.start);
    auto micros = [&](Clock::time_point t) { return std::chrono::duration<double, std::micro>(t - zero).count(); };

    std::string out = "{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n";
    bool first = true;
    auto emit = [&](const std::string& event) {
      out += first ? "  " : ",\n  ";
      out += event;
      first = false;
    };
    // Metadata first: name each process and thread lane once.
    std::vector<std::pair<int, int>> named_threads;
    std::vector<int> named_processes;
    const int own_pid = static_cast<int>(::getpid());
    for (const auto& e : entries_) {
      const Span& s = e.span;
      if (std::find(named_processes.begin(), named_processes.end(), s.pid) == named_processes.end()) {
        named_processes.push_back(s.pid);
        std::string label =
            s.pid == own_pid ? fmt::format("process {} (main)", s.pid) : fmt::format("process {}", s.pid);
        emit(fmt::format(R"({{"name":"process_name","ph":"M","pid":{},"tid":{},"args":{{"name":"{}"}}}})", s.pid, s.tid,
                         json_escape(label)));
      }
      if (std::find(named_threads.begin(), named_threads.end(), std::pair{s.pid, s.tid}) == named_threads.end()) {
        named_threads.emplace_back(s.pid, s.tid);
        emit(fmt::format(R"({{"name":"thread_name","ph":"M","pid":{},"tid":{},"args":{{"name":"thread {}"}}}})", s.pid,
                         s.tid, s.thread));
      }
    }
    for (const auto& e : entries_) {
      const Span& s = e.span;
      emit(fmt::format(R"({{"name":"{}","cat":"{}","ph":"X","ts":{:.3f},"dur":{:.3f},"pid":{},"tid":{}}})",
                       json_escape(s.name), json_escape(e.category), micros(s.start),
                       std::max(0.0, ms(s.end - s.start) * 1000.0), s.pid, s.tid));
    }
    out += "\n]}\n";
    return out;
  }

  // Write the file and say where it is. Returns false (and says why) if writing failed.
  bool write() {
    if (!enabled()) return true;
    const std::string text = json();
    bool all_ok = true;
    for (std::size_t i = 0; i < outputs_.size(); ++i) {
      Output& out = outputs_[i];
      if (out.file == nullptr) continue;
      const std::string content = i == 0 ? text : timeline_page(program_invocation_short_name, text);
      const bool ok = std::fwrite(content.data(), 1, content.size(), out.file) == content.size();
      const bool closed = std::fclose(out.file) == 0;
      out.file = nullptr;
      if (ok && closed) {
        if (i == 0)
          fmt::print("\ntrace: {} spans written to {} (open it in ui.perfetto.dev or chrome://tracing)\n",
                     entries_.size(), out.path);
        else
          fmt::print("\nhtml: {} spans drawn in {} (open it in any browser, offline)\n", entries_.size(), out.path);
      } else {
        fmt::print(stderr, "writing {} '{}' failed\n", out.what, out.path);
        all_ok = false;
      }
    }
    std::fflush(stdout);
    return all_ok;
  }

 private:
  struct Entry {
    std::string category;
    Span span;
  };

  struct Output {
    const char* what;  // for messages
    std::string path;
    std::FILE* file = nullptr;
  };
  std::array<Output, 2> outputs_{Output{"trace file", {}, nullptr}, Output{"html page", {}, nullptr}};
  std::vector<Entry> entries_;
};

// ---------------------------------------------------------------------------------------------------
// Flags: `--tasks 5 --delay-ms 200`
// ---------------------------------------------------------------------------------------------------

// Every lesson takes its numbers as flags, answers --help, and rejects what it cannot use with a
// one-line error, the usage, and exit status 2 (the convention of command-line tools):
//
//   pg::Flags flags("async_vs_sync", "Blocking sleeps vs awaited timers.");
//   int tasks = 5;
//   flags.add("--tasks", tasks, "number of tasks", 1, 100000);
//   if (auto status = flags.parse(argc, argv)) return *status;
class Flags {
 public:
  // What parse() decided: go on (exit_code empty), or stop with this exit code and print `message`
  // (to stdout for --help, to stderr for an error).
  struct Result {
    std::optional<int> exit_code;
    std::string message;
  };

  Flags(std::string program, std::string about) : program_(std::move(program)), about_(std::move(about)) {}

  // An integer flag accepted in [min, max].
  void add(std::string name, int& value, std::string help, long long min = 0, long long max = INT_MAX) {
    add_integer(std::move(name), value, std::move(help), min, max);
  }
  void add(std::string name, long& value, std::string help, long long min = 0, long long max = LONG_MAX) {
    add_integer(std::move(name), value, std::move(help), min, max);
  }
  // A text flag (a host name, a file path).
  void add(std::string name, std::string& value, std::string help) {
    std::string shown = value.empty() ? "" : fmt::format(" (default: {})", value);
    flags_.push_back({std::move(name), "TEXT", std::move(help) + shown, [&value](std::string_view text) -> std::string {
                        value = std::string(text);
                        return {};
                      }});
  }
  // A switch: present means true; it takes no value.
  void add_switch(std::string name, bool& value, std::string help) {
    flags_.push_back({std::move(name), "", std::move(help), [&value](std::string_view) -> std::string {
                        value = true;
                        return {};
                      }});
  }

  [[nodiscard]] std::string usage() const {
    std::string out = fmt::format("usage: {} [flags]\n{}\n\nflags:\n", program_, about_);
    for (const auto& f : flags_) {
      std::string left = f.metavar.empty() ? f.name : f.name + " " + f.metavar;
      out += fmt::format("  {:<24} {}\n", left, f.help);
    }
    out += fmt::format("  {:<24} {}\n", "--help", "show this help and exit");
    return out;
  }

  // Parse the arguments after the program name. Testable: nothing is printed here.
  [[nodiscard]] Result parse(const std::vector<std::string>& args) const {
    for (std::size_t i = 0; i < args.size(); ++i) {
      std::string_view arg = args[i];
      std::optional<std::string_view> inline_value;
      if (auto eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
        inline_value = arg.substr(eq + 1);
        arg = arg.substr(0, eq);
      }
      if (arg == "--help" || arg == "-h") return {0, usage()};
      auto flag = std::find_if(flags_.begin(), flags_.end(), [&](const Flag& f) { return f.name == arg; });
      if (flag == flags_.end()) return error(fmt::format("unknown flag '{}'", arg));
      std::string_view value;
      if (flag->metavar.empty()) {
        if (inline_value) return error(fmt::format("{} takes no value", arg));
      } else if (inline_value) {
        value = *inline_value;
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        return error(fmt::format("{} needs a value", arg));
      }
      if (std::string problem = flag->set(value); !problem.empty())
        return error(fmt::format("bad value '{}' for {}: {}", value, arg, problem));
    }
    return {};
  }

  // Parse argv; print help or the error; return the exit status if the program should stop now.
  [[nodiscard]] std::optional<int> parse(int argc, const char* const* argv) const {
    std::vector<std::string> args(argv + 1, argv + argc);
    Result result = parse(args);
    if (result.exit_code) {
      std::fputs(result.message.c_str(), *result.exit_code == 0 ? stdout : stderr);
      std::fflush(nullptr);
    }
    return result.exit_code;
  }
  [[nodiscard]] std::optional<int> parse(int argc, char** argv) const {
    return parse(argc, const_cast<const char* const*>(argv));
  }

 private:
  struct Flag {
    std::string name;
    std::string metavar;  // empty for a switch
    std::string help;
    // Store the parsed value; return an empty string on success, else what is wrong with it.
    std::function<std::string(std::string_view)> set;
  };

  template <class Int>
  void add_integer(std::string name, Int& value, std::string help, long long min, long long max) {
    help += fmt::format(" (default: {})", value);
    flags_.push_back({std::move(name), "N", std::move(help), [&value, min, max](std::string_view text) -> std::string {
                        long long parsed = 0;
                        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), parsed);
                        if (ec != std::errc{} || end != text.data() + text.size() || text.empty())
                          return "not a whole number";
                        if (parsed < min || parsed > max) return fmt::format("must be between {} and {}", min, max);
                        value = static_cast<Int>(parsed);
                        return {};
                      }});
  }

  [[nodiscard]] Result error(const std::string& what) const {
    return {2, fmt::format("{}: {}\n{}", program_, what, usage())};
  }

  std::string program_;
  std::string about_;
  std::vector<Flag> flags_;
};

inline void TraceFile::add_flags(Flags& flags) {
  flags.add("--trace", outputs_[0].path, "also write the timelines to this file for a trace viewer (ui.perfetto.dev)");
  flags.add("--html", outputs_[1].path, "also draw the timelines in this web page (opens offline in any browser)");
}

}  // namespace pg
