import { type CnFileKind, requireCnFile } from '../../centralNode/cnFileAccess';
import * as vscode from 'vscode';
import { parseConfigText } from '../../engine/config';
import { parseExcludeList } from '../../engine/excludes';
import type { ByteSource } from '../../icapLog/byteSource';
import { DEFAULT_ICAP_LOG_PATH } from '../../icapLog/byteSource';
import type { ConnectionStateEvent } from '../../ssh/reconnectingSession';
import { RemoteAuthError, authFailureAdvice } from '../../centralNode/connectAdvice';
import { findSshAgent } from '../../ssh/agentChoice';
import { KdsLogger } from '../../common/log';
import { SshAuthError } from '../../ssh/sshErrors';
import { configuredLogLevel, writeToChannel } from '../localEngine';
import { setupCentralNode } from './setupCentralNode';
import { shareArgument } from '../shareArgument';
import { SshByteSource } from '../../ssh/sshByteSource';
import { type CommandHost, registerCommand, requireTrustForCentralNode } from '../commandHost';
import type { UserLevelConfig } from '../userLevelConfig';
import type { ActiveEngine, CentralNodeWorkspace } from './activeEngine';
import { CnConnection, cnSettingsFromEntry, readCnSettings, secretKeysFor } from './cnConnection';
import { type CentralNodeEntry, cnId, cnLabel } from '../../centralNode/fleetList';
import { visibleText } from '../../common/displayText';

export const cnScheme = 'kds-cn';

/** The Central Node side of the extension: connection, service, set-up, remote files. */
export class CentralNodeController implements vscode.Disposable {
  connection: CnConnection | undefined;
  private readonly item: vscode.StatusBarItem;
  private state: ConnectionStateEvent | undefined;
  private unsubscribe: (() => void) | undefined;
  private readonly connectionChanged = new vscode.EventEmitter<{ label: string; connected: boolean }>();
  /** A Central Node's connection went away or came back (panels bound to it stop and resume). */
  readonly onDidChangeConnection = this.connectionChanged.event;
  private readonly serviceChanged = new vscode.EventEmitter<void>();
  /** The connected CN's service was started, stopped or set up from here (the Central Nodes view looks again). */
  readonly onDidChangeService = this.serviceChanged.event;
  /** The saved Central Nodes (kds.centralNodes), offered by Connect when there are any (set by the Central Nodes view). */
  savedEntries: () => CentralNodeEntry[] = () => [];

  constructor(
    private readonly s: CommandHost,
    private readonly active: ActiveEngine,
    /** kds.remote.* from the User/Machine level only. */
    readonly userConfig: UserLevelConfig,
  ) {
    this.item = vscode.window.createStatusBarItem('kds.remote', vscode.StatusBarAlignment.Left, 51);
    this.item.name = vscode.l10n.t('KDS Central Node connection');
    this.updateItem();
  }

  /** The connection to a CN with KDS installed, or an error telling the user what to do. */
  require(): CnConnection {
    requireTrustForCentralNode();
    if (this.connection && !this.connection.workspace && this.active.notInstalled) {
      throw new Error(vscode.l10n.t('KDS is not installed on the Central Node {0}: run "KDS: Set Up Central Node" first.', this.connection.label));
    }
    if (!this.connection?.workspace) throw new Error(vscode.l10n.t('Not connected to a Central Node: run "KDS: Connect to Central Node" first.'));
    return this.connection;
  }

  /** Tells a panel reading `label`'s files when that connection closes and opens again. */
  bindingFor(label: string): { onDidChange(listener: (connected: boolean) => void): vscode.Disposable } {
    return { onDidChange: (listener) => this.onDidChangeConnection((e) => e.label === label && listener(e.connected)) };
  }

  /** user@host:port of the CN the views show (connected or connecting), if any. */
  get activeId(): string | undefined {
    return this.connection ? cnId(this.connection.target) : undefined;
  }

  /** Reads the CN's configuration again (after Set Up) and shows the CN, installed or not. */
  async reload(): Promise<void> {
    const conn = this.connection;
    if (!conn) return;
    const ws = await conn.loadWorkspace();
    if (this.connection !== conn) return;
    this.show(conn, ws);
    this.serviceChanged.fire();
  }

