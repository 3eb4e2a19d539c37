#!/usr/bin/env bash
# Measures how many `sbatch --wrap=true` submissions per second the local Slurm
# cluster (scripts/slurm-up.sh) accepts, sequentially, as the baseline to set
# beside Meridian's own run-acceptance rate.
#
#   bench/sbatch-rate.sh [N]     (default N=500; partition from MERIDIAN_BENCH_PARTITION, default site-a)
#
# Prints one line: sbatch_submits=N seconds=S submits_per_s=R
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-500}"
PART="${MERIDIAN_BENCH_PARTITION:-site-a}"
bash scripts/slurm-up.sh >/dev/null 2>&1 || bash scripts/slurm-up.sh
# shellcheck disable=SC1091
source "${MERIDIAN_SLURM_DIR:-${TMPDIR:-/tmp}/meridian-slurm}/env.sh"
start=$(date +%s.%N)
for _ in $(seq 1 "$N"); do
	sbatch --parsable -p "$PART" -J meridian-bench -o /dev/null --wrap=true >/dev/null
done
end=$(date +%s.%N)
awk -v n="$N" -v s="$start" -v e="$end" 'BEGIN { d = e - s; printf "sbatch_submits=%d seconds=%.2f submits_per_s=%.0f\n", n, d, n / d }'
