// process_owners.hpp: owning what a process opens and forks, taught once and used by every lesson,
// exercise solution and benchmark that forks. multiprocessing/process_basics.cpp introduces it; read
// this file after that lesson's first sections.
//
//   OwnedFd               owns one file descriptor and closes it when destroyed.
//   Pipe, make_pipe()     a pipe whose two ends are OwnedFds, both close-on-exec.
//   write_all()           writes every byte, however many write() calls that takes.
//   read_until_eof()      reads until the writer closes its end, or a deadline passes.
//   OwnedChild            owns one forked child: waits for it with a deadline, and kills and reaps it
//                         when destroyed unless it was reaped already. Never signals a reaped child.
//   keep_only_descriptors()  called by a forked child first: keep the descriptors it needs, close the rest.
//
// Python's multiprocessing does all of this for you (Process.join(), Connection.close(), the pipes it
// closes in each child). In C++ you call the POSIX functions yourself, so each resource gets an owner.
// It depends on the standard library, POSIX, Linux system calls (with fallbacks) and playground.hpp.
#pragma once

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>

#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "playground.hpp"

// -------------------------------------------------------------------------------------------------
// Descriptors: OwnedFd, pipes, whole writes and reads
// -------------------------------------------------------------------------------------------------
// A file descriptor is a small number naming an open file, pipe end or socket in this process. Like
// memory, each must be given back (close()), on every path, including an exception thrown halfway.
// OwnedFd does that in its destructor: RAII ("resource acquisition is initialisation"), C++'s answer
// to Python's `with`. It is move-only (`std::exchange(x, v)` sets x to v and returns the old value,
// so the moved-from owner owns nothing), so exactly one owner closes each descriptor.

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

// A pipe is a one-way byte channel: what is written to its write end is read from its read end.
// pipe2(..., O_CLOEXEC) makes both ends *close-on-exec*: a program this process starts with exec
// (posix_spawn, system(), popen() all use it) does not get them. Without the flag, a program started
// while a pipe is open would hold its write end for as long as it runs, and the reader would not see
// end of file until that unrelated program exited. Close-on-exec does nothing across a fork() that is
// not followed by exec, though: for forked children, see keep_only_descriptors() below.
struct Pipe {
  OwnedFd read_end;
  OwnedFd write_end;
};

inline Pipe make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe2");
  return {OwnedFd(fds[0]), OwnedFd(fds[1])};
}

// write() may write fewer bytes than asked (a pipe that is nearly full, a signal arriving halfway), or
// fail with EINTR when a signal interrupts it before it wrote anything: both mean "carry on". False on
// a real error, such as EPIPE: nobody reads the other end any more.
inline bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Milliseconds left until `deadline`, rounded up (so that a wait never wakes just before it), for
// poll(); 0 once it has passed.
inline int ms_until(pg::Clock::time_point deadline) {
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - pg::Clock::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, 24LL * 3600 * 1000));
}

// Read until the writer closes its end (end of file: read() returns 0). A pipe's reader sees end of
// file only when *every* write end is closed, in every process that holds a copy: close the ends you do
// not use. poll() waits for data with a deadline, so a writer that never finishes cannot hang the
// reader. Returns nullopt at the deadline or on an error.
inline std::optional<std::string> read_until_eof(int fd, pg::Clock::time_point deadline) {
  std::string text;
  char buffer[4096];
  for (;;) {
    if (pg::Clock::now() >= deadline) return std::nullopt;
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, ms_until(deadline));
    if (ready < 0 && errno != EINTR) return std::nullopt;
    if (ready <= 0) continue;  // interrupted, or the time is up: the loop checks the deadline
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) return text;
    text.append(buffer, static_cast<std::size_t>(n));
  }
}

