#!/usr/bin/env bash
# Installs the system packages and Go modules that the tests use. Safe to run twice.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:$(go env GOPATH 2>/dev/null || echo "$HOME/go")/bin"
bash scripts/slurm-up.sh --install-only   # slurm-wlm and munge, with apt, when missing
go mod download
