// Checks the claims of networking/tcp_echo_client.cpp on the lesson's own client. Its servers: the C++
// echo server lesson running in this process on port 0, a Python asyncio echo server, and test
// listeners that refuse, never accept, or never answer. Every wait is bounded, so a broken client fails
// a test instead of hanging it.
#include "networking/tcp_echo_client.cpp"
#include "networking/tcp_echo_server.cpp"  // the server lesson, run in-process as the client's peer

#include <atomic>
#include <functional>
#include <iostream>
#include <memory>
#include <thread>

#include "catch.hpp"
#include "networking/echo_server_thread.hpp"  // the server lesson on a background thread
#include "networking/echo_test_support.hpp"
#include "support.hpp"

using echo_client::ClientReport;
using echo_client::EchoClientOptions;
using echo_client::EchoRun;
using net_test::Millis;

namespace {
echo_server::EchoServerConfig quiet_server() {
  echo_server::EchoServerConfig config;
  config.port = 0;
  config.log = nullptr;
  return config;
}

EchoClientOptions options_for(unsigned short port) {
  EchoClientOptions options;
  options.port = port;
  options.connect_timeout = Millis(5000);
  options.reply_timeout = Millis(5000);
  return options;
}

EchoRun run_clients(const EchoClientOptions& options, pg::Timeline& timeline) {
  return echo_client::run_echo_clients(echo_client::resolve_echo_server(options.host, options.port), options, timeline);
}

// The most spans that were running at one instant.
std::size_t max_concurrency(const std::vector<pg::Span>& spans) {
  std::size_t best = 0;
  for (const auto& probe : spans) {
    std::size_t running = 0;
    for (const auto& s : spans)
      if (s.start <= probe.start && probe.start < s.end) ++running;
    best = std::max(best, running);
  }
  return best;
}

// A server that answers every line wrongly, in the way `answer` says, for the client to catch. One
// connection at a time, plain POSIX calls; every wait is bounded so that it stops when the test ends.
class WrongEchoServer {
 public:
  explicit WrongEchoServer(std::function<std::string(const std::string&)> answer) : answer_(std::move(answer)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (listener_ < 0 || ::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(listener_, 16) != 0 || ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0)
      throw std::runtime_error(fmt::format("test server: {}", std::strerror(errno)));
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  WrongEchoServer(const WrongEchoServer&) = delete;
  WrongEchoServer& operator=(const WrongEchoServer&) = delete;
  ~WrongEchoServer() {
    stop_ = true;
    thread_.join();
    ::close(listener_);
  }
  [[nodiscard]] unsigned short port() const { return port_; }

 private:
  static bool ready(int fd) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 20) > 0;
  }
  void serve() {
    while (!stop_) {
      if (!ready(listener_)) continue;
      const int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      std::string pending;
      while (!stop_) {
        if (!ready(client)) continue;
        char buffer[4096];
        const ssize_t n = ::recv(client, buffer, sizeof buffer, 0);
        if (n <= 0) break;
        pending.append(buffer, static_cast<std::size_t>(n));
        for (std::size_t newline; (newline = pending.find('\n')) != std::string::npos; pending.erase(0, newline + 1)) {
          const std::string reply = answer_(pending.substr(0, newline + 1));
          (void)::send(client, reply.data(), reply.size(), MSG_NOSIGNAL);
        }
      }
      ::close(client);
    }
  }

  std::function<std::string(const std::string&)> answer_;
  int listener_ = -1;
  unsigned short port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

std::string first_error(const EchoRun& run) {
  for (const auto& c : run.clients)
    if (!c.ok()) return fmt::format("client {}: {} ({} mismatches)", c.id, c.error, c.mismatches);
  return "";
}
}  // namespace

TEST_CASE("clients overlap on one thread: 5 clients take about as long as one", "[networking]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(45),
                                        "clients overlap on one thread: 5 clients take about as lo...");
  echo_server::EchoServerThread server(quiet_server());
  auto options = options_for(server.port());
  options.clients = 5;
  options.lines = 4;
  options.pause = Millis(30);  // each client spends >= 90 ms in pauses
  pg::Timeline timeline("clients");
  const EchoRun run = run_clients(options, timeline);
  INFO(first_error(run));
  REQUIRE(run.failed() == 0);
  CHECK(run.lines() == 20);
  CHECK(run.mismatches() == 0);

  const auto spans = timeline.spans();
  REQUIRE(spans.size() == 5);
  pg::Clock::duration sum{};
  for (std::size_t i = 0; i < spans.size(); ++i) {
    CHECK(spans[i].thread == pg::thread_number());  // run() ran them all on this thread
    CHECK(spans[i].duration() >= Millis(90));
    sum += spans[i].duration();
    for (std::size_t j = i + 1; j < spans.size(); ++j) CHECK(pg::overlap(spans[i], spans[j]));
  }
  CHECK(run.elapsed < sum / 2);  // one after another would take the sum
}

