// log_writer.hpp: a log that never stalls the program that writes it. Both echo servers
// (networking/tcp_echo_server and networking/blocking_echo_server) use it.
//
// Writing to stdout can block: when stdout is a pipe (`| less`, `| tee`, a supervisor) and the reader
// stops reading, the pipe fills (64 KiB on Linux) and the next write waits for as long as the reader
// does. A server that wrote its log lines itself would then stop serving: on an event loop's thread it
// would stop every connection at once, Ctrl-C included (the very mistake of calling blocking code in a
// coroutine: basics/blocking_work_in_async); from connection threads it would freeze them one by one,
// and a thread that logged while holding the server's mutex would freeze the whole server.
//
// So the server never writes its log itself. It hands each line to a LogWriter: a bounded queue
// drained by a thread of its own (Python: logging.handlers.QueueHandler + QueueListener, with a
// bounded queue). write() takes the queue's mutex for a moment and returns; if `capacity` lines are
// already waiting, the line is dropped and counted instead, and the count is written in the place
// of the lost lines ("[log: 1234 line(s) dropped ...]"). Serving never waits for the output, and the
// memory the log can take is bounded.
//
// The writer thread itself must not hang either, or the program could not exit: it waits for room
// with poll() (a few ms at a time, checking whether it should give up), then writes at most PIPE_BUF
// bytes, which poll() has promised will not block. close() gives it a grace period to write what is
// queued, then it gives up and the rest counts as dropped.
//
// And the reader may go away altogether: `server | head -n 3` once head has its three lines, or a log
// collector that restarts. The next write to the pipe then raises SIGPIPE, whose default action kills
// the whole process, whichever thread wrote. Asio does not ignore SIGPIPE on Linux, and MSG_NOSIGNAL
// covers sockets only, not a stdout pipe. So a program that uses LogWriter ignores SIGPIPE first
// thing in main(), before it starts any thread (std::signal(SIGPIPE, SIG_IGN), as CPython does at
// startup); the write then fails with EPIPE instead. A pipe whose reader has gone never gets one back,
// so after EPIPE the writer stops writing for good: every line still queued and every later one counts
// as dropped, and close() says so once on stderr ("[log: the output was closed by its reader ...]"), if stderr
// can still take it. Everything the program prints while it serves goes through the writer, its
// summary included, so a stdout nobody reads, or nobody at all, costs log lines, never the server.

#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include <poll.h>
#include <unistd.h>

class LogWriter {
 public:
  // `fd` is where the lines go (STDOUT_FILENO in the servers); `error_fd` is where close() reports an
  // output that went away (stderr; the tests pass a pipe of their own).
  explicit LogWriter(int fd, std::size_t capacity = 1024, int error_fd = STDERR_FILENO)
      : fd_(fd), error_fd_(error_fd), capacity_(capacity) {}
  LogWriter(const LogWriter&) = delete;
  LogWriter& operator=(const LogWriter&) = delete;
  ~LogWriter() { close(std::chrono::milliseconds(0)); }

  // Queue `text` (a '\n' is added); never waits for the output. Safe from any thread. With `may_drop`
  // false the line is queued even when the queue is full: for the few lines a program prints at its end.
  void write(std::string text, bool may_drop = true) {
    {
      std::lock_guard lock(mutex_);
      if (output_gone_) {  // nobody will ever read it: count it, and keep nothing
        ++dropped_;
        return;
      }
      if (may_drop && queue_.size() + (unreported_ > 0 ? 1 : 0) >= capacity_) {
        ++unreported_;
        ++dropped_;
        return;
      }
      if (unreported_ > 0) queue_.push_back(dropped_text(std::exchange(unreported_, 0)));
      text += '\n';
      queue_.push_back(std::move(text));
    }
    wake_.notify_one();
  }

