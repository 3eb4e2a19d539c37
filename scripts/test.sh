#!/usr/bin/env bash
# The project's test command: start the single-machine Slurm cluster (a no-op
# when it is up), then vet and run every test, the Slurm conformance suite
# included (MERIDIAN_TEST_SLURM=1 makes a missing cluster a failure).
# MERIDIAN_TEST_SLURM=0 skips the cluster and its tests (machines without root).
# A throwaway S3 server (scripts/s3-up.sh) is started so the s3:// store tests run for real.
# A throwaway PostgreSQL server (scripts/pg-up.sh, run as the postgres user) is started
# so the PostgreSQL store, the replica and failover tests run for real;
# MERIDIAN_TEST_PG=0 skips it and them (machines without PostgreSQL).
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
eval "$(bash scripts/s3-up.sh)"
export MERIDIAN_TEST_PG="${MERIDIAN_TEST_PG:-1}"
MERIDIAN_PG_DIR=
if [ "$MERIDIAN_TEST_PG" = 1 ]; then
	eval "$(bash scripts/pg-up.sh)"
fi
trap 'kill "$MERIDIAN_S3_PID" 2>/dev/null || true; rm -rf "$MERIDIAN_S3_DIR"; [ -z "$MERIDIAN_PG_DIR" ] || bash scripts/pg-down.sh "$MERIDIAN_PG_DIR"' EXIT
go test -count=1 ./...
