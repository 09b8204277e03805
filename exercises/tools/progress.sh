#!/usr/bin/env bash
# progress.sh RESULT_DIR FOLDER/NAME...: ctest runs this after every exercise's test (the test
# exercises/all_solved). It prints each exercise's outcome (solved, unsolved and why, not built, or not
# run) and "N of M solved", and fails until all are. run-exercise.sh writes the outcomes.
result_dir=$1
shift
solved=0
lines=""
for exercise in "$@"; do
  name=${exercise#*/}
  outcome="not run"
  why=""
  if [ -f "$result_dir/$name" ]; then
    { IFS= read -r outcome; IFS= read -r why; } <"$result_dir/$name"
  fi
  [ "$outcome" = solved ] && solved=$((solved + 1))
  line=$(printf '  %-9s exercises/%s.cpp' "$outcome" "$exercise")
  [ -n "$why" ] && line+=" ($why)"
  lines+=$line$'\n'
done
printf '%s' "$lines"
echo "$solved of $# solved"
[ "$solved" -eq "$#" ]
