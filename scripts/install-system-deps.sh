#!/usr/bin/env bash
# Installs the Debian packages the tests use. Idempotent. As root (CI, a fresh machine) it
# installs what is missing; otherwise it says what is missing and the tests that need it say
# so plainly when they run.
set -euo pipefail
need=()
command -v yara >/dev/null 2>&1 || need+=(yara)
# The SSH tests (test/integration/ssh*.test.ts) run a private sshd on 127.0.0.1 with ssh-keygen,
# ssh-agent/ssh-add, and test the sudo path.
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
{ command -v ssh-keygen && command -v ssh-agent && command -v ssh-add; } >/dev/null 2>&1 || need+=(openssh-client)
command -v sudo >/dev/null 2>&1 || need+=(sudo)
# The capture tests (test/integration/capture*.test.ts) capture real ICAP traffic between
# c-icap-client / Squid and a c-icap server with tcpdump on lo, and check the analysis against
# tshark's ICAP dissector. tshark's package asks a debconf question: DEBIAN_FRONTEND below.
[ -x /usr/bin/tcpdump ] || need+=(tcpdump)
[ -x /usr/bin/tshark ] || need+=(tshark)
{ [ -x /usr/bin/c-icap ] && [ -x /usr/bin/c-icap-client ]; } || need+=(c-icap)
[ -x /usr/sbin/squid ] || need+=(squid)
# test/integration/sshShellQuoting.test.ts: a CN user whose login shell is fish (not POSIX quoting).
command -v fish >/dev/null 2>&1 || need+=(fish)
# The ICAP kit's tests (test/integration/icap*.test.ts, docs/icap-kit.md) use the same c-icap and
# Squid, and curl through the proxy.
command -v curl >/dev/null 2>&1 || need+=(curl)
# The engine package (npm run package:deb, scripts/build-deb.ts): strip for the single executable,
# dpkg-deb to build it, lintian to check it (test/integration/debPackage.test.ts).
command -v strip >/dev/null 2>&1 || need+=(binutils)
command -v dpkg-deb >/dev/null 2>&1 || need+=(dpkg)
command -v lintian >/dev/null 2>&1 || need+=(lintian)
# The SMB tests (test/integration/smb*.test.ts, test/helpers/samba.ts) serve a folder with Samba's
# smbd on 127.0.0.1:445 in a private network namespace (unshare/nsenter from util-linux, ip and ss
# from iproute2) and mount it with smbnetfs through FUSE. The samba package's services are not
# started by the install (policy-rc.d below).
[ -x /usr/sbin/smbd ] || need+=(samba)
[ -x /usr/bin/smbnetfs ] || need+=(smbnetfs)
{ [ -x /usr/sbin/ip ] && [ -x /usr/bin/ss ]; } || need+=(iproute2)
{ [ -x /usr/bin/unshare ] && [ -x /usr/bin/nsenter ]; } || need+=(util-linux)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "install-system-deps: not root, so not installing: ${need[*]} (sudo apt-get install -y ${need[*]})" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
# Installing openssh-server, c-icap, squid or samba must not start a system service (the tests run their
# own on free ports): deny service starts during the install unless a policy is already in place.
policy_added=
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && policy_added=1
fi
cleanup() { if [ -n "$policy_added" ]; then rm -f /usr/sbin/policy-rc.d; fi; }
trap cleanup EXIT
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}"
echo "install-system-deps: installed ${need[*]}"