  // Write what is queued, waiting at most `grace` for the output to take it, then stop the thread.
  // True when every line was written; the program calls it once, last. If the output went away, says
  // so on error_fd.
  bool close(std::chrono::milliseconds grace) {
    if (!thread_.joinable()) return dropped() == 0;
    {
      std::lock_guard lock(mutex_);
      give_up_at_ = Clock::now() + grace;  // written before closing_ is set: seen by whoever sees it set
      closing_ = true;
    }
    wake_.notify_one();
    thread_.join();
    std::lock_guard lock(mutex_);
    if (output_gone_) {
      const std::string report =
          fmt::format("[log: the output was closed by its reader (EPIPE); {} line(s) were not written]\n", dropped_);
      (void)!::write(error_fd_, report.data(), report.size());  // if stderr is gone too, nobody can be told
    }
    return dropped_ == 0;
  }

  // Lines lost so far: dropped when the queue was full, not written before close() gave up, or not
  // written because the output went away.
  [[nodiscard]] long dropped() const {
    std::lock_guard lock(mutex_);
    return dropped_;
  }

  // True once a write failed with EPIPE: the reader is gone, and nothing more is written.
  [[nodiscard]] bool output_gone() const {
    std::lock_guard lock(mutex_);
    return output_gone_;
  }

 private:
  using Clock = std::chrono::steady_clock;
  enum class Outcome { written, gave_up, failed, gone };

  static std::string dropped_text(long count) {
    return fmt::format("[log: {} line(s) dropped: the output was not being read fast enough]\n", count);
  }

  void run() {
    std::unique_lock lock(mutex_);
    for (;;) {
      wake_.wait(lock, [this] { return !queue_.empty() || closing_.load(); });
      if (queue_.empty()) {  // closing, and everything queued was written
        if (unreported_ > 0) queue_.push_back(dropped_text(std::exchange(unreported_, 0)));
        if (queue_.empty()) return;
      }
      std::deque<std::string> batch;
      batch.swap(queue_);
      lock.unlock();
      long lost = 0;
      Outcome outcome = Outcome::written;
      for (const auto& text : batch) {
        if (outcome == Outcome::written) outcome = write_out(text);
        if (outcome != Outcome::written) ++lost;  // once the output fails, the rest of the batch is lost too
      }
      lock.lock();
      dropped_ += lost;
      if (outcome == Outcome::gone) {
        output_gone_ = true;                           // from now on write() only counts
        dropped_ += static_cast<long>(queue_.size());  // queued meanwhile: never written either
        queue_.clear();
        return;
      }
      if (lost > 0 && closing_.load()) return;  // gave up: close()'s grace period is over
    }
  }

  // Write all of `text`, never blocking for long. `gone` when the reader has left (EPIPE); `failed`
  // for another error (this batch is lost, the next one tries again); `gave_up` when close()'s grace
  // period is over.
  Outcome write_out(std::string_view text) {
    while (!text.empty()) {
      if (closing_.load() && Clock::now() >= give_up_at_) return Outcome::gave_up;
      pollfd out{fd_, POLLOUT, 0};
      const int ready = ::poll(&out, 1, 20);  // 20 ms at a time, to notice close() giving up
      if (ready == 0 || (ready < 0 && errno == EINTR)) continue;
      if (ready < 0) return Outcome::failed;
      const ssize_t written = ::write(fd_, text.data(), std::min<std::size_t>(text.size(), PIPE_BUF));
      if (written < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        return errno == EPIPE ? Outcome::gone : Outcome::failed;
      }
      text.remove_prefix(static_cast<std::size_t>(written));
    }
    return Outcome::written;
  }

  int fd_;
  int error_fd_;
  std::size_t capacity_;
  mutable std::mutex mutex_;               // guards queue_, unreported_, dropped_ and output_gone_
  std::condition_variable wake_;           // a line was queued, or close() was called
  std::deque<std::string> queue_;          // lines waiting to be written, each with its '\n'
  long unreported_ = 0;                    // lines dropped since the last "[log: ... dropped]" line
  long dropped_ = 0;                       // lines dropped in all
  bool output_gone_ = false;               // a write failed with EPIPE: nothing more is written
  std::atomic<bool> closing_{false};       // set once, under the mutex, by close()
  Clock::time_point give_up_at_{};         // written before closing_ is set, read after it is seen set
  std::thread thread_{[this] { run(); }};  // last: starts once every member above exists
};
