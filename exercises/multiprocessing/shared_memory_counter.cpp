// clang-format off
// EXERCISE shared_memory_counter: make a counter in shared memory exact across processes.
//
// Follows multiprocessing/sharing_between_processes.cpp (shared memory and its counter).
//
// count_in_processes() maps a page of memory with mmap(MAP_SHARED), which fork does not copy: the
// parent and every child see the same bytes. In it lives one std::atomic<long>, the visit counter.
// Each of `processes` children records `visits_each` visits, then exits; the parent returns the
// count. As shipped, a visit reads the counter and writes it back plus one in two steps, so another
// process's write in between is lost: 4 processes x 2,000 visits give fewer than 8,000.
//
// Your goal: count_in_processes() returns exactly processes x visits_each, every time, with the
// children still running at the same time.
//
// Check:  cmake --build build/exercises --target test_shared_memory_counter && build/exercises/exercises/test_shared_memory_counter
// Run:    build/exercises/exercises/shared_memory_counter
//
// Hint 1: the memory really is shared (the count is not 0). What is lost is a write that lands
//         between another process's read and its write.
// Hint 2: a std::mutex will not help here: each process gets its own copy of an ordinary variable
//         at fork. What one indivisible operation does a lock-free atomic offer?
// Hint 3: replace the load, the yield and the store with shared->visits.fetch_add(1).
// clang-format on

#include <fmt/format.h>

#include <sched.h>
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
#include "process_owners.hpp"

// Only lock-free atomics work across processes: they are plain memory plus CPU instructions, with no
// hidden lock inside this process.
static_assert(std::atomic<long>::is_always_lock_free);

struct SharedCounter {
  std::atomic<long> visits{0};
};

void record_visits(SharedCounter* shared, int visits_each) {
  for (int i = 0; i < visits_each; ++i) {
    const long seen = shared->visits.load();  // step 1: read
    ::sched_yield();                          // another process may run here...
    shared->visits.store(seen + 1);           // step 2: ...and its update is overwritten by this one
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
      keep_only_descriptors({});  // keep stdin, stdout and stderr; close what else it inherited
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
  pg::Flags flags("shared_memory_counter", "Exercise: processes share a counter in shared memory; make it exact.");
  flags.add("--processes", processes, "child processes counting at once", 1, 64);
  flags.add("--visits", visits, "visits each process records", 0, 10'000'000);
  if (auto status = flags.parse(argc, argv)) return *status;
  const long counted = count_in_processes(processes, visits);
  const long expected = static_cast<long>(processes) * visits;
  fmt::print("counted {} of {} visits ({} lost)\n", counted, expected, expected - counted);
  return counted == expected ? 0 : 1;
}
#endif
