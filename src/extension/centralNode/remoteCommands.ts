import { type CnFileKind, requireCnFile } from '../../centralNode/cnFileAccess';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import * as vscode from 'vscode';
import { parseConfigText } from '../../engine/config';
import { addEntry, parseExcludeList, removeEntry } from '../../engine/excludes';
import type { ByteSource } from '../../icapLog/byteSource';
import { DEFAULT_ICAP_LOG_PATH } from '../../icapLog/byteSource';
import type { ConnectionStateEvent } from '../../ssh/reconnectingSession';
import { type Answer, localEngineFiles, probeFacts, runSetupPlan } from '../../centralNode/remoteInstall';
import { buildSetupPlan, chooseEngine, configForCn, describeAction, layout } from '../../centralNode/setupPlan';
import { SshByteSource } from '../../ssh/sshByteSource';
import { validateNewPattern } from '../../viewModel/excludeEditing';
import { type KdsServices, registerCommand } from '../services';
import type { ActiveEngine } from './activeEngine';
import { CnConnection, readCnSettings, secretKeysFor } from './cnConnection';

export const cnScheme = 'kds-cn';

/** The Central Node side of the extension: connection, service, set-up, remote files. */
export class RemoteController implements vscode.Disposable {
  connection: CnConnection | undefined;
  private readonly item: vscode.StatusBarItem;
  private state: ConnectionStateEvent | undefined;
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly s: KdsServices,
    private readonly active: ActiveEngine,
  ) {
    this.item = vscode.window.createStatusBarItem('kds.remote', vscode.StatusBarAlignment.Left, 51);
    this.item.name = vscode.l10n.t('KDS Central Node connection');
    this.updateItem();
  }

  /** The connection or an error telling the user to connect. */
  require(): CnConnection {
    if (!this.connection?.workspace) throw new Error(vscode.l10n.t('Not connected to a Central Node: run "KDS: Connect to Central Node" first.'));
    return this.connection;
  }

  async connect(): Promise<void> {
    let settings = readCnSettings();
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
      settings = readCnSettings();
    }
    await this.disconnect(true);
    const conn = new CnConnection(this.s.context, settings, this.s.engine.logger, this.s.log);
    this.connection = conn;
    this.unsubscribe = conn.rs.onState((e) => {
      if (this.connection !== conn) return;
      this.state = e;
      this.updateItem();
      if (e.state === 'closed' && this.active.remote) {
        this.active.setRemote(undefined);
        void vscode.commands.executeCommand('setContext', 'kds.remote.connected', false);
      }
    });
    try {
      const ws = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: vscode.l10n.t('Connecting to the Central Node {0}…', conn.label), cancellable: true },
        (_p, token) => conn.open(token),
      );
      if (this.connection !== conn) return;
      this.active.setRemote(ws);
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
      throw err;
    }
  }

  async disconnect(quiet = false): Promise<void> {
    const conn = this.connection;
    this.connection = undefined;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.state = undefined;
    this.active.setRemote(undefined);
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
  }
}

