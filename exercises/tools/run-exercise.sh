#!/usr/bin/env bash
# run-exercise.sh TEST_PROGRAM RESULT_FILE: run one exercise's test (ctest calls this), write "solved" or
# "unsolved" to RESULT_FILE for progress.sh, and exit with the test's own status.
test_program=$1
result_file=$2
mkdir -p "$(dirname "$result_file")"
"$test_program"
status=$?
if [ "$status" -eq 0 ]; then echo solved >"$result_file"; else echo unsolved >"$result_file"; fi
exit "$status"
