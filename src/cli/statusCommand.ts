import { t } from '../common/l10n';
import { parseExcludeList } from '../engine/excludes';
import { listInput } from '../engine/inputListing';
import { type ScanEntry, readJournal } from '../engine/journal';
import { readFile } from 'node:fs/promises';
import { loadConfigForCommand } from './cliConfig';
import { type CliCommand, parseOptions } from './command';
import { ExitCode } from '../common/exitCode';
import { gatherNodeStatus } from '../engine/nodeStatus';
import { jsonWithVisibleControls } from '../common/displayText';

export const command: CliCommand = {
  name: 'status',
  summary: 'Show pending, skipped and recently routed files',
  help: `Usage: kds status --config FILE [--json] [--recent N] [--summary]

Reads the service's journal (state_dir) and the input folder, without disturbing a running
service, and shows:
  pending   files KATA is scanning or that wait to be moved
  skipped   files in input that are excluded, too large, or not regular files
  recent    the last N files moved to output or quarantine (default 20)

Options:
  --config FILE   kata_dir_scanner.conf (required)
  --json          machine-readable output
  --recent N      how many routed files to list
  --summary       one JSON object for the Central Nodes view and kds fleet status: the
                  engine's version, whether it runs, KATA's approval, per share the files
                  waiting, moved to output and quarantine today, folder health and the
                  share's last warning or error, and the newest warning or error of the log

Exit codes: 0 shown, 1 the journal could not be read, 2 configuration error.`,
  async run(argv) {
    const { values } = parseOptions(argv, {
      config: { type: 'string' },
      json: { type: 'boolean' },
      recent: { type: 'string' },
      summary: { type: 'boolean' },
    });
    const loaded = await loadConfigForCommand(values.config);
    if (!loaded) return ExitCode.usage;
    const { config } = loaded;
    if (values.summary) {
      process.stdout.write(jsonWithVisibleControls(await gatherNodeStatus(config)) + '\n');
      return ExitCode.ok;
    }
    const recentCount = Math.max(0, Number.parseInt(values.recent ?? '20', 10) || 20);
    let journal;
    try {
      journal = readJournal(config.state_dir);
    } catch (err) {
      process.stderr.write(t('Cannot read the journal in {0}: {1}', config.state_dir, (err as Error).message) + '\n');
      return ExitCode.failure;
    }
    const pending = journal.live.filter((e) => !e.outcome).map((e) => ({
      file: e.name,
      scanId: e.scanId,
      stage: e.state ? 'verdict received, moving' : e.submittedAt ? 'with KATA' : 'uploading',
      state: e.state,
      since: new Date(e.submittedAt ?? e.intentAt).toISOString(),
    }));
    const recent = journal.finished
      .filter((e) => e.outcome === 'routed')
      .slice(0, recentCount)
      .map((e: ScanEntry) => ({
        file: e.name,
        verdict: e.state === 'kds-timeout' ? 'timeout (no answer)' : e.state,
        destination: e.destination,
        size: e.size,
        sha256: e.sha256,
        at: new Date(e.doneAt ?? 0).toISOString(),
      }));
    const skipped: Array<{ file: string; reason: string }> = [];
    let inputError: string | undefined;
    try {
      const excludeText = await readFile(config.exclude_list, 'utf8').catch(() => '');
      const excludes = parseExcludeList(excludeText, { caseSensitive: config.exclude_case_sensitive });
      const listing = await listInput(config.in_dir);
      const limit = config.max_file_size_mb * 1024 * 1024;
      for (const ig of listing.ignored) skipped.push({ file: ig.name, reason: ig.kind });
      for (const f of listing.files) {
        const hit = excludes.matches(f.name);
        if (hit) skipped.push({ file: f.name, reason: `excluded (${hit.pattern})` });
        else if (f.stats.size > limit) skipped.push({ file: f.name, reason: `too large (${f.stats.size} bytes)` });
      }
    } catch (err) {
      inputError = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    }
    if (values.json) {
      process.stdout.write(JSON.stringify({ pending, skipped, recent, inputError }, null, 2) + '\n');
      return ExitCode.ok;
    }
    const out: string[] = [];
    out.push(t('Pending ({0})', pending.length));
    const stageText: Record<string, string> = {
      'verdict received, moving': t('verdict received, moving'),
      'with KATA': t('with KATA'),
      uploading: t('uploading'),
    };
    for (const p of pending) out.push(`  ${p.file}  ${stageText[p.stage]}  ${p.scanId}  ${p.since}`);
    out.push('', t('Skipped in input ({0})', skipped.length));
    if (inputError) out.push('  ' + t('input folder unavailable: {0}', inputError));
    for (const s of skipped) out.push(`  ${s.file}  ${s.reason}`);
    out.push('', t('Recently routed ({0})', recent.length));
    for (const r of recent) out.push(`  ${r.at}  ${r.destination === 'out' ? t('output') : t('quarantine')}  ${r.verdict}  ${r.file}`);
    process.stdout.write(out.join('\n') + '\n');
    return ExitCode.ok;
  },
};
