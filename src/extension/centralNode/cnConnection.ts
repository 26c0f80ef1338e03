import { homedir, userInfo } from 'node:os';
import { isAbsolute, join } from 'node:path';
import * as vscode from 'vscode';
import type { Logger } from '../../common/log';
import { parseConfigText } from '../../engine/config';
import { findSshAgent } from '../../ssh/agentChoice';
import { defaultKnownHostsFiles } from '../../ssh/hostKeyVerifier';
import { expandUserPath } from '../../ssh/userPaths';
import { ReconnectingSession, type ConnectionStateEvent } from '../../ssh/reconnectingSession';
import { RemoteEngineSource } from '../../centralNode/remoteEngineSource';
import { sftpEventFileReader } from '../../centralNode/sftpEventReader';
import { SftpFolderLister, sftpPerSession } from '../../centralNode/sftpFolderLister';
import type { SftpFiles } from '../../ssh/sftpFiles';
import { HostKeyChangedError, SshAuthError } from '../../ssh/sshErrors';
import type { RemoteProcess, SshSession } from '../../ssh/sshSession';
import type { SudoOption } from '../../ssh/sudoPrompt';
import type { HostKeyInfo, HostKeyPolicy, SshAuth, SshTarget } from '../../ssh/sshTarget';
import type { CentralNodeWorkspace } from './activeEngine';
import type { CentralNodeEntry } from '../../centralNode/fleetList';
import type { UserLevelConfig } from '../userLevelConfig';
import { threatsFromEvents } from '../../centralNode/remoteThreats';
import { remoteScanHistory } from '../../viewModel/scanHistory';
import { type CnContext, cnExcludeList, execEventFileReader, fallbackEventFileReader, findEngine, isNoSuchFile, readRemoteText, remoteIsRoot, remoteQuarantine, remoteTextFile, run, serviceArgv, serviceUnit, unitNameProblem, writeRemoteText } from '../../centralNode/cnOps';

export const defaultCnConfigPath = '/opt/kata-dir-scanner/kata_dir_scanner.conf';

export interface CnSettings {
  host: string;
  port: number;
  user: string;
  identityFile?: string;
  useAgent: boolean;
  configPath: string;
  knownHostsFiles: string[];
  sudo: 'auto' | 'never';
  serviceName: string;
  engineCommand?: string[];
  /** The saved Central Node's name (kds.centralNodes); undefined for the kds.remote.* settings. */
  name?: string;
  /** Tests: Set Up takes every path on the CN under this folder (else kds.remote.setupPrefix). */
  setupPrefix?: string;
}

/** A saved Central Node (kds.centralNodes) as connection settings: the same connection as kds.remote.* gives. */
export function cnSettingsFromEntry(e: CentralNodeEntry): CnSettings {
  return {
    host: e.host,
    port: e.port,
    user: e.user,
    ...(e.identityFile && { identityFile: e.identityFile }),
    useAgent: e.useAgent,
    configPath: e.configPath,
    knownHostsFiles: [...e.knownHostsFiles, ...defaultKnownHostsFiles()],
    sudo: e.sudo,
    serviceName: e.serviceName,
    ...(e.engineCommand?.length && { engineCommand: e.engineCommand }),
    name: e.name,
    ...(e.setupPrefix && { setupPrefix: e.setupPrefix }),
  };
}

