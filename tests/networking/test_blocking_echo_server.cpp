// Checks the claims of networking/blocking_echo_server.cpp: byte-exact echo for concurrent clients, the
// line limit, the idle timeout, the connection cap, and a clean, quick shutdown (in process through
// stop(), and as a program on SIGINT/SIGTERM). Only loopback addresses, port 0, and every read has a timeout.
#include "networking/blocking_echo_server.cpp"

#include "catch.hpp"
#include "support.hpp"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>

#include <memory>
#include <random>

namespace {

using namespace std::chrono_literals;

// A server on 127.0.0.1 and a free port, serving on its own thread, stopped and joined at scope exit.
// Its log lines are collected for the tests to read.
class TestServer {
 public:
  explicit TestServer(BlockingEchoConfig config = {}) {
    config.address = "127.0.0.1";
    config.port = 0;
    server_ = std::make_unique<BlockingEchoServer>(config, [this](const std::string& line) {
      std::lock_guard lock(mutex_);
      log_.push_back(line);
    });
    error_ = server_->open();
    if (error_.empty()) thread_ = std::thread([this] { healthy_ = server_->serve(); });
  }
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;
  ~TestServer() { stop(); }

  // Stop, join, and report how long that took.
  std::chrono::milliseconds stop() {
    pg::Stopwatch clock;
    server_->stop();
    if (thread_.joinable()) thread_.join();
    server_->finish();
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock.elapsed());
  }

  [[nodiscard]] const std::string& error() const { return error_; }
  [[nodiscard]] int port() const { return server_->port(); }
  [[nodiscard]] bool healthy() const { return healthy_; }
  BlockingEchoServer& server() { return *server_; }

  // True once a log line containing `text` has appeared (waits up to `limit`).
  bool wait_for_log(const std::string& text, std::chrono::milliseconds limit = 3s) {
    pg::Stopwatch clock;
    while (clock.elapsed() < limit) {
      {
        std::lock_guard lock(mutex_);
        for (const auto& line : log_)
          if (line.find(text) != std::string::npos) return true;
      }
      std::this_thread::sleep_for(5ms);
    }
    return false;
  }

 private:
  std::unique_ptr<BlockingEchoServer> server_;
  std::string error_;
  std::thread thread_;
  bool healthy_ = false;
  std::mutex mutex_;
  std::vector<std::string> log_;
};

// A blocking client socket on 127.0.0.1 whose every read times out after `timeout`.
class TestClient {
 public:
  TestClient(int port, std::chrono::milliseconds timeout = 5s) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>(timeout.count() % 1000) * 1000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  TestClient(const TestClient&) = delete;
  TestClient& operator=(const TestClient&) = delete;
  ~TestClient() { ::close(fd_); }

  [[nodiscard]] bool connected() const { return connected_; }
  bool send(std::string_view data) { return send_all(fd_, data.data(), data.size()); }
  void shutdown_write() { ::shutdown(fd_, SHUT_WR); }

