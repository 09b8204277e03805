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
// Why as_tuple instead of try/catch: a failed read is an outcome to act on (not_found: answer with
// the error line; end of file: the client is done), and C++ forbids `co_await` inside a catch block,
// so code that catches must set a flag and act after the block. With as_tuple(asio::use_awaitable)
// every operation hands back its error_code as a value, and each case is one `if` right where it
// happens (networking/tcp_echo_client.cpp does the same). It also makes `detached` safe below:
// number_lines() throws nothing, so `detached` has no exception to swallow.
//
// What this server leaves open, on purpose: it has no deadline. A client that stays silent, or stops
// reading its answers, keeps its coroutine (about a kilobyte) and its socket for ever. The exercise is
// about framing; networking/tcp_echo_server.cpp shows the per-line deadline a real server needs (a
// read or write raced against a timer), and a cap on connections.
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
#include <asio/version.hpp>
#include <asio/write.hpp>
// as_tuple is asio::experimental::as_tuple in Asio 1.22 and asio::as_tuple from 1.28 on (1.38 removed
// the experimental header): use the form this Asio offers, as networking/tcp_echo_client.cpp does.
#if ASIO_VERSION >= 102800
#include <asio/as_tuple.hpp>
using asio::as_tuple;
#else
#include <asio/experimental/as_tuple.hpp>
using asio::experimental::as_tuple;
#endif

#include <cstddef>
#include <exception>
#include <string>

#include "playground.hpp"

constexpr std::size_t max_line_length = 64;  // bytes before the '\n'

// `co_await op(..., nothrow)` gives a tuple (error_code, result...) instead of throwing.
constexpr auto nothrow = as_tuple(asio::use_awaitable);

asio::awaitable<void> number_lines(asio::ip::tcp::socket socket) {
  int number = 0;
  std::string buffer;  // outlives each read: holds the start of the next line
  for (;;) {
    auto [read_error, n] =
        co_await asio::async_read_until(socket, asio::dynamic_buffer(buffer, max_line_length + 1), '\n', nothrow);
    if (read_error == asio::error::not_found) {  // no '\n' in max_line_length + 1 bytes
      const std::string refusal = "error: line too long\n";
      co_await asio::async_write(socket, asio::buffer(refusal), nothrow);
      co_return;  // the socket closes when this coroutine's frame ends
    }
    if (read_error) co_return;  // the client closed the connection (asio::error::eof) or it failed
    const std::string line = buffer.substr(0, n - 1);  // the line without its '\n'
    buffer.erase(0, n);                                // keep what came after it
    const std::string reply = fmt::format("{}: {}\n", ++number, line);
    if (auto [write_error, written] = co_await asio::async_write(socket, asio::buffer(reply), nothrow); write_error)
      co_return;  // the client is gone
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
