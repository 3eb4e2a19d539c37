#!/usr/bin/env bash
# Stops the cluster that kube-up.sh started (same MERIDIAN_KUBE_DIR): the node
# agents first (each stops its pods' processes), then the scheduler, the
# controller manager, the API server and etcd last, and waits until they have
# exited. The state directory is removed unless --keep is given.
set -euo pipefail
DIR="${MERIDIAN_KUBE_DIR:-${TMPDIR:-/tmp}/meridian-kube}"
[ -d "$DIR/run" ] || exit 0

running() {
	local st
	st="$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)" || return 1
	[ -n "$st" ] && [ "$st" != Z ]
}

# stop NAME...: SIGTERM to each (in parallel), again after 10 s (an API server
# whose etcd is gone can ignore the first), SIGKILL after 30 s.
stop() {
	local f p pids=() deadline second
	for f in "$@"; do
		f="$DIR/run/$f.pid"
		[ -s "$f" ] || continue
		p="$(cat "$f")"
		if running "$p"; then kill "$p" 2>/dev/null && pids+=("$p"); fi
	done
	second=$((SECONDS + 10))
	deadline=$((SECONDS + 30))
	for p in "${pids[@]}"; do
		while running "$p"; do
			if [ "$SECONDS" -ge "$deadline" ]; then
				kill -9 "$p" 2>/dev/null || true
				break
			fi
			if [ "$SECONDS" -ge "$second" ]; then kill "$p" 2>/dev/null || true; fi
			sleep 0.1
		done
	done
}

nodes=()
for f in "$DIR"/run/meridian-kube-*.pid; do
	[ -e "$f" ] && nodes+=("$(basename "$f" .pid)")
done
stop "${nodes[@]}"
stop kube-scheduler kube-controller-manager
stop kube-apiserver
stop etcd
rm -f "$DIR"/run/*.pid
if [ "${1:-}" != --keep ]; then
	rm -rf "$DIR"
fi
