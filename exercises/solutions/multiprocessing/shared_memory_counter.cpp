// SOLUTION shared_memory_counter (the exercise is exercises/multiprocessing/shared_memory_counter.cpp).
//
// Why it works: fetch_add(1) on a lock-free std::atomic<long> is one indivisible CPU instruction
// (`lock xadd` on x86) on the shared memory itself. The CPU makes it atomic for every core, whichever
// process is running there, so no other process can write between its read and its write.
//
// Tempting wrong fixes the test rejects:
// - A std::mutex made before the fork (a global, or a local) and locked around the load and the
//   store. Each process gets its own copy of it at fork, so every child locks a different mutex and
//   nothing is excluded: updates are still lost.
// - A std::mutex placed in the shared page itself. Now every process locks the same bytes, and that
//   is worse: the standard promises nothing for a std::mutex used by several processes, and on Linux
//   it is a pthread mutex made PTHREAD_PROCESS_PRIVATE. A process that finds it locked sleeps in the
//   kernel (a futex) on a *private* wait queue, keyed by its own address space; the holder's unlock,
//   from another process, wakes a queue in *its* address space, so the sleeper is never woken and the
//   children hang for ever (the test's watchdog kills them). And a holder that dies leaves it locked
//   for good. Sharing a lock between processes needs a pthread mutex made PTHREAD_PROCESS_SHARED (and
//   ROBUST, for a holder that dies), placed in the shared memory: the lesson's SharedList. It is
//   correct, but far slower than one atomic instruction for a counter.
// - Moving the counter out of the mmap'd page into a global std::atomic: each child counts in its own
//   copy, and the parent reads 0.
//
// And the habits of the lessons: the mapping and the children have owners, so a fork() that fails for
// child 3 kills and reaps children 0-2 first and only then unmaps the page they were using; each
// child keeps only stdin, stdout and stderr (keep_only_descriptors); and the wait has a deadline, so
// one stuck child cannot hang the parent (common/process_owners.hpp, taught in process_basics).

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <memory>
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
    shared->visits.fetch_add(1);  // read, add and write in one step, visible to every process
  }
}

// The owner of the shared page: a unique_ptr whose deleter destroys the counter and unmaps the page.
struct Unmap {
  void operator()(SharedCounter* counter) const {
    counter->~SharedCounter();
    ::munmap(counter, sizeof(SharedCounter));
  }
};

long count_in_processes(int processes, int visits_each, std::chrono::milliseconds limit = std::chrono::seconds(20)) {
  void* memory = ::mmap(nullptr, sizeof(SharedCounter), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) throw std::system_error(errno, std::generic_category(), "mmap");
  const std::unique_ptr<SharedCounter, Unmap> shared(new (memory) SharedCounter{});  // built in the shared page

  std::vector<OwnedChild> children;  // declared after `shared`: destroyed first, so no child outlives the page
  for (int p = 0; p < processes; ++p) {
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
    if (pid == 0) {
      keep_only_descriptors({});
      record_visits(shared.get(), visits_each);
      ::_exit(0);
    }
    children.emplace_back(pid);
  }
  const auto deadline = pg::Clock::now() + limit;
  for (OwnedChild& child : children) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - pg::Clock::now());
    if (!child.wait_for(std::max(left, std::chrono::milliseconds(0))))
      throw std::runtime_error("a counting child ran past the time limit");  // the owners kill and reap them all
  }
  return shared->visits.load();
}

#ifndef PLAYGROUND_NO_MAIN
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
