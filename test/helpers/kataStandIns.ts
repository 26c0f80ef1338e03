/**
 * Stand-ins for KATA's own tools `kata-collect` and `kata-collect-siem-logs` (they exist only on
 * a real Central Node). They behave as the KATA documents describe — root only, the same
 * arguments, log-history.log / log-detects.log in --output-dir, an archive under a collect
 * folder whose path is printed — and write what the test wants planted (secrets, ICAP lines,
 * a big archive for the resume test). Plus stand-in systemctl/journalctl whose output the test
 * controls (no systemd runs in the test machine). docs/support.md says these are stand-ins.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface StandIns {
  /** Folder to put first on the SSH user's PATH. */
  bin: string;
  /** Where the stand-in kata-collect writes its archives (root-only, like /tmp/collect). */
  collectDir: string;
  /** Each kata-collect run appends a line here. */
  runsFile: string;
}

const sh = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * `plant` is text written into every output (may hold newlines); `collectBytes` the size of the
 * random payload inside the collect archive; `wording` the line kata-collect prints with the path.
 */
export function writeStandIns(dir: string, o: { plant: string; collectBytes: number; wording?: string; secretName?: string; icapLines?: number }): StandIns {
  const bin = join(dir, 'bin');
  const collectDir = join(dir, 'collect');
  const runsFile = join(dir, 'collect-runs');
  mkdirSync(bin, { recursive: true, mode: 0o755 });
  const plantFile = join(dir, 'plant.txt');
  writeFileSync(plantFile, o.plant, { mode: 0o644 });
  const icap = o.icapLines ?? 3;
  writeFileSync(
    join(bin, 'kata-collect-siem-logs'),
    `#!/bin/bash
# STAND-IN for KATA's kata-collect-siem-logs (tests only).
set -e
[ "$(id -u)" = 0 ] || { echo "kata-collect-siem-logs: must be run as root" >&2; exit 1; }
kind="$1"; shift
out=""; nc=0
while [ $# -gt 0 ]; do case "$1" in --output-dir) out="$2"; shift 2;; --no-compress) nc=1; shift;; *) echo "unknown option $1" >&2; exit 2;; esac; done
[ -n "$out" ] && [ -d "$out" ] || { echo "--output-dir must be a folder" >&2; exit 2; }
[ "$nc" = 1 ] || { echo "stand-in supports --no-compress only" >&2; exit 2; }
case "$kind" in log-history) f="$out/log-history.log";; log-detects) f="$out/log-detects.log";; *) echo "unknown command $kind" >&2; exit 2;; esac
{
  for i in $(seq 1 ${icap}); do echo "2024-05-01 10:0$i:00 ICAP object scanned from 10.0.0.$i verdict clean"; done
  echo "2024-05-01 10:05:00 SPAN object scanned verdict clean"
  echo "2024-05-01 10:06:00 icap debug: $(head -n1 ${sh(plantFile)})"
  echo "2024-05-01 10:07:00 mail object scanned"
  sed 's/^/2024-05-01 10:08:00 ICAP planted: /' ${sh(plantFile)}
} > "$f"
echo "Exported $kind to $f"
`,
    { mode: 0o755 },
  );
  writeFileSync(
    join(bin, 'kata-collect'),
    `#!/bin/bash
# STAND-IN for KATA's kata-collect (tests only).
set -e
[ "$(id -u)" = 0 ] || { echo "kata-collect: must be run as root" >&2; exit 1; }
echo run >> ${sh(runsFile)}
mkdir -p ${sh(collectDir)}; chmod 700 ${sh(collectDir)}
ts=$(date +%Y%m%d%H%M%S)-$$
work=$(mktemp -d)
mkdir -p "$work/var/log/kaspersky"
cp ${sh(plantFile)} "$work/var/log/kaspersky/services.log"
cp ${sh(plantFile)} "$work/var/log/kaspersky/rotated.log"; gzip "$work/var/log/kaspersky/rotated.log"
echo "named after a secret" > "$work/var/log/kaspersky/${o.secretName ?? 'plain'}.txt"
head -c ${o.collectBytes} /dev/urandom > "$work/var/log/kaspersky/payload.bin"
tar -czf ${sh(collectDir)}/collect-$ts.tar.gz -C "$work" var
rm -rf "$work"
echo "Collecting system information... done"
echo "${(o.wording ?? 'The archive is saved to {path}').replace('{path}', `${collectDir}/collect-$ts.tar.gz`)}"
`,
    { mode: 0o755 },
  );
  writeFileSync(join(bin, 'systemctl'), `#!/bin/bash\n# STAND-IN systemctl (no systemd in tests)\necho "kata-dir-scanner.service - KDS"\necho "   Active: failed"\ncat ${sh(plantFile)}\nexit 3\n`, { mode: 0o755 });
  writeFileSync(join(bin, 'journalctl'), `#!/bin/bash\n# STAND-IN journalctl (no systemd in tests)\nsed 's/^/Dec 01 10:00:00 cn kds[1]: /' ${sh(plantFile)}\n`, { mode: 0o755 });
  for (const f of ['kata-collect-siem-logs', 'kata-collect', 'systemctl', 'journalctl']) chmodSync(join(bin, f), 0o755);
  return { bin, collectDir, runsFile };
}
