#!/usr/bin/env bash
# Starts a Kubernetes test cluster on 127.0.0.1 whose Pods really run: etcd,
# kube-apiserver, kube-controller-manager (for its Job controller) and
# kube-scheduler built from Go modules, and four virtual nodes whose agent
# (tools/kubelab/cmd/nodeagent, on virtual-kubelet) runs each container's
# command as a local process group.
#
#   meridian-kube-a  labels meridian.dev/site=site-a              nvidia.com/gpu: 8
#   meridian-kube-b  labels meridian.dev/site=site-b              nvidia.com/gpu: 8
#   meridian-kube-c  labels meridian.dev/site=conformance,   meridian.dev/pool=conformance
#   meridian-kube-d  labels meridian.dev/site=conformance-b, meridian.dev/pool=conformance
#   (every node also has meridian.dev/lab=true; only the backend tests use c and d,
#   so that their simulated node losses never hit other tests' pods)
#
# Namespaces site-a, site-b and conformance are created. Clients use the admin
# kubeconfig that `source "$MERIDIAN_KUBE_DIR/env.sh"` names (MERIDIAN_KUBECONFIG).
# Node loss: scripts/kube-node.sh fail|restore NODE.
#
# The binaries are built once (cold: about 20 minutes on 2 cores) into the
# user's cache directory, keyed by the Kubernetes, etcd and virtual-kubelet
# versions and a hash of tools/kubelab's source; later runs reuse them and
# start the cluster in seconds. Each start begins from an empty etcd.
# Safe to run again: when the cluster is up it only checks it.
#
# `kube-up.sh --build-only` builds (or finds) the binaries and stops there.
#
# Settings (environment): MERIDIAN_KUBE_DIR (state, default $TMPDIR/meridian-kube),
# MERIDIAN_KUBE_PORT (API server port, default 16443; etcd, the controller
# manager, the scheduler and the node agents use the next 30 ports),
# MERIDIAN_KUBE_CACHE (binaries, default ${XDG_CACHE_HOME:-~/.cache}/meridian/kubelab),
# MERIDIAN_KUBE_AGENTS=0 (control plane only: no node agents, no namespaces; for
# bench/kube-scale.sh, whose nodes KWOK fakes).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SRC="$ROOT/tools/kubelab"
DIR="${MERIDIAN_KUBE_DIR:-${TMPDIR:-/tmp}/meridian-kube}"
PORT="${MERIDIAN_KUBE_PORT:-16443}"
CACHE="${MERIDIAN_KUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/meridian/kubelab}"
ETCD_PORT=$((PORT + 10))
ETCD_PEER=$((PORT + 11))
ETCD_METRICS=$((PORT + 12))
KCM_PORT=$((PORT + 13))
SCHED_PORT=$((PORT + 14))
NODE_PORT0=$((PORT + 20))
NODES=(meridian-kube-a meridian-kube-b meridian-kube-c meridian-kube-d)
NODE_LABELS=(
	"meridian.dev/site=site-a,meridian.dev/lab=true"
	"meridian.dev/site=site-b,meridian.dev/lab=true"
	"meridian.dev/site=conformance,meridian.dev/pool=conformance,meridian.dev/lab=true"
	"meridian.dev/site=conformance-b,meridian.dev/pool=conformance,meridian.dev/lab=true"
)
NAMESPACES=(site-a site-b conformance)
if [ "${MERIDIAN_KUBE_AGENTS:-1}" = 0 ]; then
	NODES=()
	NAMESPACES=()
fi
export PATH="$PATH:/usr/local/go/bin"

log() { echo "kube-up: $*" >&2; }
die() { log "$*"; exit 1; }

# Versions come from tools/kubelab/go.mod, the one place that pins them.
modver() { awk -v m="$1" '$1 == m && $2 ~ /^v/ {print $2; exit}' "$SRC/go.mod"; }
K8S_VERSION="$(modver k8s.io/kubernetes)"
ETCD_VERSION="$(modver go.etcd.io/etcd/server/v3)"
VK_VERSION="$(modver github.com/virtual-kubelet/virtual-kubelet)"
[ -n "$K8S_VERSION" ] && [ -n "$ETCD_VERSION" ] && [ -n "$VK_VERSION" ] || die "cannot read versions from $SRC/go.mod"

