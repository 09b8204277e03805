// Checks the claims of networking/tcp_echo_server.cpp on the lesson's own server. The server runs in
// this process on port 0 (the kernel picks a free port) on a thread of its own, and the tests are its
// clients, written with plain POSIX sockets so that they do not share the code they test. Every read has
// a time limit: a broken server fails a test, it never hangs it. One test runs the program itself, for
// what only a whole process shows (Ctrl-C, exit status, error messages).
#include "networking/tcp_echo_server.cpp"

#include <functional>
#include <iostream>
#include <mutex>

#include "catch.hpp"
#include "networking/echo_server_checks.hpp"
#include "networking/echo_test_support.hpp"
#include "support.hpp"

using echo_checks::CollectedLog;
using echo_server::EchoServer;
using echo_server::EchoServerConfig;
using echo_server::EchoServerThread;
using net_test::Connection;
using net_test::Millis;

namespace {
EchoServerConfig quiet_config() {
  EchoServerConfig config;
  config.port = 0;
  config.log = nullptr;
  return config;
}
}  // namespace

TEST_CASE("the core of section 1 echoes lines to several clients at once, and has no line limit", "[networking]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(30), "core");
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::address_v4::loopback(), 0});
  asio::co_spawn(io, echo_server::core::listen(acceptor), [](std::exception_ptr) {});
  std::thread runner([&io] { io.run(); });
  {
    const auto port = acceptor.local_endpoint().port();
    Connection first(port);
    Connection second(port);
    REQUIRE(first.send("one\ntwo\n"));
    REQUIRE(second.send("three\r\n"));
    CHECK(second.read_exactly(7) == "three\r\n");
    CHECK(first.read_exactly(8) == "one\ntwo\n");
    // What section 4 adds: the core buffers a line of any length (here 1 MiB) until its '\n' comes.
    const std::string huge = std::string(1024 * 1024, 'h') + "\n";
    REQUIRE(first.send(huge, Millis(10'000)));
    CHECK(first.read_exactly(huge.size(), Millis(10'000)) == huge);
  }
  asio::post(io, [&io] { io.stop(); });
  runner.join();
}

TEST_CASE("250 clients connected at once all get exact echoes from one server thread", "[networking]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(45),
                                        "250 clients connected at once all get exact echoes from o...");
  EchoServerThread server(quiet_config());
  auto connections = echo_checks::check_250_clients(server);
  CHECK(server.stats().serving_threads == 1);  // one thread served all 250
  connections.clear();
  server.stop();
  CHECK(server.error() == nullptr);
}

TEST_CASE("every byte value and \\r\\n come back exactly, whatever the chunking", "[networking]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(45),
                                        "every byte value and \\r\\n come back exactly, whatever t...");
  EchoServerThread server(quiet_config());
  Connection c(server.port());
  std::string binary;
  for (int b = 0; b < 256; ++b)
    if (b != '\n') binary += static_cast<char>(b);
  binary += "\r\n";
  const std::string crlf = "dos line\r\n";
  const std::string lone_cr = "a\rb\n";
  // Three lines in one send: the server splits them itself and echoes each one.
  REQUIRE(c.send(binary + crlf + lone_cr));
  const std::string all = binary + crlf + lone_cr;
  CHECK(c.read_exactly(all.size()) == all);
  CHECK(net_test::wait_until([&] { return server.stats().lines == 3; }));
}

TEST_CASE("a line sent one byte at a time is echoed once, when its newline arrives", "[networking]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(45),
                                        "a line sent one byte at a time is echoed once, when its n...");
  EchoServerThread server(quiet_config());
  Connection c(server.port());
  const std::string line = "typed slowly\n";
  for (std::size_t i = 0; i + 1 < line.size(); ++i) {
    REQUIRE(c.send(line.substr(i, 1)));
    ::usleep(2000);
  }
  CHECK(c.read_exactly(1, Millis(50)).empty());  // nothing comes back before the line is complete
  REQUIRE(c.send("\n"));
  CHECK(c.read_exactly(line.size()) == line);
  CHECK(c.read_exactly(1, Millis(50)).empty());  // and it comes back once
  CHECK(net_test::wait_until([&] { return server.stats().lines == 1; }));
}

TEST_CASE("an over-long line closes only that connection and the server keeps serving", "[networking]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(45),
                                        "an over-long line closes only that connection and the ser...");
  auto config = quiet_config();
  config.max_line = 1024;
  EchoServerThread server(config);
  Connection bystander(server.port());
  Connection greedy(server.port());

  // A line of exactly the limit (its newline included) is fine.
  const std::string longest(1023, 'x');
  REQUIRE(greedy.send(longest + "\n"));
  CHECK(greedy.read_exactly(1024) == longest + "\n");

  // One byte more, and no newline in sight: the server closes this connection.
  (void)greedy.send(std::string(5000, 'y'));
  const std::string after = greedy.read_to_eof(Millis(5000));
  CHECK(greedy.eof());
  CHECK(after.empty());  // nothing of the over-long line was echoed
  REQUIRE(net_test::wait_until([&] { return server.stats().too_long == 1; }));

  // The connection that was already open, and a new one, are served as before.
  REQUIRE(bystander.send("still here\n"));
  CHECK(bystander.read_exactly(11) == "still here\n");
  Connection newcomer(server.port());
  REQUIRE(newcomer.send("new\n"));
  CHECK(newcomer.read_exactly(4) == "new\n");
  CHECK(server.stats().accepted == 3);
}

TEST_CASE("a half-closed client gets all its echoes, then end of file", "[networking]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(45),
                                        "a half-closed client gets all its echoes, then end of file");
  EchoServerThread server(quiet_config());
  Connection c(server.port());
  const std::string lines = "one\ntwo\r\nthree\nno newline at the end";
  REQUIRE(c.send(lines));
  c.shutdown_write();  // "I am done sending", like Ctrl-D in nc
  CHECK(c.read_to_eof(Millis(5000)) == lines);
  CHECK(c.eof());
  CHECK(net_test::wait_until([&] { return server.stats().lines == 4; }));  // three lines and the unterminated tail
}

