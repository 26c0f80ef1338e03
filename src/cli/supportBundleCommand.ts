import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { currentLocale, t } from '../common/l10n';
import { findLeaks, writeBundle } from '../support/bundleContents';
import { defaultProbeReportPath } from '../icap/probeReportFile';
import { compose, discover, gather, mergeAnswers, prefillNotes } from '../support/supportBundle';
import { CHECKLIST, type SummaryLanguage, type SupportAnswers, missingRequired, parseAnswers } from '../support/supportSummary';
import { askChecklist } from './checklistQuestions';
import { collect, humanSize } from '../support/collectFlow';
import { recentCaptures } from '../support/recentCaptures';
import { confirm, openHost } from './centralNodeTarget';
import { connectionOptions } from './remoteCommand';
import { progressPrinter } from './collectCommand';
import { ExitCode } from '../common/exitCode';
import { type CliCommand, UsageError, parseOptions } from './command';
import { askLine } from './remoteCommand';

const help = `Usage: kds support-bundle [--out FILE] [--config FILE] [--answers FILE.json] [--add FILE…] [--yes] [connection options]

Prepares one archive for a KATA support request (docs/support.md): summary.md with the
checklist of the KATA documents filled in (hardware model and specs, traffic level, integration
types, KATA/KEDR versions, date and time of the problem, description, steps to reproduce), KDS's
configuration, log, service status and "kds check --json", KATA's log-history/log-detects
extracts and kata-collect archive (with the connection options: from the Central Node), and the
files you add (pcaps from both sides). Passwords, private keys and sudo passwords are removed
from every file, and the written archive is checked for them again. The contents are shown
before anything is written.

The ICAP evidence goes in too, with a few lines in summary.md on what it shows: the lines of
KATA's preprocessor_icap.log around the date and time of the problem (the whole log when it is
under 2 MiB, otherwise its end when no time can be read), the latest "kds icap probe" report, and
each capture's transactions and diagnosis beside its pcap.

  --out FILE           the archive (default ./kds-support-<time>.tar.gz)
  --config FILE        the KDS configuration where KDS runs (default /opt/kata-dir-scanner/kata_dir_scanner.conf)
  --answers FILE.json  the checklist answers: {"language":"en|ru","hardware":…,"traffic":…,"integrations":…,
                       "kataVersion":…,"kedrVersion":…,"osVersion":…,"problemTime":…,"description":…,"steps":…,"contact":…}
                       (without it the questions are asked on the terminal; what KDS found is the default)
  --language en|ru     the language of summary.md (default: the answers file's, else the UI's)
  --add FILE           a file to include (repeat): pcaps go to captures/, others to attachments/
  --no-captures        leave out the captures \`kds capture\` saved in this folder in the last 7 days
                       (icap-capture-*.pcap; included by default, labelled as taken by KDS)
  --icap-log PATH      KATA's ICAP service log where KDS runs
                       (default /var/log/kaspersky/services/preprocessor_icap/preprocessor_icap.log)
  --no-icap-log        leave out preprocessor_icap.log
  --no-kata-logs       leave out log-history / log-detects
  --no-collect         leave out kata-collect (it can take minutes)
  --grep TEXT          what the log extracts keep (default ICAP, case-insensitive)
  --yes                write without asking; also removes the remote kata-collect archive after its verified download

Connection: the options of "kds remote" (--host HOST --port N --user NAME --identity FILE
--known-hosts FILE --accept-new-host-key --password-stdin; KDS_SSH_PASSWORD); sudo uses the SSH password.
Without --host the command runs on this computer (KDS installed on the Central Node itself).

Exit codes: 0 written, 1 failed (nothing written), 2 wrong arguments.`;

export const command: CliCommand = {
  name: 'support-bundle',
  summary: 'Prepare a support-request archive (checklist, logs, collect, pcaps) without secrets',
  help,
  run,
};

const options = {
  ...connectionOptions,
  out: { type: 'string' },
  config: { type: 'string' },
  answers: { type: 'string' },
  language: { type: 'string' },
  add: { type: 'string', multiple: true },
  'no-captures': { type: 'boolean', default: false },
  'icap-log': { type: 'string' },
  'no-icap-log': { type: 'boolean', default: false },
  'no-kata-logs': { type: 'boolean', default: false },
  'no-collect': { type: 'boolean', default: false },
  grep: { type: 'string' },
  yes: { type: 'boolean', default: false },
} as const;

const print = (line: string) => void process.stdout.write(line + '\n');

