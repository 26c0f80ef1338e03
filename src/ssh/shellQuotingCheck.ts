import { t } from '../common/l10n';
import { commandLine } from './shellCommand';
import { SshError } from './sshErrors';

/**
 * sshd hands the command line to the user's login shell, and every command KDS sends is quoted
 * for a POSIX shell (shellCommand.ts). A shell that reads quotes otherwise — fish, where `\'`
 * inside single quotes is an escaped quote — would see other words than the ones sent, and a
 * file name could become a command run as root. So at connect, a round trip of hostile strings
 * through `printf` must come back byte for byte, or the connection is refused.
 */
export const hostileStrings = [
  "it's",
  "a\\'b",
  '\\',
  '$(id)',
  '`id`',
  '"x" \'y\'',
  'a b\tc',
  'line1\nline2',
  '*',
  '~',
  '{a,b}',
  '$HOME',
  '#not a comment',
  ';|&<>',
  '!event',
  '%%s',
  '(x)',
  '-n',
];

export class ShellQuotingError extends SshError {
  constructor(user: string, host: string, detail: string) {
    super(
      t(
        'The login shell of {0} on {1} does not read POSIX shell quoting ({2}); KDS sends no commands through it. Give the user a POSIX login shell (e.g. chsh -s /bin/bash {0}) or connect as another user.',
        user,
        host,
        detail,
      ),
      false,
    );
    this.name = 'ShellQuotingError';
  }
}

/** What the check needs: run argv (quoted with commandLine) and get stdout. */
export type QuotingExec = (argv: string[]) => Promise<{ code: number | null; stdout: Buffer }>;

/** Resolves when the round trip is exact; otherwise rejects with ShellQuotingError. */
export async function checkShellQuoting(exec: QuotingExec, where: { user: string; host: string }): Promise<void> {
  const argv = ['printf', '%s\\000', ...hostileStrings];
  commandLine(argv); // throws on an argument quoting cannot carry (none here)
  const r = await exec(argv);
  const expected = Buffer.from(hostileStrings.map((s) => s + '\0').join(''), 'utf8');
  if (r.code === 0 && r.stdout.equals(expected)) return;
  const got = r.stdout.toString('utf8').split('\0');
  const i = hostileStrings.findIndex((s, k) => got[k] !== s);
  const detail = r.code !== 0 ? t('printf exited with code {0}', r.code ?? '?') : t('{0} came back as {1}', JSON.stringify(hostileStrings[i] ?? ''), JSON.stringify(got[i] ?? ''));
  throw new ShellQuotingError(where.user, where.host, detail);
}
