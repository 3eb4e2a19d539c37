#!/usr/bin/env bash
# Builds a release binary of meridian: symbols and DWARF stripped (-s -w),
# paths trimmed, the version stamped from the tag git describes (or
# $VERSION). Usage: bash scripts/build-release.sh [OUTPUT] (default
# dist/meridian-GOOS-GOARCH).
set -euo pipefail
cd "$(dirname "$0")/.."
version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
out=${1:-dist/meridian-$(go env GOOS)-$(go env GOARCH)}
mkdir -p "$(dirname "$out")"
CGO_ENABLED=${CGO_ENABLED:-0} go build -trimpath -ldflags "-s -w -X main.version=$version" -o "$out" ./cmd/meridian
echo "$out: $(stat -c %s "$out") bytes, version $version"
