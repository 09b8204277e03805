// blocking_echo_server: the design before async: one thread per connection, blocking reads and writes.
//
// What you will see: a line-echo server like networking/tcp_echo_server, written the way servers were
// written before event loops. The main thread blocks in accept(); each client gets its own thread, which
// blocks in recv() until bytes arrive and in send() until they are written. The code reads top to
// bottom like a single-client program, and that is its charm. The price is one thread per connection:
// its stack, its creation time, and a kernel limit on how many can exist (section 2 has the numbers).
// Every connection is logged as it opens and closes; Ctrl-C stops the server within a second. The next
// lesson, blocking_server_limits, makes the same server survive the limits real load runs into.
//
// Run it:   build/default/networking/blocking_echo_server --port 8888
//   then, in another terminal:   nc 127.0.0.1 8888      (type lines; each comes back as you sent it)
// Build it by hand:
//   g++ -std=c++20 -O2 -I common networking/blocking_echo_server.cpp -lfmt -pthread -o blocking_echo_server
//
// The protocol is tcp_echo_server's: every line, its '\n' included, comes back byte for byte; a line
// over --max-line bytes closes that connection; a client has --idle-timeout-ms to send each whole line
// and as long again to take its echo; a last line without '\n' is echoed at end of input.
//
// Mirrors the Python playground's tcp_echo_server.py, in the blocking style Python offers with
// socketserver.ThreadingTCPServer (or socket + threading.Thread):
//   conn, addr = sock.accept()            -> accept4(listen_fd, ...)
//   threading.Thread(target=handle, ...)  -> std::thread(...), one per connection
//   data = conn.recv(4096)                -> recv(fd, buffer, size, 0)
//   conn.sendall(data)                    -> send_all(fd, ...): send() in a loop
//   conn.settimeout(seconds)              -> poll() bounded by a deadline per line
//   logging.handlers.QueueHandler         -> LogWriter (common/log_writer.hpp): a queue and a thread that writes it
//   signal.signal(SIGINT, handler)        -> block SIGINT/SIGTERM, then sigtimedwait() in main
//
// What differs in C++: there is no GIL, so connection threads really run in parallel on all cores;
// they share only the server's list of connections (behind a mutex), a few atomic counters and the log
// queue. And every file descriptor is closed by exactly one owner, when no other thread can still use it.

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <csignal>
#include <cstring>
#include <functional>
#include <iterator>
#include <list>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log_writer.hpp"
#include "playground.hpp"

// What the server needs to know; main() fills it from the flags, the tests fill it directly.
struct BlockingEchoConfig {
  std::string address = "127.0.0.1";
  int port = 8888;                // 0: the kernel picks a free port (tests and benchmarks use this)
  std::size_t max_line = 65'536;  // longest line accepted, its '\n' included
  int idle_timeout_ms = 60'000;   // 0: wait for a silent client forever
  int max_connections = 2'000;    // one thread each: this caps the threads too
};

// Plumbing used by the sections below, defined after main() under "Plumbing" (skip it on a first
// reading): a poll() bounded by a deadline, and a send() repeated until every byte is written.
using EchoClock = std::chrono::steady_clock;
enum class SendResult { sent, timed_out, failed };
bool wait_ready(int fd, short events, bool timed, EchoClock::time_point deadline);
SendResult send_all(int fd, const char* data, std::size_t size, bool timed, EchoClock::time_point deadline);

// -------------------------------------------------------------------------------------------------
// 1. One connection: a plain loop of blocking reads and writes
// -------------------------------------------------------------------------------------------------
// The whole appeal of the design: the handler reads like a program with one client. No callbacks, no
// co_await, no state machine: the position in the protocol is the position in the code.
//
// TCP delivers a byte stream, not lines: one recv() may return half a line or ten. So bytes collect in
// `pending`, every complete line is echoed (all in one send), and the unfinished tail waits for the
// next recv(). A tail already longer than max_line ends the connection at once: that bounds the memory
// a client can make us hold.
//
// The idle timeout is a deadline per line: from the moment the server is ready for the next line, the
// client has --idle-timeout-ms to deliver all of it. Bytes that trickle in do not move the deadline, so
// a client sending one byte every 100 ms cannot hold a thread forever. Python's `conn.settimeout`
// (SO_RCVTIMEO) would not do: its clock restarts on every byte. So each wait is a poll() bounded by the
// time left (wait_ready), then a recv() or send() that cannot block (MSG_DONTWAIT).

