// tcp_echo_server: one coroutine per connection lets one thread serve thousands of TCP clients.
//
// What you will see: the server prints `listening on 127.0.0.1:8888` and then one log line per event:
// a client connects, a line arrives (shown shortened if long), a connection closes and why. Every
// line a client sends comes back byte for byte. Press Ctrl-C: it stops accepting, closes the open
// connections, prints what it served and exits 0, even with idle clients still connected.
//
// Run it:   build/default/networking/tcp_echo_server --port 8888
//           then, in a second terminal:   build/default/networking/tcp_echo_client --port 8888
//           or by hand:                   nc 127.0.0.1 8888      (type lines; Ctrl-C to quit)
// Build it by hand:
//   g++ -std=c++20 -O2 -I common networking/tcp_echo_server.cpp -lfmt -pthread -o tcp_echo_server
//
// Mirrors tcp_echo_server.py from the Python playground:
//   asyncio.start_server(handle, host, port) -> tcp::acceptor + an accept loop that co_spawns a session
//   async def handle(reader, writer)         -> asio::awaitable<void> session(tcp::socket)
//   await reader.readline()                  -> co_await asio::async_read_until(socket, buffer, '\n')
//   writer.write(data); await writer.drain() -> co_await asio::async_write(socket, buffer)
//   writer.close()                           -> socket.close() (also done by the socket's destructor)
//   server.serve_forever() + Ctrl-C          -> io_context::run() + a signal_set awaited with `||`
//
// What differs in C++: nothing is buffered for you. asyncio's StreamReader caps a line at 64 KiB and
// `drain()` applies backpressure; here the line limit is a dynamic_buffer's maximum size, and the
// backpressure comes from awaiting each write before reading the next line. Errors arrive as
// `asio::error_code` values (we ask for them with `as_tuple` instead of exceptions), and Ctrl-C is
// not a KeyboardInterrupt: it is an event the server awaits like any other.

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <sys/resource.h>

#include "playground.hpp"

// Everything the server is made of lives in this namespace, so the client lesson (and its tests) can
// sit in the same program without a name clash.
namespace echo_server {

using tcp = asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;  // `a || b` on awaitables

// `co_await op(..., nothrow)` gives a tuple (error_code, result...) instead of throwing on error. A
// network server meets errors all the time (clients reset, time out, send garbage); they are values to
// look at, not exceptions. It also avoids a trap of Asio 1.22's `a || b`: it waits for the first
// operand that *succeeds*, so a coroutine that threw would leave `||` waiting for the other side.
constexpr auto nothrow = asio::experimental::as_tuple(asio::use_awaitable);

// -------------------------------------------------------------------------------------------------
// 1. Open files: one socket is one file descriptor
// -------------------------------------------------------------------------------------------------
// Every connection holds a file descriptor, and a process may open only RLIMIT_NOFILE of them (the
// "soft" limit, often 1024). An unprivileged process may raise its soft limit up to the "hard" limit,
// so a server that wants thousands of clients does that at start, and says so.

struct FileLimit {
  rlim_t before = 0;
  rlim_t after = 0;
};

FileLimit raise_open_file_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return {};
  FileLimit result{limit.rlim_cur, limit.rlim_cur};
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) result.after = raised.rlim_cur;
  }
  return result;
}

// -------------------------------------------------------------------------------------------------
// 2. What the server is told, and what it counts
// -------------------------------------------------------------------------------------------------
// Port 0 asks the kernel for any free port: the tests use it so that two test runs never fight over
// a port, and read the real port back from the acceptor. `log` is where the server tells its story
// (stdout in the program; nullptr keeps the tests quiet).

