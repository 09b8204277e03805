// tcp_echo_server: one coroutine per connection lets one thread serve thousands of TCP clients.
// New to C++ or Asio? PRIMER.md, at the top of the repository, explains the words used here with Python analogies.
//
// What you will see: the server prints `listening on 127.0.0.1:8888` and then one log line per event:
// a client connects, a line arrives (shown shortened if long), a connection closes and why. Every
// line a client sends comes back byte for byte. Press Ctrl-C: it stops accepting, closes the open
// connections, prints what it served and exits 0, even with idle clients still connected.
//
// How to read it: section 1 is the whole idea, an echo server in about 25 lines, as small as Asio's own
// example (run it alone with --core). You may stop there. Sections 2-12 grow it into a server that
// survives the real world, one addition per section: a line limit and backpressure (4), a deadline per
// line (5), a cap on connections (6), shutdown on Ctrl-C (7, 8), more threads (9), the open-file limit
// (10), and logging that can never stall it (11).
//
// Run it:   build/default/networking/tcp_echo_server --port 8888
//           then, in a second terminal:   build/default/networking/tcp_echo_client --port 8888
//           or by hand:                   nc 127.0.0.1 8888      (type lines; Ctrl-C to quit)
//           Only the core of section 1: --core. On two threads: --threads 2 (section 9). Without the
//           log line per event: --quiet.
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
// `drain()` applies backpressure; here the line limit is a dynamic_buffer's maximum size, and the
// backpressure comes from awaiting each write before reading the next line. Errors arrive as
// `asio::error_code` values (we ask for them with `as_tuple` instead of exceptions), and Ctrl-C is
// not a KeyboardInterrupt: it is an event the server awaits like any other. And unlike asyncio's one
// event loop, the same code can run on several threads at once (section 9), with strands keeping each
// connection's steps in order.

#include <asio.hpp>
#include <asio/experimental/awaitable_operators.hpp>
// as_tuple ("give me the error as a value instead of throwing it") moved out of asio::experimental:
// Asio 1.22 has only asio::experimental::as_tuple; newer releases (1.28 and later, as tested here) spell
// it asio::as_tuple, and 1.38 removed the experimental header. This lesson uses the form its Asio offers.
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
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log_writer.hpp"
#include "playground.hpp"

