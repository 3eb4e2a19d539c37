#!/usr/bin/env bash
# Installs the system packages and Go modules that the tests use. Safe to run twice.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:$(go env GOPATH 2>/dev/null || echo "$HOME/go")/bin"
bash scripts/slurm-up.sh --install-only   # slurm-wlm and munge, with apt, when missing
[ "${MERIDIAN_TEST_PG:-1}" = 0 ] || bash scripts/pg-up.sh --install-only   # postgresql, with apt, when missing
go mod download
# A C compiler: the sandbox's tests build a shared library to preload into a
# job (cmd/meridian TestAttackPreloadBeforeSandbox).
if ! command -v cc >/dev/null 2>&1; then
	[ "$(id -u)" = 0 ] || { echo "install-deps: a C compiler is needed (apt-get install gcc)" >&2; exit 1; }
	DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends gcc libc6-dev >/dev/null
fi
# The sqlite3 tool: a store test checks that it can read, check and vacuum a
# database Meridian wrote (store TestSQLiteHoldKeyPlainConnection); without it
# that part of the test is skipped, so a failed install only warns.
if ! command -v sqlite3 >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
	{ DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends sqlite3 >/dev/null; } ||
		echo "install-deps: sqlite3 could not be installed; the store's check with it is skipped" >&2
fi
# The console: Debian's chromium for its browser tests, npm for its bundle check.
bash scripts/console-deps.sh
# S3-compatible server for the s3:// store tests (see scripts/s3-up.sh).
command -v versitygw >/dev/null 2>&1 || go install github.com/versity/versitygw/cmd/versitygw@v1.8.0
# Kubernetes test cluster binaries (scripts/kube-up.sh), built once into the user's
# cache directory: about 20 minutes on 2 cores the first time, seconds after.
if [ "${MERIDIAN_TEST_KUBE:-1}" = 1 ]; then
	(cd tools/kubelab && go mod download)
	bash scripts/kube-up.sh --build-only
fi
