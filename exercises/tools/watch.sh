#!/usr/bin/env bash
# watch.sh: work through the exercises with a checker that re-runs on every save.
#
#   bash exercises/tools/watch.sh                  the first unsolved exercise; re-checks it on every save
#   bash exercises/tools/watch.sh exact_counter    that exercise first
#   bash exercises/tools/watch.sh --once NAME      one check, then exit: 0 when solved, 1 when not
#   bash exercises/tools/watch.sh --once --solution NAME   the same check on the exercise's solution (CI)
#   bash exercises/tools/watch.sh --list           every exercise and the sanitizer that checks it
#
# While watching, keys: h = the next hint, n = the next exercise, q = quit.
#
# A concurrency bug often hides in one run, so an exercise counts as solved only when its test passes
# many times in a row (20 runs, or as many as fit in about 15 seconds, at least 3), and, for the
# exercises about races and lifetimes, also once built with the sanitizer that finds them
# (ThreadSanitizer or AddressSanitizer+UBSan, built on demand). A fix that
# passes once and fails on the seventh run is reported as such, with that run's output.
#
# Run it from anywhere in the repository; it builds into build/exercises (and build/exercises-asan for
# the exercises about lifetimes) with the presets of CMakePresets.json. Hints already shown are remembered in
# build/exercises/watch/ (or $PLAYGROUND_WATCH_STATE), so --once shows each time the first hint not yet
# shown.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root" || exit 2

runs_wanted=20     # runs in a row that must pass
runs_seconds=15    # ... or as many as fit in this many seconds
runs_minimum=3
sanitizer_runs=3

# The same sanitizer settings as the test presets (CMakePresets.json).
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$root/cmake/tsan.supp"

usage() {
  sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
}

# The exercises, in the order exercises/CMakeLists.txt lists them: "folder name sanitizer" per line.
exercise_table() {
  sed -n 's/^playground_exercise(\([a-z_]*\) \([a-z_]*\)\( SANITIZER \([a-z,]*\)\)\{0,1\}).*/\1 \2 \4/p' \
    exercises/CMakeLists.txt
}
folder_of() { exercise_table | awk -v n="$1" '$2 == n { print $1 }'; }
sanitizer_of() { exercise_table | awk -v n="$1" '$2 == n { print $3 }'; }
sanitizer_title() {
  case "$1" in
    thread) echo ThreadSanitizer ;;
    address,undefined) echo AddressSanitizer+UBSan ;;
    *) echo "$1" ;;
  esac
}

# The hints of an exercise's header: "// Hint N: ..." and the comment lines that continue it.
hint_count() { grep -c '^// Hint [0-9]*:' "$1"; }
# Print hint number $2 (1-based) of file $1.
print_hint() {
  awk -v want="$2" '
    /^\/\/ Hint [0-9]+:/ { n++; on = (n == want); if (on) print substr($0, 4); next }
    on && /^\/\/ +[^ ]/ { line = $0; sub(/^\/\/ +/, "", line); print "        " line; next }
    { on = 0 }
  ' "$1"
}

state_dir=${PLAYGROUND_WATCH_STATE:-build/exercises/watch}  # hints shown, exercises solved
hints_shown() { cat "$state_dir/$1.hints" 2>/dev/null || echo 0; }
show_next_hint() {  # name source
  local shown total
  shown=$(hints_shown "$1")
  total=$(hint_count "$2")
  if [ "$shown" -ge "$total" ]; then
    echo "(all $total hints shown; the solution is in exercises/solutions/$(folder_of "$1")/$1.cpp)"
    return
  fi
  shown=$((shown + 1))
  mkdir -p "$state_dir"
  echo "$shown" >"$state_dir/$1.hints"
  print_hint "$2" "$shown"
}

# Configure (once) and build one target in one preset's folder. Quiet unless it fails.
build_target() {  # preset target
  local log
  log=$(mktemp)
  if [ ! -f "build/$1/build.ninja" ] && ! cmake --preset "$1" >"$log" 2>&1; then
    cat "$log"; rm -f "$log"; return 1
  fi
  if ! cmake --build "build/$1" --target "$2" >"$log" 2>&1; then
    # The compiler's messages, without ninja's progress lines.
    grep -v '^\[[0-9]*/[0-9]*\]' "$log" | head -n 60
    rm -f "$log"
    return 1
  fi
  rm -f "$log"
}

