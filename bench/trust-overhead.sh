#!/usr/bin/env bash
# trust-overhead.sh: the plan, submission and staging benchmarks at BASE
# (default: the commit before the trust work, issue 9) and at the working
# tree, run alternately ROUNDS times so that load on the machine hits both
# alike; prints the median ns/op of each and the change.
#   BASE=REV ROUNDS=5 BENCHTIME=1s bash bench/trust-overhead.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BASE="${BASE:-4cf6ae8^}"
ROUNDS="${ROUNDS:-5}"
BENCHTIME="${BENCHTIME:-1s}"
work="$(mktemp -d)"
trap 'git worktree remove --force "$work/base" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git worktree add --detach "$work/base" "$BASE" >/dev/null 2>&1
# package:benchmark regexp
benches=("planner:^BenchmarkMakeBuiltinRules$" "api:^BenchmarkSubmit$/^planner$" "transfer:^BenchmarkStage$")
for side in base head; do
	src=.
	[ "$side" = base ] && src="$work/base"
	for b in "${benches[@]}"; do
		pkg="${b%%:*}"
		(cd "$src" && go test -c -o "$work/$side-$pkg.test" "./$pkg") >/dev/null
	done
done
for r in $(seq "$ROUNDS"); do
	for side in base head; do
		for b in "${benches[@]}"; do
			pkg="${b%%:*}"
			re="${b#*:}"
			src=.
			[ "$side" = base ] && src="$work/base"
			(cd "$src/$pkg" && "$work/$side-$pkg.test" -test.run '^$' -test.bench "$re" -test.benchtime "$BENCHTIME") |
				awk -v side="$side" -v pkg="$pkg" '/^Benchmark/ {for (i=2;i<=NF;i++) if ($(i+1)=="ns/op") print pkg, $1, side, $i}' >>"$work/results"
		done
	done
	echo "round $r of $ROUNDS done" >&2
done
echo "benchmark                                  base ns/op      head ns/op    change (median of $ROUNDS, BASE=$BASE)"
sort "$work/results" | awk '
	{ key=$1" "$2; v[key, $3, ++n[key, $3]] = $4; keys[key]=1 }
	function median(key, side,   m, i, j, a, t) {
		m = n[key, side]
		for (i = 1; i <= m; i++) a[i] = v[key, side, i]
		for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
		return (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
	}
	END {
		for (k in keys) {
			b = median(k, "base"); h = median(k, "head")
			printf "%-40s %14.0f %15.0f %+9.1f %%\n", k, b, h, (h - b) / b * 100
		}
	}'
