// EXERCISE split_lines: a line server must handle lines split across reads, and bound their length.
//
// Follows networking/tcp_echo_server.cpp, section 4 (one connection: read a line, echo it).
//
// number_lines() serves one connection of a line-numbering server: each line the client sends
// ("hello\n") comes back numbered ("1: hello\n"). A line is at most max_line_length bytes before its
// '\n'; for a longer one the server answers "error: line too long\n" and closes the connection.
// As shipped, it treats whatever one read returns as one line. TCP is a stream of bytes, not of
// messages: "hello\n" may arrive as "hel" then "lo\n", and two lines may arrive in one read. Then the
// numbering and the lines come out wrong. And nothing enforces the length limit.
//
// Your goal: every complete line is answered exactly once, numbered in order, however the bytes
// were split; a line of up to max_line_length bytes is accepted; a longer one gets the error line
// and the connection is closed, without the server buffering more than about that much.
//
// clang-format off
// Check:  cmake --build build/exercises --target test_split_lines && build/exercises/exercises/test_split_lines
// Run:    build/exercises/exercises/split_lines --port 8888   and, in another terminal:
//         (printf 'hel'; sleep 1; printf 'lo\nworld\n') | nc -N localhost 8888
//
// Hint 1: keep the bytes that came after the last '\n' for the next line: a buffer that outlives one
//         read, from which each complete line is taken out when its '\n' has arrived.
// Hint 2: asio::async_read_until(socket, asio::dynamic_buffer(buffer), '\n', ...) reads until the
//         buffer holds a '\n' and returns the length of the first line (the '\n' included); the
//         bytes after it stay in the buffer. Erase the line from the buffer when you are done with it.
// Hint 3: asio::dynamic_buffer(buffer, max_line_length + 1) never grows past that size: a longer line
//         ends the read with the error asio::error::not_found (a std::system_error when thrown).
// clang-format on

#include <fmt/format.h>
#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read_until.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <cstddef>
#include <exception>
#include <string>
#include <system_error>

#include "playground.hpp"

constexpr std::size_t max_line_length = 64;  // bytes before the '\n'

asio::awaitable<void> number_lines(asio::ip::tcp::socket socket) {
  int number = 0;
  char data[1024];
  try {
    for (;;) {
      const std::size_t n = co_await socket.async_read_some(asio::buffer(data), asio::use_awaitable);
      std::string line(data, n);  // whatever this read returned, taken as one line
      if (!line.empty() && line.back() == '\n') line.pop_back();
      const std::string reply = fmt::format("{}: {}\n", ++number, line);
      co_await asio::async_write(socket, asio::buffer(reply), asio::use_awaitable);
    }
  } catch (const std::system_error&) {
    // The client closed the connection (asio::error::eof) or it failed: this session is over.
  }
}

// Accepts connections for ever and serves each one in its own coroutine.
asio::awaitable<void> listen(asio::ip::tcp::acceptor& acceptor) {
  for (;;) {
    asio::ip::tcp::socket socket = co_await acceptor.async_accept(asio::use_awaitable);
    asio::co_spawn(acceptor.get_executor(), number_lines(std::move(socket)), asio::detached);
  }
}

#ifndef PLAYGROUND_NO_MAIN  // the test includes this file and brings its own main
int main(int argc, char** argv) {
  int port = 8888;
  pg::Flags flags("split_lines", "Exercise: a line-numbering server; make it handle split lines.");
  flags.add("--port", port, "TCP port to listen on (0: any free port)", 0, 65535);
  if (auto status = flags.parse(argc, argv)) return *status;
  try {
    asio::io_context io;
    asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)});
    fmt::print("numbering lines of up to {} bytes on 127.0.0.1:{} (Ctrl-C to stop)\n", max_line_length,
               acceptor.local_endpoint().port());
    std::fflush(stdout);
    asio::co_spawn(io, listen(acceptor), [](std::exception_ptr error) {
      if (error) std::rethrow_exception(error);
    });
    io.run();
  } catch (const std::exception& error) {
    fmt::print(stderr, "split_lines: {}\n", error.what());
    return 1;
  }
  return 0;
}
#endif
