// Helpers for the networking tests (the async server, the blocking server and the client): a plain
// TCP connection whose every read and write has a time limit, a child process whose stdout can be read
// line by line with a time limit, and a count of this process's open file descriptors. Nothing here
// can block forever: a failing test fails, it never hangs.
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support.hpp"

extern char** environ;

namespace net_test {

using Millis = std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

// A file next to this header (the Python scripts the interoperability tests run). The path comes from
// TRACE_CHECK_SCRIPT, tests/trace_check.py found from the build folder (tests/support.hpp): `__FILE__`
// may be relative to the build folder, and ctest runs each test program from another folder.
inline std::filesystem::path tests_folder() { return std::filesystem::path(TRACE_CHECK_SCRIPT).parent_path(); }

inline std::string script_path(std::string_view name) { return (tests_folder() / "networking" / name).string(); }

// A file in the repository's bench/ folder (its asyncio echo server serves the bench and the tests).
inline std::string bench_path(std::string_view name) {
  return (tests_folder().parent_path() / "bench" / name).string();
}

// How many file descriptors this process has open right now.
inline int count_open_fds() {
  int count = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) ++count;
  return count - 1;  // the directory iterator's own descriptor
}

// How many file descriptors process `pid` has open right now (0 if it is gone).
inline int count_open_fds(pid_t pid) {
  int count = 0;
  std::error_code error;
  for (std::filesystem::directory_iterator it(fmt::format("/proc/{}/fd", pid), error), end; !error && it != end;
       it.increment(error))
    ++count;
  return count;
}

// Wait until `condition()` holds, checking every few ms, for at most `limit`. Returns the last value.
template <class Condition>
bool wait_until(Condition condition, Millis limit = Millis(5000)) {
  const auto deadline = SteadyClock::now() + limit;
  while (!condition()) {
    if (SteadyClock::now() >= deadline) return false;
    ::usleep(2000);
  }
  return true;
}

// Wait for `events` on `fd` for at most `limit`. True when ready.
inline bool wait_fd(int fd, short events, SteadyClock::time_point deadline) {
  for (;;) {
    const auto left = std::chrono::duration_cast<Millis>(deadline - SteadyClock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, events, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(left));
    if (ready > 0) return true;
    if (ready < 0 && errno != EINTR) return false;
  }
}

