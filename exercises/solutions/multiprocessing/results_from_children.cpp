// SOLUTION results_from_children (the exercise is exercises/multiprocessing/results_from_children.cpp).
//
// Why it works: a pipe made before the fork belongs to both processes: what the child writes into
// its end, the parent reads from the other. Each child gets its own pipe, so each sum arrives in its
// own slot. The parent closes each pipe's write end right after forking (only the child writes), so
// that end of file arrives when the child exits, and it reads before it waits: a child blocked on a
// full pipe would otherwise never exit (not with one long, but with big results).
//
// The habits of the lessons, and why each matters here:
// - Owners (common/process_owners.hpp, taught in process_basics): every pipe end is an OwnedFd and
//   every child an OwnedChild. If pipe2() or fork() fails for child 3 (too many open files or
//   processes), the exception leaves the function and the owners close the earlier pipes and kill
//   and reap children 0-2. With bare ints and pids they would stay open, running, then zombies.
// - Close-on-exec: make_pipe() uses pipe2(O_CLOEXEC). A program this process starts while a pipe is
//   open (system(), posix_spawn) would otherwise inherit the write end and hold it open for as long as
//   it runs, and the parent would wait for end of file until that unrelated program exited.
// - Keep only what you need: each child keeps its own write end and closes everything else it
//   inherited (keep_only_descriptors), including its older siblings' read ends.
// - A bound on every wait: read() and waitpid(pid, &status, 0) block for ever, so one stuck child
//   would hang the parent. read_until_eof() and OwnedChild::wait_for() share one deadline; a child
//   that has not answered by then is killed, and the function says so instead of hanging.
//
// A tempting wrong fix the test rejects: moving chunk_sums into memory shared with mmap but keeping
// it a std::vector. The vector object would be shared, but its elements live on the heap, which each
// process still has a private copy of: the parent reads zeros. (A plain array of long in MAP_SHARED
// memory does work; a pipe is what the lesson recommends, since it also tells you when a child died
// before answering: end of file before the 8 bytes of its sum.)

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include "playground.hpp"
#include "process_owners.hpp"

// The child's work: the sum of i * i for i in [first, last].
long sum_of_squares(long first, long last) {
  long sum = 0;
  for (long i = first; i <= last; ++i) sum += i * i;
  return sum;
}

long sum_squares_in_children(long n, int children, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  std::vector<OwnedChild> child_owners;
  std::vector<OwnedFd> result_pipes;  // the read end of each child's pipe
  for (int c = 0; c < children; ++c) {
    const long first = n * c / children + 1;
    const long last = n * (c + 1) / children;
    Pipe pipe = make_pipe();
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
    if (pid == 0) {
      int keep[] = {pipe.write_end.get()};
      if (!keep_only_descriptors(keep)) ::_exit(71);
      const long sum = sum_of_squares(first, last);
      ::_exit(write_all(keep[0], std::string_view(reinterpret_cast<const char*>(&sum), sizeof sum)) ? 0 : 1);
    }
    child_owners.emplace_back(pid);
    pipe.write_end.reset();  // only the child writes
    result_pipes.push_back(std::move(pipe.read_end));
  }
  const auto deadline = pg::Clock::now() + limit;
  long total = 0;
  bool every_child_answered = true;
  for (OwnedFd& fd : result_pipes) {
    const std::optional<std::string> bytes = read_until_eof(fd.get(), deadline);
    fd.reset();
    long sum = 0;
    if (bytes && bytes->size() == sizeof sum) {
      std::memcpy(&sum, bytes->data(), sizeof sum);
      total += sum;
    } else {
      every_child_answered = false;  // it died first, or had not answered by the deadline
    }
  }
  for (OwnedChild& child : child_owners) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - pg::Clock::now());
    if (!child.wait_for(std::max(left, std::chrono::milliseconds(0)))) every_child_answered = false;
  }  // a child still running here is killed and reaped by its owner when `child_owners` goes out of scope
  if (!every_child_answered) throw std::runtime_error("a child ended, or ran out of time, without sending its result");
  return total;
}

#ifndef PLAYGROUND_NO_MAIN  // the test includes this file and brings its own main
int main(int argc, char** argv) {
  int n = 1'000'000;
  int children = 4;
  pg::Flags flags("results_from_children", "Solution: children compute parts of a sum and send them back.");
  flags.add("--n", n, "add the squares of 1..n", 1, 2'000'000);
  flags.add("--children", children, "child processes", 1, 64);
  if (auto status = flags.parse(argc, argv)) return *status;
  const long total = sum_squares_in_children(n, children);
  const long expected = sum_of_squares(1, n);
  fmt::print("children's total {}, computed here {}: {}\n", total, expected, total == expected ? "equal" : "different");
  return total == expected ? 0 : 1;
}
#endif