/** The `kds.remote.*` settings from the User/Machine level only (userLevelConfig.ts): never a workspace's. */
export function readCnSettings(cfg: UserLevelConfig): CnSettings {
  const identity = cfg.get<string>('kds.remote.identityFile')?.trim();
  const engineCommand = cfg.get<string[]>('kds.remote.engineCommand')?.filter((x) => typeof x === 'string' && x !== '');
  return {
    host: cfg.get<string>('kds.remote.host')?.trim() ?? '',
    port: cfg.get<number>('kds.remote.port') ?? 22,
    user: cfg.get<string>('kds.remote.user')?.trim() || safeUser(),
    ...(identity && { identityFile: expandUserPath(identity) }),
    useAgent: cfg.get<boolean>('kds.remote.useAgent') ?? true,
    configPath: cfg.get<string>('kds.remote.configPath')?.trim() || defaultCnConfigPath,
    knownHostsFiles: [...(cfg.get<string[]>('kds.remote.knownHostsFiles') ?? []).map((p) => expandUserPath(p)), ...defaultKnownHostsFiles()],
    sudo: cfg.get<string>('kds.remote.sudo') === 'never' ? 'never' : 'auto',
    serviceName: validServiceName(cfg.get<string>('kds.remote.serviceName')?.trim() || 'kata-dir-scanner'),
    ...(engineCommand?.length && { engineCommand }),
  };
}

function validServiceName(name: string): string {
  const problem = unitNameProblem(name);
  if (problem) throw new Error(vscode.l10n.t('The setting kds.remote.serviceName {0}', problem));
  return name;
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? 'root';
  }
}

/** Where SecretStorage keeps a CN's password (per user@host:port) and a key file's passphrase. */
export const secretKey = {
  password: (t: SshTarget) => `kds.remote.password:${t.user}@${t.host}:${t.port}`,
  passphrase: (file: string) => `kds.remote.passphrase:${file}`,
};

/** Every key KDS may have put in SecretStorage for these settings (for "Forget Stored Secrets"). */
export function secretKeysFor(s: CnSettings): string[] {
  const keys = [secretKey.password({ host: s.host, port: s.port, user: s.user })];
  if (s.identityFile) keys.push(secretKey.passphrase(s.identityFile));
  return keys;
}

/**
 * One connection to a Central Node: a ReconnectingSession (keepalive, back-off), credentials
 * asked through VS Code and kept in SecretStorage only when the user agrees, host keys checked
 * against known_hosts (read only) and KDS's trust store with a modal for unknown keys, and the
 * CentralNodeWorkspace (event stream + SFTP folder listing) the views use.
 */
export class CnConnection implements vscode.Disposable {
  readonly rs: ReconnectingSession;
  private readonly typed = new Map<string, string>();
  private sudoPasswordValue: string | undefined;
  private workspaceValue: CentralNodeWorkspace | undefined;
  private engine: string[] | undefined;
  private rootValue = false;
  private serviceActiveValue: boolean | undefined;
  private stopThreats: (() => void) | undefined;
  private follow: { proc?: RemoteProcess; wanted: boolean } = { wanted: false };
  private readonly files: () => Promise<SftpFiles>;
  readonly target: SshTarget;

  constructor(
    private readonly context: vscode.ExtensionContext,
    readonly settings: CnSettings,
    private readonly logger: Logger,
    private readonly channel: vscode.LogOutputChannel,
  ) {
    this.target = { host: settings.host, port: settings.port, user: settings.user };
    const hostKeys: HostKeyPolicy = {
      knownHostsFiles: settings.knownHostsFiles,
      trustStorePath: join(context.globalStorageUri.fsPath, 'ssh-host-keys.json'),
      onUnknown: (info) => askUnknownHostKey(info),
    };
    this.rs = new ReconnectingSession(this.target, this.auth(), hostKeys, { logger, maxAttempts: Infinity, maxDelayMs: 30_000 });
    this.files = sftpPerSession(() => this.rs.whenConnected());
    this.rs.onState((e) => this.onState(e));
  }

  get label(): string {
    return `${this.target.user}@${this.target.host}${this.target.port === 22 ? '' : ':' + this.target.port}`;
  }

  get workspace(): CentralNodeWorkspace | undefined {
    return this.workspaceValue;
  }

  get isRoot(): boolean {
    return this.rootValue;
  }

