"""The mutations that tests/mutation_check.py applies, one or more per teaching point of every lesson.

Each entry: the lesson file, what the change breaks, a regex for the names of the tests that must then
fail (searched in the names the test program lists), and the edits: (exact snippet, replacement)
pairs, each snippet found exactly once in the lesson. `sanitizer="thread"` builds that mutant with
ThreadSanitizer: a lock removed from a plain-int counter is a data race, which -O2 may compile into one
add per thread that loses nothing in most runs, while ThreadSanitizer reports it every run.

The mutant lesson is compiled into the test program and, when the tests run the lesson as a program
(LESSON_BINARY), into that program too: a test that runs the program sees the mutant as well, and may
be named here. Entries named by a [timing] test are judged only where two cores are free (the check
runs them last, alone; a skip there is reported as SKIPPED, not as caught).

A header under common/ can be an entry's lesson too. Its tests are tests/common/test_NAME.cpp, or,
with `tested_by="FOLDER/LESSON"`, the test program of the lesson that teaches it; the mutant's copy is
found before the real header either way.
"""


def mutation(lesson, name, tests, *edits, sanitizer=None, tested_by=None):
    return {"lesson": lesson, "name": name, "tests": tests, "edits": list(edits), "sanitizer": sanitizer,
            "tested_by": tested_by}