struct ConnectionReport {
  long lines = 0;     // complete lines echoed
  std::string ended;  // why it ended, for the log
};

ConnectionReport echo_lines(int fd, const BlockingEchoConfig& config) {
  ConnectionReport report;
  const bool timed = config.idle_timeout_ms > 0;
  const std::chrono::milliseconds timeout(config.idle_timeout_ms);
  // Echoes are small and latency matters: send each at once instead of waiting to fill a packet.
  const int on = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);

  // Sends `size` bytes of echo; on failure, says why in report.ended.
  const auto echo = [&](const char* data, std::size_t size) {
    const SendResult result = send_all(fd, data, size, timed, EchoClock::now() + timeout);
    if (result == SendResult::timed_out) {
      report.ended = fmt::format("echo not taken within {} ms (the client stopped reading), closed", timeout.count());
    } else if (result == SendResult::failed) {
      report.ended = fmt::format("send failed: {}", std::strerror(errno));
    }
    return result == SendResult::sent;
  };

  std::string pending;  // received bytes not yet echoed: at most one unfinished line
  std::vector<char> buffer(16 * 1024);
  auto line_deadline = EchoClock::now() + timeout;  // when the line being received must be complete
  // Each round either ends the loop or consumes bytes the client sent, so the loop ends when the client
  // closes, is too slow, misbehaves, or the server shuts the socket down (recv() then returns 0).
  for (;;) {
    if (!wait_ready(fd, POLLIN, timed, line_deadline)) {
      report.ended = fmt::format("no complete line within {} ms, closed", timeout.count());
      return report;
    }
    const ssize_t received = ::recv(fd, buffer.data(), buffer.size(), MSG_DONTWAIT);
    if (received == 0) {
      // End of input. A last line without '\n' is still a line the client sent: echo it.
      if (!pending.empty()) {
        if (!echo(pending.data(), pending.size())) return report;
        ++report.lines;
      }
      report.ended = "client closed the connection";
      return report;
    }
    if (received < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      report.ended = fmt::format("receive failed: {}", std::strerror(errno));
      return report;
    }
    pending.append(buffer.data(), static_cast<std::size_t>(received));

    // Find where the complete lines end, checking each line's length on the way.
    std::size_t complete = 0;  // bytes of pending that form whole lines
    long lines = 0;
    bool too_long = false;
    for (std::size_t newline; (newline = pending.find('\n', complete)) != std::string::npos;) {
      if (newline + 1 - complete > config.max_line) {
        too_long = true;
        break;
      }
      complete = newline + 1;
      ++lines;
    }
    too_long = too_long || pending.size() - complete > config.max_line;
    if (complete > 0) {
      if (!echo(pending.data(), complete)) return report;
      report.lines += lines;
      pending.erase(0, complete);
      line_deadline = EchoClock::now() + timeout;  // the server is ready for the next line: its clock starts
    }
    if (too_long) {
      report.ended = fmt::format("line longer than {} bytes, closed", config.max_line);
      return report;
    }
  }
}