// -------------------------------------------------------------------------------------------------
// Children: OwnedChild
// -------------------------------------------------------------------------------------------------
// A child's pid is a resource too: until the parent collects its exit status with waitpid() ("reaps"
// it), an exited child stays a zombie holding its pid. OwnedChild reaps its child on every path: the
// normal path waits with a deadline (wait_for), and the destructor, the emergency path, kills the
// child with SIGKILL (which cannot be caught or ignored) and reaps it at once.
//
// Waiting with a deadline. waitpid(pid, &status, 0) waits forever, and a child stuck in a loop would
// hang the parent. waitpid(..., WNOHANG) only asks, so the simple way to wait with a deadline is to ask
// every millisecond: a thousand wake-ups a second, and up to a millisecond late. Linux 5.3 added a
// better way: pidfd_open(pid) gives a *descriptor for the process*, which becomes readable when the
// process ends, so poll() can sleep until the child ends or the deadline passes, whichever is first,
// like any other wait with a timeout. OwnedChild opens one when the kernel has it and falls back to
// asking every millisecond when it does not (older kernels, or a sandbox that forbids the call).
//
// Never signal or wait for a pid that was already reaped. Once a child is reaped, its pid is free
// and the kernel may give it to any new process, even to another child of ours: kill(pid, SIGKILL)
// would then kill a stranger, and waitpid(pid) would reap one. This happens when the child was
// reaped behind the owner's back (someone called waitpid(-1), or SIGCHLD is ignored). A pidfd names
// the process itself, not its number, so every question and signal goes through it when there is
// one: waitid(P_PIDFD) reaps that very process or fails with ECHILD, and pidfd_send_signal fails
// with ESRCH once it is gone. Without a pidfd, the owner still never signals after a failed wait
// (ECHILD: it marks the child reaped), and asks waitpid(WNOHANG) before it kills; only a pid reused
// between the moment someone else reaped it and that question can fool it.

class OwnedChild {
 public:
  OwnedChild() = default;
  explicit OwnedChild(pid_t pid) : pid_(pid) {
#ifdef SYS_pidfd_open
    // A pidfd is always close-on-exec. It may fail (ENOSYS before Linux 5.3): then pidfd_ stays -1.
    pidfd_ = OwnedFd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
#endif
  }
  OwnedChild(OwnedChild&& other) noexcept
      : pid_(std::exchange(other.pid_, 0)), pidfd_(std::move(other.pidfd_)), reaped_(other.reaped_) {}
  OwnedChild& operator=(OwnedChild&& other) noexcept {
    if (this != &other) {
      kill_and_reap();
      pid_ = std::exchange(other.pid_, 0);
      pidfd_ = std::move(other.pidfd_);
      reaped_ = other.reaped_;
    }
    return *this;
  }
  OwnedChild(const OwnedChild&) = delete;
  OwnedChild& operator=(const OwnedChild&) = delete;
  ~OwnedChild() { kill_and_reap(); }

  [[nodiscard]] pid_t pid() const { return pid_; }          // still known after reaping, for messages
  [[nodiscard]] int pidfd() const { return pidfd_.get(); }  // -1 when the kernel has no pidfd_open
  [[nodiscard]] bool reaped() const { return reaped_ || pid_ <= 0; }
  void mark_reaped() { reaped_ = true; }  // for code that called waitpid() itself

  // Wait until the child ends, or `limit` passes. Returns its wait status (decode it with WIFEXITED and
  // friends), having reaped it; or nullopt if it is still running at the limit. Throws if the child
  // was reaped by someone else (ECHILD), after noting that there is nothing left to kill.
  std::optional<int> wait_for(std::chrono::milliseconds limit) {
    const auto deadline = pg::Clock::now() + limit;
    for (;;) {
      if (const std::optional<int> status = reap(WNOHANG)) return status;
      if (pg::Clock::now() >= deadline) return std::nullopt;
      if (pidfd_.get() >= 0) {
        pollfd p{pidfd_.get(), POLLIN, 0};  // readable once the child has ended
        ::poll(&p, 1, ms_until(deadline));  // an EINTR, or the limit, brings us back to ask again
      } else {
        std::this_thread::sleep_for(
            std::min<pg::Clock::duration>(deadline - pg::Clock::now(), std::chrono::milliseconds(1)));
      }
    }
  }

