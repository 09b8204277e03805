// A plain blocking TCP client for the networking exercise tests (POSIX sockets, independent of the
// learner's Asio code), and a plain silent or answering server. Every wait has a time limit, so a
// broken exercise makes a test fail, never hang.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <string>

namespace exercise_test {

// A TCP socket connected to 127.0.0.1:port, closed by the destructor.
class Connection {
 public:
  // Takes over an already connected socket (one a Listener accepted).
  explicit Connection(int connected_fd) : fd_(connected_fd) {}
  explicit Connection(unsigned short port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    if (fd_ < 0) throw std::runtime_error("socket failed");
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0)
      throw std::runtime_error("cannot connect to the server");
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() { ::close(fd_); }

  void send(const std::string& bytes) const {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
      const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) throw std::runtime_error("send failed");
      sent += static_cast<std::size_t>(n);
    }
  }

  // Reads until `want` bytes have arrived, the server closes (sets closed()), or `limit` passes.
  std::string receive(std::size_t want, std::chrono::milliseconds limit) {
    std::string received;
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (received.size() < want && !closed_) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd readable{fd_, POLLIN, 0};
      if (::poll(&readable, 1, static_cast<int>(left.count())) <= 0) continue;
      char data[4096];
      const ssize_t n = ::recv(fd_, data, sizeof data, 0);
      if (n <= 0) {
        closed_ = true;
      } else {
        received.append(data, static_cast<std::size_t>(n));
      }
    }
    return received;
  }

  // Whether the server has closed the connection, waiting at most `limit` for it.
  bool closed_within(std::chrono::milliseconds limit) {
    receive(static_cast<std::size_t>(-1), limit);
    return closed_;
  }

 private:
  int fd_;
  bool closed_ = false;
};

// A listening TCP socket on 127.0.0.1, any free port. Connections wait in its backlog (the kernel
// completes them) until accept_within() takes one; a server that never accepts is a silent server.
class Listener {
 public:
  Listener() : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = 0;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(fd_, 16) != 0 || ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0)
      throw std::runtime_error("cannot listen on 127.0.0.1");
    port_ = ntohs(address.sin_port);
  }
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
  ~Listener() { ::close(fd_); }
  unsigned short port() const { return port_; }

  // The socket of the next connection, or -1 if none arrives within `limit`.
  int accept_within(std::chrono::milliseconds limit) const {
    pollfd readable{fd_, POLLIN, 0};
    if (::poll(&readable, 1, static_cast<int>(limit.count())) <= 0) return -1;
    return ::accept(fd_, nullptr, nullptr);
  }

 private:
  int fd_;
  unsigned short port_ = 0;
};

}  // namespace exercise_test
