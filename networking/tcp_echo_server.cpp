// tcp_echo_server: one coroutine per connection lets one thread serve thousands of TCP clients.
// New to C++ or Asio? PRIMER.md, at the top of the repository, explains the words used here with Python analogies.
//
// What you will see: `listening on 127.0.0.1:8888`, then a log line per event: a client connects, a
// line arrives (shortened if long), a connection closes and why. Every line comes back byte for byte.
// Ctrl-C stops accepting, closes the open connections, prints a summary and exits 0.
//
// How to read it: section 1 is the whole idea, an echo server in 25 lines, as small as Asio's own
// example (--core runs it alone). You may stop there. Sections 2-9 grow it into a server that survives
// bad clients: a line limit and backpressure (4), a deadline per line (5), shutdown on Ctrl-C (7, 8),
// logging that never stalls it (9). The next lesson, tcp_server_in_production, adds what production
// asks on top: a cap on connections fitted to the open-file limit, and several threads.
//
// Run it:   build/default/networking/tcp_echo_server --port 8888
//           then, in a second terminal:   build/default/networking/tcp_echo_client --port 8888
//           or by hand:                   nc 127.0.0.1 8888   (type lines; Ctrl-C to quit)
//           Only the core of section 1: --core. Without the log line per event: --quiet.
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
//   logging.handlers.QueueHandler            -> LogWriter: a bounded queue and a thread that writes it
//
// What differs in C++: nothing is buffered for you. asyncio's StreamReader caps a line at 64 KiB and
// `drain()` applies backpressure; here the limit is a dynamic_buffer's maximum size, and backpressure
// comes from awaiting each write before the next read. Errors arrive as `asio::error_code` values (via
// `as_tuple`), and Ctrl-C is not a KeyboardInterrupt: it is an event the server awaits like any other.

#include <asio.hpp>
#include <asio/experimental/awaitable_operators.hpp>
// as_tuple ("give me the error as a value, not an exception") is asio::experimental::as_tuple in Asio
// 1.22 and asio::as_tuple from 1.28 (1.38 removed the experimental one): we use the form Asio offers.
#if ASIO_VERSION >= 102800
#include <asio/as_tuple.hpp>
using asio::as_tuple;
#else
#include <asio/experimental/as_tuple.hpp>
using asio::experimental::as_tuple;
#endif

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "log_text.hpp"  // endpoint_text() and printable_line(), for the log
#include "log_writer.hpp"
#include "playground.hpp"

