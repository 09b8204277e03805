// A blocking echo server (BlockingEchoServer or a class derived from it) on 127.0.0.1 and a free port,
// serving on its own thread, stopped and joined at scope exit; its log lines are collected for the tests
// to read. Shared by the tests of blocking_echo_server and blocking_server_limits; include it after the
// lesson's file.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "playground.hpp"

template <class Server>
class BlockingTestServer {
 public:
  explicit BlockingTestServer(BlockingEchoConfig config = {}) {
    config.address = "127.0.0.1";
    config.port = 0;
    server_ = std::make_unique<Server>(config, [this](const std::string& line) {
      std::lock_guard lock(mutex_);
      log_.push_back(line);
    });
    error_ = server_->open();
    if (error_.empty()) thread_ = std::thread([this] { healthy_ = server_->serve(); });
  }
  BlockingTestServer(const BlockingTestServer&) = delete;
  BlockingTestServer& operator=(const BlockingTestServer&) = delete;
  ~BlockingTestServer() { stop(); }

  // Stop, join, and report how long that took.
  std::chrono::milliseconds stop() {
    pg::Stopwatch clock;
    server_->stop();
    if (thread_.joinable()) thread_.join();
    server_->finish();
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock.elapsed());
  }

  [[nodiscard]] const std::string& error() const { return error_; }
  [[nodiscard]] unsigned short port() const { return static_cast<unsigned short>(server_->port()); }
  [[nodiscard]] bool healthy() const { return healthy_; }
  Server& server() { return *server_; }

  // True once a log line containing `text` has appeared (waits up to `limit`).
  bool wait_for_log(const std::string& text, std::chrono::milliseconds limit = std::chrono::seconds(3)) {
    pg::Stopwatch clock;
    while (clock.elapsed() < limit) {
      {
        std::lock_guard lock(mutex_);
        for (const auto& line : log_)
          if (line.find(text) != std::string::npos) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }

 private:
  std::unique_ptr<Server> server_;
  std::string error_;
  std::thread thread_;
  bool healthy_ = false;
  std::mutex mutex_;
  std::vector<std::string> log_;
};