TEST_CASE("200 concurrent clients all get exact echoes", "[networking]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(45), "200 concurrent clients all get exact echoes");
  echo_server::EchoServerThread server(quiet_server());
  auto options = options_for(server.port());
  options.clients = 200;
  options.lines = 5;
  options.pause = Millis(20);
  pg::Timeline timeline("clients");
  const EchoRun run = run_clients(options, timeline);
  INFO(first_error(run));
  CHECK(run.failed() == 0);
  CHECK(run.lines() == 1000);
  CHECK(run.mismatches() == 0);
  std::size_t expected_bytes = 0;
  for (int id = 0; id < 200; ++id)
    for (int n = 0; n < 5; ++n) expected_bytes += fmt::format("client {} line {}\n", id, n).size();
  CHECK(run.bytes() == expected_bytes);
  CHECK(net_test::wait_until([&] { return server.stats().lines == 1000; }));
  CHECK(max_concurrency(timeline.spans()) >= 100);  // most of them were connected at the same time
}

TEST_CASE("scripted lines with any byte value and \\r\\n are sent and verified exactly", "[networking]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(45),
                                        "scripted lines with any byte value and \\r\\n are sent an...");
  echo_server::EchoServerThread server(quiet_server());
  auto options = options_for(server.port());
  std::string binary;
  for (int b = 0; b < 256; ++b)
    if (b != '\n') binary += static_cast<char>(b);
  options.script = {"first\n", "dos\r\n", binary + "\n"};
  options.clients = 3;
  options.pause = Millis(0);
  pg::Timeline timeline("clients");
  const EchoRun run = run_clients(options, timeline);
  INFO(first_error(run));
  CHECK(run.failed() == 0);
  CHECK(run.lines() == 9);
  CHECK(run.bytes() == 3 * (6 + 5 + binary.size() + 1));
}

