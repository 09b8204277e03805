// blocking_echo_server: the design before async: one thread per connection, blocking reads and writes.
//
// What you will see: a line-echo server like networking/tcp_echo_server, written the way servers were
// written before event loops. The main thread blocks in accept(); each client gets its own thread, which
// blocks in recv() until bytes arrive and in send() until they are written. The code reads top to
// bottom like a single-client program, and that is its charm. The price is one thread per connection:
// its stack, its creation time, and a kernel limit on how many can exist (see section 3 for numbers).
// Every connection is logged as it opens and closes; Ctrl-C stops the server within a second.
//
// Run it:   build/default/networking/blocking_echo_server --port 8888
//   then, in another terminal:   nc 127.0.0.1 8888      (type lines; each comes back as you sent it)
// Build it by hand:
//   g++ -std=c++20 -O2 -I common networking/blocking_echo_server.cpp -lfmt -pthread -o blocking_echo_server
//
// The protocol (the same as tcp_echo_server): every line, up to and including its '\n', is sent back
// byte for byte ("\r\n" stays "\r\n"; any byte but '\n' may appear in a line). A line longer than
// --max-line bytes (its '\n' included) closes that one connection, with a log line; the server goes on.
// A client silent for --idle-timeout-ms is disconnected. At end of input, a last line without '\n' is
// echoed too, then the connection is closed.
//
// Mirrors the Python playground's tcp_echo_server.py, but in the blocking style Python offers with
// socketserver.ThreadingTCPServer (or socket + threading.Thread):
//   socket.create_server((host, port))    -> open_echo_listener(): socket() + bind() + listen()
//   conn, addr = sock.accept()            -> accept4(listen_fd, ...)
//   threading.Thread(target=handle, ...)  -> std::thread(...), one per connection
//   data = conn.recv(4096)                -> recv(fd, buffer, size, 0)
//   conn.sendall(data)                    -> send_all(fd, ...): send() in a loop
//   conn.settimeout(seconds)              -> setsockopt(SO_RCVTIMEO / SO_SNDTIMEO)
//   signal.signal(SIGINT, handler)        -> block SIGINT/SIGTERM, then sigtimedwait() in main
//
// What differs in C++: there is no GIL, so connection threads really run in parallel on all cores, and
// nothing here is shared between them except the server's list of connections (behind a mutex) and two
// atomic counters. Python's socket objects close themselves when collected; here every file descriptor
// is closed by exactly one owner, at a point chosen so that no other thread can still be using it.

#include <fmt/format.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <functional>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "playground.hpp"

// What the server needs to know; main() fills it from the flags, the tests fill it directly.
struct BlockingEchoConfig {
  std::string address = "127.0.0.1";
  int port = 8888;                // 0: the kernel picks a free port (tests and benchmarks use this)
  std::size_t max_line = 65'536;  // longest line accepted, its '\n' included
  int idle_timeout_ms = 60'000;   // 0: wait for a silent client forever
  int max_connections = 2'000;    // one thread each: this caps the threads too
};

// -------------------------------------------------------------------------------------------------
// 1. The listening socket: socket(), bind(), listen()
// -------------------------------------------------------------------------------------------------
// getaddrinfo with AI_NUMERICHOST turns "127.0.0.1" or "::1" into a socket address without asking DNS,
// and rejects anything that is not a numeric address. SO_REUSEADDR lets the server restart at once on
// a port whose old connections are still in TIME_WAIT; on Linux it does *not* let two servers listen
// on the same port, so "port in use" is still reported. The backlog (SOMAXCONN, 4096 on recent Linux)
// is how many finished handshakes the kernel queues while the accept loop is busy.
//
// Errors come back as a one-line message rather than an exception: main() prints it and exits 1.

struct EchoListener {
  int fd = -1;
  std::string error;    // empty on success
  std::string address;  // the address really bound, e.g. "127.0.0.1"
  int port = 0;         // the port really bound (the one the kernel picked when asked for 0)
};