// A namespace of its own, so that the client lesson (and its tests) can share a program with it.
namespace echo_server {

using tcp = asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;  // `a || b` on awaitables

// `co_await op(..., nothrow)` gives a tuple (error_code, result...) instead of throwing. A server meets
// errors all the time (clients reset, time out, send garbage): values to look at, not exceptions. It
// also suits `a || b`, which waits for the first operand that *succeeds* (as Asio documents it): a
// coroutine that threw would leave `||` waiting for the other side.
constexpr auto nothrow = as_tuple(asio::use_awaitable);

// -------------------------------------------------------------------------------------------------
// 1. The core: an echo server in 25 lines
// -------------------------------------------------------------------------------------------------
// Two coroutines make the whole server. An `asio::awaitable<T>` is a coroutine (Python: `async def`
// returning T); inside one, `co_await` suspends it until an operation finishes, and the thread runs
// other coroutines meanwhile. An operation's last argument, its "completion token", says what to do
// when it finishes: `asio::use_awaitable` resumes the coroutine awaiting it (and throws on error).
//
// echo_session() serves one client: read until '\n', write the line back, repeat. listen() is the
// accept loop: it waits for a client, starts an echo_session for it with co_spawn (Python:
// asyncio.create_task) and goes straight back to waiting, so a slow client never delays the next one.
// `detached` means nobody awaits the session's result. Both run on one io_context (the event loop),
// whose run() (Python: loop.run_forever) drives them all on one thread.
namespace core {

asio::awaitable<void> echo_session(tcp::socket socket) {
  std::string buffer;
  for (;;) {
    auto [read_error, n] = co_await asio::async_read_until(socket, asio::dynamic_buffer(buffer), '\n', nothrow);
    if (read_error) co_return;  // the client left (or reset): the socket's destructor closes our side
    auto [write_error, written] = co_await asio::async_write(socket, asio::buffer(buffer, n), nothrow);
    if (write_error) co_return;
    buffer.erase(0, n);  // the next line may already be in the buffer
  }
}

asio::awaitable<void> listen(tcp::acceptor& acceptor) {
  for (;;) {
    tcp::socket socket = co_await acceptor.async_accept(asio::use_awaitable);
    asio::co_spawn(acceptor.get_executor(), echo_session(std::move(socket)), asio::detached);
  }
}

}  // namespace core

// That is a working server (--core runs it), with a hole for every kind of client the world holds. A
// client that sends 1 GB without a '\n' makes it buffer 1 GB. One that says nothing, or a byte a
// minute, holds its socket forever, and so do a million of them. An accept that fails throws, ending
// the server. Ctrl-C kills it without a word. The rest of this file closes those holes one section at
// a time, keeping the same two coroutines at its heart: session() and accept_loop().

// -------------------------------------------------------------------------------------------------
// 2. What the full server is told, and what it counts
// -------------------------------------------------------------------------------------------------
// Port 0 asks the kernel for any free port (the tests use it, and read the real port back). `log` is
// where the server tells its story: a LogWriter (section 9) in the program; empty keeps tests quiet.

struct EchoServerConfig {
  std::string address = "127.0.0.1";
  unsigned short port = 8888;
  std::size_t max_line = 64 * 1024;  // bytes, the '\n' included; a longer line closes the connection (section 4)
  // Time a client has to send each whole line, and again to take its echo (section 5; 0: no limit).
  std::chrono::milliseconds idle_timeout{60'000};
  std::function<void(const std::string&)> log;  // one line, without its '\n'; empty: no log (--quiet)
};

// Atomics: tests read them from another thread (and tcp_server_in_production updates them from several).
struct EchoServerStats {
  std::atomic<long> accepted{0};        // connections accepted, refused ones included
  std::atomic<long> refused{0};         // closed at once by tcp_server_in_production's cap
  std::atomic<long> open{0};            // connections open right now
  std::atomic<long> peak_open{0};       // the most that were open at once
  std::atomic<long> lines{0};           // lines echoed
  std::atomic<long> bytes{0};           // bytes echoed
  std::atomic<long> too_long{0};        // connections closed for an over-long line
  std::atomic<long> idle{0};            // connections closed by the deadline of section 5 (reading or writing)
  std::atomic<long> resets{0};          // connections the client reset
  std::atomic<long> accept_errors{0};   // accepts that failed (section 6)
  std::atomic<int> serving_thread{0};   // kernel id of the first thread that started a session
  std::atomic<int> serving_threads{0};  // how many different threads started sessions
};

// Why a connection ended: every way out of a session has a name, and the log shows it.
enum class CloseReason { client_closed, reset, too_long, line_timeout, write_timeout, shutdown, error };

std::string_view reason_text(CloseReason reason) {
  static constexpr std::string_view texts[] = {"client closed the connection",
                                               "connection reset by the client",
                                               "line longer than the limit",
                                               "no complete line within the idle timeout",
                                               "echo not taken within the idle timeout (the client stopped reading)",
                                               "server shutting down",
                                               "error"};
  return texts[static_cast<int>(reason)];
}

// The address to listen on, from what the user typed: an IP address (127.0.0.1, ::1, 0.0.0.0) or a
// host name (localhost), which the resolver turns into its addresses (Python: socket.getaddrinfo); we
// listen on the first. A name that does not resolve is bad input, reported as one sentence.
tcp::endpoint listening_endpoint(const asio::any_io_executor& executor, const std::string& host, unsigned short port) {
  tcp::resolver resolver(executor);
  asio::error_code error;
  const auto results = resolver.resolve(host, std::to_string(port), tcp::resolver::passive, error);
  if (error || results.empty())
    throw std::invalid_argument(
        fmt::format("cannot listen on '{}': {}", host, error ? error.message() : "the name has no address"));
  return results.begin()->endpoint();
}

class EchoServer {
 public:
  // -----------------------------------------------------------------------------------------------
  // 3. Bind and listen, with errors a person can read
  // -----------------------------------------------------------------------------------------------
  // The constructor binds at once, so the caller knows the real port before anything runs, and a port
  // in use or a bad address is one sentence here (the program exits 2 for an address that does not
  // resolve, 1 for a port in use), not an exception trace later. reuse_address lets a restarted server
  // bind while its old connections linger in TIME_WAIT (on Linux two servers still cannot share a
  // port). The backlog, connections the kernel completed that we have not accepted yet, is the largest
  // allowed (SOMAXCONN): a burst of clients waits in it instead of being refused. `executor` is where
  // the listener runs: the io_context's (tcp_server_in_production passes a strand).
  EchoServer(const asio::any_io_executor& executor, EchoServerConfig config)
      : config_(std::move(config)), acceptor_(executor) {
    const tcp::endpoint endpoint = listening_endpoint(executor, config_.address, config_.port);
    asio::error_code error;
    const auto fail = [&](std::string_view step) {
      throw std::runtime_error(fmt::format("cannot {} {}: {}", step, endpoint_text(endpoint), error.message()));
    };
    if (acceptor_.open(endpoint.protocol(), error)) fail("open a socket for");
    if (acceptor_.set_option(tcp::acceptor::reuse_address(true), error)) fail("set options for");
    if (acceptor_.bind(endpoint, error)) fail("listen on");
    if (acceptor_.listen(asio::socket_base::max_listen_connections, error)) fail("listen on");
  }

