import { t } from '../common/l10n';
import { type ServiceStatus, serviceStatus } from '../engine/serviceStatus';
import { chooseShare, loadConfigForCommand } from './cliConfig';
import { type CliCommand, parseOptions } from './command';
import { ExitCode } from '../common/exitCode';
import { gatherNodeStatus } from '../engine/nodeStatus';
import { jsonWithVisibleControls } from '../common/displayText';

export const command: CliCommand = {
  name: 'status',
  summary: 'Show pending, skipped and recently routed files of every share',
  help: `Usage: kds status --config FILE [--share SHARE] [--json] [--recent N] [--summary]

Reads the service's journal (state_dir), each share's folders and the end of its log, without
disturbing a running service, and shows per share:
  pending   files KATA is scanning or that wait to be moved
  skipped   files in input that are excluded, too large, or not regular files
  recent    the last N files moved to output or quarantine (default 20)
and, with --json, a summary of every share (files waiting, moved today, in quarantine, folder
problems, the last warning or error); docs/configuration.md describes the fields.

Options:
  --config FILE   kata_dir_scanner.conf (required)
  --share SHARE   only this share
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
      share: { type: 'string' },
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
    const only = values.share === undefined ? undefined : chooseShare(config, values.share).name;
    const recentCount = Math.max(0, Number.parseInt(values.recent ?? '20', 10) || 20);
    let status: ServiceStatus;
    try {
      status = await serviceStatus(config, { recent: recentCount, ...(only !== undefined && { share: only }) });
    } catch (err) {
      process.stderr.write(t('Cannot read the journal in {0}: {1}', config.state_dir, (err as Error).message) + '\n');
      return ExitCode.failure;
    }
    if (values.json) {
      process.stdout.write(JSON.stringify(status, null, 2) + '\n');
      return ExitCode.ok;
    }
    process.stdout.write(statusText(status, config.shares.length > 1).join('\n') + '\n');
    return ExitCode.ok;
  },
};

/** The status for a person: as before for one share; with several, each row names its share and each share has a line of its own. */
function statusText(status: ServiceStatus, several: boolean): string[] {
  const stageText: Record<string, string> = {
    'verdict received, moving': t('verdict received, moving'),
    'with KATA': t('with KATA'),
    uploading: t('uploading'),
  };
  const where = (share: string) => (several ? `[${share}]  ` : '');
  const out: string[] = [];
  if (several) {
    out.push(t('Shares ({0})', status.shares.length));
    for (const s of status.shares) {
      const down = (['in', 'out', 'qrnt'] as const).filter((f) => s.folders[f] !== null).map((f) => `${f}: ${s.folders[f]}`);
      out.push(
        `  ${s.name}  ` +
          t('waiting {0}, moved today to output {1} and to quarantine {2}, in quarantine {3}', s.waiting, s.outToday, s.qrntToday, s.inQuarantine ?? '?') +
          (down.length ? `  ${t('unavailable: {0}', down.join(', '))}` : ''),
      );
    }
    out.push('');
  }
  out.push(t('Pending ({0})', status.pending.length));
  for (const p of status.pending) out.push(`  ${where(p.share)}${p.file}  ${stageText[p.stage]}  ${p.scanId}  ${p.since}`);
  out.push('', t('Skipped in input ({0})', status.skipped.length));
  for (const s of status.shares) if (s.folders.in !== null) out.push('  ' + where(s.name) + t('input folder unavailable: {0}', s.folders.in));
  for (const s of status.skipped) out.push(`  ${where(s.share)}${s.file}  ${s.reason}`);
  out.push('', t('Recently routed ({0})', status.recent.length));
  for (const r of status.recent) out.push(`  ${r.at}  ${where(r.share)}${r.destination === 'out' ? t('output') : t('quarantine')}  ${r.verdict}  ${r.file}`);
  return out;
}
