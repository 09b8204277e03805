#!/usr/bin/env bash
# progress.sh RESULT_DIR FOLDER/NAME...: ctest runs this after every exercise's test (the test
# exercises/all_solved). It prints each exercise's outcome and "N of M solved", and fails until all are.
result_dir=$1
shift
solved=0
lines=""
for exercise in "$@"; do
  name=${exercise#*/}
  outcome=$(cat "$result_dir/$name" 2>/dev/null || echo "not run")
  [ "$outcome" = solved ] && solved=$((solved + 1))
  lines+=$(printf '  %-9s exercises/%s.cpp' "$outcome" "$exercise")$'\n'
done
printf '%s' "$lines"
echo "$solved of $# solved"
[ "$solved" -eq "$#" ]
