// The echo server of networking/tcp_echo_server.cpp on a background thread, as the tests run it (the
// server's own tests, tcp_server_in_production's and the client's). Include it after the lesson.
#pragma once

#include <exception>
#include <thread>
#include <utility>

namespace echo_server {

// The server on a background thread. The io_context runs on threads of its own (server.threads() of
// them), so the caller's thread is free to be a client. Only the port crosses threads at start (it is
// known before the threads start); stop() crosses with asio::post, which runs close() on the server's
// executor. `Server` is EchoServer, or tcp_server_in_production's ProductionServer.
template <class Server>
class ServerThread {
 public:
  template <class Config>
  explicit ServerThread(Config config) : server_(io_.get_executor(), std::move(config)) {
    asio::co_spawn(server_.executor(), server_.accept_loop(), [this](std::exception_ptr failure) {
      if (failure) {
        error_ = failure;  // read by error() after the threads are joined
        server_.close();
      }
    });
    thread_ = std::thread([this] { run_on_threads(io_, server_.threads()); });
  }
  ServerThread(const ServerThread&) = delete;
  ServerThread& operator=(const ServerThread&) = delete;
  ~ServerThread() { stop(); }

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
  Server server_;
  unsigned short port_ = server_.port();
  std::thread thread_;  // runs run_on_threads(), which starts the other threads and joins them
  std::exception_ptr error_;
};
using EchoServerThread = ServerThread<EchoServer>;

}  // namespace echo_server