async function run(argv: string[]): Promise<number> {
  const { values: v } = parseOptions(argv, options);
  if (v.language !== undefined && v.language !== 'en' && v.language !== 'ru') throw new UsageError(t('--language must be en or ru'));
  let answers: SupportAnswers = {};
  if (v.answers) {
    try {
      answers = parseAnswers(JSON.parse(await readFile(v.answers, 'utf8')));
    } catch (e) {
      throw new UsageError(t('Cannot use the answers file {0}: {1}', v.answers, (e as Error).message));
    }
  }
  const addFiles = (v.add ?? []).map((f) => resolve(f));
  // The captures `kds capture` saved here lately go in too (listed with the contents before writing).
  const captures = v['no-captures'] ? [] : (await recentCaptures(process.cwd())).filter((f) => !addFiles.includes(f));
  if (v['no-icap-log'] && v['icap-log'] !== undefined) throw new UsageError(t('Use either --icap-log PATH or --no-icap-log.'));
  for (const f of addFiles) {
    const st = await stat(f).catch(() => undefined);
    if (!st?.isFile()) throw new UsageError(t('--add {0}: not a readable file', f));
  }
  const language: SummaryLanguage = (v.language as SummaryLanguage | undefined) ?? answers.language ?? (currentLocale() === 'ru' ? 'ru' : 'en');
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
  const outFile = resolve(v.out ?? `kds-support-${stamp}.tar.gz`);
  if (await stat(outFile).catch(() => undefined)) throw new UsageError(t('{0} exists already; name another --out FILE', outFile));
  if (!v.answers && !process.stdin.isTTY && !v.yes) throw new UsageError(t('No terminal to ask the checklist on: pass --answers FILE.json (and --yes)'));

  let opened;
  try {
    opened = await openHost(v);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    process.stderr.write(t('Cannot connect: {0}', (err as Error).message) + '\n');
    return ExitCode.failure;
  }
  const work = await mkdtemp(join(tmpdir(), 'kds-support-'));
  try {
    const host = opened.host;
    const privateKeyTexts = v.identity ? [await readFile(v.identity, 'utf8').catch(() => '')].filter(Boolean) : [];
    print(t('Finding out what KDS can about {0}…', host.where));
    const d = await discover(host, { ...(v.config && { configPath: v.config }), secrets: await opened.secrets(), privateKeyTexts });
    const notes = prefillNotes(d);
    if (!v.answers && process.stdin.isTTY) answers = await askChecklist({ print, ask: askLine }, d.prefill, answers, language, notes);
    else for (const n of Object.values(notes)) print(n);
    const merged = mergeAnswers(d.prefill, answers);
    const missing = missingRequired(merged);
    if (missing.length) print(t('Not answered (the summary says so): {0}', missing.map((k) => CHECKLIST.find((f) => f.key === k)!.text[language].label).join(', ')));

    const collectDir = dirname(outFile);
    const g = await gather(host, d, {
      kataLogs: !v['no-kata-logs'],
      ...(!v['no-collect'] && {
        collect: async () =>
          (
            await collect(host, collectDir, {
              print,
              progress: progressPrinter((s) => void process.stderr.write(s)),
              confirmRemoval: (state) => confirm(t('Remove {0} on {1} now?', state.remotePath, host.where), v.yes),
            })
          ).download.local,
      }),
      addFiles,
      captures,
      icapLog: v['no-icap-log'] ? false : v['icap-log'],
      ...(merged.problemTime && { problemTime: merged.problemTime }),
      probeReports: [defaultProbeReportPath()],
      workDir: work,
      ...(v.grep && { grep: v.grep }),
      onStep: (s) => print(s),
      onNote: (n) => print(`  ${t('not included:')} ${n}`),
    });
    const staging = join(work, 'staging');
    await mkdir(staging, { mode: 0o700 });
    const { entries, top } = await compose(d, g, answers, language, staging);

    print('');
    print(t('The archive {0} will hold:', outFile));
    for (const e of entries) print(`  ${top}/${e.name}  ${humanSize(e.size)}  — ${e.about}`);
    for (const n of g.notes) print(`  ${t('not included:')} ${n}`);
    print(t('{0} secrets were removed.', d.scrubber.total()));
    if (!(await confirm(t('Write it?'), v.yes))) {
      print(t('Nothing was written.'));
      return ExitCode.failure;
    }
    const written = await writeBundle(entries, top, outFile);
    const leaks = await findLeaks(outFile, d.scrubber);
    if (leaks.length) {
      await rm(outFile, { force: true });
      process.stderr.write(t('A secret was still found in the archive, so it was deleted: {0}', leaks.join('; ')) + '\n');
      return ExitCode.failure;
    }
    print(t('Written {0}: {1}, SHA-256 {2}. Attach it to the support request.', outFile, humanSize(written.size), written.sha256));
    return ExitCode.ok;
  } catch (err) {
    process.stderr.write(t('support-bundle failed: {0}', (err as Error).message) + '\n');
    return ExitCode.failure;
  } finally {
    await rm(work, { recursive: true, force: true });
    await opened.close();
  }
}
