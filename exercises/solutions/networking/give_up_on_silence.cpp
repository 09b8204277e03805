// SOLUTION give_up_on_silence (the exercise is exercises/networking/give_up_on_silence.cpp).
//
// Why it works: `read || timer` starts both and resumes when the first one has finished; Asio then
// cancels the other and waits until it has completed too, so nothing is left pending. When the answer
// wins, the timer is cancelled and ask() returns at once; when the timer wins, the read is cancelled
// (it ends with operation_aborted) and ask() returns std::nullopt. Either way the socket is a local of
// this coroutine, so it closes when ask() returns: the server sees the connection end.
// (In Asio 1.22, `||` waits for the first *success*: a read that fails because the server closed the
// connection does not end the race, so the timer decides and ask() also returns std::nullopt.)
//
// A tempting wrong fix the test rejects: `co_await (read && timer)`, or sleeping for `patience` and
// then checking whether an answer came. A silent server is handled, but every answer now takes the
// whole patience, and the test sees an immediate answer arrive late. Another: setting SO_RCVTIMEO
// on the socket, which limits only blocking reads, not Asio's asynchronous ones: ask() still waits
// for ever, and the test's time limit stops it.

#include <fmt/format.h>
#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>
#include <asio/co_spawn.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read_until.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <chrono>
#include <exception>
#include <optional>
#include <string>
#include <variant>

#include "playground.hpp"

using namespace asio::experimental::awaitable_operators;  // && and || on awaitables

asio::awaitable<std::optional<std::string>> ask(asio::ip::tcp::endpoint server, std::string question,
                                                std::chrono::milliseconds patience) {
  asio::ip::tcp::socket socket(co_await asio::this_coro::executor);
  co_await socket.async_connect(server, asio::use_awaitable);
  question += '\n';
  co_await asio::async_write(socket, asio::buffer(question), asio::use_awaitable);

  std::string answer;
  asio::steady_timer timer(co_await asio::this_coro::executor, patience);
  const auto winner =
      co_await (asio::async_read_until(socket, asio::dynamic_buffer(answer), '\n', asio::use_awaitable) ||
                timer.async_wait(asio::use_awaitable));
  if (winner.index() == 1) co_return std::nullopt;  // the timer won: no answer in time
  answer.resize(std::get<0>(winner) - 1);           // the first line, without its '\n'
  co_return answer;
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
