#!/usr/bin/env bash
# Installs the Debian packages the tests need. Idempotent; run as root (CI is root).
set -euo pipefail
need=()
command -v yara >/dev/null 2>&1 || need+=(yara)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-system-deps: missing ${need[*]}; run as root or: sudo apt-get install -y ${need[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
echo "install-system-deps: ok"