// -------------------------------------------------------------------------------------------------
// 2. Thread per connection, and what each thread costs
// -------------------------------------------------------------------------------------------------
// serve() is the accept loop: accept4() blocks until a client connects, then a new std::thread runs
// echo_lines() for it, and the loop goes back to accept. What one connection costs (measured on a
// 2-core Linux VM; `build/default/bench/bench --only 1,3` measures it on yours):
//   - a thread: tens of microseconds to create and join (35-90 us there), paid on every connect;
//   - a stack: 8 MB of *address space* each (ulimit -s), of which only the pages touched become real
//     memory, 10-20 KB per waiting thread there; 10,000 connections reserve 80 GB of address space;
//   - a kernel task: Linux caps them (kernel.threads-max, kernel.pid_max, vm.max_map_count: each
//     thread needs two memory maps), so somewhere around 30,000 threads, `std::thread` throws;
//   - a file descriptor, like any connection: the open-file limit (ulimit -n, often 1024) caps them
//     (the next lesson fits --max-connections to it).
// So this design is fine for tens or hundreds of clients, or when each request calls a blocking library
// you cannot make async. For ten thousand mostly idle connections, coroutines (tcp_echo_server) cost
// about a kilobyte each. --max-connections caps the threads: a client over the cap is closed at once.
//
// Ownership: the server keeps every live connection in a list (behind a mutex). A connection's thread
// never closes its own socket: it shuts it down and marks itself finished; the accept loop, after each
// new client, joins the finished threads (freeing their stacks) and closes their sockets. So no socket
// is closed while stop() might still shut it down, and no closed number is reused under stop()'s feet.
// The price: a finished connection keeps its socket until the next client (the next lesson fixes it).
// The mutex is never held while logging or doing I/O: that would make every other thread wait for it.
//
// Some member functions are `virtual`: the next lesson derives a class from this one and overrides
// them, as a Python subclass of socketserver.ThreadingTCPServer overrides its methods.

class BlockingEchoServer {
 public:
  // Where log lines go: a LogWriter in the program, a vector in the tests, nothing if empty.
  using Log = std::function<void(const std::string&)>;

  explicit BlockingEchoServer(BlockingEchoConfig config, Log log = {})
      : config_(std::move(config)), log_(std::move(log)) {}
  BlockingEchoServer(const BlockingEchoServer&) = delete;
  BlockingEchoServer& operator=(const BlockingEchoServer&) = delete;
  virtual ~BlockingEchoServer();

  // Bind, listen and log "listening on ADDRESS:PORT". Returns an empty string, or why it failed
  // ("cannot listen on ...: Address already in use").
  virtual std::string open();

