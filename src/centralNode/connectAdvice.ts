import { t } from '../common/l10n';

export interface AuthSettings {
  user: string;
  identityFile?: string;
  useAgent: boolean;
  /** SSH_AUTH_SOCK here, if any. */
  agentSocket?: string;
}

/**
 * What to change after the CN refused every authentication method: each sentence names the
 * setting (or the place on the CN) that decides it, given what was configured.
 */
export function authFailureAdvice(s: AuthSettings): string {
  const tips: string[] = [];
  if (s.identityFile) tips.push(t('The key in kds.remote.identityFile ({0}) was refused: put its public key into ~{1}/.ssh/authorized_keys on the Central Node, or point kds.remote.identityFile at the right key.', s.identityFile, s.user));
  else tips.push(t('Set kds.remote.identityFile to a private key whose public key is in ~{0}/.ssh/authorized_keys on the Central Node.', s.user));
  if (s.useAgent && !s.agentSocket) tips.push(t('kds.remote.useAgent is on, but no ssh-agent is reachable here (SSH_AUTH_SOCK is not set).'));
  else if (s.useAgent) tips.push(t('The keys of your ssh-agent were refused (kds.remote.useAgent).'));
  tips.push(t('Password sign-in works only when the Central Node\'s sshd allows it for {0} (PasswordAuthentication or keyboard-interactive); check kds.remote.user.', s.user));
  return tips.join(' ');
}

/** The CN refused every authentication method; the message names the settings to change. */
export class RemoteAuthError extends Error {}
