import { t } from '../common/l10n';
import { type HostAccess, LocalHostAccess, SshHostAccess } from '../support/hostAccess';
import { type ConnectionValues, askLine, connect } from './remoteCommand';

export interface OpenedHost {
  host: HostAccess;
  /** Passwords typed or piped for SSH/sudo: they must be scrubbed from whatever is kept. */
  secrets(): Promise<string[]>;
  close(): Promise<void>;
}

/** Connects when --host is given, otherwise acts on this computer. */
export async function openHost(v: ConnectionValues): Promise<OpenedHost> {
  if (!v.host) {
    return { host: new LocalHostAccess(), secrets: async () => [process.env.KDS_SSH_PASSWORD ?? ''].filter(Boolean), close: async () => undefined };
  }
  const { session, sudo } = await connect(v);
  return {
    host: new SshHostAccess(session, sudo),
    // Only a password that was already given (piped, from the environment or typed): asking here would prompt for nothing.
    secrets: async () => {
      const out = [process.env.KDS_SSH_PASSWORD ?? ''];
      if (typeof sudo === 'object' && (v['password-stdin'] || process.env.KDS_SSH_PASSWORD)) out.push((await sudo.password()) ?? '');
      return out.filter(Boolean);
    },
    close: () => session.close(),
  };
}

/** Asks a yes/no question on the terminal; false without one. `yes` answers it. */
export async function confirm(question: string, yes: boolean): Promise<boolean> {
  if (yes) return true;
  const a = await askLine(`${question} ${t('(yes/no)')} `);
  return ['y', 'yes', 'д', 'да'].includes((a ?? '').trim().toLowerCase());
}
