/**
 * A stand-in for systemd inside a PrivateRoot (the test machines run no systemd): a POSIX sh
 * `systemctl` put over /usr/bin/systemctl in the namespace, and /run/systemd/system made there,
 * so "systemd runs" for the set-up, the package's maintainer scripts and deb-systemd-invoke.
 * It reads the unit file the way systemd picks it (/etc/systemd/system before /lib/systemd/system),
 * runs ExecStartPre= and ExecStart= (its words unquoted by the shell: enough for the units KDS
 * generates, whose paths hold no $ or %), keeps the main pid in /run/kds-systemctl, and logs every
 * call there (calls.log) for the test to read. Enabled = a symlink in a *.wants folder, as
 * `systemctl enable` and deb-systemd-helper make it.
 *
 * What it cannot prove: systemd's sandboxing (ProtectSystem=, ReadWritePaths=, …), restarts on
 * failure, dependencies and ordering. `systemd-analyze verify` checks the unit's syntax elsewhere.
 */
import type { PrivateRoot } from './privateRoot';

export const systemctlStandIn = String.raw`#!/bin/sh
# systemctl stand-in for KDS tests (test/helpers/systemdStandIn.ts).
state=/run/kds-systemctl
# is-active and status come from the SSH user too: calls.log is writable by all, the rest is root's.
echo "$*" >> "$state/calls.log" 2>/dev/null || true
action=
units=
signal=TERM
for a in "$@"; do
  case "$a" in
    -s) sig_next=1 ;;
    -q|--quiet) quiet=1 ;;
    -*) ;;
    *)
      if [ -n "$sig_next" ]; then sig_next=; signal=$a; continue; fi
      if [ -z "$action" ]; then action=$a; else units="$units $a"; fi ;;
  esac
done
unitfile() {
  for d in /etc/systemd/system /run/systemd/system /lib/systemd/system /usr/lib/systemd/system; do
    if [ -f "$d/$1" ]; then echo "$d/$1"; return 0; fi
  done
  return 1
}
pidof_unit() { [ -f "$state/$1.pid" ] && cat "$state/$1.pid"; }
alive() { [ -d "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }
active() { p=$(pidof_unit "$1") && [ -n "$p" ] && alive "$p"; }
enabled() { ls /etc/systemd/system/*.wants/"$1" >/dev/null 2>&1; }
start() {
  u=$1
  f=$(unitfile "$u") || { echo "Unit $u not found." >&2; return 5; }
  sed -n 's/^ExecStartPre=+\{0,1\}//p' "$f" | while IFS= read -r line; do eval "set -- $line"; "$@" || exit 1; done || return 1
  line=$(sed -n 's/^ExecStart=//p' "$f" | head -n 1)
  eval "set -- $line"
  setsid "$@" >> "$state/$u.log" 2>&1 < /dev/null &
  echo $! > "$state/$u.pid"
}
stop() {
  p=$(pidof_unit "$1") || return 0
  kill -TERM "$p" 2>/dev/null || true
  i=0
  while alive "$p" && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
  rm -f "$state/$1.pid"
}
wants() { sed -n 's/^WantedBy=//p' "$(unitfile "$1")" | head -n 1; }
say() { [ -n "$quiet" ] || echo "$1"; }
rc=0
case "$action" in
  --version|"") echo "systemd 252 (KDS test stand-in)"; exit 0 ;;
  daemon-reload|reset-failed) exit 0 ;;
esac
for u in $units; do
  case "$u" in *.*) ;; *) u="$u.service" ;; esac
  case "$action" in
    start) active "$u" || start "$u" || rc=1 ;;
    restart) stop "$u"; start "$u" || rc=1 ;;
    try-restart) if active "$u"; then stop "$u"; start "$u" || rc=1; fi ;;
    stop) stop "$u" ;;
    reload) p=$(pidof_unit "$u") && kill -HUP "$p" || rc=1 ;;
    kill) p=$(pidof_unit "$u") && kill "-$signal" "$p" || rc=1 ;;
    is-active) if active "$u"; then say active; else say inactive; rc=3; fi ;;
    is-enabled) if enabled "$u"; then say enabled; else say disabled; rc=1; fi ;;
    # deb-systemd-helper enables a new package's unit with "systemctl preset"; the default preset is enable.
    enable|preset) w=$(wants "$u") && mkdir -p "/etc/systemd/system/$w.wants" && ln -sf "$(unitfile "$u")" "/etc/systemd/system/$w.wants/$u" || rc=1 ;;
    disable) rm -f /etc/systemd/system/*.wants/"$u" ;;
    status)
      if active "$u"; then echo "* $u - active (running) since stand-in start; Main PID: $(pidof_unit "$u")"; else echo "* $u - inactive (dead)"; rc=3; fi
      tail -n 20 "$state/$u.log" 2>/dev/null || true ;;
    *) echo "systemctl stand-in: $action is not supported" >&2; rc=1 ;;
  esac
done
exit $rc
`;

/** Installs the stand-in in `root`: "systemd runs" there from now on. */
export async function installSystemdStandIn(root: PrivateRoot): Promise<void> {
  await root.writeFile('/usr/bin/systemctl', systemctlStandIn, 0o755);
  await root.run(['mkdir', '-p', '/run/systemd/system', '/run/kds-systemctl']);
  await root.run(['sh', '-c', ': > /run/kds-systemctl/calls.log && chmod 0666 /run/kds-systemctl/calls.log']);
  // A policy-rc.d left by an apt-get run on the host would tell deb-systemd-invoke not to start anything.
  await root.run(['rm', '-f', '/usr/sbin/policy-rc.d']);
}

/** Every systemctl call so far, one a line. */
export async function systemctlCalls(root: PrivateRoot): Promise<string[]> {
  const r = await root.exec(['cat', '/run/kds-systemctl/calls.log']);
  return r.code === 0 ? r.stdout.split('\n').filter(Boolean) : [];
}