  /** Connect from the palette with saved Central Nodes: which one (or a new one). Undefined = cancelled. */
  private async pickSaved(saved: CentralNodeEntry[]): Promise<CentralNodeEntry | 'settings' | 'add' | undefined> {
    const remoteHost = readCnSettings(this.userConfig).host;
    type Item = vscode.QuickPickItem & { pick: CentralNodeEntry | 'settings' | 'add' };
    const items: Item[] = saved.map((e) => ({ label: `$(server) ${visibleText(e.name)}`, description: cnLabel(e) + (cnId(e) === this.activeId ? ' · ' + vscode.l10n.t('connected') : ''), pick: e }));
    if (remoteHost) items.push({ label: `$(settings-gear) ${remoteHost}`, description: vscode.l10n.t('from the kds.remote settings'), pick: 'settings' });
    items.push({ label: `$(add) ${vscode.l10n.t('Add Central Node…')}`, pick: 'add' });
    return (await vscode.window.showQuickPick(items, { title: vscode.l10n.t('Connect to Central Node'), placeHolder: vscode.l10n.t('The views, Verdicts and the Central Node commands follow the one you pick') }))?.pick;
  }

  private show(conn: CnConnection, ws: CentralNodeWorkspace | undefined): void {
    if (ws) this.active.setCentralNode(ws);
    else {
      this.active.setNotInstalled({ label: conn.label, configPath: conn.settings.configPath });
      this.s.log.warn(vscode.l10n.t('KDS is not installed on the Central Node {0} (no {1}): run "KDS: Set Up Central Node".', conn.label, conn.settings.configPath));
    }
  }

