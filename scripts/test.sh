#!/usr/bin/env bash
# The project's test command: start the single-machine Slurm cluster (a no-op
# when it is up), then vet and run every test, the Slurm conformance suite
# included (MERIDIAN_TEST_SLURM=1 makes a missing cluster a failure).
# MERIDIAN_TEST_SLURM=0 skips the cluster and its tests (machines without root).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:$(go env GOPATH)/bin"
export MERIDIAN_TEST_SLURM="${MERIDIAN_TEST_SLURM:-1}"
if [ "$MERIDIAN_TEST_SLURM" = 1 ]; then
	bash scripts/slurm-up.sh
	# shellcheck disable=SC1091
	source "${MERIDIAN_SLURM_DIR:-${TMPDIR:-/tmp}/meridian-slurm}/env.sh"
fi
go vet ./...
go test -count=1 ./...
