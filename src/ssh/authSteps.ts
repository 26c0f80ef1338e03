import { readFile } from 'node:fs/promises';
import { type AnyAuthMethod, utils as sshUtils, type ParsedKey } from 'ssh2';
import type { LogFields, Logger } from '../common/log';
import { t } from '../common/l10n';
import type { Redactor } from './redact';
import { type FoundAgent, noAgentFound } from './agentChoice';
import type { SshAuth } from './sshTarget';

type Step = { method: 'agent' | 'publickey' | 'keyboard-interactive' | 'password'; needs: string };

export type KeyboardPrompt = (
  name: string,
  instructions: string,
  lang: string,
  prompts: Array<{ prompt: string; echo?: boolean }>,
  finish: (answers: string[]) => void,
) => void;

/**
 * The order in which KDS offers its credentials (agent, private key, keyboard-interactive,
 * password), each only when the server still accepts that kind; ssh2's authHandler asks for the
 * next one. Secrets are asked for at the moment they are sent and handed to the redactor.
 */
export class AuthSteps {
  private readonly steps: Step[] = [];
  private index = 0;
  private parsedKey: ParsedKey | undefined;
  /** The methods actually offered, in order (for "failed (tried: …)"). */
  readonly tried: string[] = [];
  /** The SSH agent whose keys were offered, in words. */
  agentUsed: string | undefined;

  constructor(
    private readonly auth: SshAuth,
    private readonly username: string,
    private readonly redactor: Redactor,
    private readonly log: Logger,
    private readonly where: LogFields,
    /** Called when answering a prompt fails: the connection attempt ends with that error. */
    private readonly fail: (e: Error) => void,
  ) {
    if (auth.agent) this.steps.push({ method: 'agent', needs: 'publickey' });
    if (auth.privateKeyPath) this.steps.push({ method: 'publickey', needs: 'publickey' });
    if (auth.keyboardInteractive || auth.password) this.steps.push({ method: 'keyboard-interactive', needs: 'keyboard-interactive' });
    if (auth.password) this.steps.push({ method: 'password', needs: 'password' });
  }

  /** The next method to try given what the server still accepts (null: not told yet); false when none is left. */
  async next(methodsLeft: string[] | null): Promise<AnyAuthMethod | false> {
    const username = this.username;
    while (this.index < this.steps.length) {
      const step = this.steps[this.index++]!;
      if (methodsLeft && methodsLeft.length && !methodsLeft.includes(step.needs)) continue;
      switch (step.method) {
        case 'agent': {
          const found = await this.agent();
          if (!found) continue;
          this.tried.push('agent');
          this.agentUsed = found.label;
          this.log.info('ssh.agent', t('Offering the keys of {0}.', found.label), this.where);
          return { type: 'agent', username, agent: found.agent };
        }
        case 'publickey': {
          const key = await this.key();
          if (!key) continue;
          this.tried.push('publickey');
          return { type: 'publickey', username, key };
        }
        case 'keyboard-interactive':
          // With only a password function, prefer plain "password" when the server offers it.
          if (!this.auth.keyboardInteractive && (!methodsLeft || methodsLeft.includes('password'))) continue;
          this.tried.push('keyboard-interactive');
          return { type: 'keyboard-interactive', username, prompt: this.keyboardPrompt };
        case 'password': {
          const password = await this.auth.password!();
          if (password === undefined) continue;
          this.redactor.add(password);
          this.tried.push('password');
          return { type: 'password', username, password };
        }
      }
    }
    return false;
  }

  private async agent(): Promise<FoundAgent | undefined> {
    const a = this.auth.agent;
    const found = typeof a === 'function' ? await a() : a ? { kind: 'ssh-auth-sock' as const, agent: a, label: a } : undefined;
    if (!found) this.log.info('ssh.agent', noAgentFound(), this.where);
    return found;
  }

  private async key(): Promise<ParsedKey | undefined> {
    if (this.parsedKey) return this.parsedKey;
    const path = this.auth.privateKeyPath!;
    const data = await readFile(path);
    let k = sshUtils.parseKey(data);
    if (k instanceof Error && /encrypted|passphrase/i.test(k.message)) {
      const pp = this.auth.passphrase ? await this.auth.passphrase() : undefined;
      this.redactor.add(pp);
      if (pp === undefined) {
        this.log.warn('ssh.auth', t('The private key {0} is encrypted and no passphrase was given.', path), this.where);
        return undefined;
      }
      k = sshUtils.parseKey(data, pp);
    }
    if (k instanceof Error) {
      this.log.warn('ssh.auth', t('Cannot use the private key {0}: {1}', path, this.redactor.text(k.message)), this.where);
      return undefined;
    }
    this.parsedKey = Array.isArray(k) ? (k[0] as ParsedKey) : k;
    return this.parsedKey;
  }

  private readonly keyboardPrompt: KeyboardPrompt = (name, instructions, _lang, prompts, finish) => {
    const list = prompts.map((p) => ({ prompt: p.prompt, echo: p.echo === true }));
    this.answer(name, instructions, list).then(
      (answers) => {
        for (const a of answers) this.redactor.add(a);
        this.log.debug('ssh.auth', t('Answering {0} keyboard-interactive prompt(s).', list.length), { ...this.where, answers });
        finish(answers);
      },
      (e: Error) => this.fail(e),
    );
  };

  private async answer(name: string, instructions: string, list: Array<{ prompt: string; echo: boolean }>): Promise<string[]> {
    if (list.length === 0) return [];
    if (this.auth.keyboardInteractive) return (await this.auth.keyboardInteractive(name, instructions, list)) ?? [];
    // No keyboard-interactive handler: answer a lone hidden "Password:" prompt like ssh(1) does.
    if (this.auth.password && list.length === 1 && !list[0]!.echo && /password/i.test(list[0]!.prompt)) {
      const pw = await this.auth.password();
      return pw === undefined ? [] : [pw];
    }
    return [];
  }
}