# Run a test program until it fails, `runs_wanted` times or for `runs_seconds`. Prints nothing; sets
# passed_runs, total_runs, and failure_output (the failing run's output, if one failed).
run_many() {  # program
  local start=$SECONDS out
  passed_runs=0
  total_runs=0
  failure_output=""
  while [ "$total_runs" -lt "$runs_wanted" ]; do
    if [ "$total_runs" -ge "$runs_minimum" ] && [ $((SECONDS - start)) -ge "$runs_seconds" ]; then break; fi
    total_runs=$((total_runs + 1))
    if ! out=$("$1" 2>&1); then
      failure_output=$out
      return 1
    fi
    passed_runs=$((passed_runs + 1))
  done
}

# Catch2's output is long; keep what says what is wrong: from the first failure on, without the
# closing summary.
failure_excerpt() {
  printf '%s\n' "$1" | awk '/FAILED|SUMMARY|WARNING: ThreadSanitizer|ERROR: AddressSanitizer|runtime error/ { on = 1 }
                            on' | grep -v '^test cases:\|^assertions:\|^===*$' | head -n 30
  printf '%s\n' "$1" | grep -q 'FAILED\|SUMMARY\|Sanitizer\|runtime error' || printf '%s\n' "$1" | tail -n 15
}

# One full check of exercise $1 (its solution if $2 = solution). Prints the verdict line, and on
# failure the failing run's output. Returns 0 when solved.
check() {  # name variant
  local name=$1 variant=$2 folder sanitizer preset suffix title
  folder=$(folder_of "$name")
  sanitizer=$(sanitizer_of "$name")
  if [ "$variant" = solution ]; then preset=exercises-check; suffix=_solution; else preset=exercises; suffix=""; fi
  local target=test_${name}${suffix}
  echo "== $name: building $target"
  build_target "$preset" "$target" || { echo "$name: does not build (the compiler's messages are above)"; return 1; }
  if ! run_many "build/$preset/exercises/$target"; then
    echo "$name: still wrong (run $total_runs of up to $runs_wanted failed; $passed_runs passed before it):"
    failure_excerpt "$failure_output" | sed 's/^/    /'
    return 1
  fi
  local verdict="$passed_runs of $total_runs runs"
  if [ -n "$sanitizer" ]; then
    title=$(sanitizer_title "$sanitizer")
    # The exercises build makes test_NAME_tsan next to test_NAME (exercises/CMakeLists.txt); the other
    # sanitizers, and the solutions, have a build folder of their own.
    local sanitizer_preset=$preset-asan sanitizer_target=$target
    if [ "$sanitizer" = thread ]; then
      if [ "$variant" = solution ]; then sanitizer_preset=$preset-tsan; else sanitizer_preset=$preset; sanitizer_target=${target}_tsan; fi
    fi
    echo "== $name: passed $verdict; now under $title ($sanitizer_target)"
    build_target "$sanitizer_preset" "$sanitizer_target" || { echo "$name: does not build under $title"; return 1; }
    local saved_wanted=$runs_wanted
    runs_wanted=$sanitizer_runs
    if ! run_many "build/$sanitizer_preset/exercises/$sanitizer_target"; then
      runs_wanted=$saved_wanted
      echo "$name: still wrong: $title reports a problem (run $total_runs), although the plain runs passed:"
      failure_excerpt "$failure_output" | sed 's/^/    /'
      return 1
    fi
    runs_wanted=$saved_wanted
    verdict+=", $title clean"
  fi
  echo "$name: solved ($verdict)"
  return 0
}

source_of() {  # name variant
  if [ "$2" = solution ]; then echo "exercises/solutions/$(folder_of "$1")/$1.cpp"; else echo "exercises/$(folder_of "$1")/$1.cpp"; fi
}

# ---------------------------------------------------------------------------------------------------
# Arguments
once=0
variant=exercise
name=""
while [ $# -gt 0 ]; do
  case "$1" in
    --once) once=1 ;;
    --solution) variant=solution ;;
    --list) exercise_table | while read -r f n s; do printf '%-24s %-16s %s\n' "$n" "$f" "${s:+checked under $(sanitizer_title "$s")}"; done; exit 0 ;;
    -h | --help) usage; exit 0 ;;
    -*) echo "watch.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
    *) name=$1 ;;
  esac
  shift
