#!/usr/bin/env bash
# check-exercises.sh: proves every exercise honest. For each exercise, its test must FAIL on the
# exercise as shipped and PASS on its solution, in a plain build (-Werror) and, for the exercises
# about races or lifetimes, under ThreadSanitizer or AddressSanitizer+UBSan as well. CI runs it from
# the repository's root:   bash exercises/tools/check-exercises.sh
# Exit status 0 when every check holds; the last line says how many held.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

# The same sanitizer settings as the asan and tsan test presets (CMakePresets.json).
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$root/cmake/tsan.supp"

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
checks=0
failures=0
for preset in exercises-check exercises-check-tsan exercises-check-asan; do
  echo "== $preset: configure and build"
  if ! cmake --preset "$preset" >"$logs/configure.log" 2>&1; then
    cat "$logs/configure.log"; echo "FAIL: cmake --preset $preset"; exit 1
  fi
  if ! cmake --build --preset "$preset" >"$logs/build.log" 2>&1; then
    tail -n 60 "$logs/build.log"; echo "FAIL: cmake --build --preset $preset"; exit 1
  fi
  while read -r name exercise_test solution_test; do
    checks=$((checks + 1))
    "$exercise_test" >"$logs/exercise.log" 2>&1
    exercise_status=$?
    "$solution_test" >"$logs/solution.log" 2>&1
    solution_status=$?
    if [ "$exercise_status" -ne 0 ] && [ "$solution_status" -eq 0 ]; then
      printf 'ok    %-34s exercise fails (exit %d), solution passes\n' "$name" "$exercise_status"
    else
      failures=$((failures + 1))
      if [ "$exercise_status" -eq 0 ]; then
        printf 'FAIL  %-34s the test PASSES on the unsolved exercise\n' "$name"
      fi
      if [ "$solution_status" -ne 0 ]; then
        printf 'FAIL  %-34s the test FAILS on the solution (exit %d):\n' "$name" "$solution_status"
        tail -n 30 "$logs/solution.log" | sed 's/^/      /'
      fi
    fi
  done <"build/$preset/exercise_checks.txt"
done
echo "$((checks - failures)) of $checks exercise checks hold (each: the test fails unsolved, passes solved)"
[ "$failures" -eq 0 ]
