#!/usr/bin/env bash
# run-exercise.sh TEST_PROGRAM RESULT_FILE [RACE_TEST_PROGRAM]: run one exercise's test (ctest calls
# this), write its outcome to RESULT_FILE for progress.sh, and exit 0 only when the exercise is solved.
# RESULT_FILE gets one line, "solved", "unsolved" or "not built", and for an unsolved exercise a second
# line saying why. RACE_TEST_PROGRAM, given for the exercises about races, is the same test built with
# ThreadSanitizer: such an exercise is solved only when both pass, since a data race often gives the
# right answer in a plain run.
test_program=$1
result_file=$2
race_test_program=${3:-}
mkdir -p "$(dirname "$result_file")"

record() {  # record OUTCOME [WHY]
  printf '%s\n' "$@" >"$result_file"
}

for program in "$test_program" $race_test_program; do
  if [ ! -x "$program" ]; then
    echo "not built: $program does not exist. Build it: cmake --build build/exercises --target $(basename "$program")"
    record "not built"
    exit 1
  fi
done

"$test_program"
status=$?
if [ "$status" -ne 0 ]; then
  record unsolved
  exit "$status"
fi

if [ -n "$race_test_program" ]; then
  # The tsan test preset's settings (CMakePresets.json), unless the caller chose its own.
  root=$(cd "$(dirname "$0")/../.." && pwd)
  export TSAN_OPTIONS=${TSAN_OPTIONS:-"halt_on_error=1:second_deadlock_stack=1:suppressions=$root/cmake/tsan.supp"}
  echo "== the same test under ThreadSanitizer: $race_test_program"
  "$race_test_program"
  status=$?
  if [ "$status" -ne 0 ]; then
    echo "The test passes, but fails under ThreadSanitizer (exit $status): read its report above."
    record unsolved "its test passes, but not under ThreadSanitizer: run $(basename "$race_test_program")"
    exit "$status"
  fi
fi
record solved
exit 0