  // The accept loop. Returns after stop() (true), or when accept() fails for good (false).
  virtual bool serve() {
    bool healthy = true;
    while (!stopping_.load()) {
      sockaddr_storage peer{};
      socklen_t length = sizeof peer;
      const int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &length, SOCK_CLOEXEC);
      if (fd < 0) {
        if (accept_failed(errno)) continue;
        healthy = false;  // accept() cannot succeed again
        break;
      }
      start_connection(fd, format_peer(peer));
      reap(false);  // join the threads of connections that have finished, and close their sockets
    }
    finished_ = true;
    return healthy;
  }

  // Stop accepting and end every connection. Safe from any thread, and more than once.
  virtual void stop();
  // After serve() has returned: join every connection thread and close its socket. Waits for them.
  void finish() { reap(true); }

  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] int max_connections() const { return config_.max_connections; }
  [[nodiscard]] bool finished() const { return finished_.load(); }
  [[nodiscard]] long connections_served() const { return served_.load(); }
  [[nodiscard]] long long lines_echoed() const { return lines_.load(); }
  [[nodiscard]] int open_connections() const {
    std::lock_guard lock(mutex_);
    return count_open();
  }

 protected:
  struct Connection {
    long id = 0;
    int fd = -1;
    std::thread thread;
    bool finished = false;  // guarded by mutex_
  };

  // Register the connection and start its thread, under the lock so stop() sees either nothing or
  // both: a connection stop() did not see would keep its thread blocked after shutdown. The log line
  // is written after the lock is released.
  virtual void start_connection(int fd, const std::string& peer) {
    std::string message;
    {
      std::lock_guard lock(mutex_);
      if (stopping_.load()) {  // stop() ran between accept() and here: this client is not served
        ::close(fd);
        return;
      }
      const long id = ++next_id_;
      const int open = count_open();
      if (open >= config_.max_connections) {
        ::close(fd);
        message = fmt::format("connection {} from {}: refused, already {} open (--max-connections)", id, peer, open);
      } else {
        Connection& connection = connections_.emplace_back();
        connection.id = id;
        connection.fd = fd;
        try {
          // The thread gets a pointer to its list node. That is safe because std::list nodes never move
          // when others are added or removed; a std::vector moves its elements as it grows, and the
          // pointer would then point at freed memory.
          connection.thread = std::thread([this, c = &connection, peer] { run_connection(*c, peer); });
          ++served_;
          message = fmt::format("connection {} from {}: opened, {} open", id, peer, open + 1);
        } catch (const std::system_error& e) {
          // The kernel refused another thread: that is this design's limit, so say so and drop the client.
          ::close(fd);
          connections_.pop_back();
          message = fmt::format("connection {} from {}: cannot start a thread: {}", id, peer, e.what());
        }
      }
    }
    log(message);
  }

  // The body of every connection thread: the blocking loop of section 1, then the bookkeeping. It
  // touches only its own Connection (fd and id never change while it runs) and, under the lock, the flag
  // that lets the connection be joined. A connection that stop() shut down reads as closed by the client
  // (recv() returns 0), so the reason is corrected here: the server closed it.
  void run_connection(Connection& connection, const std::string& peer) {
    ConnectionReport report = echo_lines(connection.fd, config_);
    if (stopping_.load()) report.ended = "server shutting down";
    lines_ += report.lines;
    ::shutdown(connection.fd, SHUT_RDWR);  // the client sees the close now; close() comes when joined
    log(fmt::format("connection {} from {}: {}; {} line{} echoed", connection.id, peer, report.ended, report.lines,
                    report.lines == 1 ? "" : "s"));
    {
      std::lock_guard lock(mutex_);
      connection.finished = true;
      ++unreaped_;
    }
    connection_finished();
  }

  // What serve() does when accept() fails; false ends serve(). A client that gave up while queued
  // (ECONNABORTED) or a signal (EINTR) is retried at once; any other error is logged and stops the
  // server. The next lesson tells apart the errors a server should survive (EMFILE: out of descriptors).
  virtual bool accept_failed(int error) {
    if (stopping_.load() || error == EINTR || error == ECONNABORTED) return true;  // serve() checks stopping_
    log(fmt::format("accept failed: {}; stopping", std::strerror(error)));
    return false;
  }
  // Called on a connection's thread once it has marked itself finished. Nothing to do here.
  virtual void connection_finished() {}

  void reap(bool all);  // defined in the plumbing below
  static std::string format_peer(const sockaddr_storage& peer);
  [[nodiscard]] int count_open() const {  // connections not yet finished; call with mutex_ held
    int open = 0;
    for (const auto& c : connections_) open += c.finished ? 0 : 1;
    return open;
  }
  void log(const std::string& line) const {
    if (log_) log_(line);
  }

  BlockingEchoConfig config_;
  Log log_;
  int listen_fd_ = -1;
  int port_ = 0;
  mutable std::mutex mutex_;           // guards connections_, next_id_, unreaped_
  std::list<Connection> connections_;  // live connections, and finished ones not yet joined
  long next_id_ = 0;
  long unreaped_ = 0;                  // finished connections still in connections_
  std::atomic<bool> stopping_{false};  // set once by stop(); read by the accept loop without the lock
  std::atomic<bool> finished_{false};  // serve() has returned
  std::atomic<long> served_{0};        // connections that got a thread
  std::atomic<long long> lines_{0};    // lines echoed, summed as connections end
};

