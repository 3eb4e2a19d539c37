#!/usr/bin/env bash
# Type-checks the console's TypeScript, then rebuilds its bundle from
# console/src (esbuild's Go library, as `go generate ./console` does) and
# fails when it differs from the committed console/dist: the binary embeds
# dist, so a source change must ship with its bundle. npm ci runs only when
# console/node_modules does not match console/package-lock.json (the first
# time on a fresh machine).
set -euo pipefail
cd "$(dirname "$0")/../console"
if ! cmp -s package-lock.json node_modules/.meridian-lock 2>/dev/null; then
	command -v npm >/dev/null || { echo "console-check: npm is missing (scripts/install-deps.sh installs it)" >&2; exit 1; }
	npm ci --ignore-scripts --no-audit --no-fund >/dev/null
	cp package-lock.json node_modules/.meridian-lock
fi
node_modules/.bin/tsc -p .   # type-check the sources (esbuild only strips the types)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
go run ./build -out "$out"
if ! diff -r "$out" dist >/dev/null; then
	echo "console-check: console/dist is not the bundle of console/src: run go generate ./console and commit console/dist" >&2
	diff -rq "$out" dist >&2 || true
	exit 1
fi
echo "console-check: console/dist matches console/src"