// Everything the server is made of lives in this namespace, so the client lesson (and its tests) can
// sit in the same program without a name clash.
namespace echo_server {

using tcp = asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;  // `a || b` on awaitables

// `co_await op(..., nothrow)` gives a tuple (error_code, result...) instead of throwing on error. A
// network server meets errors all the time (clients reset, time out, send garbage); they are values to
// look at, not exceptions. It also suits `a || b`, which waits for the first operand that *succeeds*
// (as Asio documents it, in every release): a coroutine that threw would leave `||` waiting for the
// other side.
constexpr auto nothrow = as_tuple(asio::use_awaitable);

// -------------------------------------------------------------------------------------------------
// 1. The core: an echo server in 25 lines
// -------------------------------------------------------------------------------------------------
// Two coroutines make the whole server. An `asio::awaitable<T>` is a coroutine (Python: `async def`
// returning T); inside one, `co_await` suspends it until an operation finishes, and the thread runs
// other coroutines meanwhile. Asio's operations take a "completion token" that says what to do when
// they finish: `asio::use_awaitable` means "resume the coroutine awaiting me" (and throw on error),
// `nothrow` above means the same but hands back the error as a value.
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

// That is a working server (main() runs it with --core), and it has a hole for every kind of client
// the world holds. A client that sends 1 GB without a '\n' makes it buffer 1 GB. One that connects and
// says nothing, or sends a byte a minute, holds its socket forever, and so do a million of them. When
// descriptors run out, async_accept throws and the whole server ends. Ctrl-C kills it without a word,
// and nobody learns what happened. The rest of this file closes those holes one section at a time,
// keeping the same two coroutines at its heart: session() and accept_loop().

// -------------------------------------------------------------------------------------------------
// 2. What the full server is told, and what it counts
// -------------------------------------------------------------------------------------------------
// Port 0 asks the kernel for any free port: the tests use it so that two test runs never fight over
// a port, and read the real port back from the acceptor. `log` is where the server tells its story: a
// LogWriter (section 11) in the program; empty keeps the tests quiet.

struct EchoServerConfig {
  std::string address = "127.0.0.1";
  unsigned short port = 8888;
  std::size_t max_line = 64 * 1024;  // bytes, the '\n' included; a longer line closes the connection (section 4)
  // Time a client has to send each whole line, and again to take its echo (section 5; 0: no limit).
  std::chrono::milliseconds idle_timeout{60'000};
  long max_connections = 10'000;  // open at once; more are refused (section 6)
  int threads = 1;  // threads that will run the io_context; above 1, each session gets a strand (section 9)
  std::function<void(const std::string&)> log;  // one line, without its '\n'; empty: no log (--quiet)
};

// The counters are atomics because tests read them from another thread while the server runs, and
// because with --threads (section 9) sessions on different threads update them at the same time.
struct EchoServerStats {
  std::atomic<long> accepted{0};   // connections accepted, refused ones included
  std::atomic<long> refused{0};    // closed at once: --max-connections were already open (section 6)
  std::atomic<long> open{0};       // connections open right now
  std::atomic<long> peak_open{0};  // the most that were open at once
  std::atomic<long> lines{0};      // lines echoed
  std::atomic<long> bytes{0};      // bytes echoed
  std::atomic<long> too_long{0};   // connections closed for an over-long line
  std::atomic<long> idle{0};       // connections closed by the deadline of section 5 (reading or writing)
  std::atomic<long> resets{0};     // connections the client reset
  std::atomic<long> accept_errors{0};
  std::atomic<int> serving_thread{0};   // kernel id of the first thread that started a session
  std::atomic<int> serving_threads{0};  // how many different threads started sessions (1, or up to --threads)
};

// How an address and port read in a log line: 127.0.0.1:8888, or [::1]:8888 for IPv6.
std::string endpoint_text(const tcp::endpoint& endpoint) {
  const auto address = endpoint.address();
  return address.is_v6() ? fmt::format("[{}]:{}", address.to_string(), endpoint.port())
                         : fmt::format("{}:{}", address.to_string(), endpoint.port());
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
enum class CloseReason { client_closed, reset, too_long, line_timeout, write_timeout, shutdown, error };

std::string_view reason_text(CloseReason reason) {
  switch (reason) {
    case CloseReason::client_closed:
      return "client closed the connection";
    case CloseReason::reset:
      return "connection reset by the client";
    case CloseReason::too_long:
      return "line longer than the limit";
    case CloseReason::line_timeout:
      return "no complete line within the idle timeout";
    case CloseReason::write_timeout:
      return "echo not taken within the idle timeout (the client stopped reading)";
    case CloseReason::shutdown:
      return "server shutting down";
    case CloseReason::error:
      return "error";
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
  // prints it and exits: 2 for an address that does not resolve, 1 for a port in use) instead of an
  // exception trace later.
  //
  // reuse_address lets a restarted server bind while connections from its previous run linger in
  // TIME_WAIT; on Linux it does not let two servers listen on the same port. The backlog is the queue
  // of connections the kernel has completed but we have not accepted yet: the largest the system allows
  // (SOMAXCONN), so a burst of thousands of clients waits in the queue instead of being refused.
  //
  // `executor` is the io_context's. The listener runs on executor(): that same executor with one thread,
  // a strand of it with several (section 9).
  EchoServer(const asio::any_io_executor& executor, EchoServerConfig config)
      : config_(std::move(config)), io_executor_(executor), acceptor_(serial_executor()) {
    const tcp::endpoint endpoint = listening_endpoint(executor, config_.address, config_.port);
    asio::error_code error;
    const auto fail = [&](std::string_view step) {
      throw std::runtime_error(fmt::format("cannot {} {}: {}", step, endpoint_text(endpoint), error.message()));
    };
    if (acceptor_.open(endpoint.protocol(), error)) fail("open a socket for");
    if (acceptor_.set_option(tcp::acceptor::reuse_address(true), error)) fail("set options for");
    if (acceptor_.bind(endpoint, error)) fail("listen on");
    if (acceptor_.listen(asio::socket_base::max_listen_connections, error)) fail("listen on");
    if (acceptor_.native_non_blocking(true, error)) fail("listen on");  // section 6's accept4 never waits
  }

  EchoServer(const EchoServer&) = delete;
  EchoServer& operator=(const EchoServer&) = delete;
  ~EchoServer() {
    if (spare_descriptor_ >= 0) ::close(spare_descriptor_);
  }

  // The address and port really bound (with port 0, the one the kernel picked).
  [[nodiscard]] tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }
  [[nodiscard]] unsigned short port() const { return local_endpoint().port(); }
  [[nodiscard]] const EchoServerStats& stats() const { return stats_; }
  [[nodiscard]] const EchoServerConfig& config() const { return config_; }
  // Where accept_loop(), serve_until_signal() and close() run.
  [[nodiscard]] asio::any_io_executor executor() { return acceptor_.get_executor(); }

  // One log line, handed to config.log (in the program, a LogWriter's queue: section 11). It never
  // waits for the output, and with --quiet the line is not even formatted.
  template <class... Args>
  void log(fmt::format_string<Args...> format, Args&&... args) {
    if (config_.log) config_.log(fmt::format(format, std::forward<Args>(args)...));
  }

  // -----------------------------------------------------------------------------------------------
  // 4. One connection, hardened: a line limit, backpressure, half-close
  // -----------------------------------------------------------------------------------------------
  // The loop of core::echo_session (section 1). async_read_until reads into a std::string until it
  // holds a '\n'. The string may receive more than one line in one read (a client may send many lines
  // at once): `n` is the length of the first one, and the rest stays in the buffer for the next turn.
  // Bytes are echoed exactly as they came: any byte value, "\r\n" kept, nothing decoded.
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
  // `deadline` is section 5's: it is set when the server starts waiting for a line and when it starts
  // writing an echo, and `writing` says which of the two the connection is doing.
  asio::awaitable<CloseReason> echo_lines(tcp::socket& socket, const std::string& who, pg::Clock::time_point& deadline,
                                          bool& writing) {
    std::string buffer;
    for (;;) {
      auto [read_error, n] =
          co_await asio::async_read_until(socket, asio::dynamic_buffer(buffer, config_.max_line), '\n', nothrow);
      if (read_error == asio::error::eof) {
        if (!buffer.empty()) {
          log("{} {} bytes (last line, no newline): '{}'", who, buffer.size(), printable_line(buffer));
          deadline = pg::Clock::now() + config_.idle_timeout;
          writing = true;
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
      deadline = pg::Clock::now() + config_.idle_timeout;  // the echo gets the whole timeout
      writing = true;
      auto [write_error, written] = co_await asio::async_write(socket, asio::buffer(line), nothrow);
      if (write_error) co_return classify(write_error);
      count_echo(written);
      buffer.erase(0, n);
      deadline = pg::Clock::now() + config_.idle_timeout;  // and so does the next line, from now
      writing = false;
    }
  }

  // -----------------------------------------------------------------------------------------------
  // 5. A deadline per line: a watchdog raced against the conversation with `||`
  // -----------------------------------------------------------------------------------------------
  // The idle timeout is a deadline per line: from the moment the server is ready for the next line,
  // the client has --idle-timeout-ms to deliver all of it, '\n' included; then writing its echo has
  // the same time again. Bytes that trickle in do not move the deadline. So a client that connects and
  // says nothing, one that sends a byte every 100 ms (a "slow drip", the classic way to hold a server's
  // connections with almost no traffic), and one that stops reading its echoes are all closed, while a
  // client that completes a line now and then may stay for ever. blocking_echo_server has the same rule.
  //
  // What this leaves open, on purpose: a client that sends a 2-byte line every 59 s keeps its slot for
  // ever, and 10,000 of them hold every slot of the cap (section 6) with almost no traffic. The cap and
  // the deadline bound what such clients cost (memory, descriptors), not who gets served. The fixes
  // each refuse some honest client: a minimum rate (a person typing slowly), a lifetime (a long chat
  // session), a cap per address (a whole office behind one NAT address). A real deployment picks one
  // for its own clients, or leaves it to the proxy or firewall in front; this lesson picks none.
  //
  // The watchdog sleeps until the deadline; if the conversation moved the deadline meanwhile (it only
  // ever moves later), it sleeps again. When it returns, `echo_lines(...) || idle_watchdog(...)` cancels
  // the loser: the pending read or write in echo_lines completes with operation_aborted, echo_lines
  // returns, and the session closes the socket. When echo_lines returns first, the watchdog's timer is
  // cancelled instead (it throws operation_aborted, which `||` absorbs because the other side succeeded).
  //
  // That last rule cuts both ways: `||` ends on the first side that *succeeds*. If echo_lines threw (a
  // log sink that fails, memory that runs out), `||` would keep waiting for the watchdog, and the
  // client would sit unserved for the whole timeout. So echo_lines is raced through echo_lines_or_error,
  // which turns an exception into the reason "error": the connection closes at once, and says why.
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
  // grown up. The socket lives in this coroutine's frame; while it is open, its address sits in `open_`
  // so that close() can reach it.
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
      if (winner.index() == 0) {
        reason = std::get<0>(winner);
      } else {
        reason = writing ? CloseReason::write_timeout : CloseReason::line_timeout;
      }
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
    if (reason == CloseReason::too_long) {
      log("{} closed: {} ({} bytes)", who, reason_text(reason), config_.max_line);
    } else if (!failure.empty()) {
      log("{} closed: {} ({})", who, reason_text(reason), failure);
    } else {
      log("{} closed: {}", who, reason_text(reason));
    }
  }

  // -----------------------------------------------------------------------------------------------
  // 6. The accept loop: one coroutine per connection, at most --max-connections of them
  // -----------------------------------------------------------------------------------------------
  // core::listen (section 1), with three additions. Each accepted socket is moved into its own session
  // coroutine, started with co_spawn, and the loop goes straight back to accepting. With one thread,
  // co_spawn "dispatches": the session runs right here until its first co_await (its first read), then
  // the loop continues. With --threads > 1 the socket lives on a new strand (section 9), so co_spawn
  // queues the session there instead, and it starts a moment later, perhaps on another thread.
  //
  // The cap: every connection costs a descriptor and up to --max-line bytes of buffer, so without a
  // cap, memory is bounded only by the open-file limit, which section 10 raises. 1000 clients each
  // holding a 64 KiB partial line cost about 70 MB. Over --max-connections, a new connection is
  // accepted and closed at once, with a log line: the client learns at once that it was refused (its
  // first read sees end of file), instead of waiting in the kernel's queue. The worst case memory is
  // now about max-connections x max-line.
  //
  // The session's completion handler never rethrows: one broken connection must not take the server
  // down. But it never swallows either (`detached` would): an unexpected exception is logged.
  //
  // Out of file descriptors (EMFILE: the open-file limit of section 10, taken by something else), an
  // accept fails and the client stays in the kernel's queue: not refused, just left hanging, and the
  // next accept fails the same way. So the server keeps one spare descriptor (/dev/null, opened at
  // start) for that moment: it closes the spare, accepts the waiting client into the freed slot,
  // closes it at once (the client sees end of file: refused), and opens the spare again.
  //
  // An accept can also fail for reasons that pass: ECONNABORTED (the client gave up while queued), or
  // EMFILE with no spare left. Returning would kill the server and looping at once would spin at 100%
  // CPU, so we log, pause 100 ms for descriptors to be freed, and go on. The loop ends when close()
  // closes the acceptor or `||` cancels it (both give operation_aborted).
  asio::awaitable<void> accept_loop() {
    const auto executor = co_await asio::this_coro::executor;
    while (!closing_) {
      auto [error, socket] = co_await acceptor_.async_accept(serial_executor(), nothrow);
      if (error == asio::error::operation_aborted || closing_) co_return;
      if (error == asio::error::no_descriptors && refuse_with_spare_descriptor()) continue;
      if (error) {
        ++stats_.accept_errors;
        log("accept failed: {}; pausing 100 ms", error.message());
        asio::steady_timer pause(executor, std::chrono::milliseconds(100));
        auto [cancelled] = co_await pause.async_wait(nothrow);
        if (cancelled) co_return;
        continue;
      }
      const long id = ++stats_.accepted;
      const long open = stats_.open.load();  // only this loop adds to it, so it cannot grow meanwhile
      if (open >= config_.max_connections) {
        ++stats_.refused;
        asio::error_code ignored;
        log("[#{} {}] refused: already {} open (--max-connections)", id, endpoint_text(socket.remote_endpoint(ignored)),
            open);
        socket.close(ignored);
        continue;
      }
      // Counted here rather than when the session starts, so that the cap holds even while sessions
      // queued on strands (section 9) have not started yet. The session takes it back when it ends.
      ++stats_.open;
      if (open + 1 > stats_.peak_open) stats_.peak_open = open + 1;
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
  // Closing a socket cancels its pending read or write: each session wakes with an error, leaves
  // echo_lines, and finishes normally, freeing its frame and socket. So after close() the io_context
  // runs out of work by itself and run() returns: nothing is abandoned mid-flight.
  //
  // Each socket is closed on its session's executor (a job posted there), not here: with several
  // threads, touching a socket while its session runs on another thread would be a data race
  // (section 9). With one thread the job simply runs a moment later on the same thread.
  // Call close() on executor() (from elsewhere: asio::post(server.executor(), [&] { server.close(); })).
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

 private:
  // Where close() finds an open session: its socket, and the executor the session runs on.
  struct OpenEntry {
    tcp::socket* socket;
    asio::any_io_executor executor;
  };

  // Adds a session's socket to open_ for as long as the session lives, and gives back the count the
  // accept loop took for it when it ends. RAII ("Resource Acquisition Is Initialization": the
  // destructor undoes what the constructor did, like a `with` block's __exit__) makes that true however
  // the session ends. The mutex is held for a few lines, never across a co_await.
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

  // Section 6, out of descriptors: the spare's slot takes the waiting client, which is closed at once.
  // True when a client was refused this way. Runs on executor(), as the accept loop does.
  bool refuse_with_spare_descriptor() {
    if (spare_descriptor_ < 0) return false;
    ::close(spare_descriptor_);
    const int client = ::accept4(acceptor_.native_handle(), nullptr, nullptr, SOCK_CLOEXEC);
    if (client >= 0) ::close(client);
    spare_descriptor_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);  // the slot the client just gave back
    if (client < 0) return false;
    ++stats_.accepted;
    ++stats_.refused;
    log("refused a client: out of file descriptors (the open-file limit)");
    return true;
  }

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

  // An executor whose handlers never run two at a time. With one thread, the io_context's executor
  // is one already; with several, each session (and the listener) gets a strand of its own (section 9).
  [[nodiscard]] asio::any_io_executor serial_executor() const {
    if (config_.threads > 1) return asio::make_strand(io_executor_);
    return io_executor_;
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

  // Which threads start sessions: one, or with --threads N up to N. Called with mutex_ held.
  void note_serving_thread() {
    const int tid = pg::os_thread_id();
    if (std::find(serving_threads_.begin(), serving_threads_.end(), tid) != serving_threads_.end()) return;
    if (serving_threads_.empty()) stats_.serving_thread = tid;
    serving_threads_.push_back(tid);
    stats_.serving_threads = static_cast<int>(serving_threads_.size());
  }

  EchoServerConfig config_;            // read-only once constructed: safe from any thread
  asio::any_io_executor io_executor_;  // the io_context's own executor
  tcp::acceptor acceptor_;             // used only on executor()
  EchoServerStats stats_;              // atomics
  std::mutex mutex_;                   // guards open_ and serving_threads_, and orders closing_ with open_
  std::map<long, OpenEntry> open_;     // by connection id
  std::vector<int> serving_threads_;
  std::atomic<bool> closing_{false};  // read without the lock by the accept loop and the sessions
  int spare_descriptor_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);  // section 6; used only on executor()
};

// -------------------------------------------------------------------------------------------------
// 8. Ctrl-C: the signal is one more thing to await
// -------------------------------------------------------------------------------------------------
// A signal_set turns SIGINT and SIGTERM into an asynchronous event. `accept_loop() || signal` runs
// both and, when the signal arrives first, cancels the accept loop. Cancelling the accept loop does
// not reach the sessions it started (they are independent coroutines), so we then call close(),
// which ends each of them. run() returns soon after, and the program exits 0. This coroutine runs on
// server.executor(), as close() must.
asio::awaitable<void> serve_until_signal(EchoServer& server, asio::signal_set& signals) {
  auto winner = co_await (server.accept_loop() || signals.async_wait(asio::use_awaitable));
  if (winner.index() == 1) {
    server.log("signal {} ({}): closing {} open connection(s)", std::get<1>(winner), ::strsignal(std::get<1>(winner)),
               server.open_connections());
  }
  server.close();
}

// -------------------------------------------------------------------------------------------------
// 9. The same server on N threads (--threads N)
// -------------------------------------------------------------------------------------------------
// Sections 2-8 are the whole server, on one thread, and one thread is enough for thousands of mostly
// idle clients. But it uses one core: when clients keep it busy, a second core can help. Asio makes
// that one line: call io.run() from N threads. They share the io_context's queue of ready handlers
// and any of them may run any handler, so two handlers can now run *at the same time*, and every
// piece of state the server shares must be safe for that. Here is each one, and what keeps it safe:
//
// - A session's own state (its socket, buffer, deadline, watchdog timer) stays lock-free because
//   each session runs on its own strand (asio::make_strand, in serial_executor()). A strand is a queue
//   with one rule: its handlers run one at a time, in order, on whichever thread is free. A session
//   never runs on two threads at once, so its code is unchanged, while different sessions run in
//   parallel. The socket is accepted onto the strand and the session co_spawned there (section 6),
//   so every completion resumes the coroutine on its strand, and `||` (section 5) runs both sides on it.
// - The listener (acceptor, accept loop, signal wait, close()) runs on one more strand, executor().
//   Code from outside reaches it with asio::post (a test's stop() below).
// - The map of open connections, touched by each session as it starts and ends and by close(): a
//   std::mutex, held for a few lines and never across a co_await (a suspended coroutine may resume on
//   another thread, and a std::mutex must be unlocked by the thread that locked it).
// - Closing sockets: close() does not touch them (their sessions may be running on the other thread);
//   it posts a job to each session's strand, which closes the socket there (section 7). A session
//   accepted just before close() sees `closing_` when it registers, and closes itself.
// - Counters are std::atomic, `closing_` is std::atomic<bool>, the log queue has a mutex of its own
//   (section 11), and the config is only read.
// - A coroutine may now suspend on one thread and resume on the other. Whatever it read from a
//   thread_local variable before a co_await (a per-thread cache, errno, a thread id) may belong to the
//   other thread afterwards. This server keeps nothing per thread; Asio does (a cache of recycled
//   memory per thread) and copes with it, but the compiler must cope too: clang 16 did not, and this
//   server crashed on two threads until cmake/FindAsio.cmake worked around it (the story is there).
//
// With one thread (the default) serial_executor() is the io_context's own executor (no strand), and
// the mutex is never contended. Shutdown works the same for any N: close() ends every session, the
// io_context runs out of work, and each thread's run() returns. ThreadSanitizer checks all this: the
// tests run the server on 2 threads in the tsan preset, one of them with each session's watchdog
// firing while its lines flow, so that a session without its strand is reported as a data race.
//
// The other common design is one io_context per thread, each single-threaded like sections 2-8, with
// the accept loop handing new sockets to them in turn: no strands needed, but a busy connection cannot
// move to an idle thread, and shutdown has N event loops to stop.
void run_on_threads(asio::io_context& io, int threads) {
  std::vector<std::thread> helpers;
  for (int i = 1; i < threads; ++i) helpers.emplace_back([&io] { io.run(); });
  io.run();  // this thread is one of the N
  for (auto& helper : helpers) helper.join();
}

// -------------------------------------------------------------------------------------------------
// 10. Open files: one socket is one file descriptor
// -------------------------------------------------------------------------------------------------
// Every connection holds a file descriptor, and a process may open only RLIMIT_NOFILE of them (the
// "soft" limit, often 1024). An unprivileged process may raise its soft limit up to the "hard" limit,
// so a server that wants thousands of clients does that at start, and says so. It asks for what
// --max-connections needs, plus a margin for its own files (stdio, the listener, epoll's descriptors),
// and no more: the limit then guards against a leak instead of hiding one.
//
// When the hard limit is lower than that, a cap above what the limit allows is a promise the server
// cannot keep: the clients over the limit would not be refused (section 6) but left waiting in the
// kernel's queue while every accept fails. So the cap comes down to what the limit leaves room for,
// and the program says so at start. (If descriptors run out anyway, taken by something else, section 6
// still refuses the waiting client, with a spare descriptor kept for that moment.)

struct FileLimit {
  rlim_t before = 0;
  rlim_t after = 0;
  rlim_t hard = 0;
};

// Descriptors the server needs besides its clients: stdio (3), epoll's (3), the listener, the signal
// pipe (2), the spare of section 6, and room to spare.
constexpr long own_files = 16;

FileLimit raise_open_file_limit(long max_connections) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return {};
  FileLimit result{limit.rlim_cur, limit.rlim_cur, limit.rlim_max};
  const auto wanted = static_cast<rlim_t>(max_connections + own_files);
  if (limit.rlim_cur < wanted) {
    rlimit raised = limit;
    raised.rlim_cur = std::min(wanted, limit.rlim_max);  // RLIM_INFINITY is the largest rlim_t
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) result.after = raised.rlim_cur;
  }
  return result;
}

// The connection cap that the open-file limit `files` allows: `wanted`, or fewer (0: no room at all).
long connection_cap(long wanted, const FileLimit& files) {
  if (files.after == RLIM_INFINITY) return wanted;
  const long room = static_cast<long>(files.after) - own_files;  // descriptors left for clients
  return std::clamp(room, 0L, wanted);
}

// -------------------------------------------------------------------------------------------------
// 11. Logging that never blocks serving
// -------------------------------------------------------------------------------------------------
// Writing to stdout can block: when stdout is a pipe and its reader stops reading, the pipe fills and
// the next write waits for as long as the reader does. A server that wrote its log lines on the event
// loop's thread would then stop serving everyone, Ctrl-C included: the very mistake of calling
// blocking code in a coroutine (basics/blocking_work_in_async). So the server never writes its log
// itself: it hands each line to a LogWriter, a bounded queue drained by a thread of its own, which
// drops and counts what the output cannot take. blocking_echo_server uses the same class; it lives in
// common/log_writer.hpp, which explains it in full.

// -------------------------------------------------------------------------------------------------
// 12. The same server on a background thread (how the tests run it)
// -------------------------------------------------------------------------------------------------
// The io_context runs on threads of its own (config.threads of them), so the caller's thread is free to
// be a client. Only the port crosses threads at start (it is known before the threads start); stop()
// crosses with asio::post, which runs close() on the server's executor.
class EchoServerThread {
 public:
  explicit EchoServerThread(EchoServerConfig config) : server_(io_.get_executor(), std::move(config)) {
    asio::co_spawn(server_.executor(), server_.accept_loop(), [this](std::exception_ptr failure) {
      if (failure) {
        error_ = failure;  // read by error() after the threads are joined
        server_.close();
      }
    });
    thread_ = std::thread([this] { run_on_threads(io_, server_.config().threads); });
  }
  EchoServerThread(const EchoServerThread&) = delete;
  EchoServerThread& operator=(const EchoServerThread&) = delete;
  ~EchoServerThread() { stop(); }

  [[nodiscard]] unsigned short port() const { return port_; }
  [[nodiscard]] const EchoServerStats& stats() const { return server_.stats(); }

  // Close everything and wait for the server's threads to finish. Safe to call twice.
  void stop() {
    if (!thread_.joinable()) return;
    asio::post(server_.executor(), [this] { server_.close(); });
    thread_.join();
  }
  [[nodiscard]] std::exception_ptr error() const { return error_; }

 private:
  asio::io_context io_;  // declared first, destroyed last: the server's sockets belong to it
  EchoServer server_;
  unsigned short port_ = server_.port();
  std::thread thread_;  // runs run_on_threads(), which starts the other threads and joins them
  std::exception_ptr error_;
};

}  // namespace echo_server

// -------------------------------------------------------------------------------------------------
// main: flags, bind, serve until Ctrl-C
// -------------------------------------------------------------------------------------------------

#ifndef PLAYGROUND_NO_MAIN  // the tests include this file and bring their own main

// --core: section 1 alone, with the main() of Asio's own example: an io_context, the listener, and
// Ctrl-C stopping run(). io.stop() abandons the sessions mid-conversation; their coroutine frames (and
// sockets) are destroyed with the io_context.
int run_core(const std::string& address, unsigned short port) {
  using echo_server::tcp;
  asio::io_context io;
  tcp::acceptor acceptor(io, echo_server::listening_endpoint(io.get_executor(), address, port));  // throws
  fmt::print("listening on {} (the core of section 1 only: no limits, no log; Ctrl-C stops)\n",
             echo_server::endpoint_text(acceptor.local_endpoint()));
  std::fflush(stdout);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&io](const asio::error_code&, int) { io.stop(); });
  asio::co_spawn(io, echo_server::core::listen(acceptor), [](std::exception_ptr failure) {
    if (failure) std::rethrow_exception(failure);  // leaves run(): main prints it
  });
  io.run();
  return 0;
}

