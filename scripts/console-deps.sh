#!/usr/bin/env bash
# Installs, with apt and only when missing, what the console's tests need:
# Debian's chromium (the browser tests, MERIDIAN_TEST_BROWSER=1) and npm
# (the check that the committed bundle matches its sources). Each only when
# missing: a machine's own Node.js (NodeSource's, say) ships npm and
# conflicts with Debian's npm package.
set -euo pipefail
pkgs=()
command -v chromium >/dev/null 2>&1 || pkgs+=(chromium)
command -v npm >/dev/null 2>&1 || pkgs+=(npm)
[ "${#pkgs[@]}" -gt 0 ] || exit 0
[ "$(id -u)" = 0 ] || { echo "console-deps: need root for apt-get install ${pkgs[*]} (or MERIDIAN_TEST_BROWSER=0)" >&2; exit 1; }
DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${pkgs[@]}" >/dev/null
