#!/usr/bin/env bash
# Installs the system packages and Go modules that the tests use. Safe to run twice.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:$(go env GOPATH 2>/dev/null || echo "$HOME/go")/bin"
go mod download
