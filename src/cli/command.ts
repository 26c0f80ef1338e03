import { parseArgs } from 'node:util';

export interface CliCommand {
  name: string;
  /** One line for `kds --help`; English source text, translated at print time. */
  summary: string;
  /** Full `--help` text; English source text, translated at print time. */
  help: string;
  run(argv: string[]): Promise<number>;
}

/** Where a command writes; tests pass their own to capture the text. */
export interface CommandIo {
  out(text: string): void;
  err(text: string): void;
}

/** The process's standard output and error, for commands run from the command line. */
export const stdio: CommandIo = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
};

/** Thrown for bad arguments; main prints the message with the command's usage and exits 2. */
export class UsageError extends Error {}

/** parseArgs with the strictness every sub-command wants; errors become usage errors. */
export function parseOptions<T extends NonNullable<Parameters<typeof parseArgs>[0]>['options']>(
  argv: string[],
  options: T,
  allowPositionals = false,
) {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}