TEST_CASE("clients that reset their connection leave no socket behind", "[networking]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(45),
                                        "clients that reset their connection leave no socket behind");
  EchoServerThread server(quiet_config());
  const int before = net_test::count_open_fds();
  for (int i = 0; i < 40; ++i) {
    Connection c(server.port());
    if (i % 2 == 0) {  // half of them after a full exchange, half in the middle of a line
      REQUIRE(c.send("hello\n"));
      REQUIRE(c.read_exactly(6) == "hello\n");
    } else {
      REQUIRE(c.send("half a li"));
    }
    c.reset();
  }
  // Each session sees the reset (or end of file), closes its socket and ends.
  CHECK(net_test::wait_until([&] { return server.stats().accepted == 40 && server.stats().open == 0; }));
  CHECK(net_test::wait_until([&] { return net_test::count_open_fds() == before; }));
  CHECK(net_test::count_open_fds() == before);
}

TEST_CASE("backpressure: a client that never reads cannot make the server buffer without bound", "[networking]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(45),
                                        "backpressure: a client that never reads cannot make the s...");
  EchoServerThread server(quiet_config());
  Connection flooder(server.port());
  // Try to push 64 MiB of lines without reading a single echo. The server echoes until the socket
  // buffers on both sides are full, then its write waits, so it stops reading, so our send stalls.
  const std::string line = std::string(1023, 'f') + "\n";
  std::string block;
  for (int i = 0; i < 64; ++i) block += line;  // 64 KiB
  std::size_t sent = 0;
  bool stalled = false;
  const auto deadline = net_test::SteadyClock::now() + Millis(10'000);
  while (sent < 64u * 1024 * 1024 && net_test::SteadyClock::now() < deadline) {
    if (!flooder.send(block, Millis(300))) {
      stalled = true;  // 300 ms without the kernel taking a single byte more
      break;
    }
    sent += block.size();
  }
  const long echoed = server.stats().bytes;
  INFO("sent " << sent << " bytes, server echoed " << echoed);
  CHECK(stalled);  // a server that kept reading (and buffering the echoes) would have taken it all
  CHECK(sent < 64u * 1024 * 1024);
  CHECK(echoed < static_cast<long>(sent));

  // Meanwhile the server serves everyone else.
  Connection other(server.port());
  REQUIRE(other.send("am I served?\n"));
  CHECK(other.read_exactly(13) == "am I served?\n");
  flooder.reset();
  CHECK(net_test::wait_until([&] { return server.stats().open == 1; }));
}