  /**
   * Waits for the first connection; throws when it failed for good (host key, authentication) or
   * was cancelled. Resolves undefined when the CN answers but KDS is not installed there (no
   * configuration at kds.remote.configPath): a normal state on a new CN, which "Set Up Central
   * Node" fixes; the connection stays open for it.
   */
  async open(token?: vscode.CancellationToken): Promise<CentralNodeWorkspace | undefined> {
    const cancelled = new Promise<never>((_, reject) => token?.onCancellationRequested(() => reject(new vscode.CancellationError())));
    let session: SshSession;
    try {
      session = await Promise.race([this.rs.whenConnected(), cancelled]);
    } catch (err) {
      await this.close();
      if (err instanceof SshAuthError) await this.forgetStoredPassword();
      throw err;
    }
    this.rootValue = await remoteIsRoot(session);
    await this.rememberTypedSecrets();
    return this.loadWorkspace();
  }

  /**
   * Connects once to check the host key (the usual modal) and the credentials (asked, and offered
   * for SecretStorage), then closes: what "Add Central Node" does before saving one.
   */
  async verify(token?: vscode.CancellationToken): Promise<void> {
    const cancelled = new Promise<never>((_, reject) => token?.onCancellationRequested(() => reject(new vscode.CancellationError())));
    try {
      await Promise.race([this.rs.whenConnected(), cancelled]);
      await this.rememberTypedSecrets();
    } catch (err) {
      if (err instanceof SshAuthError) await this.forgetStoredPassword();
      throw err;
    } finally {
      await this.close();
    }
  }

  /** The sudo password this connection already has (stored, typed for SSH or for sudo), without asking. */
  async knownSudoPassword(): Promise<string | undefined> {
    return this.sudoPasswordValue ?? this.typed.get(secretKey.password(this.target)) ?? (await this.context.secrets.get(secretKey.password(this.target)));
  }

  /** (Re)reads the CN's configuration and starts following its service; undefined when KDS is not installed. */
  async loadWorkspace(): Promise<CentralNodeWorkspace | undefined> {
    await this.dropWorkspace();
    const c = this.cn();
    let text: string;
    try {
      text = await readRemoteText(c, this.settings.configPath);
    } catch (err) {
      if (isNoSuchFile(err)) return undefined;
      throw err;
    }
    this.engine = undefined;
    const { config } = parseConfigText(text, this.settings.configPath);
    const reader = fallbackEventFileReader(
      sftpEventFileReader(() => this.rs.whenConnected()),
      this.needsSudo() ? execEventFileReader(c) : undefined,
    );
    const source = new RemoteEngineSource(reader, config.state_dir, {
      onError: (e) => this.logger.debug('remote.events', e.message, { host: this.target.host }),
      onGap: (from, to) => this.logger.warn('remote.events', vscode.l10n.t('Events {0}–{1} of the Central Node were rotated away before they could be read.', from, to)),
    });
    // Subscribed before any view, so a routed event's threat name is known when the view lists the file.
    const names = threatsFromEvents((l) => source.onEvent(l));
    this.stopThreats = names.dispose;
    source.start();
    await source.poll().catch(() => 0);
    const lister = new SftpFolderLister(this.files);
    this.workspaceValue = {
      label: this.label,
      config,
      source,
      lister,
      // Files routed before this connection (or while it was down) get their verdicts from the CN's journal, as locally.
      history: remoteScanHistory(remoteTextFile(c), config.state_dir),
      // Per share: `kds quarantine --share` (only with several shares, so an older engine serves one), its own exclude list.
      quarantine: (share) => ({
        share: share.name,
        outDir: share.out_dir,
        release: (name, user, reason) => this.quarantine('release', name, user, reason, config.shares.length > 1 ? share.name : undefined),
        delete: (name, user, reason) => this.quarantine('delete', name, user, reason, config.shares.length > 1 ? share.name : undefined),
      }),
      excludeList: (share) =>
        cnExcludeList(c, {
          share: share.name,
          path: share.exclude_list,
          label: `${this.label}:${share.exclude_list}`,
          caseSensitive: config.exclude_case_sensitive,
          inputNames: async () => (await lister.list(share.in_dir).catch(() => [])).filter((e) => e.isFile).map((e) => e.name),
          reload: () => this.reloadService(),
        }),
      serviceActive: () => this.serviceActiveValue,
      threats: names.threats,
    };
    await this.checkServiceActive().catch(() => undefined);
    return this.workspaceValue;
  }