  // Kill the child with SIGKILL and reap it; its wait status, or nullopt if there was nothing to reap.
  // The wait after SIGKILL blocks, but only for as long as the kernel takes to end the process.
  std::optional<int> kill_and_reap() noexcept {
    try {
      if (reaped()) return std::nullopt;
      if (const std::optional<int> status = reap(WNOHANG)) return status;  // it had ended already
      if (pidfd_.get() >= 0) {
#ifdef SYS_pidfd_send_signal
        ::syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGKILL, nullptr, 0);
#endif
      } else {
        ::kill(pid_, SIGKILL);  // still our unreaped child: its pid cannot belong to anyone else
      }
      return reap(0);
    } catch (const std::system_error&) {  // ECHILD: reaped by someone else; nothing to do
      return std::nullopt;
    }
  }

 private:
  // One question to the kernel about this child: with WNOHANG, nullopt while it runs; without, wait
  // until it ends. Reaps it and returns its wait status once it has ended. Throws on an error (ECHILD
  // marks the child reaped first: it is not ours to signal any more).
  std::optional<int> reap(int options) {
    for (;;) {
      int status = 0;
      pid_t done = 0;
      if (pidfd_.get() >= 0) {
        siginfo_t info{};
        done = ::waitid(idtype_pidfd, static_cast<id_t>(pidfd_.get()), &info, WEXITED | options);
        if (done == 0) {
          done = info.si_pid;  // 0 when WNOHANG found it still running
          status = info.si_code == CLD_EXITED ? W_EXITCODE(info.si_status, 0) : info.si_status;
        }
      } else {
        done = ::waitpid(pid_, &status, options);
      }
      if (done > 0) {
        reaped_ = true;
        return status;
      }
      if (done == 0) return std::nullopt;
      if (errno == EINTR) continue;
      if (errno == EINVAL && pidfd_.get() >= 0) {  // Linux 5.3 has pidfd_open but not P_PIDFD: use the pid
        pidfd_.reset();
        continue;
      }
      if (errno == ECHILD) reaped_ = true;
      throw std::system_error(errno, std::generic_category(), "waitpid");
    }
  }

  static constexpr idtype_t idtype_pidfd = static_cast<idtype_t>(3);  // P_PIDFD (Linux 5.4): wait by pidfd

  pid_t pid_ = 0;
  OwnedFd pidfd_;
  bool reaped_ = false;
};

// -------------------------------------------------------------------------------------------------
// A forked child keeps only the descriptors it needs
// -------------------------------------------------------------------------------------------------
// fork() copies every descriptor the parent holds, close-on-exec or not: that flag acts at exec, and a
// forked child that runs our code never calls exec. So a child inherits whatever was open when it was
// forked: its siblings' pipe ends, another pool's task pipes, a listening socket. Each copy it holds
// keeps that pipe open: a reader elsewhere waits for end of file until this child exits, and a worker
// of another pool never learns that its pool shut down. (Measured: with two process pools alive, the
// first pool's shutdown waited 10 s and then had to kill its idle worker, because the second pool's
// worker held its task pipe open.) Closing only the ends one knows about misses everything else.
//
// So the first thing a forked child does is keep what it needs and close everything else:
//   1. move the descriptors it keeps to fixed numbers, 3, 4, 5, ... (after stdin 0, stdout 1 and
//      stderr 2, which it keeps): first copy each above that range with fcntl(F_DUPFD_CLOEXEC), so
//      that no move overwrites a descriptor still to be moved, then dup3() each copy onto its number;
//   2. close every descriptor above them in one call, close_range(first, ~0U) (Linux 5.9, glibc
//      2.34); where close_range is missing, close each number up to the open-file limit, one by one.
// `fds` holds the descriptors to keep; on return each entry holds its new number (3, 4, ...). Every
// call here is async-signal-safe, so a child forked from a process with threads may use it too.
// Returns false if a descriptor could not be moved: the child should then _exit at once.
inline void close_descriptors_one_by_one(int first) {
  rlimit limit{};
  ::getrlimit(RLIMIT_NOFILE, &limit);
  // A descriptor may sit above a soft limit that was lowered after it was opened: go to the hard limit.
  const rlim_t last = std::min<rlim_t>(limit.rlim_max, 1 << 20);
  for (rlim_t fd = static_cast<rlim_t>(first); fd < last; ++fd) ::close(static_cast<int>(fd));
}

inline void close_descriptors_from(int first) {
#ifdef SYS_close_range
  if (::syscall(SYS_close_range, static_cast<unsigned>(first), ~0U, 0) == 0) return;
#endif
  close_descriptors_one_by_one(first);  // no close_range (before Linux 5.9, or a sandbox forbids it)
}

inline bool keep_only_descriptors(std::span<int> fds) {
  const int first_free = 3 + static_cast<int>(fds.size());
  for (int& fd : fds) {
    fd = ::fcntl(fd, F_DUPFD_CLOEXEC, first_free);  // a copy above 3, 4, ...: nothing to overwrite
    if (fd < 0) return false;
  }
  for (std::size_t i = 0; i < fds.size(); ++i) {
    const int target = 3 + static_cast<int>(i);
    if (::dup3(fds[i], target, O_CLOEXEC) < 0) return false;
    fds[i] = target;
  }
  close_descriptors_from(first_free);  // the copies, and everything else the child inherited
  return true;
}
