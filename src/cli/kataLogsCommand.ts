import { join, resolve } from 'node:path';
import { t } from '../common/l10n';
import { IcapLogFilterError } from '../icapLog/logFilter';
import { type KataLogKind, fetchKataLogs, grepFiles } from '../support/kataLogs';
import { KataToolFailed, MissingKataTool } from '../support/kataTools';
import { openHost } from './centralNodeTarget';
import { connectionOptions } from './remoteCommand';
import { ExitCode } from '../common/exitCode';
import { type CliCommand, UsageError, parseOptions, stdio } from './command';
import { escapedIo } from './terminalOutput';

const help = `Usage: kds kata-logs history|detects [--grep TEXT] [--since DATE] [--out DIR] [connection options]

Runs KATA's "kata-collect-siem-logs log-history" (every scanned object) or "log-detects"
(detections) with sudo into a private temporary folder on the Central Node, downloads the
result, removes the remote copy, and prints the lines that match with a count per file
(docs/support.md).

  --grep TEXT        what to look for, case-insensitive (default ICAP)
  --since DATE       only lines with a time at or after DATE (2024-05-01 or 2024-05-01 10:00:00)
  --out DIR          where the files go (default ./kata-logs-<kind>-<time>)
  --max-lines N      matching lines printed per file (default 200; the counts are always complete)
  --json             the counts and files as JSON

Connection: the options of "kds remote" (--host HOST --port N --user NAME --identity FILE
--known-hosts FILE --accept-new-host-key --password-stdin; KDS_SSH_PASSWORD); sudo uses the SSH password.
Without --host the command runs on this computer (KDS installed on the Central Node itself).

Exit codes: 0 done (also when nothing matched), 1 the tool is missing or failed, 2 wrong arguments.`;

export const command: CliCommand = {
  name: 'kata-logs',
  summary: "Fetch KATA's log-history / log-detects and show the ICAP lines",
  help,
  run,
};

const options = {
  ...connectionOptions,
  grep: { type: 'string' },
  since: { type: 'string' },
  out: { type: 'string' },
  'max-lines': { type: 'string' },
  json: { type: 'boolean', default: false },
} as const;

const stamp = () => new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '');

async function run(argv: string[]): Promise<number> {
  const [kind, ...rest] = argv;
  if (kind !== 'history' && kind !== 'detects') throw new UsageError(t('Name one of: {0}', 'history, detects'));
  const { values: v } = parseOptions(rest, options);
  // KATA's logs hold what anyone who reaches the proxy wrote (URLs, file names): every line is escaped.
  const io = escapedIo(stdio);
  const maxLines = v['max-lines'] === undefined ? 200 : Number(v['max-lines']);
  if (!Number.isInteger(maxLines) || maxLines < 0) throw new UsageError(t('--max-lines must be a whole number'));
  const outDir = resolve(v.out ?? `kata-logs-${kind}-${stamp()}`);
  // The filter is checked before anything runs on the Central Node.
  try {
    await grepFiles([], { pattern: v.grep ?? 'ICAP', ...(v.since && { since: v.since }) });
  } catch (e) {
    if (e instanceof IcapLogFilterError) throw new UsageError(e.message);
    throw e;
  }
  let opened;
  try {
    opened = await openHost(v);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    io.err(t('Cannot connect: {0}', (err as Error).message) + '\n');
    return ExitCode.failure;
  }
  try {
    const fetched = await fetchKataLogs(opened.host, kind as KataLogKind, outDir);
    const results = await grepFiles(fetched.files, { pattern: v.grep ?? 'ICAP', ...(v.since && { since: v.since }), maxLines });
    if (v.json) {
      io.out(JSON.stringify({ kind, host: opened.host.where, out: outDir, pattern: v.grep ?? 'ICAP', since: v.since ?? null, files: results.map((r) => ({ file: r.file, lines: r.lines, matched: r.matched })) }, null, 2) + '\n');
      return ExitCode.ok;
    }
    const pattern = v.grep ?? 'ICAP';
    for (const r of results) {
      io.out(`==> ${r.file} <==\n`);
      for (const line of r.matches) io.out(line + '\n');
      if (r.matched > r.matches.length) io.out(t('… {0} more matching lines in the file.', r.matched - r.matches.length) + '\n');
      io.out('\n');
    }
    for (const r of results) io.out(t('{0}: {1} of {2} lines match "{3}"', join(r.file), r.matched, r.lines, pattern) + '\n');
    if (!fetched.cleaned) io.err(t('The temporary folder on {0} could not be removed; remove it by hand.', opened.host.where) + '\n');
    if (results.every((r) => r.matched === 0)) io.out(t('No line matches "{0}": KATA has not logged ICAP traffic in this period. Check that the proxy sends requests to port 1344 (kds capture) and the ICAP log (kds remote icap-log).', pattern) + '\n');
    return ExitCode.ok;
  } catch (err) {
    if (err instanceof MissingKataTool || err instanceof KataToolFailed) {
      io.err(err.message + '\n');
      return ExitCode.failure;
    }
    io.err(t('kata-logs failed: {0}', (err as Error).message) + '\n');
    return ExitCode.failure;
  } finally {
    await opened.close();
  }
}