struct EchoServerConfig {
  std::string address = "127.0.0.1";
  unsigned short port = 8888;
  std::size_t max_line = 64 * 1024;                // bytes, the '\n' included; a longer line closes the connection
  std::chrono::milliseconds idle_timeout{60'000};  // no byte read or written for this long: close (0: never)
  std::FILE* log = stdout;
};

// The counters are atomics only because tests read them from another thread while the server runs;
// the server itself touches them from its one thread.
struct EchoServerStats {
  std::atomic<long> accepted{0};
  std::atomic<long> open{0};       // connections open right now
  std::atomic<long> peak_open{0};  // the most that were open at once
  std::atomic<long> lines{0};      // lines echoed
  std::atomic<long> bytes{0};      // bytes echoed
  std::atomic<long> too_long{0};   // connections closed for an over-long line
  std::atomic<long> idle{0};       // connections closed by the idle timeout
  std::atomic<long> resets{0};     // connections the client reset
  std::atomic<long> accept_errors{0};
  std::atomic<int> serving_thread{0};              // kernel id of the thread that ran the sessions
  std::atomic<long> sessions_on_other_threads{0};  // stays 0: one thread serves everyone
};

// How an address and port read in a log line: 127.0.0.1:8888, or [::1]:8888 for IPv6.
std::string endpoint_text(const tcp::endpoint& endpoint) {
  const auto address = endpoint.address();
  return address.is_v6() ? fmt::format("[{}]:{}", address.to_string(), endpoint.port())
                         : fmt::format("{}:{}", address.to_string(), endpoint.port());
}

// What arrived, for the log: control bytes made visible, and only the first `limit` characters of a
// long line (a 64 KiB line would drown the terminal).
std::string printable_line(std::string_view bytes, std::size_t limit = 60) {
  std::string out;
  for (std::size_t i = 0; i < bytes.size() && i < limit; ++i) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    if (c == '\n')
      out += "\\n";
    else if (c == '\r')
      out += "\\r";
    else if (c == '\t')
      out += "\\t";
    else if (c == '\\')
      out += "\\\\";
    else if (c < 0x20 || c >= 0x7f)
      out += fmt::format("\\x{:02x}", c);
    else
      out += static_cast<char>(c);
  }
  if (bytes.size() > limit) out += fmt::format("... ({} bytes)", bytes.size());
  return out;
}

// Why a connection ended: every way out of a session has a name, and the log shows it.
enum class CloseReason { client_closed, reset, too_long, idle, shutdown, error };

std::string_view reason_text(CloseReason reason) {
  switch (reason) {
    case CloseReason::client_closed:
      return "client closed the connection";
    case CloseReason::reset:
      return "connection reset by the client";
    case CloseReason::too_long:
      return "line longer than the limit";
    case CloseReason::idle:
      return "idle timeout";
    case CloseReason::shutdown:
      return "server shutting down";
    case CloseReason::error:
      return "network error";
  }
  return "?";
}

class EchoServer {
 public:
  // -----------------------------------------------------------------------------------------------
  // 3. Bind and listen, with errors a person can read
  // -----------------------------------------------------------------------------------------------
  // The constructor opens the listening socket at once, so the caller knows the real port before
  // anything runs, and a port in use or a bad address is reported here as one sentence (the program
  // prints it and exits 1) instead of an exception trace later.
  //
  // reuse_address lets a restarted server bind while connections from its previous run linger in
  // TIME_WAIT; on Linux it does not let two servers listen on the same port. The backlog is the queue
  // of connections the kernel has completed but we have not accepted yet: the largest the system allows
  // (SOMAXCONN), so a burst of thousands of clients waits in the queue instead of being refused.
  EchoServer(const asio::any_io_executor& executor, EchoServerConfig config)
      : config_(std::move(config)), acceptor_(executor) {
    asio::error_code error;
    const auto address = asio::ip::make_address(config_.address, error);
    if (error) throw std::invalid_argument(fmt::format("'{}' is not an IP address", config_.address));
    const tcp::endpoint endpoint(address, config_.port);
    const auto fail = [&](std::string_view step) {
      throw std::runtime_error(fmt::format("cannot {} {}: {}", step, endpoint_text(endpoint), error.message()));
    };
    if (acceptor_.open(endpoint.protocol(), error)) fail("open a socket for");
    if (acceptor_.set_option(tcp::acceptor::reuse_address(true), error)) fail("set options for");
    if (acceptor_.bind(endpoint, error)) fail("listen on");
    if (acceptor_.listen(asio::socket_base::max_listen_connections, error)) fail("listen on");
  }