// -------------------------------------------------------------------------------------------------
// 3. The program: logging that never blocks, and Ctrl-C as an ordinary event on the main thread
// -------------------------------------------------------------------------------------------------
// Logging: a stdout whose reader stops reading would block the next write, freezing the connection
// threads that log. So each line goes to a LogWriter (common/log_writer.hpp explains it): a bounded
// queue drained by a thread of its own, which drops and counts what the output cannot take.
//
// Signals: a handler may call only async-signal-safe functions, on whichever thread the kernel picks.
// Simpler: block SIGINT and SIGTERM *before any other thread exists* (threads inherit the mask), run
// the accept loop on a second thread, and let the main thread take the signals with sigtimedwait() as
// plain return values, then call stop(). (Python's signal handlers, too, run on the main thread.)
//
// The program is a function template, written once for any server class: main() below runs it with
// BlockingEchoServer, and blocking_server_limits with the class it derives from this one.
template <class Server>
int run_server_program(int argc, char** argv, const char* program, const char* about, const char* takeaway) {
  BlockingEchoConfig config;
  int max_line = static_cast<int>(config.max_line);
  pg::Flags flags(program, about);
  flags.add("--address", config.address, "address to listen on (numeric IPv4 or IPv6)");
  flags.add("--port", config.port, "port to listen on; 0 picks a free one", 0, 65'535);
  flags.add("--max-line", max_line, "longest line accepted in bytes, '\\n' included; longer closes", 1, 1 << 30);
  flags.add("--idle-timeout-ms", config.idle_timeout_ms,
            "time a client has to send each whole line, and to take its echo; 0: no limit", 0, 86'400'000);
  flags.add("--max-connections", config.max_connections, "connections (threads) served at once", 1, 100'000);
  if (auto status = flags.parse(argc, argv)) return *status;
  config.max_line = static_cast<std::size_t>(max_line);

  // A write to a pipe whose reader has gone (`server | head`, a log collector restarting) raises
  // SIGPIPE, which kills the process by default. MSG_NOSIGNAL covers the sockets, not stdout: so the
  // signal is ignored, and such a write fails with EPIPE, which the LogWriter counts as lines lost.
  std::signal(SIGPIPE, SIG_IGN);
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // before any thread: every thread inherits it

  // From here on, everything printed goes through the LogWriter, so a stdout that nobody reads can
  // never stop the server. What the program itself says is never dropped, unlike the connections' log.
  LogWriter output(STDOUT_FILENO);
  const auto say = [&output](std::string text) { output.write(std::move(text), /*may_drop=*/false); };
  Server server(config, [&output](const std::string& line) { output.write(line); });
  if (std::string error = server.open(); !error.empty()) {
    fmt::print(stderr, "{}: {}\n", program, error);
    return 1;
  }
  // The accept loop gets its own thread so that this one is free to wait for signals. `healthy` is
  // written by that thread and read here only after join(), which orders the two.
  bool healthy = true;
  std::thread acceptor([&] { healthy = server.serve(); });
  // Wait for a signal, 100 ms at a time, so that an accept loop that failed on its own also ends main.
  while (!server.finished()) {
    const timespec tick{0, 100'000'000};
    const int signal_number = sigtimedwait(&signals, nullptr, &tick);
    if (signal_number > 0) {
      say(fmt::format("got {}, shutting down", signal_number == SIGINT ? "SIGINT" : "SIGTERM"));
      break;
    }
  }
  // stop() wakes accept() and every connection; then every thread is joined before we return, so no
  // thread outlives the objects it uses (a std::thread still joinable at exit would call terminate).
  server.stop();
  acceptor.join();
  server.finish();
  say(fmt::format("stopped: {} connection{} served, {} lines echoed", server.connections_served(),
                  server.connections_served() == 1 ? "" : "s", server.lines_echoed()));
  say(takeaway);
  output.close(std::chrono::milliseconds(300));  // a stdout nobody reads gets 300 ms, then loses the rest
  return healthy ? 0 : 1;
}

// The tests, and the next lesson (which brings its own main), leave this main() out.
#if !defined(PLAYGROUND_NO_MAIN) && !defined(BLOCKING_ECHO_SERVER_ONLY)
int main(int argc, char** argv) {
  return run_server_program<BlockingEchoServer>(
      argc, argv, "blocking_echo_server",
      "A line-echo server with one thread per connection and blocking reads and writes.",
      "\nTakeaway: blocking code with a thread per connection is the simplest server to read, and each\n"
      "connection costs a whole thread; coroutines (tcp_echo_server) cost about a kilobyte instead.");
}
#endif

// =================================================================================================
// Plumbing: what a real server needs around the idea. You can skip it on a first reading.
// =================================================================================================

// -------------------------------------------------------------------------------------------------
// P1. Waiting with a deadline, and writing every byte
// -------------------------------------------------------------------------------------------------
// wait_ready(): wait until `fd` is ready for `events` (POLLIN: bytes or end of input; POLLOUT: room to
// send), or until `deadline`; `timed` false waits without limit. True when ready, false when the
// deadline passed. An error or a hang-up also counts as ready: the next recv()/send() reports it.
bool wait_ready(int fd, short events, bool timed, EchoClock::time_point deadline) {
  for (;;) {
    int wait_ms = -1;  // poll() without a limit
    if (timed) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - EchoClock::now()).count();
      if (left <= 0) return false;
      wait_ms = static_cast<int>(std::min<long long>(left, INT_MAX));
    }
    pollfd watched{fd, events, 0};
    const int ready = ::poll(&watched, 1, wait_ms);
    if (ready > 0) return true;
    if (ready < 0 && errno != EINTR) return true;
  }
}