TEST_CASE("an idle connection is closed after the idle timeout and an active one stays", "[networking]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(45),
                                        "an idle connection is closed after the idle timeout and a...");
  auto config = quiet_config();
  config.idle_timeout = Millis(200);
  EchoServerThread server(config);
  pg::Stopwatch clock;
  Connection idle(server.port());
  CHECK(idle.read_to_eof(Millis(5000)).empty());
  const auto took = clock.elapsed();
  CHECK(idle.eof());
  CHECK(took >= Millis(200));  // a timer never fires early
  CHECK(took < Millis(3000));
  CHECK(server.stats().idle == 1);

  // A client that speaks every 50 ms for 500 ms (more than twice the timeout in all) stays connected.
  Connection active(server.port());
  int echoed = 0;
  for (int i = 0; i < 10; ++i) {
    if (active.send("tick\n") && active.read_exactly(5) == "tick\n") ++echoed;
    ::usleep(50'000);
  }
  CHECK(echoed == 10);
  CHECK_FALSE(active.eof());
  CHECK(server.stats().idle == 1);
}

TEST_CASE("the idle timeout is a deadline per line: a client dripping one byte at a time is closed", "[networking]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(30), "deadline per line");
  CollectedLog log;
  auto config = quiet_config();
  config.idle_timeout = Millis(300);
  config.log = log.sink();
  EchoServerThread server(config);

  // One byte every 50 ms: a 40-byte line would take 2 s, and every byte arrives well within 300 ms
  // of the last one. A deadline that moved on every byte would never pass.
  pg::Stopwatch clock;  // started before the connection: the server's deadline starts when it accepts
  Connection dripper(server.port());
  int bytes_sent = 0;
  while (bytes_sent < 39 && dripper.send("d")) {
    ++bytes_sent;
    if (!dripper.read_to_eof(Millis(50)).empty() || dripper.eof()) break;
  }
  const auto took = clock.elapsed();
  INFO("bytes sent: " << bytes_sent << ", closed after " << pg::ms(took) << " ms");
  CHECK(dripper.eof());    // the server closed it...
  CHECK(bytes_sent < 39);  // ...before the line was complete
  CHECK(took >= Millis(300));
  CHECK(log.wait_for("closed: no complete line within the idle timeout"));
  CHECK(server.stats().idle == 1);

  // A client that completes a line every 100 ms keeps its connection for 1 s, over three deadlines.
  Connection talker(server.port());
  int echoed = 0;
  for (int i = 0; i < 10; ++i) {
    if (talker.send("tick\n") && talker.read_exactly(5) == "tick\n") ++echoed;
    ::usleep(100'000);
  }
  CHECK(echoed == 10);
  CHECK_FALSE(talker.eof());
  CHECK(server.stats().idle == 1);
}

TEST_CASE("a client that stops reading its echoes is disconnected after the idle timeout", "[networking]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(30), "send timeout");
  CollectedLog log;
  auto config = quiet_config();
  config.idle_timeout = Millis(300);
  config.log = log.sink();
  EchoServerThread server(config);
  Connection flooder(server.port());
  // Send lines and never read: the echoes fill both socket buffers, and the server's write waits.
  // Each send may wait 1 s: a send cut short while the server is only slow (ThreadSanitizer, a busy
  // machine) would leave half a line, and the server would then be waiting to read, not to write.
  const std::string block = std::string(1023, 'f') + "\n";
  for (int i = 0; i < 65536 && flooder.send(block, Millis(1000)); ++i) {  // stops when the buffers are full
  }
  const bool logged = log.wait_for("closed: echo not taken within the idle timeout (the client stopped reading)");
  INFO("log:\n" << log.text());
  CHECK(logged);
  CHECK(net_test::wait_until([&] { return server.stats().open == 0; }));
  CHECK(server.stats().idle == 1);
  Connection other(server.port());
  REQUIRE(other.send("next\n"));
  CHECK(other.read_exactly(5) == "next\n");
}

TEST_CASE("stop() closes idle connections and returns promptly", "[networking]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(45), "stop() closes idle connections");
  EchoServerThread server(quiet_config());
  echo_checks::check_stop_closes_idle_connections(server);
}

TEST_CASE("a port in use or a bad address is a one-sentence error", "[networking]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(45),
                                        "a port in use or a bad address is a one-sentence error");
  asio::io_context io;
  EchoServer first(io.get_executor(), quiet_config());
  auto config = quiet_config();
  config.port = first.port();
  try {
    EchoServer second(io.get_executor(), config);
    FAIL("a second server on the same port should not start");
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    CHECK(what == fmt::format("cannot listen on 127.0.0.1:{}: {}", first.port(), std::strerror(EADDRINUSE)));
  }
  config.address = "not-an-address";
  CHECK_THROWS_AS(EchoServer(io.get_executor(), config), std::invalid_argument);

  // The program says the same in one line on stderr, with a non-zero exit status.
  const auto in_use = test_support::run_program(LESSON_BINARY, {"--port", std::to_string(first.port())});
  CHECK(in_use.exit_code == 1);
  CHECK(in_use.err ==
        fmt::format("tcp_echo_server: cannot listen on 127.0.0.1:{}: {}\n", first.port(), std::strerror(EADDRINUSE)));
  // A name that does not resolve: exit status 2, one line on stderr, and nothing printed before it.
  const auto bad = test_support::run_program(LESSON_BINARY, {"--address", "no-such-host.invalid", "--port", "0"});
  CHECK(bad.exit_code == 2);
  INFO(bad.err);
  CHECK(bad.err.rfind("tcp_echo_server: cannot listen on 'no-such-host.invalid': ", 0) == 0);
  CHECK(std::count(bad.err.begin(), bad.err.end(), '\n') == 1);
  CHECK(bad.out.empty());
}