  /**
   * Makes a CN the one the views follow: `entry` (a saved Central Node), else — from the palette —
   * one picked from the saved ones, else the kds.remote.* settings.
   */
  async connect(entry?: CentralNodeEntry): Promise<void> {
    requireTrustForCentralNode();
    await this.userConfig.checkWorkspaceFiles();
    if (!entry) {
      const saved = this.savedEntries();
      if (saved.length) {
        const pick = await this.pickSaved(saved);
        if (!pick) return;
        if (pick === 'add') return void (await vscode.commands.executeCommand('kds.centralNodes.add'));
        if (pick !== 'settings') entry = pick;
      }
    }
    let settings = entry ? cnSettingsFromEntry(entry) : readCnSettings(this.userConfig);
    if (!settings.host) {
      const typed = await vscode.window.showInputBox({
        title: vscode.l10n.t('Connect to Central Node'),
        prompt: vscode.l10n.t('The Central Node as user@host or user@host:port (saved in kds.remote.* settings)'),
        placeHolder: 'root@kata-cn.example:22',
        ignoreFocusOut: true,
        validateInput: (v) => (/^([^@\s]+@)?[^@\s:]+(:\d{1,5})?$/.test(v.trim()) ? undefined : vscode.l10n.t('Write user@host or user@host:port')),
      });
      if (!typed) return;
      const m = /^(?:([^@\s]+)@)?([^@\s:]+)(?::(\d{1,5}))?$/.exec(typed.trim())!;
      const cfg = vscode.workspace.getConfiguration('kds.remote');
      await cfg.update('host', m[2], vscode.ConfigurationTarget.Global);
      if (m[1]) await cfg.update('user', m[1], vscode.ConfigurationTarget.Global);
      if (m[3]) await cfg.update('port', Number(m[3]), vscode.ConfigurationTarget.Global);
      settings = readCnSettings(this.userConfig);
    }
    await this.disconnect(true);
    // The CN's own lines in the shared KDS log say which CN they are from.
    const label = `${settings.user}@${settings.host}${settings.port === 22 ? '' : ':' + settings.port}`;
    const logger = new KdsLogger({ level: configuredLogLevel(), sinks: [(r) => writeToChannel(this.s.log, r, label)] });
    const conn = new CnConnection(this.s.context, settings, logger, this.s.log);
    this.connection = conn;
    let wasConnected = false;
    this.unsubscribe = conn.rs.onState((e) => {
      if (this.connection !== conn) return;
      this.state = e;
      this.updateItem();
      if (e.state === 'connected' && !wasConnected) {
        wasConnected = true;
        this.connectionChanged.fire({ label: conn.label, connected: true });
      } else if (e.state !== 'connected' && wasConnected) {
        wasConnected = false;
        this.connectionChanged.fire({ label: conn.label, connected: false });
      }
      if (e.state === 'closed' && this.active.mode === 'remote') {
        this.active.setCentralNode(undefined);
        void vscode.commands.executeCommand('setContext', 'kds.remote.connected', false);
      }
    });
    try {
      const ws = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: vscode.l10n.t('Connecting to the Central Node {0}…', conn.label), cancellable: true },
        (_p, token) => conn.open(token),
      );
      if (this.connection !== conn) return;
      this.show(conn, ws);
      await vscode.commands.executeCommand('setContext', 'kds.remote.connected', true);
      void vscode.window.setStatusBarMessage(vscode.l10n.t('KDS: connected to {0}', conn.label), 5000);
    } catch (err) {
      if (this.connection === conn) {
        this.connection = undefined;
        this.unsubscribe?.();
        this.state = undefined;
        this.updateItem();
      }
      await conn.close();
      if (err instanceof vscode.CancellationError) return;
      if (err instanceof SshAuthError) {
        const agent = settings.useAgent ? await findSshAgent() : undefined;
        throw new RemoteAuthError(`${err.message} ${authFailureAdvice({ user: settings.user, ...(settings.identityFile && { identityFile: settings.identityFile }), useAgent: settings.useAgent, ...(agent && { agent: agent.label }) })}`);
      }
      throw err;
    }
    // Not awaited: a Set Up that connected first must not wait for this answer.
    void this.offerToStopLocalScanning(conn);
  }

  /** The local engine keeps scanning its own folders unless told otherwise: ask once per connection. */
  private async offerToStopLocalScanning(conn: CnConnection): Promise<void> {
    if (!this.s.engine.running) return;
    const stop = vscode.l10n.t('Stop Local Scanning');
    const keep = vscode.l10n.t('Keep Scanning');
    const answer = await vscode.window.showInformationMessage(
      vscode.l10n.t('The views now show {0}. The local engine is still scanning {1} in the background (its lines in the KDS log are marked [local]). Stop local scanning?', conn.label, (this.s.engine.config?.shares ?? []).map((x) => x.in_dir).join(', ')),
      stop,
      keep,
    );
    if (answer === stop) await this.s.engine.stop();
  }

  async disconnect(quiet = false): Promise<void> {
    const conn = this.connection;
    this.connection = undefined;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.state = undefined;
    if (conn) this.connectionChanged.fire({ label: conn.label, connected: false });
    this.active.setCentralNode(undefined);
    await vscode.commands.executeCommand('setContext', 'kds.remote.connected', false);
    this.updateItem();
    if (conn) {
      await conn.close();
      if (!quiet) void vscode.window.setStatusBarMessage(vscode.l10n.t('KDS: disconnected from {0}', conn.label), 4000);
    }
  }

  /**
   * systemctl start/stop/restart of the CN's service (also "Start/Stop Scanning" in remote mode);
   * afterwards `systemctl is-active` and the event stream are read again so `kds.running` follows.
   */
  async serviceAction(action: 'start' | 'stop' | 'restart'): Promise<boolean> {
    const conn = this.require();
    const code = await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: vscode.l10n.t('KDS: systemctl {0} on {1}…', action, conn.label) }, () => conn.service(action));
    await conn.checkServiceActive().catch(() => undefined);
    await conn.workspace?.source.poll().catch(() => 0);
    if (this.connection === conn) this.active.refresh();
    this.serviceChanged.fire();
    if (code === 0) {
      void vscode.window.setStatusBarMessage(vscode.l10n.t('KDS: systemctl {0} done on {1}', action, conn.label), 4000);
      return true;
    }
    this.s.log.show(true);
    void vscode.window.showErrorMessage(vscode.l10n.t('systemctl {0} failed on {1} (exit code {2}); see the KDS log.', action, conn.label, String(code)));
    return false;
  }

  private updateItem(): void {
    const conn = this.connection;
    if (!conn) {
      this.item.hide();
      return;
    }
    const st = this.state?.state ?? 'connecting';
    const icon = st === 'connected' ? '$(remote)' : st === 'closed' ? '$(debug-disconnect)' : '$(sync~spin)';
    const word =
      st === 'connected'
        ? vscode.l10n.t('connected')
        : st === 'reconnecting'
          ? vscode.l10n.t('reconnecting')
          : st === 'closed'
            ? vscode.l10n.t('disconnected')
            : vscode.l10n.t('connecting');
    this.item.text = `${icon} ${conn.label}`;
    this.item.tooltip = vscode.l10n.t('KDS Central Node {0}: {1}', conn.label, word) + (this.state?.reason ? `\n${this.state.reason}` : '');
    this.item.backgroundColor = st === 'connected' ? undefined : new vscode.ThemeColor('statusBarItem.warningBackground');
    this.item.command = st === 'closed' ? 'kds.remote.connect' : 'kds.remote.serviceStatus';
    this.item.show();
  }

  dispose(): void {
    this.unsubscribe?.();
    void this.connection?.close();
    this.item.dispose();
    this.connectionChanged.dispose();
    this.serviceChanged.dispose();
  }
}

