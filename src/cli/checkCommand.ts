import { t } from '../common/l10n';
import { ExitCode } from '../common/exitCode';
import { type CheckItem, type CheckOptions, type CheckStatus, collectChecks } from '../engine/configChecks';
import { observabilityChecks } from '../observability/settingsChecks';
import { reportMissingConfig } from './cliConfig';
import { type CliCommand, type CommandIo, parseOptions, stdio } from './command';

const help = `Usage: kds check --config FILE [--json]

Checks everything KDS needs before it can run, and prints one line per item:
  ✓ passed   ! warning (KDS can run)   ✗ failed
Items: the configuration; the input, output and quarantine folders (exist, are folders,
are writable, which file system they are on); the exclude list; the client certificate
and key (readable, match, expiry, file permissions); kata_ca; the connection to KATA and
the verification of its certificate (the server's fingerprint is printed so it can be
pinned with kata_cert_sha256); whether KATA has approved this external system; when
configured, the metrics endpoint (metrics_listen free, or served by a running KDS) and the
SIEM (its CA, and a TCP or TLS connection to it).

Options:
  --config FILE   kata_dir_scanner.conf (required)
  --json          machine-readable output

Exit codes: 0 everything passed (warnings allowed), 1 a check failed, 2 the configuration
does not validate, 3 the only failure is that KATA has not approved the integration (401/403).`;

export const command: CliCommand = {
  name: 'check',
  summary: 'Check the configuration, folders, certificates and the connection to KATA',
  help,
  run: (argv) => runCheck(argv, stdio),
};

const marks: Record<CheckStatus, string> = { ok: '✓', warn: '!', fail: '✗' };

export async function runCheck(argv: string[], io: CommandIo, options: CheckOptions = {}): Promise<number> {
  const { values } = parseOptions(argv, { config: { type: 'string' }, json: { type: 'boolean' } });
  // The file itself is loaded by collectChecks, which reports a bad one as a failed item.
  if (!values.config) return reportMissingConfig(io);
  const { configPath, exitCode, items } = await collectChecks(values.config, { more: (c) => observabilityChecks(c), ...options });
  if (values.json) io.out(JSON.stringify({ config: configPath, exitCode, items }, null, 2) + '\n');
  else io.out(render(items, exitCode));
  return exitCode;
}

function render(items: CheckItem[], exitCode: number): string {
  const lines: string[] = [];
  for (const item of items) {
    lines.push(`${marks[item.status]} ${item.title}`);
    for (const d of item.details) lines.push(`    ${d.replace(/\n/g, '\n    ')}`);
  }
  const failures = items.filter((i) => i.status === 'fail').length;
  const warnings = items.filter((i) => i.status === 'warn').length;
  lines.push('');
  if (exitCode === ExitCode.ok) lines.push(warnings ? t('All checks passed ({0} warnings).', warnings) : t('All checks passed.'));
  else if (exitCode === ExitCode.notApproved) lines.push(t('KDS is ready except that KATA has not approved this external system.'));
  else lines.push(t('{0} checks failed, {1} warnings.', failures, warnings));
  return lines.join('\n') + '\n';
}

