import { t } from '../common/l10n';

/**
 * Remote commands are built only from fixed argument lists: every argument is quoted for a
 * POSIX shell (the remote user's login shell runs the command line sshd receives), so quotes,
 * `$()`, backticks, globs, spaces and newlines reach the program as plain data.
 */
export function quoteArg(s: string): string {
  if (typeof s !== 'string') throw new TypeError(t('A remote command argument must be a string.'));
  if (s.includes('\0')) throw new Error(t('A remote command argument cannot contain a NUL character.'));
  if (s !== '' && /^[A-Za-z0-9_@%+:,./-]+$/.test(s)) return s;
  // Inside single quotes nothing is special except the closing quote: end the quoted run,
  // add an escaped quote, open a new run.
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export function commandLine(argv: string[]): string {
  if (!Array.isArray(argv) || argv.length === 0) throw new Error(t('A remote command needs at least one argument.'));
  return argv.map(quoteArg).join(' ');
}
