// tcp_echo_client: many TCP clients, each a coroutine, run at the same time on one thread.
//
// What you will see: `--clients` clients connect to an echo server, each sends `--lines` lines (with
// `--pause-ms` between them), reads every echo back and checks it byte for byte. The timeline shows
// the clients' conversations stacked on top of each other, all on thread 1: while one waits for its
// echo, the others send theirs. Then the totals: lines, bytes, time, mismatches. If no client reaches
// the server (not there, refused, no answer in time), there was no run to report: you get one clear
// line on stderr and exit status 1, never a hang. If some clients fail later (a silent server, a wrong
// echo), the report says which and why, and the exit status is 1 too.
//
// Run it (start build/default/networking/tcp_echo_server first, in another terminal):
//   build/default/networking/tcp_echo_client --port 8888 --clients 5 --lines 3
//   printf 'hello\nworld\n' | build/default/networking/tcp_echo_client --port 8888 --stdin
// Build it by hand:
//   g++ -std=c++20 -O2 -I common networking/tcp_echo_client.cpp -lfmt -pthread -o tcp_echo_client
//
// Mirrors tcp_echo_client.py from the Python playground:
//   await asyncio.open_connection(host, port) -> co_await socket.async_connect(endpoint)
//   writer.write(line); await writer.drain()   -> co_await asio::async_write(socket, buffer)
//   await reader.readline()                    -> co_await asio::async_read_until(socket, buffer, '\n')
//   asyncio.gather(*(client(i) for i in ...))  -> co_spawn each client, then io_context::run()
//   asyncio.wait_for(op, timeout)              -> co_await (op || sleep_for(timeout)), see with_timeout
//
// What differs in C++: an error is not an exception unless you ask for one; here every network
// operation hands back an `asio::error_code` (via `as_tuple`), so each failure becomes a sentence in
// the client's report. And there is no `wait_for`: a timeout is a timer raced against the work with
// the `||` operator, which cancels whichever side loses.

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
#include <chrono>
#include <cstdio>
#include <exception>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "playground.hpp"

