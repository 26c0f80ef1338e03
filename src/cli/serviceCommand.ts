import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { checkTrustedExecutable, localInspector } from '../centralNode/trustedExecutable';
import { t } from '../common/l10n';
import { packageRoot } from '../common/packageRoot';
import { defaultUnitName, renderLogrotate, renderServiceUnit } from '../engine/serviceUnit';
import { loadConfigForCommand } from './cliConfig';
import { type CliCommand, UsageError, parseOptions } from './command';
import { ExitCode } from '../common/exitCode';

const help = `Usage: kds service --config FILE [--exec PATH] [--name NAME] [--unit-only | --logrotate-only]

Validates the configuration and prints a hardened systemd unit that runs
"kds run --config FILE", followed by a logrotate snippet for its log_file
(commented out, so the whole output is still a valid unit file).

  kds service --config /opt/kata-dir-scanner/kata_dir_scanner.conf --unit-only \\
    > /etc/systemd/system/kata-dir-scanner.service
  kds service --config /opt/kata-dir-scanner/kata_dir_scanner.conf --logrotate-only \\
    > /etc/logrotate.d/kata-dir-scanner

Options:
  --config FILE      kata_dir_scanner.conf of this instance
  --exec PATH        the installed kds executable (default: this Node.js and this kds)
  --name NAME        unit name without .service (default kata-dir-scanner); one unit per folder triple
  --unit-only        print only the unit
  --logrotate-only   print only the logrotate snippet

Exit codes: 0 printed, 2 wrong arguments or the configuration does not validate.`;

export const command: CliCommand = {
  name: 'service',
  summary: 'Print a systemd unit and logrotate snippet for a configuration',
  help,
  run,
};

/** How this very program is started, so the unit runs the same build that validated the config. */
function defaultExec(): string[] {
  const script = join(packageRoot(), 'bin', 'kds.js');
  // A single-executable build has no script beside it: the executable is kds itself.
  return existsSync(script) ? [process.execPath, script] : [process.execPath];
}

async function run(argv: string[]): Promise<number> {
  const { values } = parseOptions(argv, {
    config: { type: 'string' },
    exec: { type: 'string' },
    name: { type: 'string' },
    'unit-only': { type: 'boolean', default: false },
    'logrotate-only': { type: 'boolean', default: false },
  });
  if (!values.config) throw new UsageError(t('--config FILE is required'));
  if (values['unit-only'] && values['logrotate-only']) throw new UsageError(t('--unit-only and --logrotate-only exclude each other'));
  const unitName = values.name ?? defaultUnitName;
  if (!/^[A-Za-z0-9:_.@-]{1,200}$/.test(unitName)) throw new UsageError(t('--name may hold only letters, digits and : _ . @ - (got {0})', unitName));

  const loaded = await loadConfigForCommand(values.config);
  if (!loaded) return ExitCode.usage;
  for (const w of loaded.warnings) process.stderr.write(t('Warning: {0}', w) + '\n');
  const { config } = loaded;

  const exec = values.exec ? [resolve(values.exec)] : defaultExec();
  if (values.exec && !existsSync(exec[0]!)) process.stderr.write(t('Warning: {0} does not exist on this machine', exec[0]!) + '\n');
  else {
    // The unit runs these as root: whoever can replace one of them gets root at the next start.
    for (const p of exec) {
      const v = await checkTrustedExecutable(p, localInspector);
      if (!v.ok) process.stderr.write(t('Warning: {0} is not safe for a root service to run: {1}. Install the single executable owned by root (kds remote setup does) or pass --exec with one.', p, v.reason) + '\n');
    }
  }

  let unit: string;
  try {
    unit = renderServiceUnit(config, { exec, unitName });
  } catch (err) {
    process.stderr.write(t('Cannot write a unit for these paths: {0}', (err as Error).message) + '\n');
    return ExitCode.usage;
  }
  const logrotate = renderLogrotate(config, { unitName });

  if (values['unit-only']) process.stdout.write(unit);
  else if (values['logrotate-only']) process.stdout.write(logrotate);
  else {
    const commented = logrotate.trimEnd().split('\n').map((l) => `# ${l}`);
    process.stdout.write(
      [
        unit,
        `# ${t('logrotate: save the lines below without "# " as /etc/logrotate.d/{0}, or run with --logrotate-only', unitName)}`,
        ...commented,
        '',
      ].join('\n'),
    );
  }
  return ExitCode.ok;
}
