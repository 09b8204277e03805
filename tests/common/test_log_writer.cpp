// Tests of common/log_writer.hpp, the servers' log: it never makes its caller wait, it bounds what it
// keeps, and a reader that goes away costs lines, never the program. The output is a pipe the test
// holds both ends of, so the test decides when the reader is slow, absent or gone.
#include "common/log_writer.hpp"  // found through the source folder, so tests/mutation_check.py can swap it

#include <chrono>
#include <csignal>
#include <filesystem>
#include <memory>
#include <string>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include "catch.hpp"

using namespace std::chrono_literals;

namespace {
using Clock = std::chrono::steady_clock;

// A pipe closed by its owner: the test's stand-in for stdout or stderr.
struct Pipe {
  int read_end = -1;
  int write_end = -1;
  Pipe() {
    int ends[2];
    REQUIRE(::pipe2(ends, O_CLOEXEC) == 0);
    read_end = ends[0];
    write_end = ends[1];
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  ~Pipe() {
    close_read_end();
    if (write_end >= 0) ::close(write_end);
  }
  void close_read_end() {
    if (read_end >= 0) ::close(read_end);
    read_end = -1;
  }
  // Whatever the pipe holds, waiting at most `limit` for the first byte and then until it is empty.
  std::string drain(std::chrono::milliseconds limit = 2000ms) {
    std::string text;
    const auto deadline = Clock::now() + limit;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      pollfd in{read_end, POLLIN, 0};
      if (::poll(&in, 1, text.empty() ? static_cast<int>(std::max<long long>(left, 0)) : 20) <= 0) return text;
      char buffer[4096];
      const ssize_t n = ::read(read_end, buffer, sizeof buffer);
      if (n <= 0) return text;
      text.append(buffer, static_cast<std::size_t>(n));
    }
  }
};

// SIGPIPE ignored for the test's duration, as a program using LogWriter does in main().
class SigpipeIgnored {
 public:
  SigpipeIgnored() {
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    ::sigaction(SIGPIPE, &ignore, &saved_);
  }
  SigpipeIgnored(const SigpipeIgnored&) = delete;
  SigpipeIgnored& operator=(const SigpipeIgnored&) = delete;
  ~SigpipeIgnored() { ::sigaction(SIGPIPE, &saved_, nullptr); }

 private:
  struct sigaction saved_ {};
};

// Threads of this process, as the kernel counts them.
long thread_count() {
  long count = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/task")) ++count;
  return count;
}

template <class Condition>
bool wait_until(Condition condition, std::chrono::milliseconds limit = 5000ms) {
  const auto deadline = Clock::now() + limit;
  while (!condition()) {
    if (Clock::now() >= deadline) return false;
    ::usleep(2000);
  }
  return true;
}
}  // namespace

TEST_CASE("log writer: lines reach the output in order, each with its newline", "[log_writer]") {
  Pipe out;
  Pipe errors;
  LogWriter log(out.write_end, 1024, errors.write_end);
  log.write("first");
  log.write("second");
  CHECK(log.close(1000ms));
  CHECK(out.drain() == "first\nsecond\n");
  CHECK(log.dropped() == 0);
  CHECK(errors.drain(50ms).empty());
}

TEST_CASE("log writer: with nobody reading, write() never waits, and the lost lines are counted in their place",
          "[log_writer]") {
  Pipe out;
  Pipe errors;
  REQUIRE(::fcntl(out.write_end, F_SETPIPE_SZ, 65536) == 65536);  // 64 lines of 1 KiB fill it
  LogWriter log(out.write_end, 16, errors.write_end);
  const std::string line(1023, 'x');
  const auto start = Clock::now();
  for (int i = 0; i < 10'000; ++i) log.write(line);
  const auto took = Clock::now() - start;
  // 10,000 lines of 1 KiB into a 64 KiB pipe nobody reads: if write() waited for the output, it
  // would never return. It only queues or counts; a second is room for a busy machine.
  CHECK(took < 1s);
  // Kept: at most the queue (16), the batch being written (16) and what the pipe holds (64 lines).
  CHECK(log.dropped() >= 10'000 - 100);

  // The reader comes back. What was kept fits in the pipe now; then one more line, which may not be
  // dropped: the count of the lost lines is written before it, in their place.
  std::string output = out.drain();
  log.write("after the stall", /*may_drop=*/false);
  CHECK(log.close(2000ms) == false);  // some lines were dropped
  output += out.drain();
  INFO(output.substr(output.size() > 300 ? output.size() - 300 : 0));
  // Every lost line is accounted for in the output: the counts of the "[log: N line(s) dropped" lines
  // (one per stretch of losses) add up to dropped().
  long counted = 0;
  for (auto at = output.find("[log: "); at != std::string::npos; at = output.find("[log: ", at + 1))
    counted += std::stol(output.substr(at + 6, 12));
  CHECK(counted == log.dropped());
  CHECK(output.size() >= 16);
  CHECK(output.substr(output.size() - 16) == "after the stall\n");
  CHECK(errors.drain(50ms).empty());  // the output was slow, not gone: nothing to report
}

TEST_CASE("log writer: after EPIPE it stops writing, counts every later line as dropped, and says so once at close",
          "[log_writer]") {
  const SigpipeIgnored ignored;  // otherwise the first write would kill the test program
  Pipe out;
  Pipe errors;
  auto log = std::make_unique<LogWriter>(out.write_end, 1024, errors.write_end);
  // Counted once the writer's thread runs (ThreadSanitizer starts a thread of its own with the first one).
  const long threads_with_writer = thread_count();

  out.close_read_end();  // the reader goes away, as `server | head -n 1` does after one line
  log->write("nobody will read this");
  REQUIRE(wait_until([&] { return log->output_gone(); }));
  // Nothing more to write, ever: the writer's thread has ended instead of retrying every line.
  CHECK(wait_until([&] { return thread_count() == threads_with_writer - 1; }));
  for (int i = 0; i < 5; ++i) log->write(fmt::format("later line {}", i));
  CHECK(log->dropped() == 6);
  CHECK(errors.drain(50ms).empty());  // said at close, not while serving

  const auto start = Clock::now();
  CHECK(log->close(1000ms) == false);
  CHECK(Clock::now() - start < 500ms);  // no grace period is waited out for a reader who is gone
  CHECK(errors.drain() == "[log: the output was closed by its reader (EPIPE); 6 line(s) were not written]\n");
  log.reset();  // the destructor closes again: no second report
  CHECK(errors.drain(50ms).empty());
}