  private async dropWorkspace(): Promise<void> {
    const ws = this.workspaceValue;
    this.workspaceValue = undefined;
    this.stopThreats?.();
    this.stopThreats = undefined;
    await ws?.source.stop().catch(() => undefined);
  }

  /** The ops context (shell, SFTP, sudo as configured). */
  cn(): CnContext {
    return { shell: () => this.rs.whenConnected(), files: this.files, ...(this.needsSudo() && { sudo: this.sudoOption() }) };
  }

  needsSudo(): boolean {
    return !this.rootValue && this.settings.sudo !== 'never';
  }

  /** sudo with the SSH password (asked once when not stored). */
  sudoOption(): SudoOption {
    return { password: () => this.sudoPassword() };
  }

  private async sudoPassword(): Promise<string | undefined> {
    if (this.sudoPasswordValue !== undefined) return this.sudoPasswordValue;
    const stored = await this.context.secrets.get(secretKey.password(this.target));
    const pw =
      stored ??
      this.typed.get(secretKey.password(this.target)) ??
      (await vscode.window.showInputBox({ title: vscode.l10n.t('sudo on {0}', this.label), prompt: vscode.l10n.t('Password of {0} for sudo on the Central Node', this.target.user), password: true, ignoreFocusOut: true }));
    this.sudoPasswordValue = pw;
    return pw;
  }

  async engineArgv(): Promise<string[]> {
    this.engine ??= await findEngine(this.cn(), this.settings.configPath, this.settings.engineCommand, { runsAsRoot: this.needsSudo() || this.isRoot });
    return this.engine;
  }

  async quarantine(action: 'release' | 'delete', name: string, localUser: string, reason?: string, share?: string): Promise<{ path: string; sha256: string }> {
    const engine = await this.engineArgv();
    const user = `${localUser} (VS Code, ssh ${this.target.user})`;
    const done = await remoteQuarantine(this.cn(), engine, this.settings.configPath, { action, name, user, ...(reason && { reason }), ...(share !== undefined && { share }), asRoot: this.needsSudo() });
    void this.workspaceValue?.source.poll().catch(() => 0);
    return done;
  }

  /** systemctl on the CN; the output goes to the KDS log. Returns the exit code. */
  async service(action: 'start' | 'stop' | 'restart' | 'reload' | 'status'): Promise<number | null> {
    const argv = serviceArgv(action, this.settings.serviceName);
    const r = await run(this.cn(), argv, action !== 'status' && this.needsSudo());
    this.channel.info(`$ ${argv.join(' ')}`);
    const out = (r.stdout.toString('utf8') + r.stderr.toString('utf8')).trimEnd();
    for (const line of out.split('\n')) if (line) this.channel.info(`  ${line}`);
    return r.code;
  }

  /**
   * Asks the service to re-read its exclude list (`systemctl reload`, SIGHUP). Undefined when it
   * did, or when there is no systemd to ask (the service reads the list on its next rescan);
   * otherwise what systemctl said.
   */
  async reloadService(): Promise<string | undefined> {
    if ((await this.checkServiceActive().catch(() => undefined)) === undefined) return undefined;
    const argv = serviceArgv('reload', this.settings.serviceName);
    const r = await run(this.cn(), argv, this.needsSudo());
    if (r.code === 0) return undefined;
    return (r.stderr.toString('utf8').trim() || r.stdout.toString('utf8').trim() || `exit code ${r.code}`) + ` ($ ${argv.join(' ')})`;
  }