TEST_CASE("a host name is resolved: --address localhost listens on a loopback address", "[networking]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(45), "--address localhost");
  asio::io_context io;
  auto config = quiet_config();
  config.address = "localhost";
  EchoServer server(io.get_executor(), config);
  CHECK(server.local_endpoint().address().is_loopback());
  CHECK(server.port() != 0);

  // The program too: it listens, echoes and exits 0.
  net_test::Child program(LESSON_BINARY, {"--address", "localhost", "--port", "0"});
  const auto address = program.wait_for_line("listening on ");
  REQUIRE(address);
  const unsigned short port = net_test::port_after_colon(*address);
  REQUIRE(port != 0);
  if (address->rfind("127.0.0.1:", 0) == 0) {  // where localhost is ::1 first, the plain-IPv4 client cannot check
    Connection c(port);
    REQUIRE(c.send("by name\n"));
    CHECK(c.read_exactly(8) == "by name\n");
  }
  program.signal(SIGINT);
  const auto status = program.wait(Millis(5000));
  REQUIRE(status);
  CHECK(WIFEXITED(*status));
  CHECK(WEXITSTATUS(*status) == 0);
}

TEST_CASE("the program rejects bad flags with a message and exit status 2", "[networking][flags]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(45),
                                        "the program rejects bad flags with a message and exit sta...");
  test_support::check_rejects_bad_flags(
      LESSON_BINARY, {{"--port", "70000"}, {"--port", "x"}, {"--max-line", "1"}, {"--idle-timeout-ms", "-1"}});
  auto help = test_support::run_program(LESSON_BINARY, {"--help"}, Millis(10'000));
  CHECK(help.exit_code == 0);
  CHECK(help.out.find("--idle-timeout-ms") != std::string::npos);
  CHECK(help.out.find("--core") != std::string::npos);
}

TEST_CASE("with a stdout nobody reads, the program still serves new clients and stops within 1 s of SIGINT",
          "[networking]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(40), "stalled stdout");
  echo_checks::check_serves_with_stdout_unread(LESSON_BINARY, {"--port", "0"});
}

TEST_CASE("the program exits 0 within 1 s of SIGINT or SIGTERM, with idle clients connected", "[networking]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(45),
                                        "the program exits 0 within 1 s of SIGINT or SIGTERM, with...");
  for (const int signal_number : {SIGINT, SIGTERM}) {
    INFO("signal " << signal_number);
    echo_checks::check_exits_on_signal(LESSON_BINARY, {"--port", "0"}, signal_number, 1);
  }
}