  // The address and port really bound (with port 0, the one the kernel picked).
  [[nodiscard]] tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }
  [[nodiscard]] unsigned short port() const { return local_endpoint().port(); }
  [[nodiscard]] const EchoServerStats& stats() const { return stats_; }
  [[nodiscard]] const EchoServerConfig& config() const { return config_; }

  template <class... Args>
  void log(fmt::format_string<Args...> format, Args&&... args) {
    if (config_.log == nullptr) return;
    fmt::print(config_.log, format, std::forward<Args>(args)...);
    std::fputc('\n', config_.log);
    std::fflush(config_.log);  // stdout may be a pipe (a test, `| tee`): show each event as it happens
  }

  // -----------------------------------------------------------------------------------------------
  // 4. One connection: read a line, echo it, repeat
  // -----------------------------------------------------------------------------------------------
  // async_read_until reads into a std::string until it holds a '\n'. The string may receive more
  // than one line in one read (a client may send many lines at once): `n` is the length of the first
  // one, and the rest stays in the buffer for the next turn. Bytes are echoed exactly as they came:
  // any byte value, "\r\n" kept, nothing decoded.
  //
  // Three decisions make this safe under load and bad input:
  // - Backpressure: the next line is read only after the echo is fully written. A client that sends
  //   but never reads fills its socket buffers, then our async_write waits, and we stop reading: the
  //   server holds at most one line per connection, however fast the client sends.
  // - Bounded memory: dynamic_buffer(buffer, max_line) never grows past max_line. A line longer than
  //   that ends the read with error::not_found, and we close the connection: its memory is freed and
  //   the other clients never notice.
  // - Half-close: a client may say "I am done sending" (shutdown(SHUT_WR), as `nc -N` does at the end
  //   of its input) and still read. We see end of file after its last line, have already echoed every
  //   complete line, echo a last line that had no '\n', then close our side: the client gets all
  //   its echoes, then EOF.
  //
  // Each completed read or write pushes `deadline` forward; section 5 closes the connection when the
  // deadline passes.
  asio::awaitable<CloseReason> echo_lines(tcp::socket& socket, const std::string& who,
                                          pg::Clock::time_point& deadline) {
    std::string buffer;
    for (;;) {
      auto [read_error, n] =
          co_await asio::async_read_until(socket, asio::dynamic_buffer(buffer, config_.max_line), '\n', nothrow);
      if (read_error == asio::error::eof) {
        if (!buffer.empty()) {
          log("{} {} bytes (last line, no newline): '{}'", who, buffer.size(), printable_line(buffer));
          auto [write_error, written] = co_await asio::async_write(socket, asio::buffer(buffer), nothrow);
          if (write_error) co_return classify(write_error);
          count_echo(written);
        }
        co_return CloseReason::client_closed;
      }
      if (read_error == asio::error::not_found) co_return CloseReason::too_long;
      if (read_error) co_return classify(read_error);

      const std::string_view line(buffer.data(), n);
      log("{} {} bytes: '{}'", who, n, printable_line(line));
      deadline = pg::Clock::now() + config_.idle_timeout;
      auto [write_error, written] = co_await asio::async_write(socket, asio::buffer(line), nothrow);
      if (write_error) co_return classify(write_error);
      count_echo(written);
      buffer.erase(0, n);
      deadline = pg::Clock::now() + config_.idle_timeout;
    }
  }

  // -----------------------------------------------------------------------------------------------
  // 5. Idle timeout: a watchdog raced against the conversation with `||`
  // -----------------------------------------------------------------------------------------------
  // A client that connects and says nothing would hold its socket forever. The watchdog sleeps until
  // the deadline; if the conversation moved the deadline meanwhile (it only ever moves later), it
  // sleeps again. When it returns, `echo_lines(...) || idle_watchdog(...)` cancels the loser: the
  // pending read in echo_lines completes with operation_aborted, echo_lines returns, and the session
  // closes the socket. When echo_lines returns first, the watchdog's timer is cancelled instead (it
  // throws operation_aborted, which `||` absorbs because the other side succeeded).
  static asio::awaitable<void> idle_watchdog(const pg::Clock::time_point& deadline) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    while (pg::Clock::now() < deadline) {
      timer.expires_at(deadline);
      co_await timer.async_wait(asio::use_awaitable);
    }
  }

  // The whole life of one connection (Python: `async def handle(reader, writer)`). The socket lives in
  // this coroutine's frame; while it is open, its address sits in `open_` so that close() can reach it.
  asio::awaitable<void> session(tcp::socket socket, long id) {
    OpenConnection registration(*this, socket);
    note_serving_thread();
    const std::string who = fmt::format("[#{} {}]", id, endpoint_text(socket.remote_endpoint(ignored_)));
    log("{} connected ({} open)", who, stats_.open.load());

    CloseReason reason{};
    pg::Clock::time_point deadline = pg::Clock::now() + config_.idle_timeout;
    if (config_.idle_timeout.count() > 0) {
      auto winner = co_await (echo_lines(socket, who, deadline) || idle_watchdog(deadline));
      reason = winner.index() == 0 ? std::get<0>(winner) : CloseReason::idle;
    } else {
      reason = co_await echo_lines(socket, who, deadline);
    }
    if (closing_) reason = CloseReason::shutdown;
    if (reason == CloseReason::too_long) ++stats_.too_long;
    if (reason == CloseReason::idle) ++stats_.idle;
    if (reason == CloseReason::reset) ++stats_.resets;

    // Closing sends FIN (or RST if the client sent bytes we did not read, e.g. the rest of an over-long
    // line: that tells the client its data was dropped). The destructor would close it too; doing it
    // here puts the log line after the fact.
    socket.shutdown(tcp::socket::shutdown_both, ignored_);
    socket.close(ignored_);
    if (reason == CloseReason::too_long) {
      log("{} closed: {} ({} bytes)", who, reason_text(reason), config_.max_line);
    } else {
      log("{} closed: {}", who, reason_text(reason));
    }
  }

  // -----------------------------------------------------------------------------------------------
  // 6. The accept loop: one new coroutine per connection
  // -----------------------------------------------------------------------------------------------
  // Each accepted socket is moved into its own session coroutine, started with co_spawn, and the loop
  // goes straight back to accepting: a slow client never delays the next one. co_spawn "dispatches",
  // so the session runs right here until its first co_await (its first read), then the loop continues.
  //
  // The session's completion handler never rethrows: one broken connection must not take the server
  // down. But it never swallows either (Asio's `detached` would): an unexpected exception is logged.
  //
  // An accept can fail for reasons that pass: EMFILE (out of file descriptors), ECONNABORTED (the client
  // gave up while queued). Returning would kill the server and looping at once would spin at 100% CPU,
  // so we log, pause 100 ms for descriptors to be freed, and go on. The loop ends when close() closes
  // the acceptor or `||` cancels it (both give operation_aborted).
  asio::awaitable<void> accept_loop() {
    const auto executor = co_await asio::this_coro::executor;
    while (!closing_) {
      auto [error, socket] = co_await acceptor_.async_accept(nothrow);
      if (error == asio::error::operation_aborted || closing_) co_return;
      if (error) {
        ++stats_.accept_errors;
        log("accept failed: {}; pausing 100 ms", error.message());
        asio::steady_timer pause(executor, std::chrono::milliseconds(100));
        auto [cancelled] = co_await pause.async_wait(nothrow);
        if (cancelled) co_return;
        continue;
      }
      const long id = ++stats_.accepted;
      asio::co_spawn(executor, session(std::move(socket), id), [this, id](std::exception_ptr failure) {
        if (!failure) return;
        try {
          std::rethrow_exception(failure);
        } catch (const std::exception& e) {
          log("[#{}] session failed: {}", id, e.what());
        }
      });
    }
  }

  // -----------------------------------------------------------------------------------------------
  // 7. Closing: stop accepting, close every open connection
  // -----------------------------------------------------------------------------------------------
  // Closing a socket cancels its pending read or write: each session wakes with an error, leaves
  // echo_lines, and finishes normally, freeing its frame and socket. So after close() the io_context
  // runs out of work by itself and run() returns: nothing is abandoned mid-flight.
  // Call it on the server's thread (from another thread: asio::post(io, [&] { server.close(); })).
  void close() {
    closing_ = true;
    acceptor_.close(ignored_);
    const std::vector<tcp::socket*> sockets(open_.begin(), open_.end());  // sessions leave open_ later
    for (tcp::socket* socket : sockets) {
      socket->shutdown(tcp::socket::shutdown_both, ignored_);
      socket->close(ignored_);
    }
  }
  [[nodiscard]] std::size_t open_connections() const { return open_.size(); }

 private:
  // Adds a session's socket to open_ for as long as the session lives (RAII: however it ends).
  class OpenConnection {
   public:
    OpenConnection(EchoServer& server, tcp::socket& socket) : server_(server), socket_(&socket) {
      server_.open_.insert(socket_);
      const long now_open = ++server_.stats_.open;
      if (now_open > server_.stats_.peak_open) server_.stats_.peak_open = now_open;
    }
    OpenConnection(const OpenConnection&) = delete;
    OpenConnection& operator=(const OpenConnection&) = delete;
    ~OpenConnection() {
      server_.open_.erase(socket_);
      --server_.stats_.open;
    }

   private:
    EchoServer& server_;
    tcp::socket* socket_;
  };

  static CloseReason classify(const asio::error_code& error) {
    if (error == asio::error::connection_reset || error == asio::error::broken_pipe) return CloseReason::reset;
    if (error == asio::error::operation_aborted || error == asio::error::bad_descriptor) return CloseReason::shutdown;
    return CloseReason::error;
  }

  void count_echo(std::size_t bytes) {
    ++stats_.lines;
    stats_.bytes += static_cast<long>(bytes);
  }

  void note_serving_thread() {
    int expected = 0;
    const int tid = pg::os_thread_id();
    if (!stats_.serving_thread.compare_exchange_strong(expected, tid) && expected != tid)
      ++stats_.sessions_on_other_threads;
  }

  EchoServerConfig config_;
  tcp::acceptor acceptor_;
  EchoServerStats stats_;
  std::set<tcp::socket*> open_;
  bool closing_ = false;
  asio::error_code ignored_;  // for calls whose failure changes nothing (closing what may be closed)
};