done
if [ -n "$name" ] && [ -z "$(folder_of "$name")" ]; then
  echo "watch.sh: no exercise named '$name'; the exercises are:" >&2
  exercise_table | awk '{ print "  " $2 }' >&2
  exit 2
fi

if [ "$once" -eq 1 ]; then
  [ -n "$name" ] || { echo "watch.sh: --once needs an exercise name" >&2; exit 2; }
  source=$(source_of "$name" "$variant")
  if check "$name" "$variant"; then exit 0; fi
  echo
  show_next_hint "$name" "$source"
  exit 1
fi

# ---------------------------------------------------------------------------------------------------
# Watching: check, then wait for a save or a key, and check again.
[ -t 0 ] || { echo "watch.sh: watching needs a terminal; use --once NAME in scripts" >&2; exit 2; }
names=$(exercise_table | awk '{ print $2 }')
solved_file=$state_dir/solved
mkdir -p "$state_dir"
touch "$solved_file"
next_unsolved() {  # after $1 (or from the start)
  local past=0 n
  [ -z "${1:-}" ] && past=1
  for n in $names $names; do
    if [ "$past" -eq 1 ] && ! grep -qx "$n" "$solved_file"; then echo "$n"; return; fi
    [ "$n" = "${1:-}" ] && past=1
  done
}
[ -n "$name" ] || name=$(next_unsolved "")

# Saves are noticed with inotifywait when it is installed (apt install inotify-tools), else by looking
# at the file's modification time once a second (which also works on WSL's /mnt drives).
watcher_pid=""
events=$(mktemp)
trap 'rm -f "$events"; [ -n "$watcher_pid" ] && kill "$watcher_pid" 2>/dev/null' EXIT
start_watching() {  # file
  [ -n "$watcher_pid" ] && kill "$watcher_pid" 2>/dev/null
  watcher_pid=""
  if command -v inotifywait >/dev/null 2>&1; then
    # Editors save by writing the file or by renaming a new one over it: watch the folder.
    inotifywait -m -q -e close_write,moved_to --format '%f' "$(dirname "$1")" >>"$events" 2>/dev/null &
    watcher_pid=$!
  fi
}
file_changed() {  # file stamp-var
  if [ -n "$watcher_pid" ]; then
    if grep -qx "$(basename "$1")" "$events"; then : >"$events"; return 0; fi
    return 1
  fi
  local now
  now=$(stat -c %Y "$1" 2>/dev/null)
  if [ "$now" != "${!2}" ]; then printf -v "$2" '%s' "$now"; return 0; fi
  return 1
}

while [ -n "$name" ]; do
  source=$(source_of "$name" exercise)
  stamp=$(stat -c %Y "$source")
  start_watching "$source"
  clear 2>/dev/null || true
  echo "Exercise $name: $source"
  echo "  follows the lesson named in its header; read its goal there."
  if check "$name" exercise; then
    grep -qx "$name" "$solved_file" || echo "$name" >>"$solved_file"
    echo; echo "Well done. n = next exercise, q = quit."
  else
    echo; echo "Edit $source and save to check again. h = hint, n = next exercise, q = quit."
  fi
  while :; do
    key=""
    read -rsn1 -t 1 key
    case "$key" in
      q) exit 0 ;;
      n) name=$(next_unsolved "$name"); [ -n "$name" ] || { echo "Every exercise is solved."; exit 0; }; continue 2 ;;
      h) echo; show_next_hint "$name" "$source" ;;
    esac
    if file_changed "$source" stamp; then
      echo; echo "-- $source saved: checking again"
      if check "$name" exercise; then
        grep -qx "$name" "$solved_file" || echo "$name" >>"$solved_file"
        next=$(next_unsolved "$name")
        if [ -z "$next" ]; then echo "Every exercise is solved."; exit 0; fi
        echo "Next: $next (in 3 s; q to quit instead)"
        read -rsn1 -t 3 key && [ "$key" = q ] && exit 0
        name=$next
        continue 2
      fi
      echo; echo "h = hint, n = next exercise, q = quit."
    fi
  done
done
