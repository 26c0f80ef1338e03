import { resolve } from 'node:path';
import { terminalText } from '../common/displayText';
import { t } from '../common/l10n';
import { type CollectUi, collect, humanSize } from '../support/collectFlow';
import { KataToolFailed, MissingKataTool } from '../support/kataTools';
import { DownloadInterrupted } from '../support/resumableDownload';
import { confirm, openHost } from './centralNodeTarget';
import { connectionOptions } from './remoteCommand';
import { ExitCode } from '../common/exitCode';
import { type CliCommand, UsageError, parseOptions } from './command';

const help = `Usage: kds collect [--out DIR] [--yes] [--new | --archive PATH] [connection options]

Runs KATA's "kata-collect" with sudo on the Central Node, finds the archive it reports
(/tmp/collect/collect-<timestamp>.tar.gz by default), downloads it with progress, verifies its
size and SHA-256 (computed on the Central Node with sha256sum), and removes the remote archive
only after you confirm (docs/support.md).

A download cut off by a dropped connection continues where it stopped the next time you run
the command with the same --out: KDS remembers it beside the partial file and checks that the
archive on the Central Node is still the same.

  --out DIR        where the archive goes (default: the current folder)
  --yes            answer every question with yes (removes the remote archive after a verified download)
  --keep-remote    never remove the remote archive
  --new            run kata-collect even when an unfinished download could be continued
  --archive PATH   download this existing archive instead of running kata-collect

Connection: the options of "kds remote" (--host HOST --port N --user NAME --identity FILE
--known-hosts FILE --accept-new-host-key --password-stdin; KDS_SSH_PASSWORD); sudo uses the SSH password.
Without --host the command runs on this computer (KDS installed on the Central Node itself).

Exit codes: 0 downloaded and verified, 1 the tool is missing, failed, or the download did not complete, 2 wrong arguments.`;

export const command: CliCommand = {
  name: 'collect',
  summary: "Run KATA's kata-collect and download its archive (resumable, verified)",
  help,
  run,
};

const options = {
  ...connectionOptions,
  out: { type: 'string' },
  yes: { type: 'boolean', default: false },
  'keep-remote': { type: 'boolean', default: false },
  new: { type: 'boolean', default: false },
  archive: { type: 'string' },
} as const;

/** A terminal progress line, at most every whole percent. */
export function progressPrinter(write: (s: string) => void): (done: number, total: number) => void {
  let last = -1;
  return (done, total) => {
    const pct = total ? Math.floor((done * 100) / total) : 100;
    if (pct === last) return;
    last = pct;
    write(`\r${t('Downloading: {0}% ({1} of {2})', pct, humanSize(done), humanSize(total))}${done >= total ? '\n' : ''}`);
  };
}

// What the host gave (kata-collect's output and archive path, its errors) is printed with visible escapes.
const print = (line: string) => void process.stdout.write(terminalText(line) + '\n');
const printError = (line: string) => void process.stderr.write(terminalText(line) + '\n');

async function run(argv: string[]): Promise<number> {
  const { values: v } = parseOptions(argv, options);
  if (v.new && v.archive) throw new UsageError(t('--new and --archive exclude each other'));
  if (v.archive !== undefined && !v.archive.startsWith('/')) throw new UsageError(t('--archive must be an absolute path on the Central Node'));
  const outDir = resolve(v.out ?? '.');
  let opened;
  try {
    opened = await openHost(v);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    printError(t('Cannot connect: {0}', (err as Error).message));
    return ExitCode.failure;
  }
  const ui: CollectUi = {
    print,
    progress: progressPrinter((s) => void process.stderr.write(s)),
    confirmRemoval: async (state) => !v['keep-remote'] && (await confirm(t('Remove {0} on {1} now?', state.remotePath, opened.host.where), v.yes)),
  };
  try {
    await collect(opened.host, outDir, ui, { fresh: v.new, ...(v.archive && { archive: v.archive }) });
    return ExitCode.ok;
  } catch (err) {
    if (err instanceof MissingKataTool || err instanceof KataToolFailed || err instanceof DownloadInterrupted) printError('\n' + err.message);
    else printError('\n' + t('collect failed: {0}', (err as Error).message));
    return ExitCode.failure;
  } finally {
    await opened.close();
  }
}
