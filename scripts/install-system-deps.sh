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
# The ICAP kit's tests run the real peers on 127.0.0.1: c-icap (server, and c-icap-client), Squid
# (an ICAP client), curl through Squid; tcpdump/tshark for capture (docs/icap-kit.md).
[ -x /usr/bin/c-icap ] && [ -x /usr/bin/c-icap-client ] || need+=(c-icap)
[ -x /usr/sbin/squid ] || need+=(squid)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v tcpdump >/dev/null 2>&1 || need+=(tcpdump)
command -v tshark >/dev/null 2>&1 || need+=(tshark)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "install-system-deps: not root, so not installing: ${need[*]} (sudo apt-get install -y ${need[*]})" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
# Installing openssh-server must not start a system sshd on port 22 (the tests run their own on
# a free port): deny service starts during the install unless a policy is already in place.
policy_added=
# Likewise c-icap and squid must not start system services on 1344/3128 (the tests run their own).
if [[ " ${need[*]} " =~ " "(openssh-server|c-icap|squid)" " ]] && [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && policy_added=1
fi
cleanup() { if [ -n "$policy_added" ]; then rm -f /usr/sbin/policy-rc.d; fi; }
trap cleanup EXIT
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}"
echo "install-system-deps: installed ${need[*]}"