  // Read until `size` bytes have arrived, the server closes, or a read times out.
  std::string read(std::size_t size) {
    std::string got;
    char buffer[4096];
    while (got.size() < size) {
      const ssize_t n = ::recv(fd_, buffer, std::min(sizeof buffer, size - got.size()), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got.append(buffer, static_cast<std::size_t>(n));
    }
    return got;
  }

  // What ended the stream: "closed" (EOF or reset by the server), "timeout", or "data" if bytes came instead.
  std::string wait_for_close() {
    char byte = 0;
    for (;;) {
      const ssize_t n = ::recv(fd_, &byte, 1, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n == 0 || (n < 0 && errno == ECONNRESET)) return "closed";
      if (n < 0) return "timeout";
      return "data";
    }
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

// Lines with every byte value but '\n', some ending in "\r\n", of varied lengths.
std::string make_lines(unsigned seed, int count, std::size_t max_length) {
  std::mt19937 random(seed);
  std::string text;
  for (int i = 0; i < count; ++i) {
    const std::size_t length = random() % max_length;
    for (std::size_t j = 0; j < length; ++j) {
      char c = static_cast<char>(random() % 256);
      text += c == '\n' ? 'x' : c;
    }
    text += i % 3 == 0 ? "\r\n" : "\n";
  }
  return text;
}

// A lesson binary running as a child process, its stdout and stderr in one pipe.
struct Child {
  pid_t pid = -1;
  int out = -1;
  std::string output;

  explicit Child(const std::vector<std::string>& args) {
    int pipe_fds[2];
    REQUIRE(::pipe2(pipe_fds, O_CLOEXEC) == 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 2);
    std::vector<std::string> storage{LESSON_BINARY};
    storage.insert(storage.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& s : storage) argv.push_back(s.data());
    argv.push_back(nullptr);
    const int rc = ::posix_spawn(&pid, LESSON_BINARY, &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(pipe_fds[1]);
    out = pipe_fds[0];
    REQUIRE(rc == 0);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    ::close(out);
  }

  // Read output until it contains `text` or `limit` passes.
  bool read_until(const std::string& text, std::chrono::milliseconds limit = 5s) {
    pg::Stopwatch clock;
    while (output.find(text) == std::string::npos && clock.elapsed() < limit) {
      pollfd p{out, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      char buffer[4096];
      const ssize_t n = ::read(out, buffer, sizeof buffer);
      if (n <= 0) break;
      output.append(buffer, static_cast<std::size_t>(n));
    }
    return output.find(text) != std::string::npos;
  }

  // The port from the "listening on ADDRESS:PORT" line, or 0.
  int port() {
    if (!read_until("\n")) return 0;
    const auto line = output.substr(0, output.find('\n'));
    if (line.rfind("listening on 127.0.0.1:", 0) != 0) return 0;
    return std::atoi(line.c_str() + line.rfind(':') + 1);
  }

  // Read the rest of the output once the child has exited (the pipe is then at end of file).
  void drain() {
    pg::Stopwatch clock;
    while (clock.elapsed() < 2s) {
      pollfd p{out, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      char buffer[4096];
      const ssize_t n = ::read(out, buffer, sizeof buffer);
      if (n <= 0) return;
      output.append(buffer, static_cast<std::size_t>(n));
    }
  }

  // Wait up to `limit` for the child to exit; returns its wait status, or -1 if it is still running.
  int wait(std::chrono::milliseconds limit) {
    pg::Stopwatch clock;
    int status = 0;
    while (clock.elapsed() < limit) {
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        pid = -1;
        drain();
        return status;
      }
      std::this_thread::sleep_for(2ms);
    }
    return -1;
  }
};

}  // namespace

TEST_CASE("concurrent clients each get every line back byte for byte", "[networking]") {
  TestServer server;
  REQUIRE(server.error().empty());
  constexpr int clients = 16;
  std::vector<std::string> sent(clients);
  std::vector<std::string> received(clients);
  std::vector<int> connected(clients, 0);  // not vector<bool>: its bits share bytes across threads
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) {
    sent[static_cast<std::size_t>(i)] = make_lines(static_cast<unsigned>(i), 200, 300);
    threads.emplace_back([&, i] {
      const auto k = static_cast<std::size_t>(i);
      TestClient client(server.port());
      connected[k] = client.connected() ? 1 : 0;
      // Send in odd-sized pieces so that lines are split across writes (and reads) at random places.
      const std::string& text = sent[k];
      for (std::size_t at = 0; at < text.size(); at += 997) client.send(std::string_view(text).substr(at, 997));
      received[k] = client.read(text.size());
    });
  }
  for (auto& t : threads) t.join();
  for (std::size_t i = 0; i < clients; ++i) {
    INFO("client " << i);
    CHECK(connected[i] == 1);
    CHECK(received[i].size() == sent[i].size());
    CHECK(received[i] == sent[i]);  // "\r\n", '\0' and bytes >= 0x80 included
  }
  CHECK(server.server().connections_served() == clients);
  CHECK(server.stop() < 1s);
  CHECK(server.server().lines_echoed() == clients * 200);
}

TEST_CASE("a last line without a newline is echoed when the client ends its input", "[networking]") {
  TestServer server;
  REQUIRE(server.error().empty());
  TestClient client(server.port());
  REQUIRE(client.connected());
  client.send("one\r\ntwo\nno newline");
  client.shutdown_write();
  CHECK(client.read(100) == "one\r\ntwo\nno newline");  // read() stops at the server's close
  CHECK(server.wait_for_log("client closed the connection; 3 lines echoed"));
}

TEST_CASE("a line longer than max_line closes only that connection, with a log line", "[networking]") {
  BlockingEchoConfig config;
  config.max_line = 100;
  TestServer server(config);
  REQUIRE(server.error().empty());
  TestClient good(server.port());
  REQUIRE(good.connected());

  // Exactly max_line bytes, '\n' included, is still a line.
  const std::string longest = std::string(99, 'a') + "\n";
  REQUIRE(good.send(longest));
  CHECK(good.read(longest.size()) == longest);

  // One byte more, with no '\n' yet: the connection is closed without waiting for the rest.
  TestClient bad(server.port());
  REQUIRE(bad.send("ok\n" + std::string(101, 'b')));
  CHECK(bad.read(3) == "ok\n");  // the complete line before it still came back
  CHECK(bad.wait_for_close() == "closed");
  CHECK(server.wait_for_log("line longer than 100 bytes, closed"));

  // A too-long line that arrives complete, in one piece, is refused too.
  TestClient bad2(server.port());
  REQUIRE(bad2.send(std::string(150, 'c') + "\n"));
  CHECK(bad2.wait_for_close() == "closed");

  // The other client is still served.
  REQUIRE(good.send("still here\r\n"));
  CHECK(good.read(12) == "still here\r\n");
}

TEST_CASE("a client silent for longer than the idle timeout is disconnected", "[networking]") {
  BlockingEchoConfig config;
  config.idle_timeout_ms = 100;
  TestServer server(config);
  REQUIRE(server.error().empty());
  TestClient client(server.port());
  // The server's timeout starts when it waits again after echoing "hi", so after `clock` starts here.
  pg::Stopwatch clock;
  REQUIRE(client.send("hi\n"));
  CHECK(client.read(3) == "hi\n");
  CHECK(client.wait_for_close() == "closed");
  CHECK(clock.elapsed() >= 90ms);  // 100 ms, less a little for the kernel's timer granularity
  CHECK(clock.elapsed() < 3s);
  CHECK(server.wait_for_log("idle for 100 ms, closed"));
}

TEST_CASE("max_connections caps the threads: a client over the cap is closed at once", "[networking]") {
  BlockingEchoConfig config;
  config.max_connections = 2;
  TestServer server(config);
  REQUIRE(server.error().empty());
  TestClient a(server.port());
  TestClient b(server.port());
  REQUIRE(a.send("a\n"));
  REQUIRE(b.send("b\n"));
  CHECK(a.read(2) == "a\n");  // both are being served before the third one connects
  CHECK(b.read(2) == "b\n");
  TestClient c(server.port());
  CHECK(c.wait_for_close() == "closed");
  CHECK(server.wait_for_log("refused, already 2 open"));
  CHECK(server.server().open_connections() == 2);
}

TEST_CASE("stop() ends the accept loop and every connection within a second", "[networking]") {
  TestServer server;
  REQUIRE(server.error().empty());
  std::vector<std::unique_ptr<TestClient>> clients;
  for (int i = 0; i < 8; ++i) {
    clients.push_back(std::make_unique<TestClient>(server.port()));
    REQUIRE(clients.back()->send("x\n"));
    CHECK(clients.back()->read(2) == "x\n");  // each one has a thread blocked in recv() now
  }
  CHECK(server.server().open_connections() == 8);
  CHECK(server.stop() < 1s);
  CHECK(server.healthy());  // serve() returned because of stop(), not an error
  for (auto& c : clients) CHECK(c->wait_for_close() == "closed");
  CHECK(server.server().open_connections() == 0);
}

TEST_CASE("the program prints its port, echoes, and exits 0 within a second of SIGINT or SIGTERM", "[networking]") {
  for (int signal_number : {SIGINT, SIGTERM}) {
    INFO("signal " << signal_number);
    Child child({"--port", "0"});
    const int port = child.port();
    INFO("output: " << child.output);
    REQUIRE(port > 0);
    TestClient client(port);
    REQUIRE(client.send("ping\r\n"));
    CHECK(client.read(6) == "ping\r\n");

    pg::Stopwatch clock;
    REQUIRE(::kill(child.pid, signal_number) == 0);
    const int status = child.wait(5s);
    const auto took = clock.elapsed();
    REQUIRE(status != -1);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    CHECK(took < 1s);
    CHECK(client.wait_for_close() == "closed");  // its connection was closed, not abandoned
    CHECK(child.output.find("stopped: 1 connection served, 1 lines echoed") != std::string::npos);
  }
}

TEST_CASE("a port in use or a bad address: a one-line message and a non-zero exit", "[networking]") {
  TestServer server;  // holds a port
  REQUIRE(server.error().empty());
  const auto port = std::to_string(server.port());
  auto in_use = test_support::run_program(LESSON_BINARY, {"--port", port}, 10s);
  CHECK(in_use.exit_code == 1);
  CHECK(in_use.err == "blocking_echo_server: cannot listen on 127.0.0.1:" + port + ": Address already in use\n");
  CHECK(in_use.out.empty());

  auto bad_address = test_support::run_program(LESSON_BINARY, {"--address", "not-an-address", "--port", "0"}, 10s);
  CHECK(bad_address.exit_code == 1);
  CHECK(bad_address.err.rfind("blocking_echo_server: bad address 'not-an-address'", 0) == 0);
  CHECK(std::count(bad_address.err.begin(), bad_address.err.end(), '\n') == 1);

  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--port", "70000"}, std::vector<std::string>{"--max-line", "0"},
        std::vector<std::string>{"--bogus"}}) {
    auto r = test_support::run_program(LESSON_BINARY, args, 10s);
    INFO("args: " << args[0]);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("usage: blocking_echo_server") != std::string::npos);
  }
}