  /**
   * `systemctl is-active` of the service (no sudo needed). true/false for a definite answer;
   * undefined when systemd cannot tell (no systemd, e.g. a container or a test "CN"): then the
   * event stream decides whether the service runs.
   */
  async checkServiceActive(): Promise<boolean | undefined> {
    let answer: boolean | undefined;
    try {
      const r = await run(this.cn(), serviceArgv('is-active', this.settings.serviceName), false, { timeoutMs: 10_000 });
      const word = r.stdout.toString('utf8').trim().split('\n')[0]?.trim() ?? '';
      answer = ['active', 'activating', 'reloading', 'refreshing'].includes(word) ? true : ['inactive', 'failed', 'deactivating'].includes(word) ? false : undefined;
    } catch {
      answer = undefined;
    }
    this.serviceActiveValue = answer;
    return answer;
  }

  /** `kds status --config X` on the CN, printed to the KDS log. */
  async engineStatus(): Promise<void> {
    const engine = await this.engineArgv();
    const argv = [...engine, 'status', '--config', this.settings.configPath];
    const r = await run(this.cn(), argv, this.needsSudo());
    this.channel.info(`$ ${argv.join(' ')}`);
    for (const line of (r.stdout.toString('utf8') + r.stderr.toString('utf8')).trimEnd().split('\n')) if (line) this.channel.info(`  ${line}`);
  }

  readText(path: string): Promise<string> {
    return readRemoteText(this.cn(), path);
  }

  writeText(path: string, text: string): Promise<void> {
    return writeRemoteText(this.cn(), path, text);
  }

  get followingLog(): boolean {
    return this.follow.wanted;
  }

  /** `tail -F log_file` (or journalctl -f) on the CN, every line into the KDS log; again = stop. */
  async toggleFollowLog(): Promise<boolean> {
    if (this.follow.wanted) {
      this.follow.wanted = false;
      this.follow.proc?.kill('TERM');
      this.follow.proc = undefined;
      return false;
    }
    this.follow.wanted = true;
    await this.startFollowing();
    return true;
  }

  private async startFollowing(): Promise<void> {
    const session = await this.rs.whenConnected();
    const logFile = this.workspaceValue?.config.log_file;
    const argv = logFile ? ['tail', '-n', '50', '-F', '--', logFile] : ['journalctl', `--unit=${serviceUnit(this.settings.serviceName)}`, '-n', '50', '-f', '--no-pager'];
    const sudo = this.needsSudo() ? this.sudoOption() : undefined;
    const proc = session.spawn(argv, sudo ? { sudo } : {});
    this.follow.proc = proc;
    this.channel.info(vscode.l10n.t('Following the service log on {0}: {1}', this.label, argv.join(' ')));
    let carry = '';
    const emit = (d: Buffer) => {
      const text = carry + d.toString('utf8');
      const lines = text.split('\n');
      carry = lines.pop() ?? '';
      for (const l of lines) if (l) this.channel.info(`[${this.target.host}] ${l}`);
    };
    proc.stdout.on('data', emit);
    proc.stderr.on('data', emit);
    proc.exit.then(
      () => {
        if (this.follow.proc === proc) this.follow.proc = undefined;
      },
      () => {
        if (this.follow.proc === proc) this.follow.proc = undefined;
      },
    );
  }

  private onState(e: ConnectionStateEvent): void {
    if (e.state === 'connected' && this.follow.wanted && !this.follow.proc && this.workspaceValue) void this.startFollowing().catch(() => undefined);
    if (e.state === 'closed' && e.error instanceof HostKeyChangedError) {
      void vscode.window.showErrorMessage(vscode.l10n.t('KDS refused to connect to {0}.', this.label), { modal: true, detail: e.error.message });
    }
  }

