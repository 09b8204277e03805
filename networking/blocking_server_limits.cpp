// blocking_server_limits: what the thread-per-connection server needs before it meets real load.
//
// What you will see: networking/blocking_echo_server, the previous lesson, made to survive four things
// a real server runs into. The open-file limit (ulimit -n) is lower than the connection cap, so the
// cap is fitted to it and the program says so at start. Descriptors run out anyway (something else
// holds them): a spare descriptor lets the server refuse the waiting client at once instead of
// leaving it unanswered. accept() fails: errors about one client or one moment are retried, with a
// pause that doubles while they go on, and only a broken listening socket stops the server. And a
// reaper thread joins each finished connection at once, where the previous lesson waited for the
// next client.
//
// Run it:   build/default/networking/blocking_server_limits --port 8888
//   then, in another terminal:   nc 127.0.0.1 8888      (type lines; each comes back as you sent it)
// Build it by hand:
//   g++ -std=c++20 -O2 -I common networking/blocking_server_limits.cpp -lfmt -pthread -o blocking_server_limits
//
// Mirrors what Python leaves to you around socketserver.ThreadingTCPServer:
//   resource.getrlimit(resource.RLIMIT_NOFILE)   -> getrlimit(RLIMIT_NOFILE, ...)
//   except OSError as e: if e.errno == EMFILE     -> accept_failed(errno), with a spare descriptor
//   time.sleep(pause); pause = min(pause * 2, 1)  -> a wait that stop() can end early
//   a thread that joins finished handler threads  -> the reaper
//   class MyServer(ThreadingTCPServer): ...       -> class ResilientEchoServer : public BlockingEchoServer
//
// How to read this file: the server, its connection loop and its program come from the previous
// lesson's file, included below; this one overrides the parts that meet the limits.

#include <condition_variable>
#include <filesystem>
#include <iterator>

#include <fcntl.h>
#include <sys/resource.h>

// The server, from the previous lesson's file (its main() left out: ours is below). Including a .cpp
// file is unusual; it keeps this lesson buildable with one g++ command.
#define BLOCKING_ECHO_SERVER_ONLY
#include "blocking_echo_server.cpp"

// -------------------------------------------------------------------------------------------------
// 1. The connection cap, fitted to the open-file limit
// -------------------------------------------------------------------------------------------------
// Every connection holds a descriptor, and the open-file limit (ulimit -n; 1024 is a common default)
// caps them. A cap on connections above that limit could never be reached: accept() would fail with
// EMFILE first, and the clients over the limit would wait silently in the backlog. So open() lowers
// --max-connections to the limit minus the descriptors the program needs anyway, and says so.

// Descriptors kept free besides one per connection, for the C library and the sanitizers.
constexpr int descriptors_headroom = 4;

// Descriptors open now: stdin, stdout, stderr, the listening socket, the spare (section 2), and any
// the program inherited. Counted in /proc/self/fd, whose own descriptor is not counted.
int descriptors_open() {
  return static_cast<int>(std::distance(std::filesystem::directory_iterator("/proc/self/fd"), {})) - 1;
}

// The cap the open-file limit `soft_limit` allows, with `in_use` descriptors taken: at most `wanted`,
// and at least 1.
int open_file_cap(int wanted, rlim_t soft_limit, int in_use) {
  if (soft_limit == RLIM_INFINITY) return wanted;
  const long long room = static_cast<long long>(soft_limit) - in_use - descriptors_headroom;
  return static_cast<int>(std::clamp<long long>(room, 1, wanted));
}

// The previous lesson's server with the overrides of this one. `override` says a function replaces
// the base class's `virtual` one (and makes a typo in its name an error). The base class's mutex_
// guards this class's fields too, and wake_ waits on it.
class ResilientEchoServer : public BlockingEchoServer {
 public:
  using BlockingEchoServer::BlockingEchoServer;  // the same constructor
  ~ResilientEchoServer() override {
    ResilientEchoServer::stop();
    if (spare_fd_ >= 0) ::close(spare_fd_);
  }

  // The base's open() (bind, listen, "listening on"), then the spare descriptor and the fitted cap.
  std::string open() override {
    if (std::string error = BlockingEchoServer::open(); !error.empty()) return error;
    spare_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    rlimit files{};
    ::getrlimit(RLIMIT_NOFILE, &files);
    const int in_use = descriptors_open();
    if (const int cap = open_file_cap(config_.max_connections, files.rlim_cur, in_use); cap < config_.max_connections) {
      cap_note_ = fmt::format(
          "--max-connections lowered from {} to {}: the open-file limit (ulimit -n) is {}, {} descriptors are "
          "in use, {} kept free, and each connection needs one",
          config_.max_connections, cap, files.rlim_cur, in_use, descriptors_headroom);
      log(cap_note_);
      config_.max_connections = cap;
    }
    return {};
  }
  [[nodiscard]] const std::string& cap_note() const { return cap_note_; }  // why the cap was lowered, if it was

