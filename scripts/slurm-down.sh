#!/usr/bin/env bash
# Stops the cluster that slurm-up.sh started (same MERIDIAN_SLURM_DIR) and waits
# until its daemons have exited. State stays on disk; remove the dir to reset.
set -euo pipefail
DIR="${MERIDIAN_SLURM_DIR:-${TMPDIR:-/tmp}/meridian-slurm}"
# running PID: the process exists and is not a zombie (read from /proc).
running() { local st; st="$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)" || return 1; [ -n "$st" ] && [ "$st" != Z ]; }
pids=()
for f in "$DIR/run/slurmrestd.pid" "$DIR"/run/slurmd-*.pid "$DIR/run/slurmctld.pid" "$DIR/run/munged.pid"; do
	[ -s "$f" ] || continue
	p="$(cat "$f")"
	if running "$p"; then kill "$p" && pids+=("$p"); fi
done
deadline=$((SECONDS + 30))
for p in "${pids[@]}"; do
	while running "$p"; do
		[ "$SECONDS" -lt "$deadline" ] || { kill -9 "$p" 2>/dev/null || true; break; }
		sleep 0.1
	done
done