export function registerCentralNode(s: CommandHost, active: ActiveEngine, userConfig: UserLevelConfig): CentralNodeController {
  const rc = new CentralNodeController(s, active, userConfig);
  s.context.subscriptions.push(rc);
  void vscode.commands.executeCommand('setContext', 'kds.remote.connected', false);

  registerCommand(s, 'kds.remote.connect', () => rc.connect());
  registerCommand(s, 'kds.remote.disconnect', () => rc.disconnect());
  registerCommand(s, 'kds.remote.forgetSecrets', async () => {
    const keys = secretKeysFor(readCnSettings(rc.userConfig));
    for (const k of keys) await s.context.secrets.delete(k);
    void vscode.window.showInformationMessage(vscode.l10n.t('KDS forgot the stored SSH password and passphrase for the configured Central Node.'));
  });
  const service = (action: 'start' | 'stop' | 'restart') => () => rc.serviceAction(action);
  registerCommand(s, 'kds.remote.startService', service('start'));
  registerCommand(s, 'kds.remote.stopService', service('stop'));
  registerCommand(s, 'kds.remote.restartService', service('restart'));
  registerCommand(s, 'kds.remote.serviceStatus', async () => {
    const conn = rc.require();
    s.log.show(true);
    await conn.service('status');
    await conn.engineStatus();
  });
  registerCommand(s, 'kds.remote.followServiceLog', async () => {
    const conn = rc.require();
    const on = await conn.toggleFollowLog();
    if (on) s.log.show(true);
    void vscode.window.setStatusBarMessage(on ? vscode.l10n.t('KDS: following the service log of {0}', conn.label) : vscode.l10n.t('KDS: stopped following the service log'), 4000);
  });
  registerCommand(s, 'kds.remote.setup', () => setupCentralNode(s, rc));
  registerCommand(s, 'kds.remote.openConfiguration', async () => {
    const conn = rc.require();
    await vscode.window.showTextDocument(vscode.Uri.from({ scheme: cnScheme, path: conn.settings.configPath }));
  });
  registerCommand(s, 'kds.remote.openExcludeList', async (arg?: unknown) => {
    const conn = rc.require();
    const share = await shareArgument(conn.workspace?.config.shares ?? [], arg, vscode.l10n.t('The exclude list of which share?'));
    if (!share) return;
    await vscode.window.showTextDocument(vscode.Uri.from({ scheme: cnScheme, path: share.exclude_list }));
  });
  registerCommand(s, 'kds.remote.openIcapLog', async (arg?: unknown) => {
    const conn = rc.require();
    const factory = (): ByteSource => new SshByteSource(() => conn.rs.whenConnected(), DEFAULT_ICAP_LOG_PATH, conn.needsSudo() ? { sudo: conn.sudoOption() } : {});
    // A filter to start with (the ICAP probe's Show in ICAP Log).
    const filter = (arg as { filter?: unknown } | undefined)?.filter;
    await vscode.commands.executeCommand('kds.viewIcapLog', { byteSource: factory, label: `${conn.label}:${DEFAULT_ICAP_LOG_PATH}`, path: DEFAULT_ICAP_LOG_PATH, connection: rc.bindingFor(conn.label), ...(typeof filter === 'object' && filter && { filter }) });
  });

  s.context.subscriptions.push(vscode.workspace.registerFileSystemProvider(cnScheme, new CnFileSystem(rc), { isCaseSensitive: true }));
  return rc;
}