# srchash DIR...: a hash of the Go toolchain, the module files and the Go
# sources (tests aside) under the named directories of tools/kubelab.
srchash() {
	{
		go version
		(cd "$SRC" && find go.mod go.sum "$@" -type f \( -name '*.go' ! -name '*_test.go' -o -name 'go.mod' -o -name 'go.sum' \) -print0 |
			LC_ALL=C sort -z | xargs -0 sha256sum)
	} | sha256sum | cut -c1-16
}

# build_set DIR BINARY... -- PACKAGE...: builds the packages into DIR unless
# it holds every binary already; a partial build never lands in DIR.
build_set() {
	local dir="$1" bins=() pkgs=() b missing=0 tmp start
	shift
	while [ "$1" != -- ]; do bins+=("$1"); shift; done
	shift
	pkgs=("$@")
	for b in "${bins[@]}"; do [ -x "$dir/$b" ] || missing=1; done
	[ "$missing" = 0 ] && return 0
	mkdir -p "$(dirname "$dir")"
	tmp="$(mktemp -d "$dir.tmp.XXXXXX")"
	start=$SECONDS
	log "building ${bins[*]} into $dir (cold: about 20 minutes on 2 cores)"
	local v=k8s.io/component-base/version
	(cd "$SRC" && nice -n 10 go build \
		-ldflags "-s -w -X $v.gitVersion=$K8S_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$(echo "$K8S_VERSION" | cut -d. -f2)" \
		-o "$tmp/" "${pkgs[@]}") || { rm -rf "$tmp"; die "build failed"; }
	for b in "${bins[@]}"; do [ -x "$tmp/$b" ] || { rm -rf "$tmp"; die "build did not produce $b"; }; done
	rm -rf "$dir"
	mv -T "$tmp" "$dir"
	log "built ${bins[*]} in $((SECONDS - start)) s"
}

build() {
	command -v go >/dev/null || die "go is not on PATH"
	CP_BIN="$CACHE/k8s-$K8S_VERSION-etcd-$ETCD_VERSION-$(srchash cmd/etcd)"
	AGENT_BIN="$CACHE/agent-vk-$VK_VERSION-k8s-$K8S_VERSION-$(srchash cmd/nodeagent)"
	build_set "$CP_BIN" kube-apiserver kube-controller-manager kube-scheduler etcd -- \
		k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
		k8s.io/kubernetes/cmd/kube-scheduler ./cmd/etcd
	build_set "$AGENT_BIN" nodeagent -- ./cmd/nodeagent
}

# running PID: the process exists and is not a zombie (reads /proc).
running() {
	local st
	st="$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)" || return 1
	[ -n "$st" ] && [ "$st" != Z ]
}
alive() { [ -s "$1" ] && running "$(cat "$1")"; }

# start NAME CMD...: starts CMD detached, logging to log/NAME.log.
start() {
	local name="$1"
	shift
	setsid "$@" >"$DIR/log/$name.log" 2>&1 </dev/null &
	echo $! >"$DIR/run/$name.pid"
}

# wait_for WHAT SECONDS CMD...: retries CMD until it succeeds.
wait_for() {
	local what="$1" limit="$2" deadline
	shift 2
	deadline=$((SECONDS + limit))
	until "$@" >/dev/null 2>&1; do
		[ "$SECONDS" -lt "$deadline" ] || die "$what not ready after ${limit}s (logs in $DIR/log)"
		sleep 0.1
	done
}

api() { curl -sfk -H "Authorization: Bearer $(cat "$DIR/admin.token")" "$@"; }

node_ready() {
	api "https://127.0.0.1:$PORT/api/v1/nodes/$1" | tr -d ' \n' | grep -q '"type":"Ready","status":"True"'
}

