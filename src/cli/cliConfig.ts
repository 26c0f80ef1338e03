import { t } from '../common/l10n';
import { ConfigError, type KdsConfig, type ShareConfig, loadConfig, shareNamed } from '../engine/config';
import { type CommandIo, UsageError, stdio } from './command';
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

/**
 * The share a command acts on: the one named by --share, or the only one. With several shares
 * and no --share, or a name the configuration does not have, a UsageError lists the shares.
 */
export function chooseShare(config: KdsConfig, name: string | undefined): ShareConfig {
  const names = config.shares.map((s) => s.name).join(', ');
  if (name === undefined) {
    if (config.shares.length === 1) return config.shares[0]!;
    throw new UsageError(t('{0} has several shares ({1}): name one with --share NAME.', config.configPath, names));
  }
  const share = shareNamed(config, name);
  if (!share) throw new UsageError(t('{0} has no share named "{1}"; its shares: {2}.', config.configPath, name, names));
  return share;
}
