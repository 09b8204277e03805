// tcp_server_in_production: what the echo server of tcp_echo_server needs before real clients meet it.
// New to C++ or Asio? PRIMER.md, at the top of the repository, explains the words used here with Python analogies.
//
// What you will see: the server of networking/tcp_echo_server, started with a report on the open-file
// limit (raised to what --max-connections needs, or the cap lowered to what the limit allows), then
// the same log line per event, "refused" lines for clients over the cap, and a summary that says how
// many threads started sessions.
//
// How to read it: read networking/tcp_echo_server.cpp first; its EchoServer is included below, and
// this lesson derives from it (Python: a subclass) and overrides three of its hooks. Section 1 is the
// cap on connections and the spare descriptor, section 2 several threads with a strand per connection,
// section 3 the open-file limit, section 4 what is still left open for slow clients.
//
// Run it:   build/default/networking/tcp_server_in_production --port 8888 --threads 2
//           then, in a second terminal:   build/default/networking/tcp_echo_client --port 8888
// Build it by hand:
//   g++ -std=c++20 -O2 -I common networking/tcp_server_in_production.cpp -lfmt -pthread -o tcp_server_in_production
//
// Mirrors what asyncio leaves to others: asyncio.start_server has no cap on connections and runs on
// one thread (a Python server scales with more processes behind a load balancer), and
// resource.setrlimit(resource.RLIMIT_NOFILE, ...) is the call section 3 makes.

#include <algorithm>
#include <atomic>
#include <string>
#include <utility>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

// The EchoServer, from the previous lesson's file (its main() left out: ours is below). Including a
// .cpp file is unusual; it keeps this lesson buildable with one g++ command.
#define TCP_ECHO_SERVER_ONLY
#include "tcp_echo_server.cpp"

namespace echo_server {

// What this server is told on top of EchoServerConfig (a struct deriving from another has all its
// fields, like a dataclass subclass).
struct ProductionConfig : EchoServerConfig {
  long max_connections = 10'000;  // open at once; more are refused (section 1)
  int threads = 1;                // threads that run the io_context; above 1, each session gets a strand (section 2)
};

class ProductionServer : public EchoServer {
 public:
  // With several threads, the listener (acceptor, accept loop, signal wait, close()) runs on a strand
  // of its own, and io_executor_ makes one more strand for each session (section 2).
  ProductionServer(const asio::any_io_executor& executor, const ProductionConfig& config)
      : EchoServer(config.threads > 1 ? asio::make_strand(executor) : executor, config),
        io_executor_(executor),
        max_connections_(config.max_connections),
        threads_(config.threads) {
    acceptor().native_non_blocking(true);  // so that the accept4 of refuse_with_spare_descriptor never waits
  }
  ~ProductionServer() override {
    if (spare_descriptor_ >= 0) ::close(spare_descriptor_);
  }
  [[nodiscard]] int threads() const override { return threads_; }
  [[nodiscard]] long max_connections() const { return max_connections_; }

 protected:
  // -----------------------------------------------------------------------------------------------
  // 1. A cap on connections, and a spare descriptor for when they run out anyway
  // -----------------------------------------------------------------------------------------------
  // Every connection costs a descriptor and up to --max-line bytes of buffer, so without a cap,
  // memory is bounded only by the open-file limit, which section 3 raises. 1000 clients each holding
  // a 64 KiB partial line cost about 70 MB. Over --max-connections, a new connection is accepted and
  // closed at once, with a log line: the client learns at once that it was refused (its first read
  // sees end of file), instead of waiting in the kernel's queue. The worst case memory is now about
  // max-connections x max-line. admit() runs in the accept loop, on the listener's executor.
  bool admit(tcp::socket& socket, long id) override {
    const long open = stats_.open.load();  // only the accept loop adds to it, so it cannot grow meanwhile
    if (open < max_connections_) return true;
    ++stats_.refused;
    asio::error_code ignored;
    log("[#{} {}] refused: already {} open (--max-connections)", id, endpoint_text(socket.remote_endpoint(ignored)),
        open);
    socket.close(ignored);
    return false;
  }

