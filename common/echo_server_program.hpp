// echo_server_program.hpp: what the programs of networking/tcp_echo_server and
// networking/tcp_server_in_production do once their flags are read: bind the server (or say in one
// sentence why not), serve until Ctrl-C on the server's threads, then print a summary. Included by
// tcp_echo_server.cpp after its server, whose serve_until_signal() (section 8) it calls.
//
//   run_echo_program<Server>(...)   the program: LogWriter, io_context, server, serve, summary.
//   report_open_errors(name, f)     runs f (which binds), turning its exceptions into one sentence.
//   run_on_threads(io, n)           io.run() on this thread and n - 1 more.
#pragma once

#include <fmt/format.h>
#include <asio.hpp>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <exception>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <unistd.h>

#include "log_text.hpp"
#include "log_writer.hpp"
#include "playground.hpp"

namespace echo_server {

// Runs the io_context on `threads` threads: this one and threads - 1 more (tcp_server_in_production,
// section 2, explains what that asks of the server). With one thread, it is plain io.run().
inline void run_on_threads(asio::io_context& io, int threads) {
  std::vector<std::thread> helpers;
  for (int i = 1; i < threads; ++i) helpers.emplace_back([&io] { io.run(); });
  io.run();  // this thread is one of the N
  for (auto& helper : helpers) helper.join();
}

// What both programs do once their flags are read and the server is built: serve until Ctrl-C (or
// SIGTERM) on server.threads() threads, then print the summary, and return the exit status. `say`
// writes a line that is never dropped (unlike the log line of each event).
template <class Server>
int serve_until_ctrl_c(asio::io_context& io, Server& server, LogWriter& output) {
  const auto say = [&output](std::string text) { output.write(std::move(text), /*may_drop=*/false); };
  asio::signal_set signals(io, SIGINT, SIGTERM);
  int exit_code = 0;
  asio::co_spawn(server.executor(), serve_until_signal(server, signals), [&](std::exception_ptr failure) {
    if (!failure) return;
    // Not rethrown: leaving run() with sessions alive would destroy their frames after the server.
    // We say what happened, close everything, and let run() finish normally.
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& e) {
      fmt::print(stderr, "{}\n", e.what());
    }
    exit_code = 1;   // read after every thread has finished
    server.close();  // this handler runs on server.executor(), as close() must
  });
  pg::Stopwatch uptime;
  run_on_threads(io, server.threads());

  const auto& stats = server.stats();
  say(fmt::format("\n== Summary {}", std::string(61, '=')));
  say(
      fmt::format("up {:.1f} s; {} connection(s), at most {} open at once, {} refused; sessions started on "
                  "{} of the {} thread(s)",
                  uptime.elapsed_ms() / 1000.0, stats.accepted.load(), stats.peak_open.load(), stats.refused.load(),
                  stats.serving_threads.load(), server.threads()));
  say(fmt::format(
      "echoed {} line(s), {} byte(s); closed {} for over-long lines, {} for the idle timeout, {} "
      "reset by the client",
      stats.lines.load(), stats.bytes.load(), stats.too_long.load(), stats.idle.load(), stats.resets.load()));
  return exit_code;
}

// Runs `open` (which binds a server), turning its exceptions into one sentence on stderr and an exit
// status: 2 for an address that does not resolve (bad input), 1 for anything else (a port in use).
template <class Open>
int report_open_errors(std::string_view program, Open open) {
  try {
    open();
    return 0;
  } catch (const std::invalid_argument& e) {
    fmt::print(stderr, "{}: {}\n", program, e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "{}: {}\n", program, e.what());
    return 1;
  }
}

// The program once its flags are read: bind a Server made from `config` (or say why not, and return
// 2 or 1), call `before_listening` (tcp_server_in_production reports its open-file limit there),
// print where it listens with `settings`, serve until Ctrl-C, then print the summary and `takeaway`.
template <class Server, class Config>
int run_echo_program(
    std::string_view program, Config config, bool quiet, const std::string& settings, std::string_view takeaway,
    const std::function<void()>& before_listening = [] {}) {
  // Once "listening on" is printed, everything goes through the LogWriter, so a stdout that nobody
  // reads can never stop the server. It is declared first, so it is destroyed last.
  LogWriter output(STDOUT_FILENO);
  if (!quiet) config.log = [&output](const std::string& line) { output.write(line); };
  // The io_context is declared before the server: objects are destroyed in reverse order, so the
  // server (and its acceptor) goes first, while the io_context it belongs to is still alive.
  asio::io_context io;
  std::optional<Server> server;
  if (int status = report_open_errors(program, [&] { server.emplace(io.get_executor(), config); })) return status;
  before_listening();
  fmt::print("listening on {}\n", endpoint_text(server->local_endpoint()));
  fmt::print("try it: nc {} {}   ({}{}; Ctrl-C stops)\n", server->local_endpoint().address().to_string(),
             server->port(), settings, quiet ? ", quiet" : "");
  std::fflush(stdout);  // stdout may be a pipe: whoever waits for "listening on" must see it now
  // From here on, nothing writes to stdout but the LogWriter.
  const int exit_code = serve_until_ctrl_c(io, *server, output);
  output.write(std::string(takeaway), /*may_drop=*/false);
  output.close(std::chrono::milliseconds(300));  // a stdout nobody reads gets 300 ms, then loses the rest
  return exit_code;
}

}  // namespace echo_server