MUTATIONS = [
    # ---------------------------------------------------------------------------------------------- basics
    mutation(
        "basics/async_vs_sync.cpp", "each coroutine blocks its thread instead of awaiting the timer",
        r"^async: every pair of tasks overlaps",
        ("  co_await timer.async_wait(asio::use_awaitable);\n  co_return (id * id);",
         "  std::this_thread::sleep_for(delay);\n  co_return (id * id);")),
    mutation(
        "basics/async_vs_sync.cpp", "results stored in completion order, not in the task's own slot",
        r"^results come back in task order",
        ("    results[static_cast<std::size_t>(id)] = value;",
         "    results.erase(results.begin());\n    results.push_back(value);")),
    mutation(
        "basics/async_vs_sync.cpp", "the completion handler drops the task's exception",
        r"^a task's exception leaves",
        ("    if (error) std::rethrow_exception(error);\n    results[",
         "    (void)error;\n    results[")),

    mutation(
        "basics/async_vs_sync.cpp", "the program prints every result on one line (seen only by running it)",
        r"^a long list of results is printed",
        ("abbreviated(async_results), async_ms", "async_results, async_ms")),

    mutation(
        "basics/event_loop_and_tasks.cpp", "start each task only after the previous one would have finished",
        r"^started first, awaited one by one",
        ("    tasks.push_back(co_spawn(executor, fetch(fmt::format(\"task {}\", i), delays[i], value, timeline),",
         "    if (i > 0) co_await async_sleep(delays[i - 1]);\n"
         "    tasks.push_back(co_spawn(executor, fetch(fmt::format(\"task {}\", i), delays[i], value, timeline),")),
    mutation(
        "basics/event_loop_and_tasks.cpp", "create_task's order without the post: the child runs inline",
        r"^posting the co_spawn gives create_task's order",
        ("  asio::post(executor, [executor, &log] {\n    co_spawn(executor, child_task(\"child\", log), "
         "[](std::exception_ptr e) {\n      if (e) std::rethrow_exception(e);\n    });\n  });",
         "  co_spawn(executor, child_task(\"child\", log), [](std::exception_ptr e) {\n"
         "    if (e) std::rethrow_exception(e);\n  });")),
    mutation(
        "basics/event_loop_and_tasks.cpp", "the rethrowing handler swallows the exception like detached",
        r"^detached: the job's exception is lost",
        ("    if (error) std::rethrow_exception(error);                           // it leaves run() below",
         "    (void)error;")),

    mutation(
        "basics/tasks_gather_wait_cancel.cpp", "the task group waits for every member instead of the first error",
        r"^task group: the first failure cancels the rest",
        ("          .async_wait(asio::experimental::wait_for_one_error(), asio::use_awaitable);",
         "          .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);")),

    mutation(
        "basics/cancellation_and_timeouts.cpp", "the CPU loop checks for cancellation but never yields",
        r"^a CPU loop without co_await runs to its end",
        ("    co_await asio::post(executor, asio::use_awaitable);  // let the loop run others (the canceller)\n",
         "")),
    mutation(
        "basics/cancellation_and_timeouts.cpp", "cleanup awaits without resetting the cancellation state",
        r"^external cancellation: the worker cleans up",
        ("  co_await asio::this_coro::reset_cancellation_state();  // or the next co_await throws at once\n", "")),
    mutation(
        "basics/cancellation_and_timeouts.cpp", "the canceller's timer is left pending when the task ends first",
        r"^external cancellation: the worker cleans up",
        ("             canceller.cancel();  // nothing left to cancel: let run() return\n", "")),

    mutation(
        "basics/async_queues_and_channels.cpp", "the pipeline's channel is unbounded: no backpressure",
        r"^a full channel suspends the producer",
        ("  IntChannel channel(io, static_cast<std::size_t>(capacity));\n  PipelineRun run;",
         "  IntChannel channel(io, 100'000);\n  PipelineRun run;")),
    mutation(
        "basics/async_queues_and_channels.cpp", "fan-out ends the stream with close() instead of an end marker",
        r"^fan-out: each item goes to exactly one consumer",
        ("  for (int i = 0; i < items; ++i) co_await channel.async_send(asio::error_code{}, i, asio::use_awaitable);\n"
         "  co_await channel.async_send(asio::error::eof, 0, asio::use_awaitable);\n}\n\nFanOutRun",
         "  for (int i = 0; i < items; ++i) co_await channel.async_send(asio::error_code{}, i, asio::use_awaitable);\n"
         "  channel.close();\n}\n\nFanOutRun")),

    mutation(
        "basics/blocking_work_in_async.cpp", "the slow call runs inline on the loop instead of on the pool",
        r"^heartbeat: a gap as long as the call",
        ("  run.result = co_await traced_slow_square_on(pool, x, block, run, timeline);",
         "  run.result = traced_slow_square(x, block, run, timeline);")),
    mutation(
        "basics/blocking_work_in_async.cpp", "the handlers are posted to the io_context, not the strand",
        r"^a strand serialises handlers",
        ("      asio::post(strand, update);", "      asio::post(io, update);")),

    mutation(
        "basics/coroutines_from_scratch.cpp", "gather awaits its lazy tasks without starting them first",
        r"^the waits overlap on one thread",
        ("  for (auto& task : tasks) task.start(loop);\n", "")),
    mutation(
        "basics/coroutines_from_scratch.cpp", "the timer heap keeps the latest deadline on top",
        r"^tasks resume in timer order",
        ("when != other.when ? when > other.when", "when != other.when ? when < other.when")),
    mutation(
        "basics/coroutines_from_scratch.cpp", "unhandled_exception swallows the exception and returns a default value",
        r"^a task's result and its exception reach",
        ("  void unhandled_exception() { error = std::current_exception(); }",
         "  void unhandled_exception() { value = T{}; }")),
    mutation(
        "basics/coroutines_from_scratch.cpp", "final_suspend never resumes the awaiting task",
        r"^(the waits overlap|a task's result and its exception|tasks resume in timer order)",
        ("      return next ? next : std::noop_coroutine();", "      return std::noop_coroutine();")),
    mutation(
        "basics/coroutines_from_scratch.cpp", "awaiting a finished task suspends for ever",
        r"^a task awaited after it finished",
        ("  bool await_ready() const noexcept { return handle_.done(); }",
         "  bool await_ready() const noexcept { return false; }")),
    mutation(
        "basics/coroutines_from_scratch.cpp", "the Task's destructor leaks its frame",
        r"^every coroutine frame is freed",
        ("    if (handle_) handle_.destroy();", "    (void)handle_;")),

    mutation(
        "basics/shared_state_in_async.cpp", "the deposit under a std::mutex takes no lock",
        r"^the correct ways give exact totals",
        ("    const std::lock_guard lock(account.mutex);  // released at the end of this iteration, before any await\n",
         ""), sanitizer="thread"),
    mutation(
        "basics/shared_state_in_async.cpp", "the strand way spawns every coroutine on the io_context, not a strand",
        r"^strand per account",
        ("    co_spawn(strands[static_cast<std::size_t>(a)],", "    co_spawn(io,")),
    mutation(
        "basics/shared_state_in_async.cpp", "the async mutex's channel has room for two holders",
        r"^(the correct ways give exact totals|a lock held across a co_await)",
        ("slot_(io.get_executor(), 1)", "slot_(io.get_executor(), 2)")),
    mutation(
        "basics/shared_state_in_async.cpp", "the timed lock is released before the await: nothing is held across it",
        r"^a lock held across a co_await",
        ("    co_await slow_service.async_wait(asio::use_awaitable);  // suspended, lock held\n",
         "    account.held_lock.release();\n    co_await slow_service.async_wait(asio::use_awaitable);\n"),
        ("    if (pg::thread_number() != locked_on) ++out.resumed_elsewhere;\n    account.held_lock.release();\n",
         "    if (pg::thread_number() != locked_on) ++out.resumed_elsewhere;\n")),
    mutation(
        "basics/shared_state_in_async.cpp", "every sender sends the end marker: the owner stops at the first",
        r"^the owner coroutine serves every request",
        ("  if (--senders_left == 0) co_await", "  if (--senders_left >= 0) co_await")),

    # ---------------------------------------------------------------------------------------------- threading
    mutation(
        "threading/thread_basics.cpp", "join() timed after it returned: it did not wait",
        r"^join waits until",
        ("  pg::Stopwatch waited;\n  worker.join();", "  worker.join();\n  pg::Stopwatch waited;")),
    mutation(
        "threading/thread_basics.cpp", "each thread joined as soon as it starts: no overlap",
        r"^threads: waiting tasks overlap",
        ("  for (int id = 0; id < tasks; ++id) threads.emplace_back(wait_task, id, delay, std::ref(timeline));",
         "  for (int id = 0; id < tasks; ++id) std::thread(wait_task, id, delay, std::ref(timeline)).join();")),
    mutation(
        "threading/thread_basics.cpp", "the jthread's loop ignores the stop token",
        r"^jthread: stops when asked",
        ("      while (!stop.stop_requested()) {", "      for (int i = 0; i < 60 && stop.stop_possible(); ++i) {")),
    mutation(
        "threading/thread_basics.cpp", "the fixed counter reads and writes in two steps",
        r"^counter: load-then-store loses updates, fetch_add is exact",
        ("        counter.fetch_add(1);\n        std::this_thread::yield();  // the same yield",
         "        const int seen = counter.load();\n        std::this_thread::yield();\n"
         "        counter.store(seen + 1);  // the same yield")),

    mutation(
        "threading/thread_pool_executor.cpp", "the map-style collector waits on the futures fastest first",
        r"^results: as_completed gives fastest first",
        ("  for (auto& f : futures) received.push_back(f.get());  // waits for each task in turn",
         "  for (auto it = futures.rbegin(); it != futures.rend(); ++it) received.push_back(it->get());"
         "  // waits for each task in turn")),
    mutation(
        "threading/thread_pool_executor.cpp", "each waiting task is awaited as soon as it is submitted",
        r"^waiting tasks: a pool of W workers",
        ("        asio::post(pool, asio::use_future([id, delay, &timeline] { return fetch_io(id, delay, timeline); })));",
         "        asio::post(pool, asio::use_future([id, delay, &timeline] { return fetch_io(id, delay, timeline); }))),\n"
         "        futures.back().wait();")),
    mutation(
        "threading/thread_pool_executor.cpp", "the CPU pool runs its tasks on one thread",
        r"^no GIL: CPU-bound tasks on a pool",
        ("std::vector<int> run_cpu_on_pool(int tasks, int workers, int limit, pg::Timeline& timeline) {\n"
         "  asio::thread_pool pool(static_cast<std::size_t>(workers));",
         "std::vector<int> run_cpu_on_pool(int tasks, int workers, int limit, pg::Timeline& timeline) {\n"
         "  asio::thread_pool pool(1);\n  (void)workers;")),
    mutation(
        "threading/thread_pool_executor.cpp", "the pool is destroyed without join()",
        r"^shutdown: join\(\) first and nothing is lost",
        ("    if (join_first) pool.join();", "    (void)join_first;")),

    mutation(
        "threading/thread_pool_executor.cpp", "as_completed: a task wakes the collector before pushing its result",
        r"^as_completed: each result is pushed before the collector is woken",
        ("      {\n        std::lock_guard lock(mutex);\n        finished.push_back(id);\n      }\n"
         "      finished_one.notify_one();\n",
         "      finished_one.notify_one();\n"
         "      {\n        std::lock_guard lock(mutex);\n        finished.push_back(id);\n      }\n")),

    mutation(
        "threading/locks_and_thread_safety.cpp", "the mutex counter without its lock_guard (a data race)",
        r"^mutex and atomic counts are exact",
        ("      std::lock_guard lock(mutex);\n      ++counter;", "      ++counter;"),
        sanitizer="thread"),
    mutation(
        "threading/memory_ordering.cpp", "the spin lock's exchange is relaxed: no happens-before between owners",
        r"^the spin lock counts exactly",
        ("    while (locked_.exchange(true, std::memory_order_acquire)) {",
         "    while (locked_.exchange(true, std::memory_order_relaxed)) {"),
        sanitizer="thread"),
    mutation(
        "threading/memory_ordering.cpp", "the spin lock checks, then sets, in two steps",
        r"^the spin lock counts exactly",
        ("    while (locked_.exchange(true, std::memory_order_acquire)) {",
         "    while (locked_.load(std::memory_order_acquire)) std::this_thread::yield();\n"
         "    locked_.store(true, std::memory_order_relaxed);\n    if (false) {"),
        sanitizer="thread"),
    mutation(
        "threading/memory_ordering.cpp", "the reader of the mailbox waits with a relaxed load",
        r"^plain data handed over with release/acquire",
        ("      while (!box.ready.load(std::memory_order_acquire)) std::this_thread::yield();",
         "      while (!box.ready.load(std::memory_order_relaxed)) std::this_thread::yield();"),
        sanitizer="thread"),

    mutation(
        "threading/lock_free_ring.cpp", "the consumer loads tail relaxed: it may read a slot before the item is there",
        r"^ring on two threads: every item arrives once and in order",
        ("      cached_tail_ = tail_.load(std::memory_order_acquire);",
         "      cached_tail_ = tail_.load(std::memory_order_relaxed);"),
        sanitizer="thread"),
    mutation(
        "threading/lock_free_ring.cpp", "the producer loads head relaxed: it may overwrite a slot still being read",
        r"^ring on two threads: every item arrives once and in order",
        ("      cached_head_ = head_.load(std::memory_order_acquire);",
         "      cached_head_ = head_.load(std::memory_order_relaxed);"),
        sanitizer="thread"),
    mutation(
        "threading/lock_free_ring.cpp", "the producer publishes tail before it writes the slot",
        r"^ring on two threads: every item arrives once and in order",
        ("    slots_[tail % slots_.size()] = std::move(item);\n    tail_.store(tail + 1, std::memory_order_release);",
         "    tail_.store(tail + 1, std::memory_order_release);\n    slots_[tail % slots_.size()] = std::move(item);"),
        sanitizer="thread"),
    mutation(
        "threading/lock_free_ring.cpp", "a full ring takes one item too many, over an unread one",
        r"^ring on one thread|^a producer that outruns the consumer",
        ("      if (tail - cached_head_ == slots_.size()) return false;        // really full",
         "      if (tail - cached_head_ > slots_.size()) return false;        // really full")),
    mutation(
        "threading/lock_free_ring.cpp", "the two counters of the padded struct share a line",
        r"^false sharing: the same counts",
        ("  alignas(cache_line) std::atomic<long> b{0};  // 64 bytes after a: a line of its own",
         "  std::atomic<long> b{0};  // 64 bytes after a: a line of its own")),

    mutation(
        "threading/locks_and_thread_safety.cpp", "add() locks the check and the act separately",
        r"^one lock around check-then-act",
        ("  bool add(int item) {\n    std::lock_guard lock(mutex_);",
         "  bool add(int item) {\n    return add_check_then_act_broken(item);\n    std::lock_guard lock(mutex_);")),
    mutation(
        "threading/locks_and_thread_safety.cpp", "transfers lock the two accounts one after the other",
        r"^transfers with std::scoped_lock keep the total",
        ("  std::scoped_lock both(from.mutex, to.mutex);",
         "  std::lock_guard first(from.mutex);\n  std::this_thread::sleep_for(window);\n"
         "  std::lock_guard second(to.mutex);")),

    mutation(
        "threading/queues_and_worker_threads.cpp", "join() returns without waiting for task_done()",
        r"^join\(\) returns only after every task_done\(\)",
        ("    all_done_.wait(lock, [&] { return unfinished_ == 0; });", "    (void)lock;")),
    mutation(
        "threading/queues_and_worker_threads.cpp", "put() ignores the capacity: no backpressure",
        r"^a full bounded queue blocks the producer|^backpressure:",
        ("    not_full_.wait(lock, [&] { return capacity_ == 0 || items_.size() < capacity_; });  // backpressure\n",
         "")),
    mutation(
        "threading/queues_and_worker_threads.cpp", "a worker quits after a failing job",
        r"^a failing job is reported and its worker carries on",
        ("        outcome.error = error.what();  // reported, and the loop goes on",
         "        outcome.error = error.what();\n        outcomes.add(std::move(outcome));\n        return;")),

    mutation(
        "threading/queues_and_worker_threads.cpp", "task_done() wakes only one of the threads in join()",
        r"^join\(\) called by several threads",
        ("    if (--unfinished_ == 0) all_done_.notify_all();", "    if (--unfinished_ == 0) all_done_.notify_one();")),
    mutation(
        "threading/queues_and_worker_threads.cpp", "get() wakes a producer only when the queue was full (lost wake-ups)",
        r"^several producers, a small queue and a slow consumer",
        ("    items_.pop_front();\n    not_full_.notify_one();",
         "    const bool was_full = capacity_ != 0 && items_.size() == capacity_;\n    items_.pop_front();\n"
         "    if (was_full) not_full_.notify_one();")),

    mutation(
        "threading/sync_primitives.cpp", "no semaphore: every worker goes in at once",
        r"^semaphore: never more than its count inside",
        ("      if (limit > 0) permits.acquire();  // waits here while `limit` others are inside\n", ""),
        ("      if (limit > 0) permits.release();  // lets the next waiter in\n", "")),
    mutation(
        "threading/sync_primitives.cpp", "the start gate only counts down, nobody waits at it",
        r"^latch: nobody passes before the last arrival",
        ("        gate.arrive_and_wait();", "        gate.count_down();")),

    mutation(
        "threading/sync_primitives.cpp", "Event::set notifies before it sets the flag",
        r"^Event: set\(\) changes the flag before it notifies",
        ("    {\n      std::lock_guard lock(mutex_);\n      set_ = true;\n    }\n    changed_.notify_all();",
         "    changed_.notify_all();\n    {\n      std::lock_guard lock(mutex_);\n      set_ = true;\n    }")),
    mutation(
        "threading/sync_primitives.cpp", "Event::set sets the flag without the lock (a data race)",
        r"^timed wait:",
        ("    {\n      std::lock_guard lock(mutex_);\n      set_ = true;\n    }\n    changed_.notify_all();",
         "    set_ = true;\n    changed_.notify_all();"),
        sanitizer="thread"),

    # ---------------------------------------------------------------------------------------------- multiprocessing
    mutation(
        "multiprocessing/process_basics.cpp", "wait_child never waits for the child",
        r"^fork: the child runs and exits with code 0 and is reaped|^zombies:",
        ("  if (const std::optional<int> status = child.wait_for(limit))",
         "  if (const std::optional<int> status = std::optional<int>(0))")),
    mutation(
        "multiprocessing/process_basics.cpp", "a forked child ends with exit() and runs the parent's atexit handlers",
        r"^a child ends with _exit so the parent's atexit handlers never run in it",
        ("    std::fflush(nullptr);\n    ::_exit(code);", "    std::exit(code);")),
    mutation(
        "multiprocessing/process_basics.cpp", "a forked child keeps every descriptor it inherited",
        r"^a forked child keeps only the descriptors it is given",
        ("    if (!keep_only_descriptors(fds)) ::_exit(71);\n", "")),
    mutation(
        "multiprocessing/process_basics.cpp", "the zombie is reaped before its state is read",
        r"^zombies:",
        ("  const auto deadline = pg::Clock::now() + limit;\n  while ((demo.before_reaping",
         "  const auto deadline = pg::Clock::now() + limit;\n  ::waitpid(demo.pid, nullptr, 0);\n"
         "  while ((demo.before_reaping")),

    mutation(
        "multiprocessing/process_pool_executor.cpp", "map collects its results in completion order",
        r"^map keeps input order",
        ("  for (const TaskHandle h : handles) results.push_back(result(h, limit));",
         "  while (!handles.empty()) results.push_back(result(next_completed(handles, limit), limit));")),

    mutation(
        "multiprocessing/building_a_process_pool.cpp", "end of file from a worker is ignored",
        r"^a worker killed with SIGKILL mid-task gives BrokenProcessPool",
        ("    if (n <= 0) {  // end of file: the worker exited (or was killed)\n      worker_died(w);\n      continue;\n"
         "    }",
         "    if (n <= 0) continue;")),
    mutation(
        "multiprocessing/building_a_process_pool.cpp", "a worker keeps every descriptor it inherited",
        r"^a second pool's worker holds none of the first pool's pipes",
        ("    if (!keep_only_descriptors(keep)) ::_exit(71);\n", "")),
    mutation(
        "multiprocessing/building_a_process_pool.cpp", "a task's message goes on the line unescaped",
        r"^a task's message with a line break arrives whole",
        ("          reply = fmt::format(\"error {} {}\\n\", id, escape_line(e.what()));",
         "          reply = fmt::format(\"error {} {}\\n\", id, e.what());")),

    mutation(
        "multiprocessing/sharing_between_processes.cpp", "a child keeps every descriptor it inherited",
        r"^a child keeps only its own pipe",
        ("      if (!keep_only_descriptors(kept)) ::_exit(71);\n", "")),
    mutation(
        "multiprocessing/sharing_between_processes.cpp", "the shared counter is incremented in two steps",
        r"^shared memory: children x 100000 atomic increments give the exact total",
        ("  for (long i = 0; i < times; ++i) counter.fetch_add(1);", "  increment_in_two_steps(counter, times);")),
    mutation(
        "multiprocessing/sharing_between_processes.cpp", "the robust mutex is never marked consistent",
        r"^robust mutex: a child killed in the middle of an append leaves the list whole",
        ("      pthread_mutex_consistent(&mutex);\n", "")),
    mutation(
        "multiprocessing/sharing_between_processes.cpp", "append() without the lock",
        r"^shared list: children appending at the same time lose no item and duplicate none|"
        r"^shared list: append\(\) waits while another process holds the lock",
        ("    std::lock_guard guard(*this);\n    const int n = size.load(std::memory_order_relaxed);",
         "    const int n = size.load(std::memory_order_relaxed);")),
    mutation(
        "multiprocessing/sharing_between_processes.cpp", "append() publishes the size before writing the item",
        r"^robust mutex: a child killed in the middle of an append leaves the list whole",
        ("    items[n] = item;  // 1. write the item into the first free slot: not part of the list yet\n"
         "    if (die == Die::after_writing_the_item) ::kill(::getpid(), SIGKILL);\n"
         "    size.store(n + 1, std::memory_order_release);  // 2. publish it",
         "    size.store(n + 1, std::memory_order_release);\n"
         "    if (die == Die::after_writing_the_item) ::kill(::getpid(), SIGKILL);\n"
         "    items[n] = item;")),

    # ---------------------------------------------------------------------------------------------- networking
    mutation(
        "networking/tcp_echo_server.cpp", "no line limit: the read buffer grows without bound",
        r"^an over-long line closes only that connection",
        ("co_await asio::async_read_until(socket, asio::dynamic_buffer(buffer, config_.max_line), '\\n', nothrow);",
         "co_await asio::async_read_until(socket, asio::dynamic_buffer(buffer), '\\n', nothrow);")),
    mutation(
        "networking/tcp_echo_server.cpp", "the per-line deadline never fires",
        r"^an idle connection is closed after the idle timeout|^the idle timeout is a deadline per line",
        ("    if (config_.idle_timeout.count() > 0) {\n      auto winner",
         "    if (false) {\n      auto winner")),
    mutation(
        "networking/tcp_server_in_production.cpp", "no cap on connections",
        r"^a connection over --max-connections is refused at once",
        ("    if (open < max_connections_) return true;", "    return true;")),

    mutation(
        "networking/tcp_echo_server.cpp", "host names are rejected: only IP addresses are accepted",
        r"^a host name is resolved",
        ("  tcp::resolver resolver(executor);",
         "  if (asio::error_code bad; asio::ip::make_address(host, bad), bad)\n"
         "    throw std::invalid_argument(\"not an IP address\");\n  tcp::resolver resolver(executor);")),
    mutation(
        "networking/tcp_server_in_production.cpp", "the cap ignores the open-file limit",
        r"^the cap is what the open-file limit",
        ("  return std::clamp(room, 0L, wanted);", "  return room > 0 ? wanted : 0;")),
    mutation(
        "networking/tcp_server_in_production.cpp", "out of descriptors, the waiting client is left hanging (no spare)",
        r"^out of file descriptors anyway",
        ("    return error == asio::error::no_descriptors && refuse_with_spare_descriptor();", "    return false;")),
    mutation(
        "networking/tcp_echo_server.cpp", "a session that throws waits out the idle timeout under ||",
        r"^a session whose code throws",
        ("co_await (echo_lines_or_error(socket, who, deadline, writing, failure) || idle_watchdog(deadline));",
         "co_await (echo_lines(socket, who, deadline, writing) || idle_watchdog(deadline));")),
    mutation(
        "networking/tcp_server_in_production.cpp", "sessions on two threads without strands",
        r"^on two threads, a session's reads and its deadline's watchdog never run at once",
        ("    if (threads_ > 1) return asio::make_strand(io_executor_);\n", ""),
        sanitizer="thread"),

    mutation(
        "networking/tcp_echo_client.cpp", "a network wait is not raced against its timeout",
        r"^a server that never answers costs the reply timeout",
        ("  auto winner = co_await (std::move(operation) || sleep_for(limit));\n"
         "  if (winner.index() == 1) co_return std::nullopt;\n  co_return std::get<0>(std::move(winner));",
         "  (void)limit;\n  co_return co_await std::move(operation);")),
    mutation(
        "networking/tcp_echo_client.cpp", "every echo counts as matching",
        r"^a server that echoes wrongly is caught",
        ("    if (std::string_view(buffer.data(), length) == line) {", "    if (true) {")),

    mutation(
        "common/log_writer.hpp", "the log's queue is unbounded",
        r"^log writer: with nobody reading",
        ("      if (may_drop && queue_.size() + (unreported_ > 0 ? 1 : 0) >= capacity_) {", "      if (false) {")),
    mutation(
        "common/log_writer.hpp", "after EPIPE the writer retries every line and never says so",
        r"^log writer: after EPIPE",
        ("        return errno == EPIPE ? Outcome::gone : Outcome::failed;", "        return Outcome::failed;")),

    # common/process_owners.hpp: taught in process_basics, whose tests check it
    mutation(
        "common/process_owners.hpp", "an owner destroyed before the wait leaves its child running",
        r"^an owner that is destroyed before the wait kills and reaps its child",
        ("  ~OwnedChild() { kill_and_reap(); }", "  ~OwnedChild() {}"),
        tested_by="multiprocessing/process_basics"),
    mutation(
        "common/process_owners.hpp", "a forked child keeps every descriptor above the ones it was given",
        r"^a forked child keeps only the descriptors it is given",
        ("  close_descriptors_from(first_free);  // the copies", "  (void)first_free;  // the copies"),
        tested_by="multiprocessing/process_basics"),
    mutation(
        "common/process_owners.hpp", "without close_range, descriptors above the soft limit stay open",
        r"^without close_range a child closes every descriptor",
        ("std::min<rlim_t>(limit.rlim_max, 1 << 20)", "std::min<rlim_t>(limit.rlim_cur, 1 << 20)"),
        tested_by="multiprocessing/process_basics"),
    mutation(
        "common/process_owners.hpp", "waiting with a time limit asks every millisecond even with a pidfd",
        r"^waiting for a child with a time limit sleeps until it ends",
        ("      if (pidfd_.get() >= 0) {\n        pollfd p{pidfd_.get(), POLLIN, 0};",
         "      if (false) {\n        pollfd p{pidfd_.get(), POLLIN, 0};"),
        tested_by="multiprocessing/process_basics"),
    mutation(
        "common/process_owners.hpp", "pipes are not close-on-exec",
        r"^pipes are close-on-exec",
        ("::pipe2(fds, O_CLOEXEC)", "::pipe2(fds, 0)"),
        tested_by="multiprocessing/process_basics"),

    mutation(
        "networking/blocking_echo_server.cpp", "no line limit",
        r"^a line longer than max_line closes only that connection",
        ("      if (newline + 1 - complete > config.max_line) {", "      if (false) {"),
        ("    too_long = too_long || pending.size() - complete > config.max_line;", "")),
    mutation(
        "networking/blocking_echo_server.cpp", "no cap on connections",
        r"^max_connections caps the threads",
        ("    if (open >= config_.max_connections) {", "    if (false) {")),
    mutation(
        "networking/blocking_echo_server.cpp", "the accept loop never joins finished connections",
        r"^finished connections are joined and their sockets closed when the next client connects",
        ("      reap(false);  // join the threads of connections that have finished, and close their sockets\n", "")),
    mutation(
        "networking/blocking_echo_server.cpp", "send_all does not go on from where a partial send stopped",
        r"^send_all writes every byte in order",
        ("    data += sent;\n", "")),
    mutation(
        "networking/blocking_server_limits.cpp", "a finishing connection does not wake the reaper",
        r"^finished connections are reaped at once",
        ("  void connection_finished() override { wake_.notify_all(); }", "  void connection_finished() override {}")),
    mutation(
        "networking/blocking_server_limits.cpp", "the connection cap ignores the open-file limit",
        r"^the connection cap is lowered to what the open-file limit allows",
        ("      config_.max_connections = cap;\n", "")),
    mutation(
        "networking/blocking_server_limits.cpp", "out of descriptors, a waiting client is left hanging (no spare)",
        r"^out of file descriptors anyway",
        ("  if ((error == EMFILE || error == ENFILE) && spare_fd_ >= 0) {", "  if (false) {")),
]