// "127.0.0.1:8888" or "[::1]:8888" for the socket address `addr`.
std::string format_socket_address(const sockaddr_storage& addr, int* port_out = nullptr) {
  char text[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (addr.ss_family == AF_INET) {
    const auto& v4 = reinterpret_cast<const sockaddr_in&>(addr);
    ::inet_ntop(AF_INET, &v4.sin_addr, text, sizeof text);
    port = ntohs(v4.sin_port);
  } else if (addr.ss_family == AF_INET6) {
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(addr);
    ::inet_ntop(AF_INET6, &v6.sin6_addr, text, sizeof text);
    port = ntohs(v6.sin6_port);
  }
  if (port_out != nullptr) *port_out = port;
  return addr.ss_family == AF_INET6 ? fmt::format("[{}]:{}", text, port) : fmt::format("{}:{}", text, port);
}

EchoListener open_echo_listener(const std::string& address, int port) {
  EchoListener result;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (int rc = ::getaddrinfo(address.c_str(), service.c_str(), &hints, &found); rc != 0) {
    result.error = fmt::format("bad address '{}': {}", address, ::gai_strerror(rc));
    return result;
  }
  const int fd = ::socket(found->ai_family, found->ai_socktype | SOCK_CLOEXEC, found->ai_protocol);
  if (fd < 0) {
    result.error = fmt::format("cannot create a socket: {}", std::strerror(errno));
    ::freeaddrinfo(found);
    return result;
  }
  const int on = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  const bool bound = ::bind(fd, found->ai_addr, found->ai_addrlen) == 0;
  const int bind_errno = errno;
  ::freeaddrinfo(found);
  if (!bound || ::listen(fd, SOMAXCONN) != 0) {
    result.error = fmt::format("cannot listen on {}:{}: {}", address, port, std::strerror(bound ? errno : bind_errno));
    ::close(fd);
    return result;
  }
  sockaddr_storage local{};
  socklen_t length = sizeof local;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length);
  std::string shown = format_socket_address(local, &result.port);
  result.address = shown.substr(0, shown.rfind(':'));
  result.fd = fd;
  return result;
}

// -------------------------------------------------------------------------------------------------
// 2. One connection: a plain loop of blocking recv() and send()
// -------------------------------------------------------------------------------------------------
// This is the whole appeal of the design: the handler reads like a program with one client. recv()
// blocks this thread until bytes arrive; send_all() blocks until the kernel has taken every byte.
// No callbacks, no co_await, no state machine: the position in the protocol is the position in the code.
//
// TCP delivers a byte stream, not lines: one recv() may return half a line or ten lines. So the
// bytes are collected in `pending`, every complete line is echoed (all of them in one send), and the
// unfinished tail waits for the next recv(). A tail already longer than max_line can never become a
// valid line, so it ends the connection without waiting for its '\n': that is what bounds the memory a
// client can make us hold.
//
// Timeouts are socket options here: with SO_RCVTIMEO set, a recv() that waits longer fails with EAGAIN,
// and SO_SNDTIMEO does the same for a send() to a client that stopped reading. Without them a silent
// or stuck client would hold its thread forever.

struct ConnectionReport {
  long lines = 0;       // complete lines echoed
  long long bytes = 0;  // bytes echoed
  std::string ended;    // why it ended, for the log
};

// Write all `size` bytes (send() may take fewer). MSG_NOSIGNAL: a client that has gone away gives EPIPE
// here instead of a SIGPIPE that would kill the whole server.
bool send_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t sent = ::send(fd, data, size, MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += sent;
    size -= static_cast<std::size_t>(sent);
  }
  return true;
}

