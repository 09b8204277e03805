// Tests of the shared helpers: the flag parser every lesson uses and the timeline recorder.
#include <latch>
#include <thread>

#include "catch.hpp"
#include "playground.hpp"

using namespace std::chrono_literals;

namespace {
struct Parsed {
  pg::Flags::Result result;
  int tasks = 5;
  std::string host = "localhost";
  bool verbose = false;
};

Parsed parse(std::vector<std::string> args) {
  Parsed p;
  pg::Flags flags("demo", "A demo program.");
  flags.add("--tasks", p.tasks, "number of tasks", 1, 100);
  flags.add("--host", p.host, "where to connect");
  flags.add_switch("--verbose", p.verbose, "say more");
  p.result = flags.parse(args);
  return p;
}
}  // namespace

TEST_CASE("flags: values are parsed, in both spellings", "[flags]") {
  auto p = parse({"--tasks", "7", "--host=example", "--verbose"});
  CHECK_FALSE(p.result.exit_code.has_value());
  CHECK(p.tasks == 7);
  CHECK(p.host == "example");
  CHECK(p.verbose);
  auto defaults = parse({});
  CHECK_FALSE(defaults.result.exit_code.has_value());
  CHECK(defaults.tasks == 5);
}

TEST_CASE("flags: --help prints the usage and exits 0", "[flags]") {
  auto p = parse({"--help"});
  REQUIRE(p.result.exit_code == 0);
  CHECK(p.result.message.find("usage: demo") != std::string::npos);
  CHECK(p.result.message.find("--tasks N") != std::string::npos);
  CHECK(p.result.message.find("(default: 5)") != std::string::npos);
}

TEST_CASE("flags: bad input gives one error line, the usage, and exit 2", "[flags]") {
  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  const std::vector<Case> cases = {
      {{"--bogus"}, "demo: unknown flag '--bogus'"},
      {{"--tasks", "x"}, "demo: bad value 'x' for --tasks: not a whole number"},
      {{"--tasks", "3x"}, "demo: bad value '3x' for --tasks: not a whole number"},
      {{"--tasks", "-1"}, "demo: bad value '-1' for --tasks: must be between 1 and 100"},
      {{"--tasks", "101"}, "demo: bad value '101' for --tasks: must be between 1 and 100"},
      {{"--tasks", "99999999999999999999"}, "demo: bad value '99999999999999999999' for --tasks: not a whole number"},
      {{"--tasks"}, "demo: --tasks needs a value"},
      {{"--verbose=yes"}, "demo: --verbose takes no value"},
  };
  for (const auto& c : cases) {
    INFO("args: " << c.args.front() << (c.args.size() > 1 ? " " + c.args[1] : std::string()));
    auto p = parse(c.args);
    REQUIRE(p.result.exit_code == 2);
    const std::string& m = p.result.message;
    CHECK(m.substr(0, m.find('\n')) == c.says);
    CHECK(m.find("usage: demo") != std::string::npos);
    CHECK(p.tasks == 5);  // a rejected value never lands in the variable
  }
}

TEST_CASE("timeline: spans from several threads are all recorded with their thread", "[timeline]") {
  pg::Timeline timeline("test");
  std::vector<std::thread> threads;
  std::latch all_inside(4);  // no span ends before every span has started, however slow thread start-up is
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&timeline, &all_inside, i] {
      auto span = timeline.scope(fmt::format("worker {}", i));
      all_inside.arrive_and_wait();
      std::this_thread::sleep_for(20ms);
    });
  for (auto& t : threads) t.join();
  auto spans = timeline.spans_by_start();
  REQUIRE(spans.size() == 4);
  for (const auto& s : spans) {
    CHECK(s.end > s.start);
    CHECK(s.start >= timeline.origin());
    CHECK(s.pid == ::getpid());
    CHECK(s.tid != pg::os_thread_id());  // recorded on the worker, not here
    CHECK(s.thread != pg::thread_number());
  }
  // All four were inside their spans at once: the first to start overlaps with every other.
  for (std::size_t i = 1; i < spans.size(); ++i) CHECK(pg::overlap(spans[0], spans[i]));
}

