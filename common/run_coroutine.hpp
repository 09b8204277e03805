// run_coroutine.hpp: asyncio.run(main()) in one call, for the lessons that run one coroutine at a
// time. basics/event_loop_and_tasks.cpp (section 1) takes it apart into its three steps: make the loop
// (an io_context), hand it the task (co_spawn), run it (run() returns when no work is left).
#pragma once

#include <asio.hpp>

#include <exception>
#include <optional>
#include <utility>

// A fresh io_context runs `main_task` to its end; its result is returned and its exception is
// rethrown here, in the caller. The completion handler (the last argument of co_spawn) is what
// carries them out of the loop: it receives the coroutine's exception, or null and its result.
template <class T>
T run_coroutine(asio::awaitable<T> main_task) {
  asio::io_context io;
  std::optional<T> result;
  std::exception_ptr error;
  co_spawn(io, std::move(main_task), [&](std::exception_ptr e, T value) {
    error = e;
    if (!e) result = std::move(value);
  });
  io.run();
  if (error) std::rethrow_exception(error);
  return std::move(*result);
}

inline void run_coroutine(asio::awaitable<void> main_task) {
  asio::io_context io;
  std::exception_ptr error;
  co_spawn(io, std::move(main_task), [&](std::exception_ptr e) { error = e; });
  io.run();
  if (error) std::rethrow_exception(error);
}
