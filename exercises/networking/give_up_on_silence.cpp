// EXERCISE give_up_on_silence: a client must give up on a server that never answers.
//
// Follows networking/tcp_echo_client.cpp (every network wait raced against a timeout) and
// basics/cancellation_and_timeouts.cpp (with_timeout: an operation || a timer).
//
// ask() connects to a server, sends one line and returns the server's one-line answer. As shipped,
// it waits for the answer as long as it takes. A server that accepts the connection and then says
// nothing (overloaded, stuck, or a firewall that swallows packets) makes ask() wait for ever.
//
// Your goal: ask() returns the answer (without its '\n') when it arrives within `patience`, as soon
// as it arrives; when it does not, ask() returns std::nullopt after about `patience`, and the
// connection is closed, nothing left waiting on it. A server that hangs up without answering is not
// silent: ask() says so at once, with an exception (as shipped, the read already throws "End of
// file"); it must not wait out the patience and return std::nullopt as if the server were silent.
//
// clang-format off
// Check:  cmake --build build/exercises --target test_give_up_on_silence && build/exercises/exercises/test_give_up_on_silence
// Run:    nc -l 8888   (a server that says nothing), then, in another terminal:
//         build/exercises/exercises/give_up_on_silence --port 8888
//
// Hint 1: Python would write `await asyncio.wait_for(reader.readline(), patience)`. Asio 1.22 has no
//         wait_for: you race the read against a timer, and whichever finishes first wins.
// Hint 2: Asio's awaitable operators: `co_await (a || b)` runs both and resumes when the first one
//         finishes, cancelling the other; the result is a std::variant whose index() says which
//         won (asio/experimental/awaitable_operators.hpp). But `||` ends on the first *success*: a
//         read that throws (the server hung up) does not end it, and the timer decides. So ask for
//         the error as a value: with as_tuple(asio::use_awaitable) an operation returns a tuple
//         (error_code, result) instead of throwing (networking/tcp_echo_client.cpp shows it). In Asio
//         1.22 it is asio::experimental::as_tuple (asio/experimental/as_tuple.hpp); from 1.28 on, asio::as_tuple.
// Hint 3: make an asio::steady_timer timer(executor, patience), then
//           auto winner = co_await (asio::async_read_until(socket, asio::dynamic_buffer(answer), '\n',
//                                                          asio::experimental::as_tuple(asio::use_awaitable))
//                                   || timer.async_wait(asio::use_awaitable));
//         Return std::nullopt when winner.index() == 1; otherwise auto [error, length] = std::get<0>(winner),
//         and throw when `error` is set (asio::error::eof: the server closed the connection).
// clang-format on

#include <fmt/format.h>
#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>
#include <asio/co_spawn.hpp>
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

#include "playground.hpp"

asio::awaitable<std::optional<std::string>> ask(asio::ip::tcp::endpoint server, std::string question,
                                                [[maybe_unused]] std::chrono::milliseconds patience) {
  asio::ip::tcp::socket socket(co_await asio::this_coro::executor);
  co_await socket.async_connect(server, asio::use_awaitable);
  question += '\n';
  co_await asio::async_write(socket, asio::buffer(question), asio::use_awaitable);

  std::string answer;
  const std::size_t n =
      co_await asio::async_read_until(socket, asio::dynamic_buffer(answer), '\n', asio::use_awaitable);
  answer.resize(n - 1);  // the first line, without its '\n'
  co_return answer;
}  // the socket closes here, when its coroutine frame ends

#ifndef PLAYGROUND_NO_MAIN  // the test includes this file and brings its own main
int main(int argc, char** argv) {
  int port = 8888;
  int patience_ms = 1000;
  std::string question = "hello";
  pg::Flags flags("give_up_on_silence", "Exercise: ask a server one line; give up if it stays silent.");
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