ConnectionReport echo_lines(int fd, const BlockingEchoConfig& config) {
  ConnectionReport report;
  if (config.idle_timeout_ms > 0) {
    timeval timeout{config.idle_timeout_ms / 1000, (config.idle_timeout_ms % 1000) * 1000};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  }
  // Echoes are small and latency matters: send each at once instead of waiting to fill a packet.
  const int on = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);

  std::string pending;  // received bytes not yet echoed: at most one unfinished line
  std::vector<char> buffer(16 * 1024);
  // Each round either ends the loop or consumes bytes the client sent, so the loop ends when the client
  // closes, goes silent, misbehaves, or the server shuts the socket down (recv() then returns 0).
  for (;;) {
    const ssize_t received = ::recv(fd, buffer.data(), buffer.size(), 0);
    if (received == 0) {
      // End of input. A last line without '\n' is still a line the client sent: echo it.
      if (!pending.empty() && send_all(fd, pending.data(), pending.size())) {
        ++report.lines;
        report.bytes += static_cast<long long>(pending.size());
      }
      report.ended = "client closed the connection";
      return report;
    }
    if (received < 0) {
      if (errno == EINTR) continue;
      report.ended = (errno == EAGAIN || errno == EWOULDBLOCK)
                         ? fmt::format("idle for {} ms, closed", config.idle_timeout_ms)
                         : fmt::format("receive failed: {}", std::strerror(errno));
      return report;
    }
    pending.append(buffer.data(), static_cast<std::size_t>(received));

    // Find where the complete lines end, checking each line's length on the way.
    std::size_t complete = 0;  // bytes of pending that form whole lines
    bool too_long = false;
    for (std::size_t newline; (newline = pending.find('\n', complete)) != std::string::npos;) {
      if (newline + 1 - complete > config.max_line) {
        too_long = true;
        break;
      }
      complete = newline + 1;
      ++report.lines;
    }
    too_long = too_long || pending.size() - complete > config.max_line;
    if (complete > 0) {
      if (!send_all(fd, pending.data(), complete)) {
        report.ended = fmt::format("send failed: {}", std::strerror(errno));
        return report;
      }
      report.bytes += static_cast<long long>(complete);
      pending.erase(0, complete);
    }
    if (too_long) {
      report.ended = fmt::format("line longer than {} bytes, closed", config.max_line);
      return report;
    }
  }
}

// -------------------------------------------------------------------------------------------------
// 3. Thread per connection, and what each thread costs
// -------------------------------------------------------------------------------------------------
// serve() is the accept loop: accept4() blocks until a client connects, then a new std::thread runs
// echo_lines() for it, and the loop goes back to accept. What one connection costs (measured on a
// 2-core Linux VM; `build/default/bench/bench --only 1,3` measures it on yours):
//   - a thread: tens of microseconds to create and join (35-90 us there), paid on every connect;
//   - a stack: 8 MB of *address space* each (ulimit -s), of which only the pages touched become real
//     memory, 10-20 KB per waiting thread there; 10,000 connections reserve 80 GB of address space;
//   - a kernel task: Linux caps them (kernel.threads-max, kernel.pid_max, vm.max_map_count: each
//     thread needs two memory maps), so somewhere around 30,000 threads, `std::thread` throws.
// So this design is fine for tens or hundreds of clients, or when each request calls a blocking library
// (a database driver, a file system) that you cannot make async. For ten thousand mostly idle
// connections, coroutines on one thread (tcp_echo_server) cost a few hundred bytes each instead.
// --max-connections caps the threads: a client over the cap is closed at once, with a log line.
//
// Ownership, so that shutdown is safe: the server keeps every live connection in a list (behind a
// mutex). A connection's thread never closes its own socket: it only shuts it down and marks itself
// finished. The accept loop later joins finished threads and closes their sockets ("reaping"). So a
// file descriptor is never closed while stop() might still call shutdown() on it, and a closed number
// cannot be reused by a new connection under stop()'s feet.

class BlockingEchoServer {
 public:
  using Log = std::function<void(const std::string&)>;

