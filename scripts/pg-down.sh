#!/usr/bin/env bash
# Stops the PostgreSQL server that pg-up.sh started in DIR and removes DIR.
#   bash scripts/pg-down.sh "$MERIDIAN_PG_DIR"
set -euo pipefail
dir="${1:-${MERIDIAN_PG_DIR:-}}"
[ -n "$dir" ] && [ -d "$dir/data" ] || exit 0
BIN="${MERIDIAN_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}"
if [ "$(id -u)" = 0 ]; then
	runuser -u postgres -- "$BIN/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
else
	"$BIN/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
fi
rm -rf "$dir"
