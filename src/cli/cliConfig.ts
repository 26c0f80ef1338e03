import { t } from '../common/l10n';
import { ConfigError, loadConfig } from '../engine/config';
import { type CommandIo, stdio } from './command';
import { ExitCode } from '../common/exitCode';

/** What loadConfig gives: the configuration and the warnings about it. */
export type LoadedConfig = Awaited<ReturnType<typeof loadConfig>>;

/** Says that --config is missing and gives the exit code for it; commands that load the file later use this too. */
export function reportMissingConfig(io: CommandIo = stdio): number {
  io.err(t('Missing --config FILE.') + '\n');
  return ExitCode.usage;
}

/**
 * The configuration named by --config, or undefined after printing why there is none (the option is
 * missing or the file does not validate): every such case exits with ExitCode.usage, so callers
 * `return ExitCode.usage` on undefined. Errors other than ConfigError are not the user's and propagate.
 */
export async function loadConfigForCommand(file: string | undefined, io: CommandIo = stdio): Promise<LoadedConfig | undefined> {
  if (!file) {
    reportMissingConfig(io);
    return undefined;
  }
  try {
    return await loadConfig(file);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    io.err(err.message + '\n');
    return undefined;
  }
}