  virtual ~EchoServer() = default;  // virtual: tcp_server_in_production derives from it

  // The address and port really bound (with port 0, the one the kernel picked).
  [[nodiscard]] tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }
  [[nodiscard]] unsigned short port() const { return local_endpoint().port(); }
  [[nodiscard]] const EchoServerStats& stats() const { return stats_; }
  // Where accept_loop(), serve_until_signal() and close() run.
  [[nodiscard]] asio::any_io_executor executor() { return acceptor_.get_executor(); }
  // Threads that run the io_context: one here (tcp_server_in_production runs more).
  [[nodiscard]] virtual int threads() const { return 1; }

  // One log line, handed to config.log (in the program, a LogWriter's queue: section 9). It never
  // waits for the output, and with --quiet the line is not even formatted.
  template <class... Args>
  void log(fmt::format_string<Args...> format, Args&&... args) {
    if (config_.log) config_.log(fmt::format(format, std::forward<Args>(args)...));
  }

  // -----------------------------------------------------------------------------------------------
  // 4. One connection, hardened: a line limit, backpressure, half-close
  // -----------------------------------------------------------------------------------------------
  // The loop of core::echo_session (section 1). One read may bring several lines: `n` is the length
  // of the first, and the rest waits in the buffer. Bytes come back exactly: "\r\n" kept, nothing
  // decoded. Three decisions make it safe under load and bad input:
  // - Backpressure: the next line is read only after the echo is written. A client that never reads
  //   fills its socket buffers, our async_write waits, and we stop reading: one line per connection.
  // - Bounded memory: dynamic_buffer(buffer, max_line) never grows past max_line. A longer line ends
  //   the read with error::not_found, and we close that connection; the other clients never notice.
  // - Half-close: a client may say "I am done sending" (shutdown(SHUT_WR), as `nc -N` does) and still
  //   read. At end of file we echo a last line that had no '\n', then close our side: the client gets
  //   all its echoes, then EOF.
  //
  // `deadline` (section 5) is set when the server starts waiting for a line or writing an echo;
  // `writing` says which of the two it is doing.
  asio::awaitable<CloseReason> echo_lines(tcp::socket& socket, const std::string& who, pg::Clock::time_point& deadline,
                                          bool& writing) {
    std::string buffer;
    for (;;) {
      auto [read_error, n] =
          co_await asio::async_read_until(socket, asio::dynamic_buffer(buffer, config_.max_line), '\n', nothrow);
      if (read_error == asio::error::eof && buffer.empty()) co_return CloseReason::client_closed;
      if (read_error == asio::error::not_found) co_return CloseReason::too_long;
      if (read_error && read_error != asio::error::eof) co_return classify(read_error);
      const bool last = read_error == asio::error::eof;  // half-close: a last line without '\n'
      if (last) n = buffer.size();

      const std::string_view line(buffer.data(), n);
      log("{} {} bytes: '{}'", who, n, printable_line(line));
      deadline = pg::Clock::now() + config_.idle_timeout;  // the echo gets the whole timeout
      writing = true;
      auto [write_error, written] = co_await asio::async_write(socket, asio::buffer(line), nothrow);
      if (write_error) co_return classify(write_error);
      count_echo(written);
      if (last) co_return CloseReason::client_closed;  // (reading again would wait, not see EOF again)
      buffer.erase(0, n);
      deadline = pg::Clock::now() + config_.idle_timeout;  // and so does the next line, from now
      writing = false;
    }
  }