// -------------------------------------------------------------------------------------------------
// 8. Ctrl-C: the signal is one more thing to await
// -------------------------------------------------------------------------------------------------
// A signal_set turns SIGINT and SIGTERM into an asynchronous event. `accept_loop() || signal` runs
// both and, when the signal arrives first, cancels the accept loop. Cancelling the accept loop does
// not reach the sessions it started (they are independent coroutines), so we then call close(),
// which ends each of them. run() returns soon after, and the program exits 0.
asio::awaitable<void> serve_until_signal(EchoServer& server, asio::signal_set& signals) {
  auto winner = co_await (server.accept_loop() || signals.async_wait(asio::use_awaitable));
  if (winner.index() == 1) {
    server.log("signal {} ({}): closing {} open connection(s)", std::get<1>(winner), ::strsignal(std::get<1>(winner)),
               server.open_connections());
  }
  server.close();
}

// -------------------------------------------------------------------------------------------------
// 9. The same server on a background thread (how the tests run it)
// -------------------------------------------------------------------------------------------------
// The io_context runs on a thread of its own, so the caller's thread is free to be a client. Only the
// port crosses threads at start (it is known before the thread starts); stop() crosses with
// asio::post, which runs close() on the server's thread, where everything about the server lives.
class EchoServerThread {
 public:
  explicit EchoServerThread(EchoServerConfig config) : server_(io_.get_executor(), std::move(config)) {
    asio::co_spawn(io_, server_.accept_loop(), [this](std::exception_ptr failure) {
      if (failure) {
        error_ = failure;  // read by error() after the thread is joined
        server_.close();
      }
    });
    thread_ = std::thread([this] { io_.run(); });
  }
  EchoServerThread(const EchoServerThread&) = delete;
  EchoServerThread& operator=(const EchoServerThread&) = delete;
  ~EchoServerThread() { stop(); }