certs() {
	local c="$DIR/pki"
	mkdir -p "$c"
	(
		cd "$c"
		openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 30 -subj "/CN=meridian-lab-ca" 2>/dev/null
		# The kubelet API's serving certificate and the API server's client
		# certificate for it, both from the lab CA.
		openssl req -newkey rsa:2048 -nodes -keyout kubelet.key -out kubelet.csr -subj "/CN=meridian-lab-node" 2>/dev/null
		printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >kubelet.ext
		openssl x509 -req -in kubelet.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out kubelet.crt -days 30 -extfile kubelet.ext 2>/dev/null
		openssl req -newkey rsa:2048 -nodes -keyout apiserver-kubelet-client.key -out client.csr -subj "/CN=kube-apiserver-kubelet-client/O=system:masters" 2>/dev/null
		printf 'extendedKeyUsage=clientAuth\n' >client.ext
		openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out apiserver-kubelet-client.crt -days 30 -extfile client.ext 2>/dev/null
		openssl genrsa -out sa.key 2048 2>/dev/null
		openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
		chmod 600 ./*.key
	)
}

kubeconfig() { # FILE TOKEN
	cat >"$1.tmp" <<KC
apiVersion: v1
kind: Config
clusters:
- name: meridian-lab
  cluster:
    server: https://127.0.0.1:$PORT
    insecure-skip-tls-verify: true
users:
- name: user
  user:
    token: $2
contexts:
- name: meridian-lab
  context: {cluster: meridian-lab, user: user}
current-context: meridian-lab
KC
	chmod 600 "$1.tmp"
	mv "$1.tmp" "$1"
}

write_env() {
	{
		printf 'export MERIDIAN_KUBE_DIR=%q\n' "$DIR"
		printf 'export MERIDIAN_KUBECONFIG=%q\n' "$DIR/admin.kubeconfig"
		printf 'export MERIDIAN_KUBE_SERVER=%q\n' "https://127.0.0.1:$PORT"
		printf 'export MERIDIAN_KUBE_TENANT_TOKEN=%q\n' "$(cat "$DIR/tenant.token")"
		printf 'export MERIDIAN_KUBE_NODES=%q\n' "${NODES[*]}"
	} >"$DIR/env.sh.tmp"
	mv "$DIR/env.sh.tmp" "$DIR/env.sh"
}

up_already() {
	local f
	for f in etcd kube-apiserver kube-controller-manager kube-scheduler "${NODES[@]}"; do
		alive "$DIR/run/$f.pid" || return 1
	done
	[ -s "$DIR/admin.token" ] && api "https://127.0.0.1:$PORT/readyz" >/dev/null
}

main() {
	if [ "${1:-}" = --build-only ]; then
		build
		return
	fi
	command -v openssl >/dev/null || die "openssl is needed (apt-get install openssl)"
	command -v curl >/dev/null || die "curl is needed (apt-get install curl)"
	if up_already; then
		log "already up: source $DIR/env.sh"
		return
	fi
	build
	local t0=$SECONDS
	bash "$ROOT/scripts/kube-down.sh" >/dev/null 2>&1 || true
	rm -rf "$DIR"
	mkdir -p "$DIR"/{log,run,nodes}
	chmod 700 "$DIR"
	certs
	openssl rand -hex 24 >"$DIR/admin.token"
	openssl rand -hex 24 >"$DIR/tenant.token"
	printf '%s,meridian-admin,uid-admin,system:masters\n%s,meridian-tenant,uid-tenant\n' \
		"$(cat "$DIR/admin.token")" "$(cat "$DIR/tenant.token")" >"$DIR/tokens.csv"
	chmod 600 "$DIR"/*.token "$DIR/tokens.csv"
	kubeconfig "$DIR/admin.kubeconfig" "$(cat "$DIR/admin.token")"

	start etcd "$CP_BIN/etcd" --name meridian-lab --data-dir "$DIR/etcd-data" \
		--listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
		--listen-peer-urls "http://127.0.0.1:$ETCD_PEER" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER" \
		--initial-cluster "meridian-lab=http://127.0.0.1:$ETCD_PEER" --listen-metrics-urls "http://127.0.0.1:$ETCD_METRICS" \
		--unsafe-no-fsync
	wait_for etcd 30 curl -sf "http://127.0.0.1:$ETCD_PORT/health"

	local pki="$DIR/pki"
	start kube-apiserver "$CP_BIN/kube-apiserver" --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
		--bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$PORT" \
		--endpoint-reconciler-type=none --cert-dir="$DIR/apiserver-certs" \
		--token-auth-file="$DIR/tokens.csv" --authorization-mode=RBAC \
		--service-cluster-ip-range=10.0.0.0/24 \
		--service-account-issuer=https://kubernetes.default.svc \
		--service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
		--kubelet-client-certificate="$pki/apiserver-kubelet-client.crt" \
		--kubelet-client-key="$pki/apiserver-kubelet-client.key" \
		--kubelet-certificate-authority="$pki/ca.crt" \
		--kubelet-preferred-address-types=InternalIP
	wait_for kube-apiserver 60 api "https://127.0.0.1:$PORT/readyz"
	log "API server ready after $((SECONDS - t0)) s"

	local kc="$DIR/admin.kubeconfig"
	start kube-controller-manager "$CP_BIN/kube-controller-manager" --kubeconfig="$kc" \
		--authentication-kubeconfig="$kc" --authorization-kubeconfig="$kc" \
		--controllers='*' --service-account-private-key-file="$pki/sa.key" \
		--use-service-account-credentials=false --bind-address=127.0.0.1 --secure-port="$KCM_PORT" \
		--leader-elect=false --kube-api-qps=100 --kube-api-burst=200 --concurrent-job-syncs=10
	# A pod found unschedulable is tried again once it has waited 15 s (5
	# minutes by default): the scheduler looks for such pods every 30 s, so
	# a change that lets it in but is not one the scheduler wakes it for (a
	# pod's own labels changed under it) is seen within about 30-45 s, a
	# test's bound (shared_node_lab_test.go waits 60 s). The flag is
	# deprecated: a later Kubernetes may drop it, and then it is to be
	# removed here (the scheduler refuses a flag it does not know).
	start kube-scheduler "$CP_BIN/kube-scheduler" --kubeconfig="$kc" \
		--authentication-kubeconfig="$kc" --authorization-kubeconfig="$kc" \
		--bind-address=127.0.0.1 --secure-port="$SCHED_PORT" --leader-elect=false \
		--kube-api-qps=100 --kube-api-burst=200 --pod-max-in-unschedulable-pods-duration=15s

	local i ns
	for i in "${!NODES[@]}"; do
		start "${NODES[$i]}" "$AGENT_BIN/nodeagent" -name "${NODES[$i]}" -kubeconfig "$kc" \
			-dir "$DIR/nodes/${NODES[$i]}" -labels "${NODE_LABELS[$i]}" -gpus 8 \
			-port $((NODE_PORT0 + i)) -tls-cert "$pki/kubelet.crt" -tls-key "$pki/kubelet.key" -client-ca "$pki/ca.crt"
	done
	for i in "${!NODES[@]}"; do
		wait_for "node ${NODES[$i]}" 60 node_ready "${NODES[$i]}"
	done
	wait_for kube-controller-manager 60 curl -sfk "https://127.0.0.1:$KCM_PORT/healthz"
	wait_for kube-scheduler 60 curl -sfk "https://127.0.0.1:$SCHED_PORT/healthz"
	for ns in "${NAMESPACES[@]}"; do
		api -X POST -H 'Content-Type: application/json' "https://127.0.0.1:$PORT/api/v1/namespaces" \
			-d "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"$ns\"}}" >/dev/null ||
			die "cannot create namespace $ns"
	done
	write_env
	log "up in $((SECONDS - t0)) s: source $DIR/env.sh (nodes: ${NODES[*]})"
}

main "$@"
