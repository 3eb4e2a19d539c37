#!/usr/bin/env bash
# Measures `meridian dataset add` (chunk + keyed hash + AES-256-GCM + write)
# side by side with `restic backup` and `age` on the same generated data, and
# prints MB/s for each, plus this machine's disk write rate and single-core
# AEAD rate for reference. Needs restic and age (apt-get install restic age).
# Usage: bench/dataset-throughput.sh [GiB]   (default 2)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:$(go env GOPATH)/bin"
gib=${1:-2}
for tool in restic age age-keygen; do
	command -v "$tool" >/dev/null || { echo "$tool not found: apt-get install restic age" >&2; exit 1; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/meridian-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
bytes=$((gib * 1024 * 1024 * 1024))
files=$((gib * 32)) # 32 MiB files

echo "generating $gib GiB of random data in $files files…" >&2
mkdir -p "$work/data"
for i in $(seq 1 "$files"); do
	head -c $((32 * 1024 * 1024)) /dev/urandom >"$work/data/shard-$i.bin"
done
sync

now() { date +%s.%N; }
rate() { awk -v b="$bytes" -v s="$1" -v e="$2" 'BEGIN { printf "%.0f", b / 1e6 / (e - s) }'; }

go build -o "$work/meridian" ./cmd/meridian

# Disk write rate: the same amount through the page cache, and durably.
s=$(now); dd if=/dev/zero of="$work/dd" bs=4M count=$((bytes / 4194304)) status=none; e=$(now)
disk_cached=$(rate "$s" "$e"); rm -f "$work/dd"
s=$(now); dd if=/dev/zero of="$work/dd" bs=4M count=$((bytes / 4194304)) conv=fdatasync status=none; e=$(now)
disk_sync=$(rate "$s" "$e"); rm -f "$work/dd"; sync

# Single-core AEAD rate (AES-256-GCM, 1 MiB messages).
aead=$(GOMAXPROCS=1 go test ./seal -run XXX -bench 'Seal1MiB$' -benchtime 2s -cpu 1 | awk '/MB\/s/ { print int($(NF-1)) }')

# Meridian.
s=$(now)
MERIDIAN_HOME="$work/home" "$work/meridian" dataset add bench --from "$work/data" --origin US \
	--classification public --store "file://$work/meridian-store" >/dev/null
e=$(now); meridian=$(rate "$s" "$e"); sync

# restic (its defaults: content-defined chunks, SHA-256, AES-256 + Poly1305, compression auto).
export RESTIC_PASSWORD=bench-only RESTIC_CACHE_DIR="$work/restic-cache"
restic init --repo "$work/restic-repo" >/dev/null
s=$(now); restic --repo "$work/restic-repo" backup --quiet "$work/data" >/dev/null; e=$(now)
restic_rate=$(rate "$s" "$e"); sync

# age (one stream, X25519 recipient, ChaCha20-Poly1305), fed by tar.
age-keygen -o "$work/age.key" 2>/dev/null
recipient=$(age-keygen -y "$work/age.key")
s=$(now); tar -C "$work" -cf - data | age -r "$recipient" -o "$work/data.tar.age"; e=$(now)
age_rate=$(rate "$s" "$e")

printf '%-34s %8s\n' "what ($gib GiB, $(nproc) cores)" "MB/s"
printf '%-34s %8s\n' "disk write (page cache)" "$disk_cached"
printf '%-34s %8s\n' "disk write (fdatasync)" "$disk_sync"
printf '%-34s %8s\n' "AES-256-GCM, one core" "$aead"
printf '%-34s %8s\n' "meridian dataset add" "$meridian"
printf '%-34s %8s\n' "restic backup" "$restic_rate"
printf '%-34s %8s\n' "tar | age" "$age_rate"
