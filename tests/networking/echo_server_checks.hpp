// Checks shared by the tests of networking/tcp_echo_server.cpp and networking/tcp_server_in_production.cpp:
// the same claim, checked on one thread for the first lesson and on two for the second. Include it
// after the lesson and catch.hpp.
#pragma once

#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "networking/echo_server_thread.hpp"
#include "networking/echo_test_support.hpp"
#include "support.hpp"

namespace echo_checks {

using echo_server::ServerThread;
using net_test::Connection;
using net_test::Millis;

// Log lines collected from the server's threads, for a test to search. Declared before the server, so
// that it outlives the server's threads.
class CollectedLog {
 public:
  std::function<void(const std::string&)> sink() {
    return [this](const std::string& line) {
      std::lock_guard lock(mutex_);
      lines_.push_back(line);
    };
  }
  // True once a line containing `text` has been logged (waits up to `limit`).
  bool wait_for(const std::string& text, Millis limit = Millis(5000)) {
    return net_test::wait_until(
        [&] {
          std::lock_guard lock(mutex_);
          return std::any_of(lines_.begin(), lines_.end(),
                             [&](const std::string& line) { return line.find(text) != std::string::npos; });
        },
        limit);
  }
  // Every line so far, for a failing check's message.
  std::string text() {
    std::lock_guard lock(mutex_);
    std::string all;
    for (const auto& line : lines_)
      if (line.find(" bytes: ") == std::string::npos) all += line + "\n";  // not the line per echo
    return all;
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> lines_;
};

// 250 clients connect at once; every round, every client sends a line before any reads its echo, so
// all 250 conversations are in progress at the same time. Checks every echo byte for byte, and the
// server's counts. The connections stay open (returned) so that the caller can look further.
template <class Server>
std::vector<Connection> check_250_clients(ServerThread<Server>& server) {
  constexpr int clients = 250;
  constexpr int rounds = 3;
  std::vector<Connection> all;
  all.reserve(clients);
  for (int i = 0; i < clients; ++i) all.emplace_back(server.port());
  int exact = 0;
  long bytes = 0;
  std::vector<std::string> wrong;
  for (int round = 0; round < rounds; ++round) {
    for (std::size_t i = 0; i < all.size(); ++i) (void)all[i].send(fmt::format("client {} round {}\n", i, round));
    for (std::size_t i = 0; i < all.size(); ++i) {
      const std::string expected = fmt::format("client {} round {}\n", i, round);
      bytes += static_cast<long>(expected.size());
      const std::string echo = all[i].read_exactly(expected.size());
      if (echo == expected)
        ++exact;
      else if (wrong.size() < 3)
        wrong.push_back(echo);
    }
  }
  INFO("first wrong echo: " << (wrong.empty() ? "" : wrong[0]));
  CHECK(exact == clients * rounds);
  CHECK(server.stats().peak_open >= clients);
  CHECK(net_test::wait_until([&] { return server.stats().lines == clients * rounds; }));
  CHECK(server.stats().bytes == bytes);
  CHECK(server.stats().serving_thread != 0);
  CHECK(server.stats().serving_thread != pg::os_thread_id());  // the server's thread, not this one
  return all;
}
// stop() closes 20 idle connections and returns within 1 s.
template <class Server>
void check_stop_closes_idle_connections(ServerThread<Server>& server) {
  std::vector<Connection> idle;
  for (int i = 0; i < 20; ++i) idle.emplace_back(server.port());
  REQUIRE(net_test::wait_until([&] { return server.stats().open == 20; }));
  pg::Stopwatch clock;
  server.stop();
  CHECK(clock.elapsed() < Millis(1000));
  int closed = 0;
  for (auto& c : idle) {
    (void)c.read_to_eof(Millis(2000));
    if (c.eof()) ++closed;
  }
  CHECK(closed == 20);
  CHECK(server.stats().open == 0);
}

// The program (`binary` started with `args`, which listen on port 0) goes on serving while nobody reads
// its stdout, says how many log lines it dropped once someone reads again, and exits 0 within 1 s of SIGINT.
inline void check_serves_with_stdout_unread(const std::string& binary, const std::vector<std::string>& args) {
  net_test::Child server(binary, args);
  REQUIRE(server.shrink_output_pipe() > 0);
  const unsigned short port = server.listening_port();
  REQUIRE(port != 0);
  Connection chatty(port);
  // One log line per echoed line. Echo lines until stdout has taken nothing more for `after_stall`
  // lines in a row: the pipe is full and the log's thread is stuck.
  int echoed = 0;
  const auto echo_until_stalled = [&](int after_stall) {
    int unchanged = 0;
    int unread = server.unread_output();
    while (unchanged < after_stall && echoed < 100'000) {
      const std::string line = fmt::format("line {}\n", echoed);
      if (!chatty.send(line) || chatty.read_exactly(line.size(), Millis(2000)) != line) break;
      ++echoed;
      const int now = server.unread_output();
      unchanged = now == unread ? unchanged + 1 : 0;
      unread = now;
    }
    INFO("lines echoed: " << echoed << ", unread output: " << unread << " bytes");
    CHECK(unchanged == after_stall);
  };
  // 1500 lines after the stall: more than the log's queue holds (1024), so some are dropped.
  echo_until_stalled(1500);
  Connection newcomer(port);
  REQUIRE(newcomer.send("a new client is still served\n"));
  CHECK(newcomer.read_exactly(29, Millis(2000)) == "a new client is still served\n");

  // Reading again: the log resumes, and the next line logged after the loss says how many it dropped.
  std::optional<std::string> dropped;
  for (int i = 0; i < 50 && !dropped; ++i) {
    CHECK(newcomer.send("after\n"));
    CHECK(newcomer.read_exactly(6) == "after\n");
    dropped = server.wait_for_line("[log: ", Millis(100));
  }
  REQUIRE(dropped);
  CHECK_THAT(*dropped, contains_text("line(s) dropped"));

  // Stall it again, then Ctrl-C: the program exits at once, whatever it could not print.
  echo_until_stalled(50);
  pg::Stopwatch clock;
  server.signal(SIGINT);
  const auto status = server.wait(Millis(5000));
  const auto took = clock.elapsed();
  REQUIRE(status);
  CHECK(WIFEXITED(*status));
  CHECK(WEXITSTATUS(*status) == 0);
  CHECK(took < Millis(1000));
}

// The program exits 0 within 1 s of `signal_number`, with a client that talked and one that never
// did, and its summary says it ran on `threads` thread(s).
inline void check_exits_on_signal(const std::string& binary, const std::vector<std::string>& args, int signal_number,
                                  int threads) {
  net_test::Child server(binary, args);
  const unsigned short port = server.listening_port();
  REQUIRE(port != 0);
  Connection talker(port);
  REQUIRE(talker.send("hello\n"));
  REQUIRE(talker.read_exactly(6) == "hello\n");
  Connection silent(port);                // never says anything
  REQUIRE(server.wait_for_line("[#2 "));  // the server has seen it

  pg::Stopwatch clock;
  server.signal(signal_number);
  const auto status = server.wait(Millis(5000));
  const auto took = clock.elapsed();
  REQUIRE(status);  // it exited (not still running)
  CHECK(WIFEXITED(*status));
  CHECK(WEXITSTATUS(*status) == 0);
  CHECK(took < Millis(1000));
  (void)talker.read_to_eof(Millis(1000));
  (void)silent.read_to_eof(Millis(1000));
  CHECK(talker.eof());
  CHECK(silent.eof());
  const std::string output = server.rest_of_output();
  CHECK(output.find(fmt::format("signal {}", signal_number)) != std::string::npos);
  CHECK(output.find("2 connection(s)") != std::string::npos);
  CHECK(output.find(fmt::format("of the {} thread(s)", threads)) != std::string::npos);
}

// The program's stdout reader goes away (`| head -n 1`): it still serves three clients and exits 0.
inline void check_serves_after_stdout_reader_gone(const std::string& binary, const std::vector<std::string>& args) {
  net_test::Child server(binary, args);
  const unsigned short port = server.listening_port();
  REQUIRE(port != 0);
  server.close_output();  // as `tcp_echo_server | head -n 1` does: the next log line meets EPIPE
  for (int i = 0; i < 3; ++i) {
    INFO("client " << i);
    Connection c(port);
    const std::string line = fmt::format("client {}\n", i);
    REQUIRE(c.send(line));
    CHECK(c.read_exactly(line.size(), Millis(2000)) == line);  // killed by SIGPIPE, it would echo nothing
  }
  server.signal(SIGINT);
  const auto status = server.wait(Millis(5000));
  REQUIRE(status);
  INFO("killed by signal " << (WIFSIGNALED(*status) ? WTERMSIG(*status) : 0));
  CHECK(WIFEXITED(*status));
  CHECK(WEXITSTATUS(*status) == 0);
}

}  // namespace echo_checks
