#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server (Debian's postgresql package) on
# loopback for the tests, and prints the environment the tests read:
#   eval "$(bash scripts/pg-up.sh)"
# The cluster lives in a temp dir, owned by and run as the postgres user when
# this runs as root (initdb refuses root), as the caller otherwise. Stop it
# with `bash scripts/pg-down.sh "$MERIDIAN_PG_DIR"`, which also removes it.
#
# `pg-up.sh --install-only` installs the package with apt when it is missing.
# Settings: MERIDIAN_PG_BIN (directory of initdb and pg_ctl; default the newest
# /usr/lib/postgresql/*/bin).
set -euo pipefail
log() { echo "pg-up: $*" >&2; }
die() { log "$*"; exit 1; }

pg_bin() {
	if [ -n "${MERIDIAN_PG_BIN:-}" ]; then echo "$MERIDIAN_PG_BIN"; return; fi
	local d
	d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
	[ -n "$d" ] && echo "$d"
}

install_package() {
	[ -n "$(pg_bin)" ] && [ -x "$(pg_bin)/initdb" ] && return 0
	[ "$(id -u)" = 0 ] || die "PostgreSQL is not installed and this is not root: apt-get install postgresql"
	log "installing postgresql with apt"
	DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql >/dev/null
}

if [ "${1:-}" = --install-only ]; then
	install_package
	exit 0
fi
install_package
BIN="$(pg_bin)"
[ -x "$BIN/initdb" ] || die "no initdb in $BIN"

dir=$(mktemp -d "${TMPDIR:-/tmp}/meridian-pg.XXXXXX")
chmod 0755 "$dir"
as_owner() { "$@"; }
if [ "$(id -u)" = 0 ]; then
	id postgres >/dev/null 2>&1 || die "no postgres user (the postgresql package creates it)"
	chown postgres:postgres "$dir"
	as_owner() { runuser -u postgres -- "$@"; }
fi
# Pick a free loopback port.
port=
for _ in $(seq 1 50); do
	p=$((20000 + RANDOM % 30000))
	if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port=$p; break; fi
done
[ -n "$port" ] || die "no free loopback port found"
as_owner "$BIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 ||
	{ cat "$dir/initdb.log" >&2; die "initdb failed"; }
as_owner mkdir -p "$dir/run"
# Durability settings are off: this cluster lives for one test run. Enough
# connections for the replica tests (three servers and their pools).
as_owner "$BIN/pg_ctl" -D "$dir/data" -l "$dir/pg.log" -w -t 30 \
	-o "-p $port -k $dir/run -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c synchronous_commit=off -c max_connections=300" \
	start >/dev/null 2>&1 || { cat "$dir/pg.log" >&2; die "pg_ctl start failed"; }
cat <<ENV
export MERIDIAN_TEST_PG_URL='postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable'
export MERIDIAN_PG_DIR=$dir
ENV
