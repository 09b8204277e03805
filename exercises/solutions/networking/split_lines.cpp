// SOLUTION split_lines (the exercise is exercises/networking/split_lines.cpp).
//
// Why it works: `buffer` lives as long as the connection, not one read. async_read_until appends to
// it until it holds a '\n' and returns the length of the first line; the bytes after that line (the
// start of the next one, or whole further lines) stay in the buffer, and the next async_read_until
// finds them there before reading anything. So the framing no longer depends on how TCP split the
// bytes. dynamic_buffer(buffer, max_line_length + 1) caps the buffer: when it is full and still holds
// no '\n', the read fails with asio::error::not_found, and we answer with the error line and close.
// A line of exactly max_line_length bytes plus its '\n' fits.
//
// A tempting wrong fix the test rejects: async_read_until with asio::dynamic_buffer(buffer) and no
// maximum. Split lines are right now, but a client that sends a long line without '\n' makes the
// server buffer without end: the test sends one and waits in vain for "error: line too long".

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
  std::string buffer;  // outlives each read: holds the start of the next line
  try {
    for (;;) {
      std::size_t n = 0;
      bool too_long = false;
      try {
        n = co_await asio::async_read_until(socket, asio::dynamic_buffer(buffer, max_line_length + 1), '\n',
                                            asio::use_awaitable);
      } catch (const std::system_error& error) {
        if (error.code() != asio::error::not_found) throw;
        too_long = true;  // no '\n' in max_line_length + 1 bytes (a catch block cannot co_await: act below)
      }
      if (too_long) {
        const std::string refusal = "error: line too long\n";
        co_await asio::async_write(socket, asio::buffer(refusal), asio::use_awaitable);
        co_return;  // the socket closes when this coroutine's frame ends
      }
      const std::string line = buffer.substr(0, n - 1);  // the line without its '\n'
      buffer.erase(0, n);                                // keep what came after it
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
  pg::Flags flags("split_lines", "Solution: a line-numbering server that handles split lines.");
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
