#!/usr/bin/env bash
# Installs the Debian packages the tests use. Idempotent. As root (CI, a fresh machine) it
# installs what is missing; otherwise it says what is missing and the tests that need it say
# so plainly when they run.
set -euo pipefail
need=()
command -v yara >/dev/null 2>&1 || need+=(yara)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "install-system-deps: not root, so not installing: ${need[*]} (sudo apt-get install -y ${need[*]})" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}"
echo "install-system-deps: installed ${need[*]}"
