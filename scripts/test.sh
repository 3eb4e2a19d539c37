#!/usr/bin/env bash
# The project's test command: vet, then every test.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:$(go env GOPATH)/bin"
go vet ./...
go test -count=1 ./...
