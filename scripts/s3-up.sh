#!/usr/bin/env bash
# Starts a throwaway S3-compatible server (versitygw, posix backend) on
# loopback for the tests, and prints the environment the tests read:
#   eval "$(bash scripts/s3-up.sh)"
# Installs versitygw with `go install` when it is missing. The server and its
# data live in a temp dir; it stops when MERIDIAN_S3_PID is killed.
set -euo pipefail
VERSITYGW_VERSION=v1.8.0
export PATH="$PATH:/usr/local/go/bin:$(go env GOPATH)/bin"
if ! command -v versitygw >/dev/null 2>&1; then
	echo "installing versitygw $VERSITYGW_VERSION" >&2
	go install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION" >&2
fi
dir=$(mktemp -d "${TMPDIR:-/tmp}/meridian-s3.XXXXXX")
bucket=meridian-test
mkdir -p "$dir/data/$bucket"
access=meridian-test-access
secret=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
# Pick a free loopback port.
port=
for _ in $(seq 1 50); do
	p=$((20000 + RANDOM % 30000))
	if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port=$p; break; fi
done
[ -n "$port" ] || { echo "no free loopback port found" >&2; exit 1; }
versitygw --access "$access" --secret "$secret" --port "127.0.0.1:$port" posix "$dir/data" >"$dir/versitygw.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		break
	fi
	if ! kill -0 "$pid" 2>/dev/null; then
		echo "versitygw exited:" >&2
		cat "$dir/versitygw.log" >&2
		exit 1
	fi
	sleep 0.1
done
(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "versitygw did not answer on 127.0.0.1:$port" >&2; kill "$pid"; exit 1; }
cat <<ENV
export AWS_ACCESS_KEY_ID=$access
export AWS_SECRET_ACCESS_KEY=$secret
export AWS_REGION=us-east-1
export MERIDIAN_TEST_S3_URL='s3://$bucket?endpoint=http://127.0.0.1:$port&use_path_style=true&region=us-east-1&disable_https=true'
export MERIDIAN_S3_PID=$pid
export MERIDIAN_S3_DIR=$dir
ENV