  // -----------------------------------------------------------------------------------------------
  // 5. A deadline per line: a watchdog raced against the conversation with `||`
  // -----------------------------------------------------------------------------------------------
  // The idle timeout is a deadline per line: once the server is ready for the next line, the client
  // has --idle-timeout-ms to deliver all of it, '\n' included; then writing its echo has the same time
  // again. Bytes that trickle in do not move it. So a client that says nothing, one that sends a byte
  // every 100 ms (a "slow drip", the classic way to hold a server's connections with almost no
  // traffic), and one that stops reading its echoes are all closed, while one that completes a line
  // now and then may stay for ever (blocking_echo_server has the same rule; what it leaves open:
  // tcp_server_in_production, section 4).
  //
  // The watchdog sleeps until the deadline, and again if the conversation moved it later meanwhile.
  // When it returns, `echo_lines(...) || idle_watchdog(...)` cancels the loser: echo_lines' pending read
  // or write ends with operation_aborted, and the session closes the socket. When echo_lines returns
  // first, the watchdog's timer is cancelled (its operation_aborted is absorbed: the other side succeeded).
  //
  // That cuts both ways: if echo_lines threw (a log sink that fails), `||` would wait for the watchdog,
  // the client unserved for the whole timeout. So echo_lines_or_error turns an exception into the
  // reason "error", and the connection closes at once.
  asio::awaitable<CloseReason> echo_lines_or_error(tcp::socket& socket, const std::string& who,
                                                   pg::Clock::time_point& deadline, bool& writing,
                                                   std::string& failure) {
    try {
      co_return co_await echo_lines(socket, who, deadline, writing);
    } catch (const std::exception& e) {
      failure = e.what();
    }
    co_return CloseReason::error;
  }

  static asio::awaitable<void> idle_watchdog(const pg::Clock::time_point& deadline) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    while (pg::Clock::now() < deadline) {
      timer.expires_at(deadline);
      co_await timer.async_wait(asio::use_awaitable);
    }
  }

