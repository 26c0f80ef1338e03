import { t } from '../common/l10n';
import { noAgentFound } from '../ssh/agentChoice';

export interface AuthSettings {
  user: string;
  identityFile?: string;
  useAgent: boolean;
  /** The SSH agent whose keys were offered (findSshAgent's label), if one was found. */
  agent?: string;
}

/**
 * What to change after the CN refused every authentication method: each sentence names the
 * setting (or the place on the CN) that decides it, given what was configured.
 */
export function authFailureAdvice(s: AuthSettings): string {
  const tips: string[] = [];
  if (s.identityFile) tips.push(t('The key in kds.remote.identityFile ({0}) was refused: put its public key into ~{1}/.ssh/authorized_keys on the Central Node, or point kds.remote.identityFile at the right key.', s.identityFile, s.user));
  else tips.push(t('Set kds.remote.identityFile to a private key whose public key is in ~{0}/.ssh/authorized_keys on the Central Node.', s.user));
  if (s.useAgent && !s.agent) tips.push(t('kds.remote.useAgent is on, but {0}.', noAgentFound()));
  else if (s.useAgent) tips.push(t('The keys of {0} were refused (kds.remote.useAgent).', s.agent!));
  tips.push(t('Password sign-in works only when the Central Node\'s sshd allows it for {0} (PasswordAuthentication or keyboard-interactive); check kds.remote.user.', s.user));
  return tips.join(' ');
}

/** The CN refused every authentication method; the message names the settings to change. */
export class RemoteAuthError extends Error {}
