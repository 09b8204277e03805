#!/usr/bin/env python3
"""Mutation check: evidence that the tests test something.

Each entry of tests/mutations.py breaks one teaching point of one lesson with a small edit (drop the
lock, await one by one, skip waitpid, ...) and names the tests that must then fail. For every entry
this script copies the lesson into a scratch folder, applies the edit, compiles that lesson's test
program and, when its tests run the lesson as a program (LESSON_BINARY), the lesson's program too,
both from the copy (with the compile and link commands CMake wrote for the real ones), runs only the
named tests, and reports:

  CAUGHT       the tests failed, as they must
  MISSED       the tests passed with the lesson broken: a test is too weak
  SKIPPED      a timing test skipped (the machine had no two free cores): not judged, and not counted
               as caught; run it again on an idle machine, where a mutant that breaks the speedup fails
  NOT APPLIED  the snippet is no longer in the lesson (exactly once): update the entry
  NO BUILD     the mutant does not compile: fix the replacement

Mutants judged by timing tests ([timing]: they need free cores) run last, one at a time, with no other
mutant building or running beside them.

It first checks that the named tests pass on the unchanged lesson (the build folder's own test
programs, brought up to date with cmake --build), so a caught mutant means the edit broke them.
Exit status 0 only when every mutation was applied and caught, or skipped for want of free cores (a
busy machine cannot judge a speedup either way; the summary counts the skips apart).

  python3 tests/mutation_check.py                      # every mutation, build/default
  python3 tests/mutation_check.py --only locks         # entries whose lesson or name matches
  python3 tests/mutation_check.py --list               # print the list, build nothing

Needs a configured Ninja build folder (cmake --preset default). Python 3 standard library only.
"""

import argparse
import concurrent.futures
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from mutations import MUTATIONS  # noqa: E402  (the list sits next to this script)


def catch_escape(name):
    """A test name as a Catch2 test spec that matches exactly that name."""
    return re.sub(r"([\\,\[\]])", r"\\\1", name)


def lesson_of(mutation):
    """The (folder, lesson) whose test program judges the entry: its own, or the one it names."""
    folder, file = (mutation["tested_by"] or mutation["lesson"]).split("/")
    return folder, os.path.splitext(file)[0]


