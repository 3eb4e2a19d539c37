#!/usr/bin/env bash
# Benchmarks of the catalog loader. Targets (issue 2): loading and validating
# the whole built-in catalog under 20 ms. BenchmarkLoadBuiltin is the
# uncached cost a process pays once; BenchmarkBuiltinCached what later
# calls pay. Wall time is sensitive to machine load; the script also prints
# the CPU time of a fixed number of loads.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
go test ./catalog -run '^$' -bench . -benchmem -count "${COUNT:-3}"
bin="$(mktemp)"
trap 'rm -f "$bin"' EXIT
go test -c -o "$bin" ./catalog
n=200
TIMEFORMAT="$n uncached loads: user %U s, sys %S s, wall %R s (divide by $n for one load)"
time ( cd catalog && "$bin" -test.run '^$' -test.bench '^BenchmarkLoadBuiltin$' -test.benchtime "${n}x" >/dev/null )