// The client's names live in this namespace, so the server lesson (and the tests, which run both in
// one program) can sit next to it without a clash.
namespace echo_client {

using tcp = asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;  // `a || b` on awaitables

// `co_await op(..., nothrow)` gives a tuple (error_code, result...) instead of throwing. Connection
// refused, reset, end of file: for a network client these are outcomes to report, not crashes.
constexpr auto nothrow = as_tuple(asio::use_awaitable);

struct EchoClientOptions {
  std::string host = "127.0.0.1";
  unsigned short port = 8888;
  int clients = 5;
  int lines = 3;                         // lines per client, when `script` is empty
  std::vector<std::string> script;       // lines every client sends instead (each ends with '\n')
  std::chrono::milliseconds pause{100};  // between two lines of one client
  std::chrono::milliseconds connect_timeout{3000};
  std::chrono::milliseconds reply_timeout{3000};  // for each echo
};

// What one client did. A client is fine when it finished and every echo matched.
struct ClientReport {
  int id = 0;
  bool connected = false;  // false: the client never reached the server, and had no conversation
  int lines_planned = 0;   // lines it was to send
  int lines_sent = 0;
  int lines_echoed = 0;  // echoes identical to what was sent
  int mismatches = 0;
  std::size_t bytes = 0;  // bytes of the matching echoes
  std::string error;      // why it stopped early; empty when it did not
  [[nodiscard]] bool ok() const { return error.empty() && mismatches == 0 && lines_echoed == lines_sent; }
};

// -------------------------------------------------------------------------------------------------
// 1. Where to connect: resolve the host once
// -------------------------------------------------------------------------------------------------
// A host name may stand for several addresses ("localhost" is often ::1 and 127.0.0.1). We ask the
// system once, before any client starts, and each client tries them in order, as Python's
// open_connection does. The blocking resolver is fine here: nothing else is running yet.
std::vector<tcp::endpoint> resolve_echo_server(const std::string& host, unsigned short port) {
  asio::io_context io;
  tcp::resolver resolver(io);
  asio::error_code error;
  auto results = resolver.resolve(host, std::to_string(port), tcp::resolver::numeric_service, error);
  if (error) throw std::runtime_error(fmt::format("cannot resolve '{}': {}", host, error.message()));
  std::vector<tcp::endpoint> endpoints;
  for (const auto& entry : results) endpoints.push_back(entry.endpoint());
  return endpoints;
}

std::string endpoint_text(const tcp::endpoint& endpoint) {
  const auto address = endpoint.address();
  return address.is_v6() ? fmt::format("[{}]:{}", address.to_string(), endpoint.port())
                         : fmt::format("{}:{}", address.to_string(), endpoint.port());
}

// The lines client `id` sends: the script if there is one, else numbered lines that say who sent
// them, so a reply that went to the wrong client would not match.
std::vector<std::string> lines_for_client(const EchoClientOptions& options, int id) {
  if (!options.script.empty()) return options.script;
  std::vector<std::string> lines;
  for (int n = 0; n < options.lines; ++n) lines.push_back(fmt::format("client {} line {}\n", id, n));
  return lines;
}

// -------------------------------------------------------------------------------------------------
// 2. Timeouts: race the operation against a timer
// -------------------------------------------------------------------------------------------------
// Python writes `await asyncio.wait_for(reader.readline(), 3)`. Asio has no wait_for (1.31 and later
// have a cancel_after token; see basics/cancellation_and_timeouts.cpp), but every release has
// `a || b`: run both awaitables, and when one finishes, cancel the other and wait for it to wind down.
// So a timeout is the operation raced against a sleep. If the sleep wins, the pending connect or read
// is cancelled (its socket operation completes with operation_aborted) and we get std::nullopt.
//
// One rule makes this work: `||` waits for the first side that *succeeds* (Asio documents it as "wait
// for one operation to succeed", in every release from 1.22 to 1.38). An operation that threw
// would not end the race, and we would wait the whole timeout to hear about a refused connection. The
// operations passed in here use `nothrow`, so they never throw: a failure is a result, and wins at once.
asio::awaitable<void> sleep_for(std::chrono::milliseconds duration) {
  asio::steady_timer timer(co_await asio::this_coro::executor, duration);
  co_await timer.async_wait(asio::use_awaitable);
}

template <class Result>
asio::awaitable<std::optional<Result>> with_timeout(asio::awaitable<Result> operation,
                                                    std::chrono::milliseconds limit) {
  auto winner = co_await (std::move(operation) || sleep_for(limit));
  if (winner.index() == 1) co_return std::nullopt;
  co_return std::get<0>(std::move(winner));
}

// -------------------------------------------------------------------------------------------------
// 3. One client: connect, then for each line send it, read the echo, compare
// -------------------------------------------------------------------------------------------------
// Every step that waits for the network is bounded by with_timeout, so a client always ends, and its
// report says how: every echo matched, or which step failed and why, in one sentence.
std::string timeout_message(const EchoClientOptions& options, std::string_view doing) {
  const auto limit = doing.starts_with("connecting") ? options.connect_timeout : options.reply_timeout;
  return fmt::format("timed out {} (no answer in {} ms)", doing, limit.count());
}

// Connecting: try each address in turn, each attempt bounded by the connect timeout. Returns what
// went wrong, or an empty string once connected. (Refused is an answer, and comes back at once.)
asio::awaitable<std::string> connect_to_server(tcp::socket& socket, const std::vector<tcp::endpoint>& endpoints,
                                               const EchoClientOptions& options) {
  asio::error_code error = asio::error::host_not_found;
  for (const auto& endpoint : endpoints) {
    asio::error_code ignored;
    socket.close(ignored);  // a failed attempt leaves the socket unusable: start afresh
    auto connected = co_await with_timeout(socket.async_connect(endpoint, nothrow), options.connect_timeout);
    if (!connected) co_return timeout_message(options, fmt::format("connecting to {}", endpoint_text(endpoint)));
    std::tie(error) = *connected;
    if (!error) co_return "";
  }
  co_return fmt::format("cannot connect to {}:{}: {}", options.host, options.port, error.message());
}

// The conversation, recorded as one span on the timeline from start to end.
//
// Reading the echo: async_read_until collects bytes until a '\n'. The buffer may hold at most the
// line's own length, so an echo that is longer (or never ends) cannot make the client buffer forever.
// After the last line we half-close ("done sending", as `nc -N` does at the end of its input) and
// expect the server to close too, with nothing more to say: extra bytes would be a mismatch.
asio::awaitable<ClientReport> echo_client(int id, const std::vector<tcp::endpoint>& endpoints,
                                          const EchoClientOptions& options, pg::Timeline& timeline) {
  auto span = timeline.scope(fmt::format("client {}", id));
  ClientReport report;
  report.id = id;
  const auto lines = lines_for_client(options, id);
  report.lines_planned = static_cast<int>(lines.size());
  const auto executor = co_await asio::this_coro::executor;
  tcp::socket socket(executor);
  if (std::string failure = co_await connect_to_server(socket, endpoints, options); !failure.empty()) {
    report.error = std::move(failure);
    co_return report;
  }
  report.connected = true;

  std::string buffer;
  for (std::size_t n = 0; n < lines.size(); ++n) {
    const std::string& line = lines[n];
    if (n > 0 && options.pause.count() > 0) co_await sleep_for(options.pause);

    auto sent = co_await with_timeout(asio::async_write(socket, asio::buffer(line), nothrow), options.reply_timeout);
    if (!sent) {
      report.error = timeout_message(options, fmt::format("sending line {}", n + 1));
      co_return report;
    }
    if (auto [write_error, written] = *sent; write_error) {
      report.error = fmt::format("sending line {} failed: {}", n + 1, write_error.message());
      co_return report;
    }
    ++report.lines_sent;

    auto echoed =
        co_await with_timeout(asio::async_read_until(socket, asio::dynamic_buffer(buffer, line.size()), '\n', nothrow),
                              options.reply_timeout);
    if (!echoed) {
      report.error = timeout_message(options, fmt::format("waiting for the echo of line {}", n + 1));
      co_return report;
    }
    auto [read_error, length] = *echoed;
    if (read_error == asio::error::not_found) {  // as many bytes as the line, and still no '\n'
      ++report.mismatches;
      report.error = fmt::format("the echo of line {} is longer than the line", n + 1);
      co_return report;
    }
    if (read_error) {
      report.error = read_error == asio::error::eof
                         ? fmt::format("the server closed the connection before echoing line {}", n + 1)
                         : fmt::format("reading the echo of line {} failed: {}", n + 1, read_error.message());
      co_return report;
    }
    if (std::string_view(buffer.data(), length) == line) {
      ++report.lines_echoed;
      report.bytes += length;
    } else {
      ++report.mismatches;
    }
    buffer.erase(0, length);
  }

  asio::error_code ignored;
  socket.shutdown(tcp::socket::shutdown_send, ignored);
  char extra[1];
  auto closed = co_await with_timeout(socket.async_read_some(asio::buffer(extra), nothrow), options.reply_timeout);
  if (!closed) {
    report.error = timeout_message(options, "waiting for the server to close the connection");
  } else if (auto [end_error, surplus] = *closed; !end_error || !buffer.empty()) {
    ++report.mismatches;  // the server sent more than we sent it
  }
  co_return report;
}

// -------------------------------------------------------------------------------------------------
// 4. Many clients on one thread
// -------------------------------------------------------------------------------------------------
// co_spawn every client on one io_context (Python: asyncio.gather). Each handler stores its client's
// report in the client's own slot. run() drives them all on this thread and returns when every client
// is done: a client cannot outlive its timeouts, so run() cannot hang.
struct EchoRun {
  std::vector<ClientReport> clients;
  pg::Clock::duration elapsed{};
  [[nodiscard]] int failed() const {
    return static_cast<int>(std::count_if(clients.begin(), clients.end(), [](const auto& c) { return !c.ok(); }));
  }
  [[nodiscard]] long lines() const {
    long n = 0;
    for (const auto& c : clients) n += c.lines_echoed;
    return n;
  }
  [[nodiscard]] std::size_t bytes() const {
    std::size_t n = 0;
    for (const auto& c : clients) n += c.bytes;
    return n;
  }
  [[nodiscard]] int connected() const {
    return static_cast<int>(std::count_if(clients.begin(), clients.end(), [](const auto& c) { return c.connected; }));
  }
  [[nodiscard]] long mismatches() const {
    long n = 0;
    for (const auto& c : clients) n += c.mismatches;
    return n;
  }
};

EchoRun run_echo_clients(const std::vector<tcp::endpoint>& endpoints, const EchoClientOptions& options,
                         pg::Timeline& timeline) {
  asio::io_context io;
  EchoRun run;
  run.clients.resize(static_cast<std::size_t>(options.clients));
  pg::Stopwatch clock;
  for (int id = 0; id < options.clients; ++id) {
    asio::co_spawn(io, echo_client(id, endpoints, options, timeline),
                   [&run, id](std::exception_ptr failure, ClientReport report) {
                     if (failure) std::rethrow_exception(failure);  // a bug, not a network error: say so loudly
                     run.clients[static_cast<std::size_t>(id)] = std::move(report);
                   });
  }
  io.run();
  run.elapsed = clock.elapsed();
  return run;
}

}  // namespace echo_client