class Executable:
    """One program of the build folder (a lesson or its test program): how CMake compiles and links it,
    so that a mutant is built exactly as the real one, into a scratch folder laid out like the build
    folder (scratch/tests/test_LESSON, scratch/FOLDER/LESSON)."""

    def __init__(self, build_dir, source, output):
        self.build_dir = build_dir
        self.source = source
        self.output = output  # relative to the build folder, as Ninja names it: "tests/test_x", "basics/x"
        with open(os.path.join(build_dir, "compile_commands.json")) as f:
            entries = [e for e in json.load(f) if os.path.realpath(e["file"]) == os.path.realpath(source)]
        if not entries:
            raise SystemExit(f"mutation_check: no compile command for {source} in {build_dir}")
        entry = entries[0]
        self.directory = entry["directory"]
        self.compile = entry["arguments"] if "arguments" in entry else shlex.split(entry["command"])
        # The link command is the one Ninja would run for the target (the first of the chain it runs).
        commands = subprocess.run(["ninja", "-C", build_dir, "-t", "commands", output],
                                  capture_output=True, text=True, check=True).stdout.splitlines()
        link = [c for c in commands if f"-o {output} " in c + " "]
        if not link:
            raise SystemExit(f"mutation_check: no link command for {output} (is {build_dir} a Ninja build?)")
        self.link = shlex.split(link[-1].removeprefix(": && ").split(" && ")[0])

    def build_mutant(self, scratch, sanitizer, source=None):
        """Compile `source` (default: the real source, which then finds the lesson copies in `scratch`
        first) and link it to scratch/OUTPUT; None or the error."""
        name = os.path.basename(self.output)
        obj = os.path.join(scratch, name + ".o")
        exe = os.path.join(scratch, self.output)
        os.makedirs(os.path.dirname(exe), exist_ok=True)
        args = []
        skip = False
        for a in self.compile:
            if skip:
                skip = False
                continue
            if a == "-o":
                skip = True
                continue
            if re.fullmatch(r"-O\S*|-g\S*", a):  # debug info only costs time here; the level is set below
                continue
            if source and os.path.realpath(a) == os.path.realpath(self.source):
                a = source
            # A file of the source tree named relative to the build folder (tests/trace_check.py) is
            # named relative to the scratch folder instead, which stands for the build folder.
            defined = re.fullmatch(r'-D(\w+_IN_BUILD)="(.*)"', a)
            if defined:
                real = os.path.normpath(os.path.join(self.build_dir, defined.group(2)))
                if not real.startswith(self.build_dir + os.sep):
                    a = f'-D{defined.group(1)}="{os.path.relpath(real, scratch)}"'
            args.append(a)
        # Our copy of the lesson is found first: the test's #include "FOLDER/LESSON.cpp" looks in the
        # -iquote folders before the -I ones.
        # -O2 as in the default preset; -O1 under a sanitizer, as in the asan and tsan presets.
        extra = ["-iquote", scratch, "-O1" if sanitizer else "-O2", "-o", obj]
        if sanitizer:
            extra += [f"-fsanitize={sanitizer}", "-fno-omit-frame-pointer"]
        command = args[:1] + extra + args[1:]
        if shutil.which("ccache") and os.path.basename(command[0]) != "ccache":
            command = ["ccache"] + command
        r = subprocess.run(command, cwd=self.directory, capture_output=True, text=True)
        if r.returncode != 0:
            return r.stderr
        link = []
        skip = False
        for a in self.link:
            if skip:
                skip = False
                link.append(exe)
                continue
            if a == "-o":
                skip = True
                link.append(a)
                continue
            if a.endswith(".o"):
                link.append(obj)
                continue
            link.append(a)
        if sanitizer:
            link.insert(1, f"-fsanitize={sanitizer}")
        r = subprocess.run(link, cwd=self.build_dir, capture_output=True, text=True)
        return r.stderr if r.returncode != 0 else None


class TestProgram:
    """One lesson's test program in the build folder and, when its tests run the lesson as a program,
    the lesson's own program: a mutant rebuilds both, so that the tests that run the program see it."""

    def __init__(self, build_dir, folder, lesson):
        self.folder = folder
        self.lesson = lesson
        self.target = f"test_{lesson}"
        source = os.path.join(ROOT, "tests", folder, f"test_{lesson}.cpp")
        self.exe = os.path.join(build_dir, "tests", self.target)
        self.tests = Executable(build_dir, source, f"tests/{self.target}")
        with open(source) as f:
            runs_program = "LESSON_BINARY" in f.read()
        lesson_source = os.path.join(ROOT, folder, f"{lesson}.cpp")
        self.program = Executable(build_dir, lesson_source, f"{folder}/{lesson}") if runs_program else None
        self._names = None
        self._timing = None

    def test_names(self):
        if self._names is None:
            out = subprocess.run([self.exe, "--list-test-names-only"], capture_output=True, text=True).stdout
            self._names = [line for line in out.splitlines() if line.strip()]
        return self._names

    def timing_names(self):
        """The tests tagged [timing]: they need free cores."""
        if self._timing is None:
            out = subprocess.run([self.exe, "[timing]", "--list-test-names-only"], capture_output=True,
                                 text=True).stdout
            self._timing = {line for line in out.splitlines() if line.strip()}
        return self._timing

    def select(self, pattern):
        return [n for n in self.test_names() if re.search(pattern, n)]

    def build_mutant(self, scratch, sanitizer, mutant_lesson):
        """The test program (and the lesson's program) from the lesson copy `mutant_lesson`, or, when
        that is None (a header is the mutant), from the real sources, which find the copy first."""
        error = self.tests.build_mutant(scratch, sanitizer)
        if error or self.program is None:
            return error
        return self.program.build_mutant(scratch, sanitizer, source=mutant_lesson)


