// Test for the exercise split_lines: lines split across reads, and several lines in one read, are
// each answered once and numbered in order; a line at the limit is accepted; a longer one gets the
// error line and a closed connection. The server runs on its own thread, the client is plain POSIX.
#include EXERCISE_SOURCE

#include <thread>

#include "catch.hpp"
#include "line_client.hpp"
#include "support.hpp"

namespace {

// Runs listen() on 127.0.0.1, any free port, on a thread of its own until destroyed.
class Server {
 public:
  Server() : acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}) {
    asio::co_spawn(io_, listen(acceptor_), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  ~Server() {
    io_.stop();
    thread_.join();
  }
  unsigned short port() const { return acceptor_.local_endpoint().port(); }

 private:
  asio::io_context io_;
  asio::ip::tcp::acceptor acceptor_;
  std::thread thread_;
};

void let_it_arrive() { std::this_thread::sleep_for(std::chrono::milliseconds(50)); }  // lets each piece arrive alone

}  // namespace

TEST_CASE("split_lines: a line split across reads is one line; two lines in one read are two", "[exercise]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(10), "split_lines: the test did not finish");
  Server server;
  exercise_test::Connection client(server.port());
  client.send("hel");
  let_it_arrive();
  client.send("lo\nwor");
  let_it_arrive();
  client.send("ld\n");
  let_it_arrive();
  client.send("a\nb\n");
  const std::string expected = "1: hello\n2: world\n3: a\n4: b\n";
  const std::string answer = client.receive(expected.size(), std::chrono::seconds(2));
  INFO("sent \"hel\", \"lo\\nwor\", \"ld\\n\", \"a\\nb\\n\" in four writes; got back:\n" << answer);
  if (answer != expected) {
    FAIL(
        "expected \"1: hello\\n2: world\\n3: a\\n4: b\\n\": one read is not one line; keep the bytes after the "
        "last '\\n' for the next line (see the hints)");
  }
}

TEST_CASE("split_lines: a line of max_line_length bytes is accepted, a longer one refused", "[exercise]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(10), "split_lines: the test did not finish");
  Server server;
  {
    exercise_test::Connection client(server.port());
    const std::string longest(max_line_length, 'x');
    client.send(longest + "\n");
    const std::string expected = "1: " + longest + "\n";
    const std::string answer = client.receive(expected.size(), std::chrono::seconds(2));
    INFO("got back: " << answer);
    if (answer != expected) FAIL("a line of exactly max_line_length bytes (and its '\\n') must be accepted");
  }
  {
    exercise_test::Connection client(server.port());
    client.send(std::string(4 * max_line_length, 'y'));  // and no '\n'
    const std::string expected = "error: line too long\n";
    const std::string answer = client.receive(expected.size() + 1, std::chrono::seconds(2));
    INFO("sent " << 4 * max_line_length << " bytes without a '\\n'; got back: " << answer);
    if (answer != expected) {
      FAIL(
          "expected exactly \"error: line too long\\n\" and then the connection closed: a line longer than "
          "max_line_length must be refused, not buffered without end");
    }
    if (!client.closed_within(std::chrono::seconds(2)))
      FAIL("after the error line the server must close the connection");
  }
}