  explicit BlockingEchoServer(BlockingEchoConfig config, Log log = print_log)
      : config_(std::move(config)), log_(std::move(log)) {}
  BlockingEchoServer(const BlockingEchoServer&) = delete;
  BlockingEchoServer& operator=(const BlockingEchoServer&) = delete;
  ~BlockingEchoServer() {
    stop();
    reap(true);
    if (listen_fd_ >= 0) ::close(listen_fd_);
  }

  // Bind and listen. Returns an empty string, or why it failed ("cannot listen on ...: Address already in use").
  std::string open() {
    EchoListener listener = open_echo_listener(config_.address, config_.port);
    if (listener.fd < 0) return listener.error;
    listen_fd_ = listener.fd;
    address_ = listener.address;
    port_ = listener.port;
    return {};
  }
  [[nodiscard]] const std::string& address() const { return address_; }
  [[nodiscard]] int port() const { return port_; }

  // The accept loop. Returns after stop() (true), or on an error accept() cannot recover from (false).
  // accept4() with SOCK_CLOEXEC: a program this server might start would not inherit client sockets.
  // Some errors are about one client or one moment, not the listener: a client that gave up before we
  // accepted it (ECONNABORTED), a signal (EINTR), or running out of file descriptors (EMFILE). The loop
  // survives those; anything else ends it, and main() exits with status 1.
  bool serve() {
    bool healthy = true;
    while (!stopping_.load()) {
      sockaddr_storage peer{};
      socklen_t length = sizeof peer;
      const int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &length, SOCK_CLOEXEC);
      if (fd < 0) {
        if (stopping_.load()) break;
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EMFILE || errno == ENFILE) {
          // Out of file descriptors: too many clients. Wait a little for some to leave.
          log_(fmt::format("accept: {}; waiting for connections to close", std::strerror(errno)));
          reap(false);
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
          continue;
        }
        log_(fmt::format("accept failed: {}", std::strerror(errno)));
        healthy = false;
        break;
      }
      reap(false);  // join the threads of connections that ended since the last accept
      start_connection(fd, format_socket_address(peer));
    }
    finished_ = true;
    return healthy;
  }

  // Stop accepting, and end every connection: shutdown() wakes a thread blocked in recv() (which then
  // returns 0) or send() (which fails). Safe to call from any thread, and more than once. On Linux,
  // shutdown() of a listening socket also wakes a thread blocked in accept(), which then fails (EINVAL).
  void stop() {
    std::lock_guard lock(mutex_);
    if (stopping_.exchange(true)) return;
    if (listen_fd_ >= 0) ::shutdown(listen_fd_, SHUT_RDWR);
    for (auto& c : connections_) ::shutdown(c.fd, SHUT_RDWR);
  }

  // After serve() has returned: join every connection thread and close its socket. Waits for them.
  void finish() { reap(true); }

  [[nodiscard]] bool finished() const { return finished_.load(); }
  [[nodiscard]] long connections_served() const { return served_.load(); }
  [[nodiscard]] long long lines_echoed() const { return lines_.load(); }
  [[nodiscard]] int open_connections() const {
    std::lock_guard lock(mutex_);
    int open = 0;
    for (const auto& c : connections_) open += c.finished ? 0 : 1;
    return open;
  }

  static void print_log(const std::string& line) {
    fmt::print("{}\n", line);
    std::fflush(stdout);  // a log line a second late is useless, and a test may be waiting for it
  }

 private:
  struct Connection {
    long id = 0;
    int fd = -1;
    std::thread thread;
    bool finished = false;  // guarded by mutex_
  };

  // Register the connection and start its thread, under the lock so stop() sees either nothing or
  // both: a connection stop() did not see would keep its thread blocked in recv() after shutdown.
  void start_connection(int fd, const std::string& peer) {
    std::lock_guard lock(mutex_);
    if (stopping_.load()) {  // stop() ran between accept() and here: this client is not served
      ::close(fd);
      return;
    }
    const long id = ++next_id_;
    long open = 0;
    for (const auto& c : connections_) open += c.finished ? 0 : 1;
    if (open >= config_.max_connections) {
      log_(fmt::format("connection {} from {}: refused, already {} open (--max-connections)", id, peer, open));
      ::close(fd);
      return;
    }
    Connection& connection = connections_.emplace_back();
    connection.id = id;
    connection.fd = fd;
    try {
      // The thread gets a pointer to its list node: std::list nodes never move.
      connection.thread = std::thread([this, c = &connection, peer] { run_connection(*c, peer); });
    } catch (const std::system_error& e) {
      // The kernel refused another thread: that is this design's limit, so say so and drop the client.
      log_(fmt::format("connection {} from {}: cannot start a thread: {}", id, peer, e.what()));
      ::close(fd);
      connections_.pop_back();
      return;
    }
    ++served_;
    log_(fmt::format("connection {} from {}: opened, {} open", id, peer, open + 1));
  }

  // The body of every connection thread: the blocking loop of section 2, then the bookkeeping. It
  // touches only its own Connection (fd and id never change while it runs) and, under the lock, the flag
  // that lets the accept loop reap it.
  void run_connection(Connection& connection, const std::string& peer) {
    ConnectionReport report = echo_lines(connection.fd, config_);
    lines_ += report.lines;
    ::shutdown(connection.fd, SHUT_RDWR);  // the client sees the close now; close() comes when reaped
    log_(fmt::format("connection {} from {}: {}; {} line{} echoed", connection.id, peer, report.ended, report.lines,
                     report.lines == 1 ? "" : "s"));
    std::lock_guard lock(mutex_);
    connection.finished = true;
  }

  // Join finished connection threads and close their sockets; with `all`, wait for every thread.
  // Nodes are moved out of the list under the lock, then joined without it: a connection thread that
  // is still finishing needs the lock to set its flag, so joining it while holding the lock would deadlock.
  void reap(bool all) {
    std::list<Connection> done;
    {
      std::lock_guard lock(mutex_);
      for (auto it = connections_.begin(); it != connections_.end();) {
        auto next = std::next(it);
        if (all || it->finished) done.splice(done.end(), connections_, it);
        it = next;
      }
    }
    for (auto& c : done) {  // outside the lock: a thread still running needs the lock to finish
      if (c.thread.joinable()) c.thread.join();
      ::close(c.fd);
    }
  }

  BlockingEchoConfig config_;
  Log log_;  // where log lines go: stdout by default, a vector in the tests
  int listen_fd_ = -1;
  std::string address_;
  int port_ = 0;
  mutable std::mutex mutex_;           // guards connections_ and next_id_
  std::list<Connection> connections_;  // live connections, and finished ones not yet reaped
  long next_id_ = 0;
  std::atomic<bool> stopping_{false};  // set once by stop(); read by the accept loop without the lock
  std::atomic<bool> finished_{false};  // serve() has returned
  std::atomic<long> served_{0};        // connections that got a thread
  std::atomic<long long> lines_{0};    // lines echoed, summed as connections end
};