  // Out of file descriptors (EMFILE: the open-file limit of section 3, taken by something else), an
  // accept fails and the client stays in the kernel's queue: not refused, just left hanging, and the
  // next accept fails the same way. So the server keeps one spare descriptor (/dev/null, opened at
  // start) for that moment: it closes the spare, accepts the waiting client into the freed slot,
  // closes it at once (the client sees end of file: refused), and opens the spare again. Without a
  // spare, tcp_echo_server's accept loop logs the failure and pauses 100 ms.
  bool recover_from_accept_error(const asio::error_code& error) override {
    return error == asio::error::no_descriptors && refuse_with_spare_descriptor();
  }

  // True when a client was refused this way. Runs on executor(), as the accept loop does.
  bool refuse_with_spare_descriptor() {
    if (spare_descriptor_ < 0) return false;
    ::close(spare_descriptor_);
    const int client = ::accept4(acceptor().native_handle(), nullptr, nullptr, SOCK_CLOEXEC);
    if (client >= 0) ::close(client);
    spare_descriptor_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);  // the slot the client just gave back
    if (client < 0) return false;
    ++stats_.accepted;
    ++stats_.refused;
    log("refused a client: out of file descriptors (the open-file limit)");
    return true;
  }

  // -----------------------------------------------------------------------------------------------
  // 2. The same server on N threads (--threads N), a strand per connection
  // -----------------------------------------------------------------------------------------------
  // One thread is enough for thousands of mostly idle clients. But it uses one core: when clients keep
  // it busy, a second core can help. Asio makes that one line: call io.run() from N threads
  // (run_on_threads, in tcp_echo_server's plumbing). They share the io_context's queue of ready
  // handlers and any of them may run any handler, so two handlers can now run *at the same time*, and
  // every piece of state the server shares must be safe for that. Here is each one, and what keeps it
  // safe:
  //
  // - A session's own state (its socket, buffer, deadline, watchdog timer) stays lock-free because
  //   each session runs on its own strand (asio::make_strand, below). A strand is a queue with one
  //   rule: its handlers run one at a time, in order, on whichever thread is free. A session never runs
  //   on two threads at once, so its code is unchanged, while different sessions run in parallel. The
  //   socket is accepted onto the strand and the session co_spawned there (the accept loop asks
  //   session_executor()), so every completion resumes the coroutine on its strand, and `||` (the
  //   deadline's watchdog) runs both sides on it. With a strand, co_spawn no longer runs the session at
  //   once: it queues it there, and it starts a moment later, perhaps on another thread.
  // - The listener (acceptor, accept loop, signal wait, close()) runs on one more strand, executor()
  //   (made in the constructor above). Code from outside reaches it with asio::post.
  // - The map of open connections, touched by each session as it starts and ends and by close(): a
  //   std::mutex, held for a few lines and never across a co_await (a suspended coroutine may resume on
  //   another thread, and a std::mutex must be unlocked by the thread that locked it).
  // - Closing sockets: close() does not touch them (their sessions may be running on the other thread);
  //   it posts a job to each session's strand, which closes the socket there. A session accepted just
  //   before close() sees `closing_` when it registers, and closes itself.
  // - Counters are std::atomic, `closing_` is std::atomic<bool>, the log queue has a mutex of its own,
  //   and the config is only read. The open-connection count that admit() reads is only ever raised by
  //   the accept loop, so it cannot grow between the check and the increment.
  // - A coroutine may now suspend on one thread and resume on the other. Whatever it read from a
  //   thread_local variable before a co_await (a per-thread cache, errno, a thread id) may belong to the
  //   other thread afterwards. This server keeps nothing per thread; Asio does (a cache of recycled
  //   memory per thread) and copes with it, but the compiler must cope too: clang 16 did not, and this
  //   server crashed on two threads until cmake/FindAsio.cmake worked around it (the story is there).
  //
  // Shutdown works the same for any N: close() ends every session, the io_context runs out of work,
  // and each thread's run() returns. ThreadSanitizer checks all this: the tests run the server on 2
  // threads in the tsan preset, one of them with each session's watchdog firing while its lines flow,
  // so that a session without its strand is reported as a data race.
  //
  // The other common design is one io_context per thread, each single-threaded like tcp_echo_server,
  // with the accept loop handing new sockets to them in turn: no strands needed, but a busy connection
  // cannot move to an idle thread, and shutdown has N event loops to stop.
  [[nodiscard]] asio::any_io_executor session_executor() override {
    if (threads_ > 1) return asio::make_strand(io_executor_);
    return io_executor_;
  }

