import { initL10n, t } from '../common/l10n';
import { kdsVersion as version } from '../common/version';
import { type CliCommand, UsageError } from './command';
import { ExitCode } from '../common/exitCode';

type Loader = () => Promise<{ command: CliCommand }>;

// Loaded on demand so `kds emulate` does not pay for the engine and the other way round.
// Each sub-command adds its line here.
const commands: Record<string, Loader> = {
  check: () => import('./checkCommand'),
  enroll: () => import('./enrollCommand'),
  emulate: () => import('./emulateCommand'),
  cert: () => import('./certCommand'),
  service: () => import('./serviceCommand'),
  run: () => import('./runCommand'),
  status: () => import('./statusCommand'),
  demo: () => import('./demoCommand'),
  remote: () => import('./remoteCommand'),
  fleet: () => import('./fleetCommand'),
  quarantine: () => import('./quarantineCommand'),
  icap: () => import('./icapCommand'),
  capture: () => import('./captureCommand'),
  // support (issue 11): KATA's own logs and the support-request bundle
  'kata-logs': () => import('./kataLogsCommand'),
  collect: () => import('./collectCommand'),
  'support-bundle': () => import('./supportBundleCommand'),
};

async function printOverview(): Promise<void> {
  const lines = [t('KDS — KATA Directory Scanner {0}', version), '', t('Usage: kds <command> [options]'), '', t('Commands:')];
  for (const [name, load] of Object.entries(commands)) {
    const { command } = await load();
    lines.push(`  ${name.padEnd(12)} ${t(command.summary)}`);
  }
  lines.push('', t('Run "kds <command> --help" for the options of a command.'));
  lines.push('', t('Exit codes: 0 success, 1 failure, 2 usage or configuration error, 3 not approved by KATA.'));
  process.stdout.write(lines.join('\n') + '\n');
}

export async function main(argv: string[]): Promise<number> {
  initL10n();
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    await printOverview();
    return name ? ExitCode.ok : ExitCode.usage;
  }
  if (name === '--version' || name === '-v') {
    process.stdout.write(`${version}\n`);
    return ExitCode.ok;
  }
  const load = commands[name];
  if (!load) {
    process.stderr.write(t('Unknown command "{0}". Run "kds --help".', name) + '\n');
    return ExitCode.usage;
  }
  const { command } = await load();
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(t(command.help) + '\n');
    return ExitCode.ok;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof UsageError || (err as NodeJS.ErrnoException)?.code?.startsWith?.('ERR_PARSE_ARGS')) {
      process.stderr.write(`${(err as Error).message}\n\n${t(command.help)}\n`);
      return ExitCode.usage;
    }
    throw err;
  }
}
