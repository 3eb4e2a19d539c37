#!/usr/bin/env bash
# Compares CEL and Rego for Meridian's policy workload: evaluation of the same
# eight rules over 10,000 candidates, and the cold build time and binary size
# of a minimal program using each. Run from anywhere; prints a summary.
set -euo pipefail
cd "$(dirname "$0")"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
go test -count=1 -run TestSameAnswers .
go test -run '^$' -bench . -benchmem -count 3 -cpu "${CPUS:-2}" . | tee "$out/bench.txt"
for e in base cel rego; do
  cache="$out/cache-$e"
  start=$(date +%s.%N)
  GOCACHE="$cache" go build -o "$out/$e" "./${e}bin"
  end=$(date +%s.%N)
  size=$(stat -c %s "$out/$e")
  printf 'cold build %-4s: %6.1f s, binary %5.1f MiB\n' "$e" "$(echo "$end - $start" | bc)" "$(echo "scale=1; $size/1048576" | bc)"
done