  private auth(): SshAuth {
    const s = this.settings;
    const pwKey = secretKey.password(this.target);
    return {
      ...(s.useAgent && { agent: () => findSshAgent() }),
      ...(s.identityFile && {
        privateKeyPath: isAbsolute(s.identityFile) ? s.identityFile : join(homedir(), s.identityFile),
        passphrase: () => this.secret(secretKey.passphrase(s.identityFile!), vscode.l10n.t('Passphrase of the private key {0}', s.identityFile!)),
      }),
      password: () => this.secret(pwKey, vscode.l10n.t('Password of {0} on {1}', this.target.user, this.target.host)),
      keyboardInteractive: async (name, instructions, prompts) => {
        const answers: string[] = [];
        for (const p of prompts) {
          if (!p.echo && /password/i.test(p.prompt)) {
            const pw = await this.secret(pwKey, vscode.l10n.t('Password of {0} on {1}', this.target.user, this.target.host));
            if (pw === undefined) return undefined;
            answers.push(pw);
            continue;
          }
          const a = await vscode.window.showInputBox({ title: [name, instructions].filter(Boolean).join(' — ') || this.label, prompt: p.prompt, password: !p.echo, ignoreFocusOut: true });
          if (a === undefined) return undefined;
          answers.push(a);
        }
        return answers;
      },
    };
  }

  /** A stored secret, or one the user types now (offered for storage after a successful connection). */
  private async secret(key: string, prompt: string): Promise<string | undefined> {
    const stored = await this.context.secrets.get(key);
    if (stored !== undefined && !this.typed.has(`${key}#failed`)) {
      // A stored secret is tried once per connection attempt series; if authentication fails, it is forgotten.
      return stored;
    }
    const typed = this.typed.get(key);
    if (typed !== undefined) return typed;
    const value = await vscode.window.showInputBox({ title: this.label, prompt, password: true, ignoreFocusOut: true });
    if (value !== undefined) this.typed.set(key, value);
    return value;
  }

  private async rememberTypedSecrets(): Promise<void> {
    const entries = [...this.typed.entries()].filter(([k]) => !k.endsWith('#failed'));
    if (!entries.length) return;
    const remember = vscode.l10n.t('Remember');
    const answer = await vscode.window.showInformationMessage(
      vscode.l10n.t('Keep the password or passphrase you typed for {0} in VS Code\'s secret storage, so you are not asked again?', this.label),
      remember,
      vscode.l10n.t('Not Now'),
    );
    if (answer !== remember) return;
    for (const [k, v] of entries) await this.context.secrets.store(k, v);
    this.logger.info('remote.secrets', vscode.l10n.t('Credentials for {0} kept in VS Code\'s secret storage.', this.label));
  }

  private async forgetStoredPassword(): Promise<void> {
    const key = secretKey.password(this.target);
    if ((await this.context.secrets.get(key)) !== undefined) {
      await this.context.secrets.delete(key);
      this.logger.warn('remote.secrets', vscode.l10n.t('The stored password for {0} was refused and has been forgotten.', this.label));
    }
  }

  async close(): Promise<void> {
    this.follow.wanted = false;
    this.follow.proc?.kill('TERM');
    await this.dropWorkspace();
    await this.rs.close().catch(() => undefined);
  }

  dispose(): void {
    void this.close();
  }
}

/** The modal for a host key nobody vouched for yet: type and SHA256 fingerprint, accept or refuse. */
async function askUnknownHostKey(info: HostKeyInfo): Promise<boolean> {
  const trust = vscode.l10n.t('Trust and Connect');
  const answer = await vscode.window.showWarningMessage(
    vscode.l10n.t('The host key of {0}:{1} is not known.', info.host, info.port),
    {
      modal: true,
      detail: vscode.l10n.t(
        '{0} key fingerprint: {1}\n\nCompare it with the output of "ssh-keygen -lf /etc/ssh/ssh_host_{2}_key.pub" on the Central Node before you trust it. KDS will remember the key in its own trust store (your known_hosts is not changed).',
        info.algorithm,
        info.sha256,
        info.algorithm.replace(/^ssh-|^ecdsa-sha2-nistp\d+$/, (m) => (m.startsWith('ecdsa') ? 'ecdsa' : '')),
      ),
    },
    trust,
  );
  return answer === trust;
}
