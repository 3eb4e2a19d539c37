#!/usr/bin/env bash
# Scale check of the kubernetes backend (issue 10): a control plane of its own
# (scripts/kube-up.sh with MERIDIAN_KUBE_AGENTS=0, on other ports), KWOK
# v0.8.0 faking 1,000 GPU nodes (8 nvidia.com/gpu each) and completing the
# Jobs' pods, and 2,000 attempts submitted and followed through the backend's
# informers; then the same number of attempts on the local backend. Prints
# submissions per second, the watch lag (a change written to a Job until the
# backend's cache holds it: p50/p99/max), the time until every attempt is
# seen finished and the cost of one Status call, for both.
#
#   bench/kube-scale.sh            # 1,000 nodes, 2,000 attempts, 32 submitters
#   MERIDIAN_BENCH_NODES=100 MERIDIAN_BENCH_JOBS=200 bench/kube-scale.sh
#
# Not part of scripts/test.sh: it takes several minutes (KWOK's first build
# about 4 minutes; binaries are cached like kube-up.sh's).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
KWOK_VERSION=v0.8.0
CACHE="${MERIDIAN_KUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/meridian/kubelab}"
KWOK_BIN="$CACHE/kwok-$KWOK_VERSION-$(go env GOVERSION)"
work="$(mktemp -d "${TMPDIR:-/tmp}/meridian-kube-scale.XXXXXX")"
export MERIDIAN_KUBE_DIR="$work/cluster" MERIDIAN_KUBE_PORT="${MERIDIAN_BENCH_PORT:-17443}" MERIDIAN_KUBE_AGENTS=0
kwok_pid=""
cleanup() {
	[ -z "$kwok_pid" ] || kill "$kwok_pid" 2>/dev/null || true
	bash scripts/kube-down.sh || true
	rm -rf "$work"
}
trap cleanup EXIT

if [ ! -x "$KWOK_BIN/kwok" ]; then
	echo "kube-scale: building kwok $KWOK_VERSION (about 4 minutes the first time)" >&2
	mkdir -p "$KWOK_BIN.tmp"
	GOBIN="$KWOK_BIN.tmp" nice go install "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
	rm -rf "$KWOK_BIN"
	mv "$KWOK_BIN.tmp" "$KWOK_BIN"
fi
# KWOK's own "fast" stages: nodes turn Ready and keep a lease; pods turn
# Running at once and, when a Job owns them, Succeeded.
stages="$(go env GOMODCACHE)/sigs.k8s.io/kwok@$KWOK_VERSION/kustomize/stage"
[ -d "$stages" ] || (cd "$work" && go mod download "sigs.k8s.io/kwok@$KWOK_VERSION")
{
	for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
		pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
		echo ---
		cat "$stages/$f"
	done
} >"$work/kwok.yaml"

t0=$SECONDS
bash scripts/kube-up.sh
# shellcheck disable=SC1091
source "$MERIDIAN_KUBE_DIR/env.sh"
"$KWOK_BIN/kwok" --kubeconfig "$MERIDIAN_KUBECONFIG" --config "$work/kwok.yaml" \
	--manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
	--node-ip 127.0.0.1 --cidr 10.244.0.0/16 --node-lease-duration-seconds 40 \
	--server-address 127.0.0.1:$((MERIDIAN_KUBE_PORT + 30)) >"$work/kwok.log" 2>&1 &
kwok_pid=$!
echo "kube-scale: control plane and kwok up in $((SECONDS - t0)) s" >&2

export MERIDIAN_BENCH_KWOK_KUBECONFIG="$MERIDIAN_KUBECONFIG"
go test ./bench/kubescale -run '^$' -bench 'BenchmarkScale' -benchtime 1x -timeout 60m -v