def run_tests(exe, names, timeout):
    """Run the named tests; (passed, timed_out, last lines of output). Passing means every one of them
    ran and passed: Catch2 exits 0 when a spec matches nothing, so the count is checked too."""
    env = dict(os.environ)
    env.setdefault("TSAN_OPTIONS", f"halt_on_error=1:suppressions={ROOT}/cmake/tsan.supp")
    spec = ",".join(catch_escape(n) for n in names)  # one argument: Catch2 joins several with spaces
    try:
        r = subprocess.run([exe, spec], capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return False, True, "timed out"
    output = r.stdout + r.stderr
    tail = "\n".join(output.strip().splitlines()[-4:])
    ran = re.search(r"in (\d+) test cases?\)|test cases: +(\d+)", output)
    ran_count = int(ran.group(1) or ran.group(2)) if ran else 0
    if r.returncode == 0 and ran_count != len(names):
        raise RuntimeError(f"{os.path.basename(exe)} ran {ran_count} of the {len(names)} named tests:\n{tail}")
    skipped = [line for line in output.splitlines() if line.startswith("SKIPPED:")]
    if r.returncode == 0 and skipped:
        return False, False, "\n".join(skipped)  # not judged: see check_one
    return r.returncode == 0, False, tail


def check_one(index, mutation, program, scratch_root, timeout):
    started = time.monotonic()
    label = f"{mutation['lesson']}: {mutation['name']}"

    def result(status, detail=""):
        return {"status": status, "label": label, "detail": detail, "seconds": time.monotonic() - started}

    with open(os.path.join(ROOT, mutation["lesson"])) as f:
        text = f.read()
    for find, replace in mutation["edits"]:
        found = text.count(find)
        if found != 1:
            return result("NOT APPLIED", f"this snippet occurs {found} times, not once:\n{find}")
        text = text.replace(find, replace)
    names = program.select(mutation["tests"])
    if not names:
        return result("NOT APPLIED", f"no test of {program.target} matches {mutation['tests']!r}")
    scratch = os.path.join(scratch_root, str(index))
    shutil.rmtree(scratch, ignore_errors=True)
    os.makedirs(os.path.join(scratch, os.path.dirname(mutation["lesson"])))
    with open(os.path.join(scratch, mutation["lesson"]), "w") as f:
        f.write(text)
    header = mutation["lesson"].endswith(".hpp")
    if header:
        # The lessons include a shared header by its name alone ("process_owners.hpp"): after the
        # including file's own folder, the -iquote folders are searched, so the copy here comes first.
        shutil.copy(os.path.join(scratch, mutation["lesson"]), scratch)
    # The lesson's neighbours, unchanged, for a lesson that includes one of them by a relative path
    # (process_pool_executor.cpp includes building_a_process_pool.cpp).
    folder = os.path.dirname(mutation["lesson"])
    for name in os.listdir(os.path.join(ROOT, folder)):
        if name.endswith(".cpp") and name != os.path.basename(mutation["lesson"]):
            shutil.copy(os.path.join(ROOT, folder, name), os.path.join(scratch, folder, name))
    mutant_lesson = None if header else os.path.join(scratch, mutation["lesson"])
    error = program.build_mutant(scratch, mutation.get("sanitizer"), mutant_lesson)
    if error:
        return result("NO BUILD", "\n".join(error.strip().splitlines()[:8]))
    try:
        passed, timed_out, tail = run_tests(os.path.join(scratch, "tests", program.target), names, timeout)
    except RuntimeError as error:
        return result("NOT APPLIED", str(error))
    shutil.rmtree(scratch, ignore_errors=True)
    if passed:
        return result("MISSED", "these tests still pass: " + "; ".join(names))
    if tail.startswith("SKIPPED:"):
        return result("SKIPPED", tail + "\nnot judged: run this entry again on an idle machine")
    return result("CAUGHT", "(killed after the time limit)" if timed_out else "")


def main():
    parser = argparse.ArgumentParser(description="Break each lesson on purpose and check that its tests fail.")
    parser.add_argument("--build-dir", default=os.path.join(ROOT, "build", "default"),
                        help="a configured Ninja build folder (default: build/default)")
    parser.add_argument("--jobs", type=int, default=2, help="mutants built and run at once (default 2)")
    parser.add_argument("--only", default="", help="check only entries whose lesson or name matches this regex")
    parser.add_argument("--timeout", type=int, default=120, help="seconds allowed for one mutant's tests")
    parser.add_argument("--list", action="store_true", help="print the mutations and exit")
    options = parser.parse_args()

    mutations = [m for m in MUTATIONS if re.search(options.only, m["lesson"] + " " + m["name"])]
    if options.list:
        for m in mutations:
            print(f"{m['lesson']}: {m['name']}\n    must fail: {m['tests']}")
        return 0
    if not mutations:
        print(f"mutation_check: no mutation matches {options.only!r}", file=sys.stderr)
        return 2
    build_dir = os.path.abspath(options.build_dir)
    if not os.path.exists(os.path.join(build_dir, "build.ninja")):
        print(f"mutation_check: {build_dir} is not a configured Ninja build (run: cmake --preset default)",
              file=sys.stderr)
        return 2
    started = time.monotonic()

    # The unchanged test programs, up to date, and the named tests passing on them.
    lessons = sorted({lesson_of(m) for m in mutations})
    targets = [f"test_{lesson}" for _, lesson in lessons]
    build = subprocess.run(["cmake", "--build", build_dir, "--target"] + targets, capture_output=True, text=True)
    if build.returncode != 0:
        print(build.stdout[-3000:] + build.stderr[-3000:])
        print("mutation_check: the unchanged test programs do not build", file=sys.stderr)
        return 1
    programs = {(folder, lesson): TestProgram(build_dir, folder, lesson) for folder, lesson in lessons}
    baseline_failures = 0
    for (folder, lesson), program in programs.items():
        names = sorted({n for m in mutations if lesson_of(m) == (folder, lesson) for n in program.select(m["tests"])})
        if not names:
            continue
        try:
            passed, _, tail = run_tests(program.exe, names, options.timeout)
        except RuntimeError as error:
            passed, tail = False, str(error)
        if not passed and tail.startswith("SKIPPED:"):
            print(f"baseline: {folder}/{lesson}: a timing test skipped (busy machine):\n{tail}")
        elif not passed:
            baseline_failures += 1
            print(f"BASELINE FAILS  {folder}/{lesson}: the named tests fail on the unchanged lesson\n{tail}")
    if baseline_failures:
        print("mutation_check: fix the failing tests first; a mutant cannot be judged against them", file=sys.stderr)
        return 1
    print(f"baseline: the named tests of {len(programs)} lessons pass unchanged "
          f"({time.monotonic() - started:.0f} s)", flush=True)

    scratch_root = os.path.join(build_dir, f"mutation-check-{os.getpid()}")
    counts = {}

    def report(r):
        counts[r["status"]] = counts.get(r["status"], 0) + 1
        print(f"{r['status']:<12} {r['label']}  ({r['seconds']:.0f} s)", flush=True)
        if r["detail"] and r["status"] != "CAUGHT":
            print("             " + r["detail"].replace("\n", "\n             "), flush=True)

    # Timing tests need the machine's cores to themselves: their mutants come last, one at a time.
    def judged_by_timing(m):
        program = programs[lesson_of(m)]
        return any(n in program.timing_names() for n in program.select(m["tests"]))

    indexed = list(enumerate(mutations))
    timed = [(i, m) for i, m in indexed if judged_by_timing(m)]
    others = [(i, m) for i, m in indexed if not judged_by_timing(m)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, options.jobs)) as pool:
        futures = [pool.submit(check_one, i, m, programs[lesson_of(m)], scratch_root, options.timeout)
                   for i, m in others]
        for future in futures:  # in list order, each as soon as it is done
            report(future.result())
    for i, m in timed:
        report(check_one(i, m, programs[lesson_of(m)], scratch_root, options.timeout))
    shutil.rmtree(scratch_root, ignore_errors=True)

    caught = counts.get("CAUGHT", 0)
    problems = len(mutations) - caught - counts.get("SKIPPED", 0)
    summary = ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items()) if s != "CAUGHT")
    print(f"\nmutation check: {caught} of {len(mutations)} mutations caught"
          f"{' (' + summary + ')' if summary else ''} in {time.monotonic() - started:.0f} s")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
