#!/usr/bin/env bash
# test-watch.sh: the test of watch.sh itself. CI runs it after check-exercises.sh:
#   bash exercises/tools/test-watch.sh
#
# 1. --once on an unsolved exercise (exact_counter): exit 1, "still wrong" with the test's own message,
#    and the first hint.
# 2. --once --solution on its solution: exit 0 and "solved (N of N runs, ThreadSanitizer clean)".
# 3. --once on a wrong fix that passes every plain run (a plain int counter: a data race): exit 1,
#    and ThreadSanitizer named as what found it.
# 4. One interactive round in a terminal (tmux): the watcher shows the exercise unsolved, `h` shows a
#    hint, saving a correct fix makes it say "solved" and move on, `q` quits.
# Steps 3 and 4 work in a scratch copy of the repository, so the real exercise files are never touched.
# Exit status 0 when every step holds; the last line counts them.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root" || exit 2
passed=0
failed=0
ok() { echo "ok    $1"; passed=$((passed + 1)); }
fail() { echo "FAIL  $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | tail -n 40 | sed 's/^/      /'; failed=$((failed + 1)); }

# The watcher's memory of hints shown, fresh for this test.
export PLAYGROUND_WATCH_STATE
PLAYGROUND_WATCH_STATE=$(mktemp -d)

# 1. An unsolved exercise.
out=$(bash exercises/tools/watch.sh --once exact_counter 2>&1)
status=$?
if [ "$status" -eq 1 ] && grep -q '^exact_counter: still wrong' <<<"$out" && grep -q 'visits' <<<"$out" &&
   grep -q '^Hint 1:' <<<"$out"; then
  ok "--once on the unsolved exercise: exit 1, the test's message and a hint"
else
  fail "--once on the unsolved exercise (exit $status)" "$out"
fi

# 2. Its solution.
out=$(bash exercises/tools/watch.sh --once --solution exact_counter 2>&1)
status=$?
if [ "$status" -eq 0 ] && grep -Eq '^exact_counter: solved \(([0-9]+) of \1 runs, ThreadSanitizer clean\)' <<<"$out"; then
  ok "--once --solution: exit 0, $(grep '^exact_counter: solved' <<<"$out")"
else
  fail "--once --solution (exit $status)" "$out"
fi

# A scratch copy of the sources (not the build folders), where steps 3 and 4 may edit exercises.
scratch=$(mktemp -d)
trap 'tmux kill-session -t watch-test 2>/dev/null; rm -rf "$scratch" "$PLAYGROUND_WATCH_STATE"' EXIT
mkdir -p "$scratch/repo"
tar -C "$root" --exclude=./build --exclude=./.git -cf - . | tar -C "$scratch/repo" -xf -
copy=$scratch/repo/exercises/threading/exact_counter.cpp

# 3. A wrong fix that passes every plain run: ++ on a plain int, a data race that -O2 hides.
sed -e 's/std::atomic<int> counter{0};/int counter = 0;/' \
    -e 's/const int seen = counter.load();.*/++counter;/' \
    -e '/std::this_thread::yield();  *\/\/ another thread/d' \
    -e '/counter.store(seen + 1);/d' \
    -e 's/return counter.load();/return counter;/' "$root/exercises/threading/exact_counter.cpp" >"$copy"
if ! grep -q '++counter;' "$copy" || grep -q 'counter.store' "$copy"; then
  fail "step 3 could not write the plain-int fix (the exercise's text changed?)" "$(cat "$copy")"
else
  out=$(bash "$scratch/repo/exercises/tools/watch.sh" --once exact_counter 2>&1)
  status=$?
  # Usually every plain run passes and ThreadSanitizer reports the race; on a busy machine a plain run
  # may lose updates first (the race is real), which the many runs are there to catch. Either way: unsolved.
  if [ "$status" -eq 1 ] && grep -q 'passed [0-9]* of [0-9]* runs; now under ThreadSanitizer (test_exact_counter_tsan)' <<<"$out" &&
     grep -q 'ThreadSanitizer reports a problem' <<<"$out" && grep -q 'data race' <<<"$out"; then
    ok "--once on a plain-int fix: every plain run passes, ThreadSanitizer's data race makes it unsolved"
  elif [ "$status" -eq 1 ] && grep -Eq 'still wrong \(run [0-9]+ of up to [0-9]+ failed' <<<"$out" &&
       grep -q 'were lost' <<<"$out"; then
    ok "--once on a plain-int fix: unsolved ($(grep -o 'run [0-9]* of up to [0-9]* failed' <<<"$out"), lost updates seen)"
  else
    fail "--once on a plain-int fix (exit $status)" "$out"
  fi
fi
cp "$root/exercises/threading/exact_counter.cpp" "$copy"

# 4. One interactive round in tmux.
if ! command -v tmux >/dev/null 2>&1; then
  echo "SKIPPED: the interactive round needs tmux (bash cmake/install-dependencies.sh --watch)"
else
  screen() { tmux capture-pane -p -S -200 -t watch-test 2>/dev/null; }
  wait_for() {  # regex seconds
    local deadline=$((SECONDS + $2))
    while [ "$SECONDS" -lt "$deadline" ]; do
      screen | grep -Eq "$1" && return 0
      sleep 0.5
    done
    return 1
  }
  tmux new-session -d -s watch-test -x 160 -y 50 "bash $scratch/repo/exercises/tools/watch.sh exact_counter; sleep 30"
  round_ok=1
  if ! wait_for 'exact_counter: still wrong' 240; then
    round_ok=0; fail "interactive: the watcher never reported the unsolved exercise" "$(screen)"
  fi
  if [ "$round_ok" -eq 1 ]; then
    tmux send-keys -t watch-test h
    if ! wait_for '^Hint [0-9]:' 10; then round_ok=0; fail "interactive: h showed no hint" "$(screen)"; fi
  fi
  if [ "$round_ok" -eq 1 ]; then
    sleep 1.1  # a new modification time, for the watcher that polls it once a second
    cp "$root/exercises/solutions/threading/exact_counter.cpp" "$copy"
    if ! wait_for 'exact_counter: solved \([0-9]+ of [0-9]+ runs, ThreadSanitizer clean\)' 240; then
      round_ok=0; fail "interactive: saving the solution did not make it solved" "$(screen)"
    fi
  fi
  if [ "$round_ok" -eq 1 ]; then
    if ! wait_for 'Next: ' 10; then round_ok=0; fail "interactive: no next exercise offered" "$(screen)"; fi
  fi
  if [ "$round_ok" -eq 1 ]; then
    tmux send-keys -t watch-test q
    sleep 1
    if screen | grep -q 'Exercise lock_order_deadlock'; then
      round_ok=0; fail "interactive: q did not quit before the next exercise" "$(screen)"
    fi
  fi
  [ "$round_ok" -eq 1 ] && ok "interactive: unsolved, h shows a hint, a saved fix is solved, q quits"
  printf '%s\n' "--- the watcher's screen:"; screen | grep -v '^$' | tail -n 12 | sed 's/^/    /'
fi

echo "watch.sh: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
