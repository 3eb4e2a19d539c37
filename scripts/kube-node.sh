#!/usr/bin/env bash
# Simulates the loss of one node of the kube-up.sh cluster, or its return:
#
#   kube-node.sh fail NODE      kill every pod process on NODE; NODE turns NotReady
#   kube-node.sh restore NODE   NODE turns Ready; the killed pods are reported Failed (NodeLost)
#
# NODE is one of meridian-kube-a … meridian-kube-d (see kube-up.sh).
set -euo pipefail
DIR="${MERIDIAN_KUBE_DIR:-${TMPDIR:-/tmp}/meridian-kube}"
usage() { echo "usage: kube-node.sh fail|restore NODE" >&2; exit 2; }
[ $# = 2 ] || usage
case "$1" in
fail) sig=USR1 ;;
restore) sig=USR2 ;;
*) usage ;;
esac
case "$2" in
*/* | "") usage ;;
esac
f="$DIR/run/$2.pid"
[ -s "$f" ] || { echo "kube-node.sh: no node agent $2 (no $f)" >&2; exit 1; }
kill -s "$sig" "$(cat "$f")"