  // The whole life of one connection (Python: `async def handle(reader, writer)`), core::echo_session
  // grown up. The socket lives in this coroutine's frame; `open_` holds its address for close().
  asio::awaitable<void> session(tcp::socket socket, long id) {
    OpenConnection registration(*this, socket, id);
    asio::error_code ignored;  // for calls whose failure changes nothing (closing what may be closed)
    const std::string who = fmt::format("[#{} {}]", id, endpoint_text(socket.remote_endpoint(ignored)));
    log("{} connected ({} open)", who, stats_.open.load());

    CloseReason reason{};
    pg::Clock::time_point deadline = pg::Clock::now() + config_.idle_timeout;
    bool writing = false;
    std::string failure;  // what echo_lines threw, if it did
    if (config_.idle_timeout.count() > 0) {
      auto winner = co_await (echo_lines_or_error(socket, who, deadline, writing, failure) || idle_watchdog(deadline));
      // Who won: echo_lines (its reason), or the watchdog (a timeout, reading or writing).
      reason = winner.index() == 0 ? std::get<0>(winner)
               : writing           ? CloseReason::write_timeout
                                   : CloseReason::line_timeout;
    } else {
      reason = co_await echo_lines_or_error(socket, who, deadline, writing, failure);
    }
    if (closing_) reason = CloseReason::shutdown;
    if (reason == CloseReason::too_long) ++stats_.too_long;
    if (reason == CloseReason::line_timeout || reason == CloseReason::write_timeout) ++stats_.idle;
    if (reason == CloseReason::reset) ++stats_.resets;

    // Closing sends FIN (or RST if the client sent bytes we did not read, e.g. the rest of an over-long
    // line: that tells the client its data was dropped). The destructor would close it too; doing it
    // here puts the log line after the fact.
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
    if (reason == CloseReason::too_long) failure = fmt::format("{} bytes", config_.max_line);
    log("{} closed: {}{}", who, reason_text(reason), failure.empty() ? "" : " (" + failure + ")");
  }

