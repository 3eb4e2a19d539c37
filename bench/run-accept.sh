#!/usr/bin/env bash
# Run submissions accepted into durable state per second, beside sbatch
# submissions per second on the same machine (when sbatch is installed and a
# cluster answers), and the time from a site's loss to the run running
# elsewhere. Usage: bench/run-accept.sh [N]   (N sbatch submissions, default 200)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:$(go env GOPATH)/bin"
n="${1:-200}"
# Use the tests' single-machine Slurm when it is up (scripts/slurm-up.sh).
slurm_env="${MERIDIAN_SLURM_DIR:-${TMPDIR:-/tmp}/meridian-slurm}/env.sh"
# shellcheck disable=SC1090
[ -z "${SLURM_CONF:-}" ] && [ -f "$slurm_env" ] && source "$slurm_env"

echo "== Meridian: submissions accepted into durable state (SQLite, WAL, synchronous=FULL)"
go test -run '^$' -bench 'BenchmarkCreateRun' -benchtime 4000x ./store | grep -E '^Benchmark'
go test -run '^$' -bench 'BenchmarkSubmit' -benchtime 3000x ./api | grep -E '^Benchmark'
echo "   (CreateRun: store only, one submitter; CreateRunParallel: 32 submitters, group commit;"
echo "    Submit: whole HTTP API incl. YAML decoding, validation and planning (cheapest-site / real planner))"

echo "== Meridian: site loss to running elsewhere (local processes, 20ms poll)"
go test -run '^$' -bench 'BenchmarkRecovery$' -benchtime 10x ./run | grep -E '^Benchmark'
if [ -n "${SLURM_CONF:-}" ] && sinfo >/dev/null 2>&1; then
	echo "== Meridian: site loss to running elsewhere (Slurm partitions site-a → site-b)"
	MERIDIAN_TEST_SLURM=1 go test -run '^$' -bench 'BenchmarkRecoverySlurm' -benchtime 5x ./run | grep -E '^Benchmark'
fi

echo "== sbatch --wrap=true on this machine"
if ! command -v sbatch >/dev/null 2>&1; then
	echo "   sbatch not installed; skipped (scripts/slurm-up.sh starts a local Slurm)"
	exit 0
fi
if ! sbatch --parsable --wrap=true -o /dev/null >/dev/null 2>&1; then
	echo "   sbatch is installed but no cluster accepts jobs; skipped"
	exit 0
fi
ids=()
start=$(date +%s.%N)
for _ in $(seq "$n"); do
	ids+=("$(sbatch --parsable --wrap=true -o /dev/null)")
done
end=$(date +%s.%N)
scancel "${ids[@]%%;*}" >/dev/null 2>&1 || true
awk -v n="$n" -v s="$start" -v e="$end" 'BEGIN { printf "   %d submissions in %.2fs: %.0f submissions/s\n", n, e - s, n / (e - s) }'