export function registerRemote(s: KdsServices, active: ActiveEngine): RemoteController {
  const rc = new RemoteController(s, active);
  s.context.subscriptions.push(rc);
  void vscode.commands.executeCommand('setContext', 'kds.remote.connected', false);

  registerCommand(s, 'kds.remote.connect', () => rc.connect());
  registerCommand(s, 'kds.remote.disconnect', () => rc.disconnect());
  registerCommand(s, 'kds.remote.forgetSecrets', async () => {
    const keys = secretKeysFor(readCnSettings());
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
  registerCommand(s, 'kds.remote.openExcludeList', async () => {
    const conn = rc.require();
    await vscode.window.showTextDocument(vscode.Uri.from({ scheme: cnScheme, path: conn.workspace!.config.exclude_list }));
  });
  registerCommand(s, 'kds.remote.openIcapLog', async () => {
    const conn = rc.require();
    const factory = (): ByteSource => new SshByteSource(() => conn.rs.whenConnected(), DEFAULT_ICAP_LOG_PATH, conn.needsSudo() ? { sudo: conn.sudoOption() } : {});
    await vscode.commands.executeCommand('kds.viewIcapLog', { byteSource: factory, label: `${conn.label}:${DEFAULT_ICAP_LOG_PATH}`, path: DEFAULT_ICAP_LOG_PATH });
  });

  s.context.subscriptions.push(vscode.workspace.registerFileSystemProvider(cnScheme, new CnFileSystem(rc), { isCaseSensitive: true }));
  return rc;
}

/** Exclude-list edits on the CN: the text is read, edited (with validation) and written back, then the service re-reads it (reload = SIGHUP). */
export async function remoteExcludeEdit(rc: RemoteController, edit: { add?: string; remove?: string }): Promise<void> {
  const conn = rc.require();
  const path = conn.workspace!.config.exclude_list;
  let text = '';
  try {
    text = await conn.readText(path);
  } catch {
    text = '';
  }
  if (edit.add) {
    const problem = validateNewPattern(edit.add, parseExcludeList(text).entries.map((e) => e.pattern));
    if (problem) throw new Error(problem);
    text = addEntry(text, edit.add);
  }
  if (edit.remove) text = removeEntry(text, edit.remove);
  await conn.writeText(path, text);
  await conn.service('reload').catch(() => null);
  void conn.workspace!.source.poll().catch(() => 0);
}

/** The exclude list's entries on the CN. */
export async function remoteExcludeEntries(rc: RemoteController): Promise<string[]> {
  const conn = rc.require();
  const text = await conn.readText(conn.workspace!.config.exclude_list).catch(() => '');
  return parseExcludeList(text).entries.map((e) => e.pattern);
}

/**
 * kds-cn:/path — a file on the connected CN, read and written over SFTP (sudo when needed).
 * Writing the configuration is validated first (parseConfigText) and followed by an offer to
 * restart the service; writing the exclude list is validated and followed by a reload.
 */
class CnFileSystem implements vscode.FileSystemProvider {
  private readonly emitter = new vscode.EventEmitter<vscode.FileChangeEvent[]>();
  readonly onDidChangeFile = this.emitter.event;
  constructor(private readonly rc: RemoteController) {}
  watch(): vscode.Disposable {
    return new vscode.Disposable(() => undefined);
  }
  /** Only the CN's configuration and exclude list (cnFileAccess.ts); everything else NoPermissions. */
  private allowed(uri: vscode.Uri): CnFileKind {
    const conn = this.rc.require();
    try {
      return requireCnFile(uri.path, { configPath: conn.settings.configPath, ...(conn.workspace && { excludeList: conn.workspace.config.exclude_list }) });
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

/**
 * "KDS: Set Up Central Node": the same plan as `kds remote setup` (remote/setupPlan.ts), built
 * from the local configuration; each step's exact commands are shown in the KDS log and in a
 * modal that asks before anything runs.
 */
async function setupCentralNode(s: KdsServices, rc: RemoteController): Promise<void> {
  if (!rc.connection) await rc.connect();
  const conn = rc.connection;
  if (!conn) return;
  const session = await conn.rs.whenConnected();
  const localConfig = s.engine.configPath();
  if (!localConfig) throw new Error(vscode.l10n.t('Open a folder with kata_dir_scanner.conf (or set kds.configPath): its settings are installed on the Central Node.'));
  const configText = await readFile(localConfig, 'utf8');
  const prefix = vscode.workspace.getConfiguration('kds.remote').get<string>('setupPrefix')?.trim() || undefined;
  const l = layout(prefix, conn.settings.serviceName);
  const sudo = conn.needsSudo() ? conn.sudoOption() : undefined;
  const facts = await probeFacts(session, l, sudo);
  // The engine uploaded to the CN ships in the .vsix (dist/kds.js + bin/kds.js, l10n/, schemas/): found in the extension's own folder.
  const root = s.context.extensionPath;
  const engineChoice = chooseEngine(facts, { sea: !!(await localEngineFiles('sea', root).catch(() => undefined)), js: true });
  if (!engineChoice.kind) throw new Error(vscode.l10n.t('No engine fits the Central Node: {0}', engineChoice.reason));
  const engineFiles = await localEngineFiles(engineChoice.kind, root);
  if (!engineFiles) throw new Error(vscode.l10n.t('The KDS engine is missing from the extension folder {0} (dist/kds.js, bin/kds.js): reinstall the extension, or use "kds remote setup" from a KDS checkout.', root));
  const cn = configForCn(configText, l, () => randomUUID());
  let excludeText: string | undefined;
  try {
    const raw = JSON.parse(configText) as { exclude_list?: unknown };
    excludeText = await readFile(resolve(dirname(localConfig), typeof raw.exclude_list === 'string' && raw.exclude_list ? raw.exclude_list : 'exclude_list.txt'), 'utf8');
  } catch {
    excludeText = undefined;
  }
  const kataCaText = cn.hadKataCa ? await readFile(resolve(dirname(localConfig), cn.hadKataCa), 'utf8') : undefined;
  const steps = buildSetupPlan({ prefix, unitName: conn.settings.serviceName, configText, configName: localConfig, excludeText, engine: engineFiles, facts, cnConfigText: cn.text, kataCaText });
  s.log.show(true);
  const useSudo = conn.needsSudo() && !prefix;
  const result = await runSetupPlan(
    session,
    steps,
    {
      print: (line) => s.log.info(`[setup] ${line}`),
      confirm: async (step): Promise<Answer> => {
        const run = vscode.l10n.t('Run This Step');
        const skip = vscode.l10n.t('Skip');
        const detail = [...step.notes, '', ...step.actions.map((a) => describeAction(a, !!prefix, useSudo))].join('\n');
        const answer = await vscode.window.showWarningMessage(vscode.l10n.t('Set up {0}: {1}', conn.label, step.title), { modal: true, detail }, run, skip);
        return answer === run ? 'yes' : answer === skip ? 'skip' : 'quit';
      },
    },
    { prefixMode: !!prefix, isRoot: conn.isRoot, ...(sudo && { sudo }), yes: false, upgrade: !!facts.installedEngineSha256 },
  );
  void vscode.window.showInformationMessage(vscode.l10n.t('Set-up of {0}: done {1}; skipped {2}.', conn.label, result.ran.join(', ') || '—', result.skipped.join(', ') || '—'));
}