  // The base's accept loop, with the reaper (section 4) running beside it.
  bool serve() override {
    std::thread reaper([this] { reap_until_stopped(); });
    const bool healthy = BlockingEchoServer::serve();
    {
      std::lock_guard lock(mutex_);
      reaper_done_ = true;
    }
    wake_.notify_all();
    reaper.join();
    return healthy;
  }

  // The base's stop(), then wake the reaper and an accept loop pausing after an error. stopping_ was
  // set under mutex_, and they check it under mutex_: neither can miss this wake-up.
  void stop() override {
    BlockingEchoServer::stop();
    wake_.notify_all();
  }

 private:
  bool accept_failed(int error) override;  // section 3
  void serve_or_refuse_waiting_client();   // section 2
  void reap_until_stopped();               // section 4

  // A client accepted ends a run of accept() failures: the next failure pauses 10 ms again.
  void start_connection(int fd, const std::string& peer) override {
    accept_pause_ = std::chrono::milliseconds(10);
    BlockingEchoServer::start_connection(fd, peer);
  }
  // Called on a connection's thread once it has marked itself finished: the reaper has work.
  void connection_finished() override { wake_.notify_all(); }

  int spare_fd_ = -1;  // held in reserve for refusing a client when descriptors run out
  std::string cap_note_;
  std::chrono::milliseconds accept_pause_{10};  // how long to wait after a failed accept(); accept thread only
  std::condition_variable wake_;                // a connection finished, stop() was called, or serve() ends
  bool reaper_done_ = false;                    // serve() is ending: the reaper returns; guarded by mutex_
};

// -------------------------------------------------------------------------------------------------
// 2. Out of descriptors anyway: the spare
// -------------------------------------------------------------------------------------------------
// Out of descriptors despite the cap (something else holds them), accept() fails at once, whether or
// not a client waits (the kernel takes the new descriptor before it waits), and a waiting client would
// stay in the backlog, unanswered. So the server keeps one spare descriptor (open() took it). It waits
// up to a second for a client; when one comes and still no descriptor is free, it lets the spare go,
// accepts the client on it, closes that at once (the client is refused, not left hanging) and takes
// the spare back.
void ResilientEchoServer::serve_or_refuse_waiting_client() {
  if (!wait_ready(listen_fd_, POLLIN, true, EchoClock::now() + std::chrono::seconds(1)) || stopping_.load()) return;
  sockaddr_storage peer{};
  socklen_t length = sizeof peer;
  int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &length, SOCK_CLOEXEC);
  if (fd >= 0) return start_connection(fd, format_peer(peer));  // a descriptor was freed meanwhile
  if (errno != EMFILE && errno != ENFILE) return;
  ::close(spare_fd_);
  fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &length, SOCK_CLOEXEC);
  if (fd >= 0) ::close(fd);
  spare_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);  // -1 if it was taken meanwhile: no spare then
  if (fd >= 0) log(fmt::format("connection from {}: refused, out of file descriptors (ulimit -n)", format_peer(peer)));
}

// -------------------------------------------------------------------------------------------------
// 3. When accept() fails: retry, with a pause that grows
// -------------------------------------------------------------------------------------------------
// Errors of accept() that mean the listening socket itself is unusable, so retrying cannot help: it
// was closed or shut down (EBADF, EINVAL: what stop() causes), or is not a listening TCP socket.
// Every other error is about one client or one moment: a client that gave up while queued
// (ECONNABORTED), a signal (EINTR), no free descriptor (EMFILE, ENFILE), no kernel memory (ENOBUFS,
// ENOMEM), a firewall (EPERM), a protocol or network error passed on from the new connection (EPROTO,
// ENETDOWN, EHOSTUNREACH, ...). The server survives those.
bool accept_error_is_fatal(int error) {
  return error == EBADF || error == EINVAL || error == ENOTSOCK || error == EOPNOTSUPP || error == EFAULT;
}

