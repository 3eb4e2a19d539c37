#!/usr/bin/env bash
# audit-scale.sh: what readers of a long audit log wait for (bench/auditscale:
# a tenant's ledger records and totals, GET /v1/audit's and GET /v1/runs'
# first answer and every page, a log's tail) at BASE and at HEAD, side by
# side on the same log size.
# BASE reads the whole log and filters it; HEAD selects from the store's
# kind and tenant indexes and answers the audit route a page at a time.
#   BASE=REV HEAD=REV|. RUNS=3000 ROUNDS=5 bash bench/audit-scale.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BASE="${BASE:-0e6e0af}"
HEAD="${HEAD:-.}"
RUNS="${RUNS:-3000}"
ROUNDS="${ROUNDS:-5}"
# shellcheck source=bench/sides.sh
source bench/sides.sh
# The same program at both commits (it uses only what both have).
mkdir -p "$src_base/bench/auditscale"
cp bench/auditscale/main.go "$src_base/bench/auditscale/"
for side in base head; do
	src="$src_base"
	[ "$side" = head ] && src="$src_head"
	(cd "$src" && go build -o "$work/$side.bin" ./bench/auditscale)
done
for side in base head; do
	echo "== $side ($( [ "$side" = base ] && echo "$BASE" || echo "$HEAD" ))"
	"$work/$side.bin" -runs "$RUNS" -rounds "$ROUNDS"
done