// -------------------------------------------------------------------------------------------------
// 4. Shutting down on Ctrl-C: signals as ordinary events, on the main thread
// -------------------------------------------------------------------------------------------------
// A signal handler may call only async-signal-safe functions, and it interrupts whichever thread the
// kernel picks. Simpler and safe: block SIGINT and SIGTERM in the main thread *before any other thread
// exists* (new threads inherit the mask, so no thread ever gets them asynchronously), run the accept
// loop on a second thread, and let the main thread collect the signals with sigtimedwait(), as plain
// return values. Then it calls stop() like any other function: accept ends, every connection is shut
// down, every thread joined, and main returns 0. (Python does the same in spirit: its signal handlers
// run on the main thread, between bytecodes.)

#ifndef PLAYGROUND_NO_MAIN  // the tests include this file and bring their own main
int main(int argc, char** argv) {
  BlockingEchoConfig config;
  int max_line = static_cast<int>(config.max_line);
  pg::Flags flags("blocking_echo_server",
                  "A line-echo server with one thread per connection and blocking reads and writes.");
  flags.add("--address", config.address, "address to listen on (numeric IPv4 or IPv6)");
  flags.add("--port", config.port, "port to listen on; 0 picks a free one", 0, 65'535);
  flags.add("--max-line", max_line, "longest line accepted in bytes, '\\n' included; longer closes", 1, 1 << 30);
  flags.add("--idle-timeout-ms", config.idle_timeout_ms, "close a connection silent this long; 0: never", 0,
            86'400'000);
  flags.add("--max-connections", config.max_connections, "connections (threads) served at once", 1, 100'000);
  if (auto status = flags.parse(argc, argv)) return *status;
  config.max_line = static_cast<std::size_t>(max_line);

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // before any thread: every thread inherits it

  BlockingEchoServer server(config);
  if (std::string error = server.open(); !error.empty()) {
    fmt::print(stderr, "blocking_echo_server: {}\n", error);
    return 1;
  }
  fmt::print("listening on {}:{}\n", server.address(), server.port());
  std::fflush(stdout);

  // The accept loop gets its own thread so that this one is free to wait for signals. `healthy` is
  // written by that thread and read here only after join(), which orders the two.
  bool healthy = true;
  std::thread acceptor([&] { healthy = server.serve(); });
  // Wait for a signal, 100 ms at a time, so that an accept loop that failed on its own also ends main.
  while (!server.finished()) {
    const timespec tick{0, 100'000'000};
    const int signal_number = sigtimedwait(&signals, nullptr, &tick);
    if (signal_number > 0) {
      fmt::print("got {}, shutting down\n", signal_number == SIGINT ? "SIGINT" : "SIGTERM");
      break;
    }
  }
  // stop() wakes accept() and every recv()/send(); then every thread is joined before main returns, so
  // no thread outlives the objects it uses (a std::thread still joinable at exit would call terminate).
  server.stop();
  acceptor.join();
  server.finish();
  fmt::print("stopped: {} connection{} served, {} lines echoed\n", server.connections_served(),
             server.connections_served() == 1 ? "" : "s", server.lines_echoed());
  fmt::print(
      "\nTakeaway: blocking code with a thread per connection is the simplest server to read, and each\n"
      "connection costs a whole thread; coroutines (tcp_echo_server) cost a few hundred bytes instead.\n");
  return healthy ? 0 : 1;
}
#endif

// -------------------------------------------------------------------------------------------------
// Try this: predict what the output will show, then run it. The answers below were checked on
// Linux. Each needs the server in one terminal and a client in another.
// -------------------------------------------------------------------------------------------------
// 1. Start `build/default/networking/blocking_echo_server --port 8888 --max-connections 2`, then run
//    `build/default/networking/tcp_echo_client --port 8888 --clients 5 --lines 3 --pause-ms 100`.
//    Answer: two clients are served; the server logs "refused, already 2 open (--max-connections)" for
//    the other three, which report "the server closed the connection before echoing line 1" (the
//    client exits with status 1). The cap on connections is a cap on threads.
//
// 2. Start the server without a cap, run `build/default/networking/tcp_echo_client --port 8888
//    --clients 200 --lines 4 --pause-ms 500`, and while it runs count the server's threads with
//    `ls /proc/$(pgrep -n blocking_echo_server)/task | wc -l`. Then count again after the client ends.
//    Answer: 202 while the clients are connected (one per connection, plus the server's own two), 2 once
//    they have gone. networking/tcp_echo_server serves the same 200 clients on 1 thread.
//
// Next: that was the last lesson. The README's Results section measures what you have read: coroutines,
// threads and processes on the same workloads, and these echo servers under load (bench/bench.cpp).