// What serve() does when accept() fails; false when the listening socket is unusable. A client that
// gave up (ECONNABORTED) or a signal (EINTR) is retried at once, without a log line. Out of
// descriptors, a waiting client is refused with the spare. Any other error is logged and retried
// after a pause, 10 ms doubling up to 1 s while the failures go on, so that it cannot turn into a
// loop that spins at 100% CPU.
bool ResilientEchoServer::accept_failed(int error) {
  if (stopping_.load() || error == EINTR || error == ECONNABORTED) return true;  // serve() checks stopping_
  if (accept_error_is_fatal(error)) {
    log(fmt::format("accept failed: {}; the listening socket is unusable, stopping", std::strerror(error)));
    return false;
  }
  if ((error == EMFILE || error == ENFILE) && spare_fd_ >= 0) {
    serve_or_refuse_waiting_client();
    return true;
  }
  log(fmt::format("accept failed: {}; retrying in {} ms", std::strerror(error), accept_pause_.count()));
  std::unique_lock lock(mutex_);
  wake_.wait_for(lock, accept_pause_, [this] { return stopping_.load(); });  // stop() ends the pause
  accept_pause_ = std::min(accept_pause_ * 2, std::chrono::milliseconds(1000));
  return true;
}

// -------------------------------------------------------------------------------------------------
// 4. The reaper: finished connections freed at once
// -------------------------------------------------------------------------------------------------
// The previous lesson's accept loop joins finished connections only when the next client connects:
// after a burst of clients, their sockets and stacks stay until someone connects. The reaper, a
// thread of its own, joins each finished connection thread (which frees its stack) and closes its
// socket within moments of the client leaving. It uses the base class's reap(), so the rule of the
// previous lesson still holds: a socket is closed only once its thread has been joined.
void ResilientEchoServer::reap_until_stopped() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return unreaped_ > 0 || reaper_done_; });
    if (reaper_done_) return;
    lock.unlock();
    reap(false);
    lock.lock();
  }
}

// -------------------------------------------------------------------------------------------------
// 5. The program: the previous lesson's, with this server
// -------------------------------------------------------------------------------------------------
#ifndef PLAYGROUND_NO_MAIN  // the tests include this file and bring their own main
int main(int argc, char** argv) {
  return run_server_program<ResilientEchoServer>(
      argc, argv, "blocking_server_limits",
      "The thread-per-connection echo server, made to survive the open-file limit, accept() errors and bursts of "
      "clients.",
      "\nTakeaway: a server meets its limits by plan: a cap that fits the open-file limit, a client refused\n"
      "rather than left waiting, a retry that slows down, and every finished connection freed at once.");
}
#endif

// What is left open, on purpose: the deadline is per line, with no bound on a connection's life or on
// one client's share. A client that sends a short line just inside every deadline keeps its thread
// for ever, so --max-connections such clients (from one address or many) keep everyone else out. A
// server facing the internet adds a minimum rate, a lifetime, or a cap per address; each is a few
// lines in echo_lines() or start_connection(), left out here to keep the idea in view.

// -------------------------------------------------------------------------------------------------
// Try this: predict what the output will show, then run it. The answers below were checked on
// Linux. Each needs the server in one terminal and a client in another.
// -------------------------------------------------------------------------------------------------
// 1. Start the server with a low open-file limit: `(ulimit -n 40 && build/default/networking/blocking_server_limits
//    --port 8888)`, then run `build/default/networking/tcp_echo_client --port 8888 --clients 40 --lines 3
//    --pause-ms 100`.
//    Answer: at start the server says "--max-connections lowered from 2000 to 31: the open-file limit
//    (ulimit -n) is 40, 5 descriptors are in use, 4 kept free ..." (stdio, the listener, the spare; a
//    shell that passes on more descriptors leaves fewer). 31 clients are served and the other 9
//    refused at once ("refused, already 31 open"); none waits unanswered. Without the lowered cap,
//    accept() would fail with EMFILE and those 9 would wait in the kernel's backlog until they gave up
//    (blocking_echo_server would stop: its accept_failed() gives up on EMFILE).
//
// 2. Repeat the previous lesson's question 2 with this server: start it, run
//    `build/default/networking/tcp_echo_client --port 8888 --clients 200 --lines 4 --pause-ms 500`, and
//    after the client ends count `P=$(pgrep -nf blocking_server_limits); ls /proc/$P/task | wc -l; ls /proc/$P/fd | wc
//    -l`. Answer: 4 threads (main, the accept loop, the reaper, the log writer) and 5 descriptors (stdio, the listener,
//    the spare) as soon as the clients have gone: the reaper closed all 200 sockets without waiting for another client
//    (blocking_echo_server still held 204).
//
// Next: that was the last lesson. docs/results.md measures what you have read: coroutines, threads and
// processes on the same workloads, and these echo servers under load (bench/bench.cpp).