TEST_CASE("with --quiet the program drops the log line per connection and per line, and keeps the rest",
          "[networking]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(45),
                                        "with --quiet the program drops the log line per connectio...");
  net_test::Child server(LESSON_BINARY, {"--port", "0", "--quiet"});
  const unsigned short port = server.listening_port();
  REQUIRE(port != 0);
  {
    Connection c(port);
    REQUIRE(c.send("quiet please\n"));
    CHECK(c.read_exactly(13) == "quiet please\n");
  }
  server.signal(SIGINT);
  const auto status = server.wait(Millis(5000));
  REQUIRE(status);
  CHECK(WIFEXITED(*status));
  CHECK(WEXITSTATUS(*status) == 0);
  const std::string output = server.rest_of_output();
  INFO(output);
  CHECK(output.find("[#1") == std::string::npos);                           // no "connected", no line, no "closed"
  CHECK(output.find("signal 2") == std::string::npos);                      // nor the shutdown log line
  CHECK(output.find("echoed 1 line(s), 13 byte(s)") != std::string::npos);  // the summary stays
}

TEST_CASE("a client written with Python's asyncio streams talks to the C++ server", "[networking][python]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(45),
                                        "a client written with Python's asyncio streams talks to t...");
  EchoServerThread server(quiet_config());
  const std::string script = net_test::script_path("asyncio_echo_client.py");
  auto r = test_support::run_program(PYTHON3_EXECUTABLE, {script, "127.0.0.1", std::to_string(server.port()), "20"},
                                     Millis(30'000));
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out == "python asyncio client: 20 clients, 60 lines echoed exactly\n");
  CHECK(net_test::wait_until([&] { return server.stats().lines == 60; }));
}

TEST_CASE("a session whose code throws is closed at once with the reason, not after the idle timeout", "[networking]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(45), "a session whose code throws");
  CollectedLog log;
  auto config = quiet_config();
  config.idle_timeout = Millis(20'000);
  const auto collect = log.sink();
  // A log sink that fails on one line: the exception leaves echo_lines in the middle of a session.
  config.log = [collect](const std::string& line) {
    if (line.find("bytes: 'boom") != std::string::npos) throw std::runtime_error("the log sink failed");
    collect(line);
  };
  EchoServerThread server(config);
  Connection c(server.port());
  REQUIRE(c.send("fine\n"));
  REQUIRE(c.read_exactly(5) == "fine\n");
  pg::Stopwatch clock;
  REQUIRE(c.send("boom\n"));
  CHECK(c.closed_by_peer(Millis(5000)));
  CHECK(clock.elapsed() < Millis(2000));  // not the 20 s of the idle timeout
  CHECK(log.wait_for("closed: error (the log sink failed)", Millis(1000)));
  // The server goes on serving.
  Connection next(server.port());
  REQUIRE(next.send("next\n"));
  CHECK(next.read_exactly(5) == "next\n");
}

TEST_CASE("with stdout's reader gone after the first line, the program serves three clients and exits 0 on SIGINT",
          "[networking]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(45), "stdout's reader gone");
  echo_checks::check_serves_after_stdout_reader_gone(LESSON_BINARY, {"--port", "0"});
}
