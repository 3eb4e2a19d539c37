#!/bin/sh
# Plan time against synthetic worlds of 4-pool sites, two ways:
#  1. the planner in process (candidates → law → estimate → rank) at 100,
#     1,000, 2,000 and 10,000 sites, all built-in rules, the real estimator;
#  2. what a user waits for: `meridian plan -f job.yaml --catalog DIR -o json`
#     from process start to exit at 100, 2,000 and 10,000 sites, with the
#     split the binary reports (load, law, estimate, rank, output) and peak
#     memory. Targets (2 cores): 2,000 sites < 300 ms, 10,000 < 1.5 s,
#     peak memory at 10,000 < 500 MB, growth no worse than linear.
#
#   bench/plan-scale.sh                 this tree
#   BASE=REV bench/plan-scale.sh        this tree and git revision REV side by side
#   RUNS=N SITES=100,2000 bench/plan-scale.sh
set -eu
cd "$(dirname "$0")/.."
runs="${RUNS:-5}"
sites="${SITES:-100,2000,10000}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
go run ./bench/planscale -runs "$runs"
echo
go build -o "$tmp/after" ./cmd/meridian
bins="after=$tmp/after"
if [ -n "${BASE:-}" ]; then
	mkdir "$tmp/base"
	git archive "$BASE" | tar -x -C "$tmp/base"
	(cd "$tmp/base" && go build -o "$tmp/before" ./cmd/meridian)
	bins="before=$tmp/before,$bins"
fi
go run ./bench/planscale -whole "$bins" -sites "$sites" -runs "$runs"