 private:
  asio::any_io_executor io_executor_;  // the io_context's own executor
  long max_connections_;
  int threads_;
  int spare_descriptor_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);  // section 1; used only on executor()
};

// -------------------------------------------------------------------------------------------------
// 3. Open files: one socket is one file descriptor
// -------------------------------------------------------------------------------------------------
// Every connection holds a file descriptor, and a process may open only RLIMIT_NOFILE of them (the
// "soft" limit, often 1024). An unprivileged process may raise its soft limit up to the "hard" limit,
// so a server that wants thousands of clients does that at start, and says so. It asks for what
// --max-connections needs, plus a margin for its own files (stdio, the listener, epoll's descriptors),
// and no more: the limit then guards against a leak instead of hiding one.
//
// When the hard limit is lower than that, a cap above what the limit allows is a promise the server
// cannot keep: the clients over the limit would not be refused (section 1) but left waiting in the
// kernel's queue while every accept fails. So the cap comes down to what the limit leaves room for,
// and the program says so at start. (If descriptors run out anyway, taken by something else, section 1
// still refuses the waiting client, with its spare descriptor.)

struct FileLimit {
  rlim_t before = 0;
  rlim_t after = 0;
  rlim_t hard = 0;
};

// Descriptors the server needs besides its clients: stdio (3), epoll's (3), the listener, the signal
// pipe (2), the spare of section 1, and room to spare.
constexpr long own_files = 16;

FileLimit raise_open_file_limit(long max_connections) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return {};
  FileLimit result{limit.rlim_cur, limit.rlim_cur, limit.rlim_max};
  const auto wanted = static_cast<rlim_t>(max_connections + own_files);
  if (limit.rlim_cur < wanted) {
    rlimit raised = limit;
    raised.rlim_cur = std::min(wanted, limit.rlim_max);  // RLIM_INFINITY is the largest rlim_t
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) result.after = raised.rlim_cur;
  }
  return result;
}

// The connection cap that the open-file limit `files` allows: `wanted`, or fewer (0: no room at all).
long connection_cap(long wanted, const FileLimit& files) {
  if (files.after == RLIM_INFINITY) return wanted;
  const long room = static_cast<long>(files.after) - own_files;  // descriptors left for clients
  return std::clamp(room, 0L, wanted);
}

// -------------------------------------------------------------------------------------------------
// 4. What this leaves open, on purpose: slow clients
// -------------------------------------------------------------------------------------------------
// tcp_echo_server's deadline is per line: a client that sends a 2-byte line every 59 s keeps its slot
// for ever, and 10,000 of them hold every slot of the cap (section 1) with almost no traffic. The cap
// and the deadline bound what such clients cost (memory, descriptors), not who gets served. The fixes
// each refuse some honest client: a minimum rate (a person typing slowly), a lifetime (a long chat
// session), a cap per address (a whole office behind one NAT address). A real deployment picks one
// for its own clients, or leaves it to the proxy or firewall in front; this lesson picks none.

}  // namespace echo_server

// -------------------------------------------------------------------------------------------------
// main: flags, the open-file limit, bind, serve until Ctrl-C
// -------------------------------------------------------------------------------------------------

