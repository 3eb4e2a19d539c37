#!/usr/bin/env bash
# Benchmarks of the estimator: one Estimate with and without its assumption
# strings, and MinCount. Target: one Estimate under 10 µs without its
# assumption strings (the planner's call).
set -euo pipefail
cd "$(dirname "$0")/.."
go test -run '^$' -bench . -benchmem -count "${COUNT:-3}" ./estimate/
