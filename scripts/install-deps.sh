#!/usr/bin/env bash
# Installs the system packages and Go modules that the tests use. Safe to run twice.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:$(go env GOPATH 2>/dev/null || echo "$HOME/go")/bin"
bash scripts/slurm-up.sh --install-only   # slurm-wlm and munge, with apt, when missing
[ "${MERIDIAN_TEST_PG:-1}" = 0 ] || bash scripts/pg-up.sh --install-only   # postgresql, with apt, when missing
go mod download
# The console: Debian's chromium for its browser tests (MERIDIAN_TEST_BROWSER=1),
# npm for the check that its committed bundle matches its sources.
# Each only when missing: a machine's own Node.js (NodeSource's, say) ships
# npm and conflicts with Debian's npm package.
console_pkgs=()
command -v chromium >/dev/null 2>&1 || console_pkgs+=(chromium)
command -v npm >/dev/null 2>&1 || console_pkgs+=(npm)
if [ "${#console_pkgs[@]}" -gt 0 ]; then
	[ "$(id -u)" = 0 ] || { echo "install-deps: need root for apt-get install ${console_pkgs[*]}" >&2; exit 1; }
	DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${console_pkgs[@]}" >/dev/null
fi
# S3-compatible server for the s3:// store tests (see scripts/s3-up.sh).
command -v versitygw >/dev/null 2>&1 || go install github.com/versity/versitygw/cmd/versitygw@v1.8.0
# Kubernetes test cluster binaries (scripts/kube-up.sh), built once into the user's
# cache directory: about 20 minutes on 2 cores the first time, seconds after.
if [ "${MERIDIAN_TEST_KUBE:-1}" = 1 ]; then
	(cd tools/kubelab && go mod download)
	bash scripts/kube-up.sh --build-only
fi