TEST_CASE("a refused connection is reported clearly and at once", "[networking]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(45),
                                        "a refused connection is reported clearly and at once");
  // A socket bound to a port but not listening: the kernel answers every connection with a reset.
  asio::io_context io;
  asio::ip::tcp::acceptor bound(io);
  bound.open(asio::ip::tcp::v4());
  bound.bind({asio::ip::address_v4::loopback(), 0});
  const unsigned short port = bound.local_endpoint().port();

  auto options = options_for(port);
  options.clients = 3;
  pg::Timeline timeline("clients");
  pg::Stopwatch clock;
  const EchoRun run = run_clients(options, timeline);
  CHECK(clock.elapsed() < Millis(2000));
  CHECK(run.failed() == 3);
  for (const auto& c : run.clients)
    CHECK(c.error == fmt::format("cannot connect to 127.0.0.1:{}: {}", port, std::strerror(ECONNREFUSED)));

  // The program: one line on stderr, exit status 1.
  auto r = test_support::run_program(LESSON_BINARY, {"--port", std::to_string(port), "--clients", "2"}, Millis(10'000));
  CHECK(r.exit_code == 1);
  CHECK(r.err == fmt::format("tcp_echo_client: 2 of 2 clients failed; client 0: cannot connect to 127.0.0.1:{}: {}\n",
                             port, std::strerror(ECONNREFUSED)));
  CHECK(r.out.empty());  // no report of a run that did not happen
}

TEST_CASE("a server that echoes wrongly is caught: a changed byte, a longer echo, bytes nobody sent", "[networking]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(40), "wrong echoes");
  const auto run_against = [](WrongEchoServer& server) {
    auto options = options_for(server.port());
    options.clients = 1;
    options.lines = 3;
    options.pause = Millis(0);
    pg::Timeline timeline("clients");
    return run_clients(options, timeline);
  };
  {  // Every echo has one byte changed ("client" comes back as "Client"): three mismatches.
    WrongEchoServer server([](const std::string& line) { return "C" + line.substr(1); });
    const EchoRun run = run_against(server);
    REQUIRE(run.clients.size() == 1);
    CHECK(run.clients[0].mismatches == 3);
    CHECK(run.clients[0].lines_echoed == 0);
    CHECK(run.clients[0].error.empty());  // the conversation itself went fine
    CHECK(run.failed() == 1);

    // The program reports it, and says so in its exit status.
    auto r = test_support::run_program(
        LESSON_BINARY, {"--port", std::to_string(server.port()), "--clients", "1", "--lines", "3", "--pause-ms", "0"},
        Millis(10'000));
    CHECK(r.exit_code == 1);
    CHECK(r.err == "tcp_echo_client: 1 of 1 clients failed; client 0: 3 mismatched echoes\n");
    CHECK(r.out.find("mismatches: 3; clients failed: 1 of 1") != std::string::npos);
  }
  {  // Each echo one byte longer than the line: the client stops reading at the line's length.
    WrongEchoServer server([](const std::string& line) { return "+" + line; });
    const EchoRun run = run_against(server);
    CHECK(run.clients[0].error == "the echo of line 1 is longer than the line");
    CHECK(run.clients[0].mismatches == 1);
    CHECK(run.failed() == 1);
  }
  {  // The right echo, then a line nobody sent: seen at the next echo, or when the server should close.
    WrongEchoServer server([](const std::string& line) { return line + "surplus\n"; });
    const EchoRun run = run_against(server);
    CHECK(run.clients[0].lines_echoed == 1);  // the first echo is exact; the surplus spoils the second
    CHECK(run.clients[0].mismatches >= 1);
    CHECK(run.failed() == 1);
  }
}

TEST_CASE("a server that never answers costs the reply timeout, not a hang", "[networking]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(15),
                                        "a server that never answers costs the reply timeout, not...");
  // A listening socket that never accepts: connections complete in the kernel, and nobody replies.
  asio::io_context io;
  asio::ip::tcp::acceptor silent(io, {asio::ip::address_v4::loopback(), 0});
  auto options = options_for(silent.local_endpoint().port());
  options.clients = 2;
  options.reply_timeout = Millis(300);
  pg::Timeline timeline("clients");
  pg::Stopwatch clock;
  const EchoRun run = run_clients(options, timeline);
  const auto took = clock.elapsed();
  CHECK(took >= Millis(300));
  CHECK(took < Millis(3000));
  CHECK(run.failed() == 2);
  for (const auto& c : run.clients) CHECK(c.error == "timed out waiting for the echo of line 1 (no answer in 300 ms)");

  auto r = test_support::run_program(
      LESSON_BINARY,
      {"--port", std::to_string(silent.local_endpoint().port()), "--clients", "1", "--reply-timeout-ms", "200"},
      Millis(10'000));
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("timed out waiting for the echo of line 1") != std::string::npos);
}

TEST_CASE("a connect that does not complete costs the connect timeout, not a hang", "[networking]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(15),
                                        "a connect that does not complete costs the connect timeou...");
  // A listener with a backlog of 0 queues one connection; while it stays queued (never accepted), the
  // kernel drops the next connection attempts, so they neither succeed nor fail: they wait.
  asio::io_context io;
  asio::ip::tcp::acceptor full(io);
  full.open(asio::ip::tcp::v4());
  full.bind({asio::ip::address_v4::loopback(), 0});
  full.listen(0);
  const unsigned short port = full.local_endpoint().port();
  net_test::Connection queued(port);  // fills the queue

  auto options = options_for(port);
  options.clients = 1;
  options.connect_timeout = Millis(300);
  pg::Timeline timeline("clients");
  pg::Stopwatch clock;
  const EchoRun run = run_clients(options, timeline);
  const auto took = clock.elapsed();
  REQUIRE(run.clients.size() == 1);
  CHECK(run.clients[0].error == fmt::format("timed out connecting to 127.0.0.1:{} (no answer in 300 ms)", port));
  CHECK(took >= Millis(300));
  CHECK(took < Millis(3000));
}

TEST_CASE("the C++ client talks to a Python asyncio echo server", "[networking][python]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(45),
                                        "the C++ client talks to a Python asyncio echo server");
  // The bench's asyncio server; --lifetime: it exits by itself even if this test dies without killing it.
  net_test::Child python(PYTHON3_EXECUTABLE,
                         {net_test::bench_path("asyncio_echo_server.py"), "--port", "0", "--lifetime", "60"});
  const unsigned short port = python.listening_port(Millis(10'000));
  REQUIRE(port != 0);

  auto options = options_for(port);
  options.clients = 10;
  options.lines = 3;
  options.pause = Millis(10);
  pg::Timeline timeline("clients");
  const EchoRun run = run_clients(options, timeline);
  INFO(first_error(run));
  CHECK(run.failed() == 0);
  CHECK(run.lines() == 30);

  // The program too, with lines from stdin (\r\n kept).
  auto r = test_support::run_program(
      "/bin/sh",
      {"-c", fmt::format("printf 'one\\ntwo\\r\\nthree\\n' | '{}' --port {} --stdin --clients 4 --pause-ms 5",
                         LESSON_BINARY, port)},
      Millis(20'000));
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("12 lines, 60 bytes echoed") != std::string::npos);  // 4 x (4 + 5 + 6) bytes
  CHECK(r.out.find("mismatches: 0; clients failed: 0 of 4") != std::string::npos);
}

TEST_CASE("the program's trace file holds one span per client, all on one thread", "[networking][trace]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(45),
                                        "the program's trace file holds one span per client, all o...");
  echo_server::EchoServerThread server(quiet_server());
  const std::string path = fmt::format("/tmp/playground-echo-client-trace-{}.json", ::getpid());
  auto r = test_support::run_program(
      LESSON_BINARY,
      {"--port", std::to_string(server.port()), "--clients", "4", "--lines", "2", "--pause-ms", "20", "--trace", path},
      Millis(20'000));
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("at a time on average") != std::string::npos);
  CHECK(r.out.find("16 lines") == std::string::npos);
  CHECK(r.out.find("8 lines, ") != std::string::npos);
  auto events = test_support::read_trace(path);
  std::remove(path.c_str());
  std::vector<test_support::TraceEvent> spans;
  for (const auto& e : events)
    if (e.phase == 'X') spans.push_back(e);
  REQUIRE(spans.size() == 4);
  for (const auto& s : spans) {
    CHECK(s.category == "clients");
    CHECK(s.tid == spans[0].pid);  // the main thread, whose tid is the pid
    CHECK(s.dur >= 20'000);        // at least one 20 ms pause
  }
  CHECK(spans[0].pid != ::getpid());
}

TEST_CASE("the program rejects bad flags with a message and exit status 2", "[networking][flags]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(45),
                                        "the program rejects bad flags with a message and exit sta...");
  test_support::check_rejects_bad_flags(LESSON_BINARY,
                                        {{"--port", "0"}, {"--clients", "many"}, {"--connect-timeout-ms", "0"}});
  // --stdin is a good flag, but with nothing on stdin there is nothing to send: a one-line error, exit 2.
  const auto empty = test_support::run_program(LESSON_BINARY, {"--stdin"}, Millis(10'000));
  CHECK(empty.exit_code == 2);
  CHECK(empty.err == "tcp_echo_client: --stdin: no lines on stdin\n");
  CHECK(empty.out.empty());
}

TEST_CASE("IPv6: the server listens on ::1 and the client connects to it", "[networking]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(45),
                                        "IPv6: the server listens on ::1 and the client connects t...");
  auto config = quiet_server();
  config.address = "::1";
  std::unique_ptr<echo_server::EchoServerThread> server;
  try {
    server = std::make_unique<echo_server::EchoServerThread>(config);
  } catch (const std::runtime_error& e) {
    std::cout << "SKIPPED: no IPv6 loopback on this machine (" << e.what() << ")\n";
    return;
  }
  auto options = options_for(server->port());
  options.host = "::1";
  options.clients = 3;
  options.pause = Millis(0);
  pg::Timeline timeline("clients");
  const auto endpoints = echo_client::resolve_echo_server(options.host, options.port);
  REQUIRE(endpoints.size() == 1);
  CHECK(echo_client::endpoint_text(endpoints[0]) == fmt::format("[::1]:{}", server->port()));
  const EchoRun run = echo_client::run_echo_clients(endpoints, options, timeline);
  INFO(first_error(run));
  CHECK(run.failed() == 0);
  CHECK(run.lines() == 9);
}
