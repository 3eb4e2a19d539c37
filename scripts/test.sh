#!/usr/bin/env bash
# The project's test command: start the single-machine Slurm cluster (a no-op
# when it is up), then vet and run every test, the Slurm conformance suite
# included (MERIDIAN_TEST_SLURM=1 makes a missing cluster a failure).
# MERIDIAN_TEST_SLURM=0 skips the cluster and its tests (machines without root).
# A throwaway S3 server (scripts/s3-up.sh) is started so the s3:// store tests run for real.
# A throwaway PostgreSQL server (scripts/pg-up.sh, run as the postgres user) is started
# so the PostgreSQL store, the replica and failover tests run for real;
# MERIDIAN_TEST_PG=0 skips it and them (machines without PostgreSQL).
# A Kubernetes test cluster (scripts/kube-up.sh: built from Go modules on first use,
# then cached) is started and stopped again, so the kubernetes backend runs against
# a real API server (MERIDIAN_TEST_KUBE=1 makes a missing cluster a failure);
# MERIDIAN_TEST_KUBE=0 skips the cluster and its tests.
# The console's browser tests run in Debian's chromium (scripts/console-deps.sh
# installs it when missing); MERIDIAN_TEST_BROWSER=0 skips them.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:$(go env GOPATH)/bin"
export MERIDIAN_TEST_SLURM="${MERIDIAN_TEST_SLURM:-1}"
export MERIDIAN_TEST_KUBE="${MERIDIAN_TEST_KUBE:-1}"
# The console's browser tests run in Debian's chromium: a missing browser is
# a failure, not a skip. Their screenshots are kept for people to look at.
export MERIDIAN_TEST_BROWSER="${MERIDIAN_TEST_BROWSER:-1}"
export MERIDIAN_CONSOLE_SHOTS="${MERIDIAN_CONSOLE_SHOTS:-${TMPDIR:-/tmp}/meridian-console-shots}"
cleanup() {
	kill "${MERIDIAN_S3_PID:-}" 2>/dev/null || true
	[ -z "${MERIDIAN_S3_DIR:-}" ] || rm -rf "$MERIDIAN_S3_DIR"
	[ "$MERIDIAN_TEST_KUBE" != 1 ] || bash scripts/kube-down.sh || true
	[ -z "${MERIDIAN_PG_DIR:-}" ] || bash scripts/pg-down.sh "$MERIDIAN_PG_DIR"
}
trap cleanup EXIT
if [ "$MERIDIAN_TEST_SLURM" = 1 ]; then
	bash scripts/slurm-up.sh
	# shellcheck disable=SC1091
	source "${MERIDIAN_SLURM_DIR:-${TMPDIR:-/tmp}/meridian-slurm}/env.sh"
fi
if [ "$MERIDIAN_TEST_KUBE" = 1 ]; then
	bash scripts/kube-up.sh
	# shellcheck disable=SC1091
	source "${MERIDIAN_KUBE_DIR:-${TMPDIR:-/tmp}/meridian-kube}/env.sh"
fi
[ "$MERIDIAN_TEST_BROWSER" != 1 ] || bash scripts/console-deps.sh
go vet ./...
bash scripts/console-check.sh
if [ "$MERIDIAN_TEST_KUBE" = 1 ]; then
	(cd tools/kubelab && go vet ./... && go test -count=1 ./...)
fi
eval "$(bash scripts/s3-up.sh)"
export MERIDIAN_TEST_PG="${MERIDIAN_TEST_PG:-1}"
if [ "$MERIDIAN_TEST_PG" = 1 ]; then
	eval "$(bash scripts/pg-up.sh)"
fi
# Packages whose tests fail and restore nodes of the shared Slurm and
# Kubernetes clusters run one after another: run side by side, one
# package's node loss is another's unexplained failure. The rest run in
# parallel first.
shared=(./backend/kubernetes ./backend/slurm ./cmd/meridian ./examples/trainer ./run)
mapfile -t rest < <(go list ./... | grep -v -x -e 'meridian.dev/meridian/backend/kubernetes' -e 'meridian.dev/meridian/backend/slurm' \
	-e 'meridian.dev/meridian/cmd/meridian' -e 'meridian.dev/meridian/examples/trainer' -e 'meridian.dev/meridian/run')
go test -count=1 -timeout 30m "${rest[@]}"
go test -count=1 -timeout 30m -p 1 "${shared[@]}"