// -------------------------------------------------------------------------------------------------
// main: flags, resolve, run the clients, report
// -------------------------------------------------------------------------------------------------

#ifndef PLAYGROUND_NO_MAIN  // the tests include this file and bring their own main
int main(int argc, char** argv) {
  using namespace echo_client;
  EchoClientOptions options;
  int port = options.port;
  int pause_ms = static_cast<int>(options.pause.count());
  int connect_ms = static_cast<int>(options.connect_timeout.count());
  int reply_ms = static_cast<int>(options.reply_timeout.count());
  bool from_stdin = false;
  pg::TraceFile trace;
  pg::Flags flags("tcp_echo_client", "Concurrent clients of a line echo server, all on one thread.");
  flags.add("--host", options.host, "server host name or IP address");
  flags.add("--port", port, "server TCP port", 1, 65535);
  flags.add("--clients", options.clients, "number of clients running at once", 1, 10'000);
  flags.add("--lines", options.lines, "lines each client sends", 1, 100'000);
  flags.add_switch("--stdin", from_stdin, "send the lines read from stdin instead (every client sends them all)");
  flags.add("--pause-ms", pause_ms, "pause between two lines of a client, in milliseconds", 0, 60'000);
  flags.add("--connect-timeout-ms", connect_ms, "give up connecting after this long", 1, 600'000);
  flags.add("--reply-timeout-ms", reply_ms, "give up waiting for an echo after this long", 1, 600'000);
  trace.add_flags(flags);  // --trace FILE and --html FILE
  if (auto status = flags.parse(argc, argv)) return *status;
  options.port = static_cast<unsigned short>(port);
  options.pause = std::chrono::milliseconds(pause_ms);
  options.connect_timeout = std::chrono::milliseconds(connect_ms);
  options.reply_timeout = std::chrono::milliseconds(reply_ms);
  if (from_stdin) {
    for (std::string line; std::getline(std::cin, line);) options.script.push_back(line + "\n");
    if (options.script.empty()) {
      fmt::print(stderr, "tcp_echo_client: --stdin: no lines on stdin\n");
      return 2;
    }
  }
  if (auto status = trace.open()) return *status;

  // The clients run first, and the report comes after: if none of them reached the server, there was
  // no run to report, only the one-line error below.
  std::vector<tcp::endpoint> endpoints;
  try {
    endpoints = resolve_echo_server(options.host, options.port);
  } catch (const std::exception& e) {
    fmt::print(stderr, "tcp_echo_client: {}\n", e.what());
    return 1;
  }
  pg::Timeline timeline("clients");
  const EchoRun run = run_echo_clients(endpoints, options, timeline);
  const auto first_failure = [&run] {
    const auto first = std::find_if(run.clients.begin(), run.clients.end(), [](const auto& c) { return !c.ok(); });
    const std::string why =
        first->error.empty() ? fmt::format("{} mismatched echoes", first->mismatches) : first->error;
    fmt::print(stderr, "tcp_echo_client: {} of {} clients failed; client {}: {}\n", run.failed(), run.clients.size(),
               first->id, why);
  };
  if (run.connected() == 0) {
    first_failure();
    return 1;
  }

  pg::banner(fmt::format("1. Resolve {}:{}", options.host, options.port));
  for (const auto& endpoint : endpoints) fmt::print("  {}\n", endpoint_text(endpoint));

  const auto lines_each = options.script.empty() ? options.lines : static_cast<int>(options.script.size());
  pg::banner(fmt::format("2. {} clients x {} lines, at the same time, on one thread", options.clients, lines_each));
  timeline.print();
  trace.add(timeline);

  constexpr std::size_t shown = 10;
  for (std::size_t i = 0; i < run.clients.size() && i < shown; ++i) {
    const auto& c = run.clients[i];
    fmt::print("  client {}: {} of {} lines echoed exactly, {} bytes{}{}\n", c.id, c.lines_echoed, c.lines_planned,
               c.bytes, c.mismatches > 0 ? fmt::format(", {} mismatches", c.mismatches) : "",
               c.error.empty() ? "" : ": " + c.error);
  }
  if (run.clients.size() > shown) fmt::print("  ... and {} more clients\n", run.clients.size() - shown);

  pg::banner("3. Totals");
  const double seconds = pg::ms(run.elapsed) / 1000.0;
  fmt::print("  {} lines, {} bytes echoed in {:.3f} s; mismatches: {}; clients failed: {} of {}\n", run.lines(),
             run.bytes(), seconds, run.mismatches(), run.failed(), run.clients.size());
  pg::Clock::duration busy{};
  for (const auto& span : timeline.spans()) busy += span.duration();
  fmt::print(
      "  the clients' conversations add up to {:.0f} ms but took {:.0f} ms together: {:.1f} at a time on average\n",
      pg::ms(busy), pg::ms(run.elapsed), pg::ms(busy) / std::max(pg::ms(run.elapsed), 1e-3));
  fmt::print(
      "  every client ran on thread {} (this program's main thread): their conversations overlapped, not threads\n",
      pg::thread_number());
  if (!trace.write()) return 1;

  if (run.failed() > 0) {
    std::fflush(stdout);
    first_failure();
    return 1;
  }
  fmt::print(
      "\nTakeaway: each client is a coroutine; while one waits for its echo the others run, so N\n"
      "clients take about as long as one. Every wait has a deadline, so a dead server costs seconds, not forever.\n");
  return 0;
}
#endif

// -------------------------------------------------------------------------------------------------
// Try this: predict what the output will show, then run it. The answers below were checked with
// Asio 1.22 on Linux.
// -------------------------------------------------------------------------------------------------
// 1. With no server running, run `build/default/networking/tcp_echo_client --port 8888`.
//    Answer: every client fails at once with "cannot connect to 127.0.0.1:8888: Connection refused",
//    the whole run takes milliseconds, and the exit status is 1. A refused connection is an answer,
//    not a wait.
//
// 2. Start a server that accepts connections and never answers:
//      python3 -c 'import socket, time; s = socket.create_server(("127.0.0.1", 8888)); time.sleep(60)'
//    give it a moment to start, then run `build/default/networking/tcp_echo_client --port 8888
//    --clients 3 --reply-timeout-ms 500`. How long does the client take?
//    Answer: about half a second in all (measured 0.52 s), not 3 x 0.5 s: each client reports "timed
//    out waiting for the echo of line 1 (no answer in 500 ms)", and the three timeouts ran at the
//    same time. The connects succeed because the kernel completes them in the listen queue, even
//    though the Python server never calls accept(). Exit status 1.
//
// 3. Start `build/default/networking/tcp_echo_server --port 8888 --quiet`, then run
//    `build/default/networking/tcp_echo_client --port 8888 --clients 500 --lines 3 --pause-ms 200`.
//    Answer: about a second in all (measured 1.1 s for 500 clients x 3 lines with 200 ms pauses),
//    "every client ran on thread 1", and about 400 conversations at a time on average.
//
// Next: networking/blocking_echo_server.cpp: the same echo server written the older way, one thread
// per connection.
