// SOLUTION give_up_on_silence (the exercise is exercises/networking/give_up_on_silence.cpp).
//
// Why it works: `conversation || timer` starts both and resumes when the first one has finished; Asio
// then cancels the other and waits until it has completed too, so nothing is left pending. When the
// answer wins, the timer is cancelled and ask() returns at once; when the timer wins, the pending
// connect, write or read is cancelled (it ends with operation_aborted) and ask() returns std::nullopt.
// Either way the socket is a local of this coroutine, so it closes when ask() returns: the server
// sees the connection end.
//
// Why as_tuple: in Asio 1.22 (and every release to 1.38), `||` ends on the first side that
// *succeeds*. A read that throws, because the server hung up (end of file) or reset the connection,
// does not end the race: the timer decides, so a server that hangs up at once would cost the whole
// patience and be reported as silence. That is the trap networking/tcp_echo_client.cpp warns about.
// With as_tuple each operation hands back its error as a value instead of throwing, so a failure
// completes the conversation at once, and ask() reports it for what it is (an exception that says
// "the server closed the connection without answering"), not as a silence.
//
// Why the whole conversation races the timer, not only the read: connecting and sending wait for the
// network too (a firewall that swallows packets makes connect() wait about two minutes). One timer
// bounds every wait of ask().
//
// Tempting wrong fixes the test rejects: `co_await (read && timer)`, or sleeping for `patience` and
// then checking whether an answer came: a silent server is handled, but every answer now takes the
// whole patience. Setting SO_RCVTIMEO on the socket limits only blocking reads, not Asio's
// asynchronous ones: ask() still waits for ever. And `read || timer` with a read that throws (plain
// use_awaitable): a server that hangs up costs the whole patience and reads as silence.

#include <fmt/format.h>
#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>
#include <asio/co_spawn.hpp>
#include <asio/error.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read_until.hpp>
#include <asio/steady_timer.hpp>
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

#include <chrono>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <variant>

#include "playground.hpp"

using namespace asio::experimental::awaitable_operators;  // && and || on awaitables

// `co_await op(..., nothrow)` gives a tuple (error_code, result...) instead of throwing.
constexpr auto nothrow = as_tuple(asio::use_awaitable);

struct Exchange {
  asio::error_code error;  // what went wrong, or nothing
  std::string answer;      // the first line, without its '\n', when nothing went wrong
};

// Connect, send the question, read one line. Every failure comes back as a value, never as an
// exception, so that it ends the race in ask() at once.
asio::awaitable<Exchange> converse(asio::ip::tcp::socket& socket, asio::ip::tcp::endpoint server,
                                   std::string question) {
  if (auto [error] = co_await socket.async_connect(server, nothrow); error) co_return Exchange{error, {}};
  question += '\n';
  if (auto [error, sent] = co_await asio::async_write(socket, asio::buffer(question), nothrow); error)
    co_return Exchange{error, {}};
  Exchange result;
  auto [error, length] = co_await asio::async_read_until(socket, asio::dynamic_buffer(result.answer), '\n', nothrow);
  result.error = error;
  if (!error) result.answer.resize(length - 1);  // the first line, without its '\n'
  co_return result;
}

asio::awaitable<std::optional<std::string>> ask(asio::ip::tcp::endpoint server, std::string question,
                                                std::chrono::milliseconds patience) {
  asio::ip::tcp::socket socket(co_await asio::this_coro::executor);
  asio::steady_timer timer(co_await asio::this_coro::executor, patience);
  auto winner = co_await (converse(socket, server, std::move(question)) || timer.async_wait(asio::use_awaitable));
  if (winner.index() == 1) co_return std::nullopt;  // the timer won: no answer in time
  Exchange exchange = std::get<0>(std::move(winner));
  if (exchange.error == asio::error::eof)
    throw std::runtime_error("the server closed the connection without answering");
  if (exchange.error) throw std::system_error(exchange.error, "cannot ask the server");
  co_return std::move(exchange.answer);
}  // the socket closes here, when its coroutine frame ends

#ifndef PLAYGROUND_NO_MAIN  // the test includes this file and brings its own main
int main(int argc, char** argv) {
  int port = 8888;
  int patience_ms = 1000;
  std::string question = "hello";
  pg::Flags flags("give_up_on_silence", "Solution: ask a server one line; give up if it stays silent.");
  flags.add("--port", port, "the server's TCP port on 127.0.0.1", 1, 65535);
  flags.add("--patience-ms", patience_ms, "how long to wait for the answer, in milliseconds", 1, 600'000);
  flags.add("--question", question, "the line to send");
  if (auto status = flags.parse(argc, argv)) return *status;
  asio::io_context io;
  const asio::ip::tcp::endpoint server(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port));
  pg::Stopwatch clock;
  int exit_status = 0;
  asio::co_spawn(io, ask(server, question, std::chrono::milliseconds(patience_ms)),
                 [&](std::exception_ptr error, std::optional<std::string> answer) {
                   if (error) {
                     try {
                       std::rethrow_exception(error);
                     } catch (const std::exception& e) {
                       fmt::print(stderr, "give_up_on_silence: {}\n", e.what());
                     }
                     exit_status = 1;
                   } else if (answer) {
                     fmt::print("answer '{}' after {:.0f} ms\n", *answer, clock.elapsed_ms());
                   } else {
                     fmt::print("no answer within {} ms: gave up after {:.0f} ms\n", patience_ms, clock.elapsed_ms());
                     exit_status = 1;
                   }
                 });
  io.run();
  return exit_status;
}
#endif