TEST_CASE("timeline: the chart has one lane per span, in start order, and caps long lists", "[timeline]") {
  pg::Timeline timeline("chart");
  const auto t0 = timeline.origin();
  timeline.add({"second", t0 + 50ms, t0 + 100ms, ::getpid(), 1, 1});
  timeline.add({"first", t0, t0 + 50ms, ::getpid(), 1, 1});
  const std::string chart = timeline.render(20, 10);
  CHECK(chart.find("chart: 2 spans over 100.0 ms, one column = 10.0 ms") != std::string::npos);
  const auto first = chart.find("first  |█████·····|     0.0 ->    50.0 ms  thread 1");
  const auto second = chart.find("second |·····█████|    50.0 ->   100.0 ms  thread 1");
  CHECK(first != std::string::npos);
  CHECK(second != std::string::npos);
  CHECK(first < second);
  CHECK(timeline.render(1, 10).find("... and 1 more spans") != std::string::npos);
  // A run shorter than a millisecond is told in microseconds, never as "one column = 0.0 ms".
  pg::Timeline quick("quick");
  const auto q0 = quick.origin();
  quick.add({"a", q0, q0 + 40us, ::getpid(), 1, 1});
  quick.add({"b", q0 + 40us, q0 + 80us, ::getpid(), 1, 1});
  CHECK(quick.render(20, 10).find("quick: 2 spans over 80.0 us, one column = 8.0 us") != std::string::npos);
  pg::Timeline medium("medium");
  medium.add({"a", medium.origin(), medium.origin() + 500us, ::getpid(), 1, 1});
  CHECK(medium.render(20, 10).find("medium: 1 span over 500 us, one column = 50.0 us") != std::string::npos);
}

TEST_CASE("timeline: a span survives the trip through its text form", "[timeline]") {
  const auto now = pg::Clock::now();
  pg::Span original{"task with spaces", now, now + 1234us, 4242, 4343, 3};
  const std::string line = pg::Timeline::encode(original);
  CHECK(line.back() == '\n');
  auto decoded = pg::Timeline::decode(line);
  REQUIRE(decoded.has_value());
  CHECK(decoded->name == original.name);
  CHECK(decoded->start == original.start);
  CHECK(decoded->end == original.end);
  CHECK(decoded->pid == 4242);
  CHECK(decoded->tid == 4343);
  CHECK(decoded->thread == 3);
  CHECK_FALSE(pg::Timeline::decode("not a span").has_value());
}

TEST_CASE("json_escape: quotes, backslashes and control characters are escaped", "[trace]") {
  CHECK(pg::json_escape("plain task 1") == "plain task 1");
  CHECK(pg::json_escape("say \"hi\"") == "say \\\"hi\\\"");
  CHECK(pg::json_escape("C:\\tmp") == "C:\\\\tmp");
  CHECK(pg::json_escape("tab\there\nline") == "tab\\u0009here\\u000aline");
}

TEST_CASE("html page: the trace's JSON is embedded whole, and a span name cannot end the script", "[trace]") {
  const std::string json =
      fmt::format(R"({{"traceEvents":[{{"name":"{}","cat":"c","ph":"X","ts":0,"dur":5,"pid":1,"tid":1}}]}})",
                  pg::json_escape("</script><b>odd</b>"));
  const std::string page = pg::timeline_page("lesson <1>", json);
  // Exactly two "</script" in the page: the end of the data element and the end of the drawing script.
  std::size_t count = 0;
  for (auto at = page.find("</script"); at != std::string::npos; at = page.find("</script", at + 1)) ++count;
  CHECK(count == 2);
  CHECK(page.find(R"(<\/script><b>odd<\/b>)") != std::string::npos);  // the name, escaped the JSON way
  CHECK(page.find("<title>lesson &lt;1> timelines</title>") != std::string::npos);
  CHECK(page.find("data-drawn-spans") != std::string::npos);
}
