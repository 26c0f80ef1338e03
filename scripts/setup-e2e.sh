#!/usr/bin/env bash
# Installs what the end-to-end tests (test/e2e) need, idempotently:
#   - Debian packages for code-server's native modules and the browser (only those missing, as root);
#   - a seeded @vscode/ripgrep download cache (its install step would download from GitHub);
#   - code-server 4.100.3 (bundles VS Code 1.100.3; newer releases need Node 22+) into .e2e/code-server/,
#     outside the product's dependencies;
#   - playwright-core (a devDependency of the product; browsers are never downloaded — Debian's
#     chromium is used).
# Verified recipe: /work/shared/reference/real-vscode-in-ci.md. Exit status 0 means ready; when not
# root and packages are missing it says so and exits 0 (the tests then skip with a diagnostic,
# except under CI=true where they fail).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
CODE_SERVER_VERSION=4.100.3
RIPGREP_PKG_VERSION=1.15.11   # the @vscode/ripgrep version code-server 4.100.3 pins
say() { echo "setup-e2e: $*"; }

# 1. Debian packages.
pkgs=(libkrb5-dev libx11-dev libxkbfile-dev libsecret-1-dev pkg-config ripgrep chromium)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    say "not root, so not installing Debian packages: ${missing[*]} (sudo apt-get install -y ${missing[*]}); the e2e tests will skip"
    exit 0
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
  say "installed ${missing[*]}"
fi

# 2. Seed @vscode/ripgrep's cache with Debian's rg (cache = os.tmpdir() + vscode-ripgrep-cache-<version>).
tmp=$(node -p 'require("os").tmpdir()')
cache="$tmp/vscode-ripgrep-cache-$RIPGREP_PKG_VERSION"
tarball="$cache/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz"
if [ ! -s "$tarball" ]; then
  mkdir -p "$cache"
  stage=$(mktemp -d)
  cp /usr/bin/rg "$stage/rg"
  tar -czf "$tarball" -C "$stage" rg
  rm -rf "$stage"
  say "seeded $tarball"
fi

# 3. code-server in .e2e/code-server (git-ignored).
cs_dir="$root/.e2e/code-server"
cs_bin="$cs_dir/node_modules/.bin/code-server"
have=$(node -p "try{require('$cs_dir/node_modules/code-server/package.json').version}catch{''}" 2>/dev/null || true)
if [ "$have" != "$CODE_SERVER_VERSION" ] || [ ! -x "$cs_bin" ] || [ ! -d "$cs_dir/node_modules/code-server/lib/vscode/node_modules" ]; then
  mkdir -p "$cs_dir"
  [ -f "$cs_dir/package.json" ] || echo '{"name":"kds-e2e-code-server","private":true}' > "$cs_dir/package.json"
  say "installing code-server@$CODE_SERVER_VERSION into $cs_dir (about a minute)"
  (cd "$cs_dir" && npm_config_yes=true npm_config_unsafe_perm=true \
    npm install --no-audit --no-fund --loglevel=error "code-server@$CODE_SERVER_VERSION")
fi

# 4. playwright-core (devDependency; `npm ci` normally installed it already).
if [ ! -f "$root/node_modules/playwright-core/package.json" ]; then
  say "installing the product's devDependencies (playwright-core; no browsers)"
  (cd "$root" && npm install --no-audit --no-fund --loglevel=error)
fi

say "ready: $("$cs_bin" --version 2>/dev/null | head -1), chromium $(/usr/bin/chromium --version 2>/dev/null | awk '{print $2}')"