// send_all(): write all `size` bytes by `deadline`. send() may take fewer than asked (the socket's
// buffer has room for only part), so the rest is sent from where it stopped (Python's sendall()
// does the same loop). MSG_NOSIGNAL: a client that has gone away gives EPIPE here instead of a
// SIGPIPE that would kill the whole server.
SendResult send_all(int fd, const char* data, std::size_t size, bool timed, EchoClock::time_point deadline) {
  while (size > 0) {
    if (!wait_ready(fd, POLLOUT, timed, deadline)) return SendResult::timed_out;
    const ssize_t sent = ::send(fd, data, size, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (sent < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      return SendResult::failed;
    }
    data += sent;
    size -= static_cast<std::size_t>(sent);
  }
  return SendResult::sent;
}

// -------------------------------------------------------------------------------------------------
// P2. The listening socket
// -------------------------------------------------------------------------------------------------
// getaddrinfo with AI_NUMERICHOST turns "127.0.0.1" or "::1" into a socket address without asking DNS,
// and rejects anything that is not a numeric address. SO_REUSEADDR lets the server restart at once on
// a port whose old connections are still in TIME_WAIT (on Linux it does *not* let two servers listen
// on one port). The backlog (SOMAXCONN) is how many finished handshakes the kernel queues meanwhile.

std::string BlockingEchoServer::open() {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(config_.port);
  if (int rc = ::getaddrinfo(config_.address.c_str(), service.c_str(), &hints, &found); rc != 0)
    return fmt::format("bad address '{}': {}", config_.address, ::gai_strerror(rc));
  const int fd = ::socket(found->ai_family, found->ai_socktype | SOCK_CLOEXEC, found->ai_protocol);
  if (fd < 0) {
    ::freeaddrinfo(found);
    return fmt::format("cannot create a socket: {}", std::strerror(errno));
  }
  const int on = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  const bool bound = ::bind(fd, found->ai_addr, found->ai_addrlen) == 0;
  const int bind_errno = errno;
  ::freeaddrinfo(found);
  if (!bound || ::listen(fd, SOMAXCONN) != 0) {
    const int error = bound ? errno : bind_errno;
    ::close(fd);
    return fmt::format("cannot listen on {}:{}: {}", config_.address, config_.port, std::strerror(error));
  }
  sockaddr_storage local{};
  socklen_t length = sizeof local;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length);
  const std::string shown = format_peer(local);
  port_ = std::stoi(shown.substr(shown.rfind(':') + 1));
  listen_fd_ = fd;
  log("listening on " + shown);
  return {};
}