  // -----------------------------------------------------------------------------------------------
  // 6. The accept loop: one coroutine per connection, and accept errors that pass
  // -----------------------------------------------------------------------------------------------
  // core::listen (section 1), grown up. Each socket moves into its own session, started with co_spawn
  // (which, on one thread, runs it right here until its first co_await), and the loop goes straight
  // back to accepting. The session's completion handler never rethrows (one broken connection must not
  // end the server) and never swallows (`detached` would): an unexpected exception is logged.
  //
  // An accept can fail for reasons that pass: ECONNABORTED (the client gave up while queued), EMFILE
  // (out of descriptors until a connection closes). Returning would end the server and looping at once
  // would spin at 100% CPU: we log, pause 100 ms and go on. close() or `||` end the loop (both give
  // operation_aborted). session_executor(), admit() and recover_from_accept_error() are hooks: virtual
  // functions a derived class may override (Python: a subclass's method). Here they change nothing;
  // tcp_server_in_production overrides them for its strands, its cap and its spare descriptor.
  asio::awaitable<void> accept_loop() {
    while (!closing_) {
      auto [error, socket] = co_await acceptor_.async_accept(session_executor(), nothrow);
      if (error == asio::error::operation_aborted || closing_) co_return;
      if (error && recover_from_accept_error(error)) continue;
      if (error) {
        ++stats_.accept_errors;
        log("accept failed: {}; pausing 100 ms", error.message());
        asio::steady_timer pause(acceptor_.get_executor(), std::chrono::milliseconds(100));
        if (auto [cancelled] = co_await pause.async_wait(nothrow); cancelled) co_return;
        continue;
      }
      const long id = ++stats_.accepted;
      if (!admit(socket, id)) continue;
      // Counted here, not as the session starts, so a cap holds for sessions queued but not started yet.
      const long open = ++stats_.open;
      if (open > stats_.peak_open) stats_.peak_open = open;
      const auto session_executor = socket.get_executor();  // read before the socket is moved away
      asio::co_spawn(session_executor, session(std::move(socket), id), [this, id](std::exception_ptr failure) {
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
  // Closing a socket cancels its pending read or write: each session wakes with an error and ends
  // normally, freeing its frame and socket. So after close() the io_context runs out of work and run()
  // returns: nothing is abandoned mid-flight. Each socket is closed by a job posted to its session's
  // executor: on several threads (tcp_server_in_production), touching it from here while its session
  // runs elsewhere would be a data race. Call close() on executor() (from elsewhere: asio::post).
  void close() {
    std::vector<std::pair<long, asio::any_io_executor>> sessions;
    {
      std::lock_guard lock(mutex_);
      closing_ = true;  // a session that registers from now on closes itself (see OpenConnection)
      for (const auto& [id, entry] : open_) sessions.emplace_back(id, entry.executor);
    }
    asio::error_code ignored;
    acceptor_.close(ignored);
    for (const auto& [id, session_executor] : sessions)
      asio::post(session_executor, [this, session_id = id] { close_session(session_id); });
  }
  [[nodiscard]] std::size_t open_connections() {
    std::lock_guard lock(mutex_);
    return open_.size();
  }

 protected:
  // The hooks of section 6: where a new session runs (the listener's one thread), whether to serve the
  // connection just accepted (admit() closes one it refuses), and whether a failed accept was dealt with.
  [[nodiscard]] virtual asio::any_io_executor session_executor() { return executor(); }
  virtual bool admit(tcp::socket& /*socket*/, long /*id*/) { return true; }
  virtual bool recover_from_accept_error(const asio::error_code& /*error*/) { return false; }

  tcp::acceptor& acceptor() { return acceptor_; }
  EchoServerStats stats_;  // atomics

 private:
  // Where close() finds an open session: its socket, and the executor the session runs on.
  struct OpenEntry {
    tcp::socket* socket;
    asio::any_io_executor executor;
  };

  // Keeps a session's socket in open_ while the session lives, and gives back the count the accept loop
  // took for it. RAII (the destructor undoes what the constructor did, like a `with` block's __exit__)
  // makes that true however the session ends. The mutex is held for a few lines, never across a co_await.
  class OpenConnection {
   public:
    OpenConnection(EchoServer& server, tcp::socket& socket, long id) : server_(server), id_(id) {
      std::lock_guard lock(server_.mutex_);
      server_.open_.emplace(id_, OpenEntry{&socket, socket.get_executor()});
      server_.note_serving_thread();
      if (server_.closing_) {  // accepted just before close(): close() did not see it, so close it now
        asio::error_code ignored;
        socket.close(ignored);
      }
    }
    OpenConnection(const OpenConnection&) = delete;
    OpenConnection& operator=(const OpenConnection&) = delete;
    ~OpenConnection() {
      std::lock_guard lock(server_.mutex_);
      server_.open_.erase(id_);
      --server_.stats_.open;
    }

   private:
    EchoServer& server_;
    long id_;
  };

  // Runs on session `id`'s executor, so it never overlaps that session's own code. The session may
  // have ended since close() posted this: then it is no longer in open_, and there is nothing to do.
  void close_session(long id) {
    std::lock_guard lock(mutex_);
    const auto found = open_.find(id);
    if (found == open_.end()) return;
    asio::error_code ignored;
    found->second.socket->shutdown(tcp::socket::shutdown_both, ignored);
    found->second.socket->close(ignored);
  }

  static CloseReason classify(const asio::error_code& error) {
    if (error == asio::error::connection_reset || error == asio::error::broken_pipe) return CloseReason::reset;
    if (error == asio::error::operation_aborted || error == asio::error::bad_descriptor) return CloseReason::shutdown;
    return CloseReason::error;
  }

  void count_echo(std::size_t bytes) {
    ++stats_.lines;
    stats_.bytes += static_cast<long>(bytes);
  }

  // Which threads start sessions: here one (tcp_server_in_production: up to --threads). Called with mutex_ held.
  void note_serving_thread() {
    const int tid = pg::os_thread_id();
    if (std::find(serving_threads_.begin(), serving_threads_.end(), tid) != serving_threads_.end()) return;
    if (serving_threads_.empty()) stats_.serving_thread = tid;
    serving_threads_.push_back(tid);
    stats_.serving_threads = static_cast<int>(serving_threads_.size());
  }

  EchoServerConfig config_;         // read-only once constructed: safe from any thread
  tcp::acceptor acceptor_;          // used only on executor()
  std::mutex mutex_;                // guards open_ and serving_threads_, and orders closing_ with open_
  std::map<long, OpenEntry> open_;  // by connection id
  std::vector<int> serving_threads_;
  std::atomic<bool> closing_{false};  // read without the lock by the accept loop and the sessions
};

// -------------------------------------------------------------------------------------------------
// 8. Ctrl-C: the signal is one more thing to await
// -------------------------------------------------------------------------------------------------
// A signal_set turns SIGINT and SIGTERM into an asynchronous event. `accept_loop() || signal` runs
// both; when the signal comes first, the accept loop is cancelled. That does not reach the sessions it
// started (independent coroutines), so we then call close(), which ends each of them; run() returns,
// and the program exits 0. This coroutine runs on server.executor(), as close() must.
asio::awaitable<void> serve_until_signal(EchoServer& server, asio::signal_set& signals) {
  auto winner = co_await (server.accept_loop() || signals.async_wait(asio::use_awaitable));
  if (winner.index() == 1) {
    server.log("signal {} ({}): closing {} open connection(s)", std::get<1>(winner), ::strsignal(std::get<1>(winner)),
               server.open_connections());
  }
  server.close();
}

// -------------------------------------------------------------------------------------------------
// 9. Logging that never blocks serving
// -------------------------------------------------------------------------------------------------
// Writing to stdout can block: a pipe whose reader stops reading fills, and the next write waits. A
// server writing its log on the event loop's thread would stop serving everyone, Ctrl-C included (the
// mistake of basics/blocking_work_in_async). So the program hands each line to a LogWriter, a bounded
// queue drained by a thread of its own, which drops and counts what the output cannot take (set up in
// common/echo_server_program.hpp; common/log_writer.hpp explains it in full).

}  // namespace echo_server

// =================================================================================================
// Plumbing: main(), with the flags and --core. You can skip this part on a first reading; what it
// shares with tcp_server_in_production (serve until Ctrl-C, a summary) is common/echo_server_program.hpp.
// =================================================================================================
#include "echo_server_program.hpp"  // run_echo_program(), report_open_errors(), run_on_threads()

// The tests, and tcp_server_in_production, include this file and bring their own main().
#if !defined(PLAYGROUND_NO_MAIN) && !defined(TCP_ECHO_SERVER_ONLY)

// --core: section 1 alone, with the main() of Asio's own example: an io_context, the listener, and
// Ctrl-C stopping run(). io.stop() abandons the sessions mid-conversation; their coroutine frames (and
// sockets) are destroyed with the io_context.
void run_core(const std::string& address, unsigned short port) {
  using echo_server::tcp;
  asio::io_context io;
  tcp::acceptor acceptor(io, echo_server::listening_endpoint(io.get_executor(), address, port));  // throws
  fmt::print("listening on {} (the core of section 1 only: no limits, no log; Ctrl-C stops)\n",
             endpoint_text(acceptor.local_endpoint()));
  std::fflush(stdout);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&io](const asio::error_code&, int) { io.stop(); });
  asio::co_spawn(io, echo_server::core::listen(acceptor), [](std::exception_ptr failure) {
    if (failure) std::rethrow_exception(failure);  // leaves run(): main's report_open_errors prints it
  });
  io.run();
}

int main(int argc, char** argv) {
  using namespace echo_server;
  // Before any thread starts: a stdout whose reader has gone (`| head`) must cost log lines, not the
  // process (SIGPIPE would kill it; ignored, the write fails with EPIPE and the LogWriter stops writing).
  std::signal(SIGPIPE, SIG_IGN);
  EchoServerConfig config;
  int port = config.port;
  int max_line = static_cast<int>(config.max_line);
  int idle_ms = static_cast<int>(config.idle_timeout.count());
  bool quiet = false;
  bool core_only = false;
  pg::Flags flags("tcp_echo_server", "A line-based TCP echo server: one coroutine per connection, on one thread.");
  flags.add("--address", config.address, "IP address to listen on (127.0.0.1, ::1, 0.0.0.0 for every interface)");
  flags.add("--port", port, "TCP port to listen on (0 picks a free one)", 0, 65535);
  flags.add("--max-line", max_line, "longest line accepted, in bytes with its newline", 2, 64 * 1024 * 1024);
  flags.add("--idle-timeout-ms", idle_ms,
            "time a client has to send each whole line, and to take its echo (0: no limit)", 0, 86'400'000);
  flags.add_switch("--quiet", quiet, "no log line per connection or per line (for benchmarks)");
  flags.add_switch("--core", core_only, "run only the 25-line core of section 1 (no limits, no log)");
  if (auto status = flags.parse(argc, argv)) return *status;
  if (core_only)
    return report_open_errors("tcp_echo_server", [&] { run_core(config.address, static_cast<unsigned short>(port)); });
  config.port = static_cast<unsigned short>(port);
  config.max_line = static_cast<std::size_t>(max_line);
  config.idle_timeout = std::chrono::milliseconds(idle_ms);
  // Bind (the address and port are checked before anything is printed), serve until Ctrl-C, sum up.
  return run_echo_program<EchoServer>(
      "tcp_echo_server", config, quiet, fmt::format("max line {} bytes, idle timeout {} ms", max_line, idle_ms),
      "\nTakeaway: a connection is a coroutine, not a thread: one thread serves them all, each waiting\n"
      "for its own client, and awaiting each write before the next read keeps memory bounded.");
}
#endif

// -------------------------------------------------------------------------------------------------
// Try this: predict what the output will show, then run it. The answers below were checked with
// Asio 1.22 on Linux. Each needs the server in one terminal and a client in another.
// -------------------------------------------------------------------------------------------------
// 1. Start `build/default/networking/tcp_echo_server --port 8888 --max-line 16`, then run
//      printf 'short\nthis line is longer than sixteen bytes\n' |
//        build/default/networking/tcp_echo_client --port 8888 --stdin
//    Answer: each client gets "short" back, then "the server closed the connection before echoing
//    line 2" (exit status 1). The server logs "closed: line longer than the limit (16 bytes)" for each
//    and keeps serving: only the offending connection is closed.
//
// 2. Start the server with `--idle-timeout-ms 1000` and connect a client that never sends anything:
//      python3 -c 'import socket; s = socket.create_connection(("127.0.0.1", 8888)); print(s.recv(100))'
//    Answer: after about one second Python prints b'' (the server closed the connection: end of file),
//    and the server logs "closed: no complete line within the idle timeout". A silent client costs a
//    timer, not a thread.
//
// 3. Start the server with `--quiet`, run `build/default/networking/tcp_echo_client --port 8888
//    --clients 200 --lines 4 --pause-ms 500`, and while it runs count the server's threads with
//    `ls /proc/$(pgrep -n tcp_echo_server)/task | wc -l`. How many?
//    Answer: 2: the thread that runs the io_context, and the log writer of section 9 (started even with
//    --quiet). Two hundred open connections are two hundred suspended coroutines on one thread
//    (networking/blocking_echo_server counts 204 for the same clients).
//
// Next: networking/tcp_server_in_production.cpp: this server with what production asks of it: a cap on
// connections fitted to the open-file limit, and several threads with a strand per connection.
