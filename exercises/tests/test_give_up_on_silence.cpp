// Test for the exercise give_up_on_silence: an answer that comes at once is returned at once; a
// server that accepts and says nothing costs about `patience`, then std::nullopt, with the
// connection closed and nothing left pending; a server that hangs up at once is reported at once, as
// an error, not as silence. The servers are plain POSIX sockets.
#include EXERCISE_SOURCE

#include <thread>

#include "catch.hpp"
#include "line_client.hpp"
#include "support.hpp"

namespace {

struct Outcome {
  bool finished = false;
  std::optional<std::string> answer;
  std::string error;     // what ask() threw, if it threw
  double took_ms = 0;    // from the start of ask() to its result
  double io_run_ms = 0;  // how long io.run_for() ran: past took_ms only if work was left pending
};

// Runs ask() on a fresh io_context for at most `limit`.
Outcome run_ask(unsigned short port, std::chrono::milliseconds patience, std::chrono::milliseconds limit) {
  Outcome outcome;
  asio::io_context io;
  const asio::ip::tcp::endpoint server(asio::ip::make_address("127.0.0.1"), port);
  pg::Stopwatch clock;
  asio::co_spawn(io, ask(server, "hello", patience), [&](std::exception_ptr error, std::optional<std::string> answer) {
    outcome.finished = true;
    outcome.took_ms = clock.elapsed_ms();
    if (error) {
      try {
        std::rethrow_exception(error);
      } catch (const std::exception& e) {
        outcome.error = e.what();
      }
    }
    outcome.answer = std::move(answer);
  });
  io.run_for(limit);  // returns early when no work is left
  outcome.io_run_ms = clock.elapsed_ms();
  return outcome;
}

}  // namespace

TEST_CASE("give_up_on_silence: an answer that comes at once is returned at once", "[exercise]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(10), "give_up_on_silence: the test did not finish");
  exercise_test::Listener listener;
  std::thread answering_server([&listener] {  // answers the first line in capitals, then waits for the close
    const int fd = listener.accept_within(std::chrono::seconds(5));
    if (fd < 0) return;
    exercise_test::Connection connection(fd);
    if (connection.receive(6, std::chrono::seconds(2)) == "hello\n") connection.send("HELLO\n");
    connection.closed_within(std::chrono::seconds(2));
  });
  const Outcome outcome = run_ask(listener.port(), std::chrono::milliseconds(1000), std::chrono::seconds(4));
  answering_server.join();
  REQUIRE(outcome.finished);
  INFO("ask() threw: " << outcome.error);
  REQUIRE(outcome.error.empty());
  CHECK(outcome.answer == std::optional<std::string>("HELLO"));
  if (outcome.took_ms > 500) {
    FAIL_CHECK("the answer came at once, but ask() returned after " << outcome.took_ms
                                                                    << " ms (patience 1000 ms): return as "
                                                                       "soon as the answer arrives");
  }
}

TEST_CASE("give_up_on_silence: a silent server costs about the patience, then nullopt", "[exercise]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(10), "give_up_on_silence: the test did not finish");
  exercise_test::Listener silent_server;  // accepts nothing, answers nothing
  const std::chrono::milliseconds patience(300);
  const Outcome outcome = run_ask(silent_server.port(), patience, std::chrono::seconds(3));
  if (!outcome.finished) {
    FAIL(
        "ask() was still waiting for the silent server after 3 s, with a patience of 300 ms: race the read "
        "against a timer (see the hints)");
  }
  INFO("ask() returned after " << outcome.took_ms << " ms");
  INFO("ask() threw: " << outcome.error);
  REQUIRE(outcome.error.empty());
  CHECK_FALSE(outcome.answer.has_value());
  CHECK(outcome.took_ms >= 250);  // it did wait for the patience...
  CHECK(outcome.took_ms < 1500);  // ...and not much longer
  if (outcome.io_run_ms > outcome.took_ms + 1000) {
    FAIL_CHECK("ask() returned, but the io_context still had work for "
               << outcome.io_run_ms - outcome.took_ms
               << " ms more: something ask() started (a read or a timer) was left pending; cancel the loser");
  }
  // The client's connection is in the listener's backlog: after "hello\n" it must have ended.
  const int accepted = silent_server.accept_within(std::chrono::seconds(1));
  REQUIRE(accepted >= 0);  // ask() did connect
  exercise_test::Connection connection(accepted);
  if (!connection.closed_within(std::chrono::seconds(1))) {
    FAIL_CHECK(
        "the connection to the silent server is still open after ask() gave up: close it (a socket "
        "that is a local of ask() closes when ask() returns)");
  }
}

TEST_CASE("give_up_on_silence: a server that hangs up at once is reported at once, not as silence", "[exercise]") {
  const test_support::Watchdog watchdog(std::chrono::seconds(10), "give_up_on_silence: the test did not finish");
  exercise_test::Listener listener;
  std::thread hanging_up_server([&listener] {  // takes the question, then closes without a word
    const int fd = listener.accept_within(std::chrono::seconds(5));
    if (fd < 0) return;
    exercise_test::Connection connection(fd);
    (void)connection.receive(6, std::chrono::seconds(2));
  });  // the connection closes here: the client reads end of file
  const std::chrono::milliseconds patience(3000);
  const Outcome outcome = run_ask(listener.port(), patience, std::chrono::seconds(5));
  hanging_up_server.join();
  if (!outcome.finished) FAIL("ask() was still waiting 5 s after the server hung up (patience 3000 ms)");
  INFO("ask() ended after " << outcome.took_ms << " ms (patience 3000 ms)");
  if (outcome.error.empty()) {
    FAIL_CHECK("the server hung up without answering, but ask() returned "
               << (outcome.answer ? "an answer" : "std::nullopt, as for a silent server")
               << ": let the failure out (throw), so the caller can tell a hang-up from silence");
  }
  if (outcome.took_ms >= 1000) {
    FAIL_CHECK("the server hung up at once, and ask() took "
               << outcome.took_ms
               << " ms to say so: in Asio, `||` ends on the first *success*, so a read that throws leaves the "
                  "timer to decide; take the error as a value (as_tuple, see Hint 2)");
  }
}