// A client connection made with plain POSIX calls (not with the code under test). Reads return what
// arrived before the deadline; `eof` says the peer closed.
class Connection {
 public:
  // Connect to 127.0.0.1:port (blocking connect: on loopback it completes or fails at once).
  explicit Connection(unsigned short port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::runtime_error(fmt::format("socket: {}", std::strerror(errno)));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
      const int error = errno;
      ::close(fd_);
      throw std::runtime_error(fmt::format("connect to port {}: {}", port, std::strerror(error)));
    }
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  Connection(Connection&& other) noexcept : fd_(std::exchange(other.fd_, -1)), eof_(other.eof_) {}
  ~Connection() { close(); }

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  // Send everything (within `limit`); false if the peer is gone or the limit passed.
  bool send(std::string_view bytes, Millis limit = Millis(5000)) {
    const auto deadline = SteadyClock::now() + limit;
    while (!bytes.empty()) {
      if (!wait_fd(fd_, POLLOUT, deadline)) return false;
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // Read until `count` bytes arrived, the peer closed, or `limit` passed; returns what arrived.
  std::string read_exactly(std::size_t count, Millis limit = Millis(5000)) {
    const auto deadline = SteadyClock::now() + limit;
    std::string out;
    while (out.size() < count && !eof_) {
      if (!wait_fd(fd_, POLLIN, deadline)) break;
      if (!read_some(out, count - out.size())) break;
    }
    return out;
  }

  // Read until the peer closes or `limit` passes; returns what arrived (check eof()).
  std::string read_to_eof(Millis limit = Millis(5000)) {
    const auto deadline = SteadyClock::now() + limit;
    std::string out;
    while (!eof_) {
      if (!wait_fd(fd_, POLLIN, deadline)) break;
      if (!read_some(out, 65536)) break;
    }
    return out;
  }

  // True when the peer closes (FIN or reset) within `limit` without sending anything more.
  bool closed_by_peer(Millis limit = Millis(5000)) { return read_to_eof(limit).empty() && eof_; }

  // "I am done sending": the peer reads EOF, and we can still read.
  void shutdown_write() { ::shutdown(fd_, SHUT_WR); }

  // Close with a TCP reset instead of the polite FIN (SO_LINGER with a zero timeout).
  void reset() {
    linger hard{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
    close();
  }

  [[nodiscard]] bool eof() const { return eof_; }
  [[nodiscard]] int fd() const { return fd_; }

 private:
  bool read_some(std::string& out, std::size_t most) {
    char buffer[65536];
    const ssize_t n = ::recv(fd_, buffer, std::min(most, sizeof buffer), MSG_DONTWAIT);
    if (n > 0) {
      out.append(buffer, static_cast<std::size_t>(n));
      return true;
    }
    if (n == 0) {
      eof_ = true;
      return false;
    }
    if (errno == EAGAIN || errno == EINTR) return true;
    eof_ = true;  // reset: no more data will come
    return false;
  }

  int fd_ = -1;
  bool eof_ = false;
};

// A program started with its stdout on a pipe that the test reads line by line, each read bounded.
// The destructor kills (SIGKILL) and reaps it if it is still running.
class Child {
 public:
  Child(const std::string& path, const std::vector<std::string>& args) {
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    std::vector<std::string> storage{path};
    storage.insert(storage.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& s : storage) argv.push_back(s.data());
    argv.push_back(nullptr);
    const int rc = ::posix_spawn(&pid_, path.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(out[1]);
    if (rc != 0) {
      ::close(out[0]);
      throw std::runtime_error(fmt::format("cannot start {}: {}", path, std::strerror(rc)));
    }
    out_ = out[0];
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (pid_ > 0 && !status_) {
      ::kill(pid_, SIGKILL);
      wait(Millis(5000));
    }
    if (out_ >= 0) ::close(out_);
  }

  // The next line of stdout (without its '\n'), or nothing if none came within `limit`.
  std::optional<std::string> read_line(Millis limit = Millis(5000)) {
    const auto deadline = SteadyClock::now() + limit;
    for (;;) {
      if (auto newline = pending_.find('\n'); newline != std::string::npos) {
        std::string line = pending_.substr(0, newline);
        pending_.erase(0, newline + 1);
        output_ += line + "\n";
        return line;
      }
      if (!wait_fd(out_, POLLIN, deadline)) return std::nullopt;
      char buffer[4096];
      const ssize_t n = ::read(out_, buffer, sizeof buffer);
      if (n == 0) return std::nullopt;
      if (n > 0) pending_.append(buffer, static_cast<std::size_t>(n));
    }
  }

  // Read lines until one starts with `prefix`; returns the rest of that line.
  std::optional<std::string> wait_for_line(std::string_view prefix, Millis limit = Millis(5000)) {
    const auto deadline = SteadyClock::now() + limit;
    while (SteadyClock::now() < deadline) {
      auto line = read_line(std::chrono::duration_cast<Millis>(deadline - SteadyClock::now()));
      if (!line) return std::nullopt;
      if (line->rfind(prefix, 0) == 0) return line->substr(prefix.size());
    }
    return std::nullopt;
  }

  // The port in the program's "listening on ADDRESS:PORT" line (every echo server here prints one
  // first), or 0 if no such line came within `limit`.
  unsigned short listening_port(Millis limit = Millis(5000));

  // Everything read from stdout so far, plus whatever comes until EOF or `limit`.
  std::string rest_of_output(Millis limit = Millis(2000)) {
    while (read_line(limit)) {
    }
    return output_ + pending_;
  }

  void signal(int number) const { ::kill(pid_, number); }

  // Shrink the program's stdout pipe to one page (the kernel's minimum), so that a test fills it with a
  // few dozen log lines. Call it right after starting the program. Returns the pipe's size in bytes.
  int shrink_output_pipe() {
    (void)::fcntl(out_, F_SETPIPE_SZ, 4096);  // fails (EBUSY) if more is already unread: the size stays
    return ::fcntl(out_, F_GETPIPE_SZ);
  }

  // The reader of the program's stdout goes away, as `program | head -n 1` does once it has its line:
  // the program's next write to stdout fails with EPIPE (or kills it with SIGPIPE).
  void close_output() {
    if (out_ >= 0) ::close(out_);
    out_ = -1;
  }

  // Bytes the program wrote to stdout that the test has not read yet.
  [[nodiscard]] int unread_output() const {
    int unread = 0;
    ::ioctl(out_, FIONREAD, &unread);
    return unread;
  }

  // Read and keep whatever stdout holds now, without waiting for more.
  void read_available() {
    char buffer[4096];
    while (wait_fd(out_, POLLIN, SteadyClock::now() + Millis(5))) {
      const ssize_t n = ::read(out_, buffer, sizeof buffer);
      if (n <= 0) return;
      pending_.append(buffer, static_cast<std::size_t>(n));
    }
  }

  // Wait up to `limit` for the program to exit; its wait status, or nothing if it is still running.
  std::optional<int> wait(Millis limit) {
    const auto deadline = SteadyClock::now() + limit;
    while (!status_) {
      int status = 0;
      const pid_t done = ::waitpid(pid_, &status, WNOHANG);
      if (done == pid_) {
        status_ = status;
      } else if (SteadyClock::now() >= deadline) {
        return std::nullopt;
      } else {
        ::usleep(2000);
      }
    }
    return status_;
  }

  [[nodiscard]] pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  std::string pending_;
  std::string output_;
  std::optional<int> status_;
};

// The port in "listening on 127.0.0.1:PORT" (0 if the text is not a port).
inline unsigned short port_after_colon(std::string_view text) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos) return 0;
  int port = 0;
  for (char c : text.substr(colon + 1)) {
    if (c < '0' || c > '9') return 0;
    port = port * 10 + (c - '0');
    if (port > 65535) return 0;
  }
  return static_cast<unsigned short>(port);
}

inline unsigned short Child::listening_port(Millis limit) {
  const auto address = wait_for_line("listening on ", limit);
  return address ? port_after_colon(*address) : 0;
}

}  // namespace net_test
