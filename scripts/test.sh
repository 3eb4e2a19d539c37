#!/usr/bin/env bash
# The project's test command: vet, then every test. A throwaway S3 server
# (scripts/s3-up.sh) is started first so the s3:// store tests run for real.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:$(go env GOPATH)/bin"
go vet ./...
eval "$(bash scripts/s3-up.sh)"
trap 'kill "$MERIDIAN_S3_PID" 2>/dev/null || true; rm -rf "$MERIDIAN_S3_DIR"' EXIT
go test -count=1 ./...