  [[nodiscard]] unsigned short port() const { return port_; }
  [[nodiscard]] const EchoServerStats& stats() const { return server_.stats(); }

  // Close everything and wait for the server's thread to finish. Safe to call twice.
  void stop() {
    if (!thread_.joinable()) return;
    asio::post(io_, [this] { server_.close(); });
    thread_.join();
  }
  [[nodiscard]] std::exception_ptr error() const { return error_; }

 private:
  asio::io_context io_;  // declared first, destroyed last: the server's sockets belong to it
  EchoServer server_;
  unsigned short port_ = server_.port();
  std::thread thread_;
  std::exception_ptr error_;
};

}  // namespace echo_server

// -------------------------------------------------------------------------------------------------
// main: flags, bind, serve until Ctrl-C
// -------------------------------------------------------------------------------------------------

#ifndef PLAYGROUND_NO_MAIN  // the tests include this file and bring their own main
int main(int argc, char** argv) {
  using namespace echo_server;
  EchoServerConfig config;
  int port = config.port;
  int max_line = static_cast<int>(config.max_line);
  int idle_ms = static_cast<int>(config.idle_timeout.count());
  pg::Flags flags("tcp_echo_server", "A line-based TCP echo server: one coroutine per connection, one thread.");
  flags.add("--address", config.address, "IP address to listen on (127.0.0.1, ::1, 0.0.0.0 for every interface)");
  flags.add("--port", port, "TCP port to listen on (0 picks a free one)", 0, 65535);
  flags.add("--max-line", max_line, "longest line accepted, in bytes with its newline", 2, 64 * 1024 * 1024);
  flags.add("--idle-timeout-ms", idle_ms, "close a connection silent for this long (0: never)", 0, 86'400'000);
  if (auto status = flags.parse(argc, argv)) return *status;
  config.port = static_cast<unsigned short>(port);
  config.max_line = static_cast<std::size_t>(max_line);
  config.idle_timeout = std::chrono::milliseconds(idle_ms);

  pg::banner("1. Open files");
  const FileLimit files = raise_open_file_limit();
  if (files.after > files.before) {
    fmt::print("open-file limit raised from {} to {}: room for about that many clients\n", files.before, files.after);
  } else {
    fmt::print("open-file limit: {} (one per client, so about that many clients at once)\n", files.after);
  }

  pg::banner("2. Listen, then serve until Ctrl-C");
  // The io_context is declared before the server: objects are destroyed in reverse order, so the
  // server (and its acceptor) goes first, while the io_context it belongs to is still alive.
  asio::io_context io;
  std::optional<EchoServer> server;
  try {
    server.emplace(io.get_executor(), config);
  } catch (const std::invalid_argument& e) {
    fmt::print(stderr, "tcp_echo_server: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "tcp_echo_server: {}\n", e.what());
    return 1;
  }
  fmt::print("listening on {}\n", endpoint_text(server->local_endpoint()));
  fmt::print("try it: nc {} {}   (max line {} bytes, idle timeout {} ms; Ctrl-C stops)\n",
             server->local_endpoint().address().to_string(), server->port(), config.max_line, idle_ms);
  std::fflush(stdout);  // stdout may be a pipe: whoever waits for "listening on" must see it now

  asio::signal_set signals(io, SIGINT, SIGTERM);
  int exit_code = 0;
  asio::co_spawn(io, serve_until_signal(*server, signals), [&](std::exception_ptr failure) {
    if (!failure) return;
    // Not rethrown: leaving run() with sessions alive would destroy their frames after the server.
    // We say what happened, close everything, and let run() finish normally.
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& e) {
      fmt::print(stderr, "tcp_echo_server: {}\n", e.what());
    }
    exit_code = 1;
    server->close();
  });
  pg::Stopwatch uptime;
  io.run();

  pg::banner("3. Summary");
  const auto& stats = server->stats();
  fmt::print("up {:.1f} s; {} connection(s), at most {} open at once, all on one thread ({} on other threads)\n",
             uptime.elapsed_ms() / 1000.0, stats.accepted.load(), stats.peak_open.load(),
             stats.sessions_on_other_threads.load());
  fmt::print("echoed {} line(s), {} byte(s); closed {} for over-long lines, {} idle, {} reset by the client\n",
             stats.lines.load(), stats.bytes.load(), stats.too_long.load(), stats.idle.load(), stats.resets.load());
  fmt::print(
      "\nTakeaway: a connection is a coroutine, not a thread: one thread serves them all, each waiting\n"
      "for its own client, and awaiting each write before the next read keeps memory bounded.\n");
  std::fflush(stdout);
  return exit_code;
}
#endif
