/** Exit codes shared by every `kds` sub-command (documented in README and in `kds --help`). */
export const ExitCode = {
  ok: 0,
  /** The operation ran and failed: a check did not pass, the server refused, a file is missing. */
  failure: 1,
  /** Wrong arguments or a configuration file that does not validate. */
  usage: 2,
  /** KATA has not (yet) approved this external system: 401/403. */
  notApproved: 3,
} as const;

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