// "127.0.0.1:8888" or "[::1]:8888" for the socket address `addr`. NI_NUMERICHOST: no DNS lookup.
std::string BlockingEchoServer::format_peer(const sockaddr_storage& addr) {
  char host[NI_MAXHOST] = "?";
  char service[NI_MAXSERV] = "0";
  ::getnameinfo(reinterpret_cast<const sockaddr*>(&addr), sizeof addr, host, sizeof host, service, sizeof service,
                NI_NUMERICHOST | NI_NUMERICSERV);
  return addr.ss_family == AF_INET6 ? fmt::format("[{}]:{}", host, service) : fmt::format("{}:{}", host, service);
}

// -------------------------------------------------------------------------------------------------
// P3. Joining finished connections, and stopping
// -------------------------------------------------------------------------------------------------
// Join finished connection threads and close their sockets; with `all`, wait for every thread.
// Nodes are moved out of the list under the lock, then joined without it: a connection thread that
// is still finishing needs the lock to set its flag, so joining it while holding the lock would deadlock.
void BlockingEchoServer::reap(bool all) {
  std::list<Connection> done;
  {
    std::lock_guard lock(mutex_);
    for (auto it = connections_.begin(); it != connections_.end();) {
      auto next = std::next(it);
      if (all || it->finished) {
        if (it->finished) --unreaped_;
        done.splice(done.end(), connections_, it);
      }
      it = next;
    }
  }
  for (auto& c : done) {
    if (c.thread.joinable()) c.thread.join();
    ::close(c.fd);
  }
}

// shutdown() wakes a thread waiting to receive (recv() then returns 0) or to send (send() fails). On
// Linux, shutdown() of a listening socket also wakes a thread blocked in accept() (EINVAL).
void BlockingEchoServer::stop() {
  std::lock_guard lock(mutex_);
  if (stopping_.exchange(true)) return;
  if (listen_fd_ >= 0) ::shutdown(listen_fd_, SHUT_RDWR);
  for (auto& c : connections_) ::shutdown(c.fd, SHUT_RDWR);
}

BlockingEchoServer::~BlockingEchoServer() {
  BlockingEchoServer::stop();
  reap(true);
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

// -------------------------------------------------------------------------------------------------
// Try this: predict what the output will show, then run it. The answers below were checked on
// Linux. Each needs the server in one terminal and a client in another.
// -------------------------------------------------------------------------------------------------
// 1. Start `build/default/networking/blocking_echo_server --port 8888 --max-connections 2`, then run
//    `build/default/networking/tcp_echo_client --port 8888 --clients 5 --lines 3 --pause-ms 100`.
//    Answer: two clients are served; the server logs "refused, already 2 open (--max-connections)" for
//    the other three, and the client exits with status 1. Each refused client reports, depending on
//    timing, "the server closed the connection before echoing line 1" (closed before the line arrived:
//    a polite FIN) or "reading the echo of line 1 failed: Connection reset by peer" (the line waited
//    unread in the socket: closing it sends a reset instead). The cap on connections is a cap on threads.
//
// 2. Start the server without a cap, run `build/default/networking/tcp_echo_client --port 8888
//    --clients 200 --lines 4 --pause-ms 500`, and count the server's threads and descriptors with
//    `P=$(pgrep -nf blocking_echo_server); ls /proc/$P/task | wc -l; ls /proc/$P/fd | wc -l` while it
//    runs, after it ends, and after one more client (the same command with --clients 1).
//    Answer: 203 threads while the clients are connected (one each, plus main, the accept loop and the
//    log writer), 3 once they have gone (tcp_echo_server serves the same 200 on one thread). Descriptors:
//    204 (200 sockets, stdio, the listener; more if your shell passes some on), and still 204 after the
//    clients have gone: their sockets wait for the next client to be closed. After it, 5: that client's
//    own socket now waits in turn. The next lesson's reaper closes each one at once.
//
// Next: networking/blocking_server_limits.cpp: the same server made to survive what real load brings:
// an open-file limit lower than the cap, no descriptor left for a new client, accept() failing, and
// finished connections that should not wait for the next client to be cleaned up.
