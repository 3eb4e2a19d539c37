#!/bin/sh
# Plan time against synthetic worlds of 100, 1,000 and 10,000 sites with
# 4 pools each, all built-in rules and the real estimator.
#   bench/plan-scale.sh [extra planscale flags]
set -eu
cd "$(dirname "$0")/.."
exec go run ./bench/planscale "$@"
