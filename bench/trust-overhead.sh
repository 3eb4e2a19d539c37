#!/usr/bin/env bash
# trust-overhead.sh: the plan, submission and staging benchmarks at BASE and
# at HEAD (default: the commits before and after the trust work of issue 9;
# HEAD=. for the working tree), in CPU seconds per operation.
#
# Each benchmark runs at a small and a large fixed iteration count, and the
# difference of the process's CPU time (user + system) divided by the
# difference of the counts is the CPU an operation costs: set-up cancels out,
# and CPU time is what other work on a busy machine disturbs least. Sides
# run alternately, ROUNDS times; the medians are printed with the change.
# The benchmark's own wall time per operation (from the larger count) is
# printed too: where set-up dominates a run's CPU (staging writes and adds
# 64 MiB first) it is the steadier figure, on a quiet machine.
#   BASE=REV HEAD=REV|. ROUNDS=3 ONLY=REGEXP SCALE=1 bash bench/trust-overhead.sh
# (ONLY keeps the benchmarks whose name matches: plan-us, plan-cn, submit,
# stage-64MiB, api-plan-us, api-plan-cn; SCALE multiplies both iteration
# counts, for steadier figures on a busy machine. The api-plan benchmarks
# are the whole POST /v1/plans call; commits before it lack them.)
set -euo pipefail
cd "$(dirname "$0")/.."
BASE="${BASE:-4cf6ae8^}"
HEAD="${HEAD:-4cf6ae8}"
ROUNDS="${ROUNDS:-3}"
ONLY="${ONLY:-.}"
SCALE="${SCALE:-1}"
# shellcheck source=bench/sides.sh
source bench/sides.sh
# name package benchmark-regexp small-count large-count
benches=(
	"plan-us planner ^BenchmarkMakeBuiltinRules$/^job=us 2 8"
	"plan-cn planner ^BenchmarkMakeBuiltinRules$/^job=cn 2 8"
	"submit api ^BenchmarkSubmit$/^planner$ 40 400"
	"stage-64MiB transfer ^BenchmarkStage$ 2 12"
	"api-plan-us api ^BenchmarkAPIPlan$/^us$ 2 8"
	"api-plan-cn api ^BenchmarkAPIPlan$/^cn$ 2 8"
)
for side in base head; do
	src="src_$side"
	for pkg in planner api transfer; do
		(cd "${!src}" && go test -c -o "$work/$side-$pkg.test" "./$pkg") >/dev/null
	done
done
# cpu SIDE PKG RE N: CPU seconds of one run of the test binary, then the
# benchmark's own wall ns/op (the last benchmark line's).
cpu() {
	local src="src_$1"
	(
		cd "${!src}/$2"
		TIMEFORMAT='%U %S'
		{ time "$work/$1-$2.test" -test.run '^$' -test.bench "$3" -test.benchtime "${4}x" >"$work/out"; } 2>&1 |
			awk -v out="$work/out" '{c = $1 + $2} END {w = 0; while ((getline l < out) > 0) if (l ~ /^Benchmark/) { split(l, f); w = f[3] } print c, w}'
	)
}
for r in $(seq "$ROUNDS"); do
	for b in "${benches[@]}"; do
		read -r name pkg re n1 n2 <<<"$b"
		[[ "$name" =~ $ONLY ]] || continue
		n1=$((n1 * SCALE)) n2=$((n2 * SCALE))
		for side in base head; do
			read -r c1 _ <<<"$(cpu "$side" "$pkg" "$re" "$n1")"
			read -r c2 w2 <<<"$(cpu "$side" "$pkg" "$re" "$n2")"
			echo "$name $side $(awk -v a="$c1" -v b="$c2" -v n1="$n1" -v n2="$n2" 'BEGIN {print (b - a) / (n2 - n1)}')" >>"$work/results"
			echo "$name $side $(awk -v w="$w2" 'BEGIN {print w / 1e9}')" >>"$work/wall"
		done
	done
	echo "round $r of $ROUNDS done" >&2
done
report() {
awk '
	{ v[$1, $2, ++n[$1, $2]] = $3; if (!($1 in seen)) { seen[$1] = 1; order[++k] = $1 } }
	function median(key, side,   m, i, j, a, t) {
		m = n[key, side]
		for (i = 1; i <= m; i++) a[i] = v[key, side, i]
		for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
		return (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
	}
	END {
		for (i = 1; i <= k; i++) {
			b = median(order[i], "base"); h = median(order[i], "head")
			printf "%-14s %14.5f %14.5f %+8.1f %%\n", order[i], b, h, (h - b) / b * 100
		}
	}' "$1"
}
printf '%-14s %14s %14s %9s   (CPU s/op, median of %s; BASE=%s HEAD=%s)\n' benchmark base head change "$ROUNDS" "$BASE" "$HEAD"
report "$work/results"
printf '\n%-14s %14s %14s %9s   (wall s/op as the benchmark reports it, median of %s: needs a quiet machine)\n' benchmark base head change "$ROUNDS"
report "$work/wall"
