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