#ifndef PLAYGROUND_NO_MAIN  // the tests include this file and bring their own main
int main(int argc, char** argv) {
  using namespace echo_server;
  std::signal(SIGPIPE, SIG_IGN);  // a stdout whose reader has gone costs log lines, not the process
  ProductionConfig config;
  int port = config.port;
  int max_line = static_cast<int>(config.max_line);
  int idle_ms = static_cast<int>(config.idle_timeout.count());
  bool quiet = false;
  pg::Flags flags("tcp_server_in_production",
                  "The echo server of tcp_echo_server with a cap on connections, the open-file limit and --threads N.");
  flags.add("--address", config.address, "IP address to listen on (127.0.0.1, ::1, 0.0.0.0 for every interface)");
  flags.add("--port", port, "TCP port to listen on (0 picks a free one)", 0, 65535);
  flags.add("--max-line", max_line, "longest line accepted, in bytes with its newline", 2, 64 * 1024 * 1024);
  flags.add("--idle-timeout-ms", idle_ms,
            "time a client has to send each whole line, and to take its echo (0: no limit)", 0, 86'400'000);
  flags.add("--max-connections", config.max_connections, "connections open at once; more are refused (section 1)", 1,
            1'000'000);
  flags.add("--threads", config.threads, "threads that run the server (section 2)", 1, 256);
  flags.add_switch("--quiet", quiet, "no log line per connection or per line (for benchmarks)");
  if (auto status = flags.parse(argc, argv)) return *status;
  config.port = static_cast<unsigned short>(port);
  config.max_line = static_cast<std::size_t>(max_line);
  config.idle_timeout = std::chrono::milliseconds(idle_ms);

  // Everything is checked before anything is printed: the open-file limit (section 3), then the
  // address and port, bound by the server's constructor.
  const FileLimit files = raise_open_file_limit(config.max_connections);
  const long cap = connection_cap(config.max_connections, files);
  if (cap < 1) {
    fmt::print(stderr,
               "tcp_server_in_production: the open-file limit ({}) leaves no room for clients (the server needs {})\n",
               files.after, own_files);
    return 1;
  }
  const long asked = std::exchange(config.max_connections, cap);
  const auto report_open_files = [&] {
    pg::banner("1. Open files (section 3)");
    const std::string limit_text =
        files.after > files.before
            ? fmt::format("open-file limit raised from {} to {} (hard limit {})", files.before, files.after, files.hard)
            : fmt::format("open-file limit: {} (hard limit {})", files.after, files.hard);
    if (cap == asked) {
      fmt::print("{}: room for --max-connections {} and the server's own files\n", limit_text, cap);
    } else {
      fmt::print("{}: --max-connections lowered from {} to {}, the most it leaves room for\n", limit_text, asked, cap);
    }
    pg::banner("2. Listen, then serve until Ctrl-C");
  };
  // As tcp_echo_server's main() (common/echo_server_program.hpp), with the report above once bound.
  return run_echo_program<ProductionServer>(
      "tcp_server_in_production", config, quiet,
      fmt::format("max line {} bytes, idle timeout {} ms, at most {} connections, {} thread(s)", max_line, idle_ms,
                  config.max_connections, config.threads),
      "\nTakeaway: cap what a client can cost, fit the cap to the open-file limit, and keep a spare\n"
      "descriptor for when they run out anyway. More threads need a strand per connection, so that each\n"
      "one still runs one step at a time.",
      report_open_files);
}
#endif

// -------------------------------------------------------------------------------------------------
// Try this: predict what the output will show, then run it. The answers below were checked with
// Asio 1.22 on Linux. Each needs the server in one terminal and a client in another.
// -------------------------------------------------------------------------------------------------
// 1. Start `build/default/networking/tcp_server_in_production --port 8888 --max-connections 2`, then
//    run `build/default/networking/tcp_echo_client --port 8888 --clients 3 --lines 2 --pause-ms 300`.
//    Answer: two clients get both their lines back; the third to connect fails with "reading the echo
//    of line 1 failed: Connection reset by peer" (it had sent a line before the server closed it, so
//    the close arrives as a reset). The server logs "[#3 ...] refused: already 2 open
//    (--max-connections)", and its summary after Ctrl-C says "at most 2 open at once, 1 refused".
//
// 2. Start it with `(ulimit -n 40; build/default/networking/tcp_server_in_production --port 8888)`.
//    What does the first line after the banner say?
//    Answer: "open-file limit: 40 (hard limit 40): --max-connections lowered from 10000 to 24, the most
//    it leaves room for": 40 descriptors minus the 16 the server keeps for its own files.
//
// 3. Start it with `--quiet --threads 2`, run `build/default/networking/tcp_echo_client --port 8888
//    --clients 200 --lines 4 --pause-ms 500`, and while it runs count the server's threads with
//    `ls /proc/$(pgrep -n tcp_server_in_p)/task | wc -l`. How many, and what does the summary say?
//    Answer: 3: the two that run the io_context and the log writer. After Ctrl-C the summary says
//    "sessions started on 2 of the 2 thread(s)" (on a busy machine, rarely 1: which thread takes the
//    next session is up to the scheduler). tcp_echo_server counts 2 threads for the same clients.
//
// Next: networking/tcp_echo_client.cpp: the other side, many clients on one thread, every wait bounded.