int main(int argc, char** argv) {
  using namespace echo_server;
  // First, before any thread starts: a stdout whose reader has gone (`| head`) must cost log lines,
  // not the process. Without this, the first log line after the reader left kills the server with
  // SIGPIPE; with it, the write fails with EPIPE and the LogWriter (section 11) stops writing.
  std::signal(SIGPIPE, SIG_IGN);
  EchoServerConfig config;
  int port = config.port;
  int max_line = static_cast<int>(config.max_line);
  int idle_ms = static_cast<int>(config.idle_timeout.count());
  long max_connections = config.max_connections;
  int threads = config.threads;
  bool quiet = false;
  bool core_only = false;
  pg::Flags flags("tcp_echo_server",
                  "A line-based TCP echo server: one coroutine per connection, on one thread (or --threads N).");
  flags.add("--address", config.address, "IP address to listen on (127.0.0.1, ::1, 0.0.0.0 for every interface)");
  flags.add("--port", port, "TCP port to listen on (0 picks a free one)", 0, 65535);
  flags.add("--max-line", max_line, "longest line accepted, in bytes with its newline", 2, 64 * 1024 * 1024);
  flags.add("--idle-timeout-ms", idle_ms,
            "time a client has to send each whole line, and to take its echo (0: no limit)", 0, 86'400'000);
  flags.add("--max-connections", max_connections, "connections open at once; more are refused (section 6)", 1,
            1'000'000);
  flags.add("--threads", threads, "threads that run the server (section 9)", 1, 256);
  flags.add_switch("--quiet", quiet, "no log line per connection or per line (for benchmarks)");
  flags.add_switch("--core", core_only, "run only the 25-line core of section 1 (no limits, no log)");
  if (auto status = flags.parse(argc, argv)) return *status;
  if (core_only) {
    try {
      return run_core(config.address, static_cast<unsigned short>(port));
    } catch (const std::invalid_argument& e) {
      fmt::print(stderr, "tcp_echo_server: {}\n", e.what());
      return 2;
    } catch (const std::exception& e) {
      fmt::print(stderr, "tcp_echo_server: {}\n", e.what());
      return 1;
    }
  }
  config.threads = threads;
  config.port = static_cast<unsigned short>(port);
  config.max_line = static_cast<std::size_t>(max_line);
  config.idle_timeout = std::chrono::milliseconds(idle_ms);
  config.max_connections = max_connections;

  // Everything is checked before anything is printed: the open-file limit (section 10), then the
  // address and port, bound by the server's constructor.
  const FileLimit files = raise_open_file_limit(config.max_connections);
  const long cap = connection_cap(config.max_connections, files);
  if (cap < 1) {
    fmt::print(stderr, "tcp_echo_server: the open-file limit ({}) leaves no room for clients (the server needs {})\n",
               files.after, own_files);
    return 1;
  }
  const long asked = std::exchange(config.max_connections, cap);
  // Once "listening on" is printed, everything goes through the LogWriter (section 11), so a stdout
  // that nobody reads can never stop the server. It is declared first, so it is destroyed last.
  LogWriter output(STDOUT_FILENO);
  if (!quiet) config.log = [&output](const std::string& line) { output.write(line); };
  // What the program itself says at the end is never dropped (a few lines), unlike the log of each event.
  const auto say = [&output](std::string text) { output.write(std::move(text), /*may_drop=*/false); };
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

  pg::banner("1. Open files (section 10)");
  const std::string limit_text =
      files.after > files.before
          ? fmt::format("open-file limit raised from {} to {} (hard limit {})", files.before, files.after, files.hard)
          : fmt::format("open-file limit: {} (hard limit {})", files.after, files.hard);
  if (cap == asked) {
    fmt::print("{}: room for --max-connections {} and the server's own files\n", limit_text, cap);
  } else {
    fmt::print("{}: --max-connections lowered from {} to {}, the most it leaves room for\n", limit_text, asked, cap);
  }

  pg::banner("2. Listen, then serve until Ctrl-C");
  fmt::print("listening on {}\n", endpoint_text(server->local_endpoint()));
  fmt::print(
      "try it: nc {} {}   (max line {} bytes, idle timeout {} ms, at most {} connections, {} thread(s){}; "
      "Ctrl-C stops)\n",
      server->local_endpoint().address().to_string(), server->port(), config.max_line, idle_ms, config.max_connections,
      threads, quiet ? ", quiet" : "");
  std::fflush(stdout);  // stdout may be a pipe: whoever waits for "listening on" must see it now
  // From here on, nothing writes to stdout but the LogWriter.

  asio::signal_set signals(io, SIGINT, SIGTERM);
  int exit_code = 0;
  asio::co_spawn(server->executor(), serve_until_signal(*server, signals), [&](std::exception_ptr failure) {
    if (!failure) return;
    // Not rethrown: leaving run() with sessions alive would destroy their frames after the server.
    // We say what happened, close everything, and let run() finish normally.
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& e) {
      fmt::print(stderr, "tcp_echo_server: {}\n", e.what());
    }
    exit_code = 1;    // read after every thread has finished
    server->close();  // this handler runs on server->executor(), as close() must
  });
  pg::Stopwatch uptime;
  run_on_threads(io, threads);  // one thread by default: plain io.run() (section 9)

  const auto& stats = server->stats();
  say(fmt::format("\n== 3. Summary {}", std::string(58, '=')));
  say(
      fmt::format("up {:.1f} s; {} connection(s), at most {} open at once, {} refused; sessions started on "
                  "{} of the {} thread(s)",
                  uptime.elapsed_ms() / 1000.0, stats.accepted.load(), stats.peak_open.load(), stats.refused.load(),
                  stats.serving_threads.load(), threads));
  say(fmt::format(
      "echoed {} line(s), {} byte(s); closed {} for over-long lines, {} for the idle timeout, {} "
      "reset by the client",
      stats.lines.load(), stats.bytes.load(), stats.too_long.load(), stats.idle.load(), stats.resets.load()));
  say("\nTakeaway: a connection is a coroutine, not a thread: one thread serves them all, each waiting\n"
      "for its own client, and awaiting each write before the next read keeps memory bounded. More\n"
      "threads (--threads) need a strand per connection, so that each one still runs one step at a time.");
  output.close(std::chrono::milliseconds(300));  // a stdout nobody reads gets 300 ms, then loses the rest
  return exit_code;
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
//    line 2", and the client exits with status 1. The server logs "closed: line longer than the limit
//    (16 bytes)" for each connection and keeps serving: only the offending connection is closed.
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
//    Answer: 2: the thread that runs the io_context, and the log writer of section 11 (started even with
//    --quiet). Two hundred open connections are two hundred suspended coroutines on one thread.
//    (networking/blocking_echo_server counts 204 for the same clients.)
//
// Next: networking/tcp_echo_client.cpp: the other side, many clients on one thread, every wait bounded.
