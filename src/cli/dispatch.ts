import { initL10n, t } from '../common/l10n';
import { kdsVersion as version } from '../common/version';
import { type CliCommand, UsageError } from './command';
import { ExitCode } from '../common/exitCode';

/** Loads a sub-command on demand. */
export type CommandLoader = () => Promise<{ command: CliCommand }>;

async function printOverview(commands: Record<string, CommandLoader>): Promise<void> {
  const lines = [t('KDS — KATA Directory Scanner {0}', version), '', t('Usage: kds <command> [options]'), '', t('Commands:')];
  for (const [name, load] of Object.entries(commands)) {
    const { command } = await load();
    lines.push(`  ${name.padEnd(12)} ${t(command.summary)}`);
  }
  lines.push('', t('Run "kds <command> --help" for the options of a command.'));
  lines.push('', t('Exit codes: 0 success, 1 failure, 2 usage or configuration error, 3 not approved by KATA.'));
  process.stdout.write(lines.join('\n') + '\n');
}

/** `kds ARGV` with these sub-commands: the overview, --version, a command's --help, or the command. */
export async function dispatch(argv: string[], commands: Record<string, CommandLoader>): Promise<number> {
  initL10n();
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    await printOverview(commands);
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
