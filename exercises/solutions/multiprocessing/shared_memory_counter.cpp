// SOLUTION shared_memory_counter (the exercise is exercises/multiprocessing/shared_memory_counter.cpp).
//
// Why it works: fetch_add(1) on a lock-free std::atomic<long> is one indivisible CPU instruction
// (`lock xadd` on x86) on the shared memory itself. The CPU makes it atomic for every core, whichever
// process is running there, so no other process can write between its read and its write.
//
// A tempting wrong fix the test rejects: a std::mutex (a global, or a local made before the fork)
// locked around the load and the store. Each process gets its own copy of it at fork, so every child
// locks a different mutex and nothing is excluded: updates are still lost. Sharing a lock between
// processes needs a pthread mutex made PTHREAD_PROCESS_SHARED and placed in the shared memory itself
// (the lesson's SharedList), which is correct but far slower than one atomic instruction. Moving the
// counter out of the mmap'd page into a global std::atomic fails the other way: each child counts
// in its own copy, and the parent reads 0.

#include <fmt/format.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <new>
#include <stdexcept>
#include <system_error>
#include <vector>

#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "playground.hpp"

// Only lock-free atomics work across processes: they are plain memory plus CPU instructions, with no
// hidden lock inside this process.
static_assert(std::atomic<long>::is_always_lock_free);

struct SharedCounter {
  std::atomic<long> visits{0};
};

void record_visits(SharedCounter* shared, int visits_each) {
  for (int i = 0; i < visits_each; ++i) {
    shared->visits.fetch_add(1);  // read, add and write in one step, visible to every process
  }
}

long count_in_processes(int processes, int visits_each) {
  void* memory = ::mmap(nullptr, sizeof(SharedCounter), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) throw std::system_error(errno, std::generic_category(), "mmap");
  auto* shared = new (memory) SharedCounter{};  // build the counter in the shared page

  std::vector<pid_t> children;
  for (int p = 0; p < processes; ++p) {
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
    if (pid == 0) {
      record_visits(shared, visits_each);
      ::_exit(0);
    }
    children.push_back(pid);
  }
  for (pid_t child : children) {
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
  }
  const long counted = shared->visits.load();
  shared->~SharedCounter();
  ::munmap(memory, sizeof(SharedCounter));
  return counted;
}

#ifndef PLAYGROUND_NO_MAIN  // the test includes this file and brings its own main
int main(int argc, char** argv) {
  int processes = 4;
  int visits = 2'000;
  pg::Flags flags("shared_memory_counter", "Solution: processes share a counter in shared memory, and it is exact.");
  flags.add("--processes", processes, "child processes counting at once", 1, 64);
  flags.add("--visits", visits, "visits each process records", 0, 10'000'000);
  if (auto status = flags.parse(argc, argv)) return *status;
  const long counted = count_in_processes(processes, visits);
  const long expected = static_cast<long>(processes) * visits;
  fmt::print("counted {} of {} visits ({} lost)\n", counted, expected, expected - counted);
  return counted == expected ? 0 : 1;
}
#endif