/**
 * kds-cn:/path — a file on the connected CN, read and written over SFTP (sudo when needed).
 * Writing the configuration is validated first (parseConfigText) and followed by an offer to
 * restart the service; writing the exclude list is validated and followed by a reload.
 */
class CnFileSystem implements vscode.FileSystemProvider {
  private readonly emitter = new vscode.EventEmitter<vscode.FileChangeEvent[]>();
  readonly onDidChangeFile = this.emitter.event;
  constructor(private readonly rc: CentralNodeController) {}
  watch(): vscode.Disposable {
    return new vscode.Disposable(() => undefined);
  }
  /** Only the CN's configuration and exclude list (cnFileAccess.ts); everything else NoPermissions. */
  private allowed(uri: vscode.Uri): CnFileKind {
    const conn = this.rc.require();
    try {
      return requireCnFile(uri.path, { configPath: conn.settings.configPath, ...(conn.workspace && { excludeLists: conn.workspace.config.shares.map((x) => x.exclude_list) }) });
    } catch (err) {
      throw vscode.FileSystemError.NoPermissions((err as Error).message);
    }
  }
  async stat(uri: vscode.Uri): Promise<vscode.FileStat> {
    this.allowed(uri);
    const conn = this.rc.require();
    const text = await conn.readText(uri.path).catch(() => {
      throw vscode.FileSystemError.FileNotFound(uri);
    });
    return { type: vscode.FileType.File, ctime: 0, mtime: Date.now(), size: Buffer.byteLength(text) };
  }
  async readFile(uri: vscode.Uri): Promise<Uint8Array> {
    this.allowed(uri);
    const conn = this.rc.require();
    return Buffer.from(await conn.readText(uri.path), 'utf8');
  }
  async writeFile(uri: vscode.Uri, content: Uint8Array): Promise<void> {
    const conn = this.rc.require();
    const text = Buffer.from(content).toString('utf8');
    const kind = this.allowed(uri);
    const isConfig = kind === 'config';
    const isExclude = kind === 'exclude';
    if (isConfig) parseConfigText(text, uri.path); // throws ConfigError with the line: nothing is written
    if (isExclude) {
      const bad = parseExcludeList(text).invalid;
      if (bad.length) throw new Error(vscode.l10n.t('The exclude list has invalid lines: {0}', bad.map((b) => `${b.line}: ${b.reason}`).join('; ')));
    }
    await conn.writeText(uri.path, text);
    this.emitter.fire([{ type: vscode.FileChangeType.Changed, uri }]);
    if (isExclude) await conn.service('reload').catch(() => null);
    if (isConfig) {
      const restart = vscode.l10n.t('Restart Service');
      if ((await vscode.window.showInformationMessage(vscode.l10n.t('The configuration on {0} was saved. Restart the service to apply it?', conn.label), restart)) === restart) {
        await vscode.commands.executeCommand('kds.remote.restartService');
      }
    }
  }
  readDirectory(): [string, vscode.FileType][] {
    return [];
  }
  createDirectory(): void {
    throw vscode.FileSystemError.NoPermissions();
  }
  delete(): void {
    throw vscode.FileSystemError.NoPermissions();
  }
  rename(): void {
    throw vscode.FileSystemError.NoPermissions();
  }
}
