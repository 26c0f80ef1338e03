import { join } from 'node:path';
import * as vscode from 'vscode';
import { visibleText } from '../../common/displayText';
import { KdsLogger } from '../../common/log';
import { type CentralNodeEntry, type InvalidEntry, cnId, cnLabel, parseCentralNodeList, parseEntry } from '../../centralNode/fleetList';
import { FleetMonitor } from '../../centralNode/fleetMonitor';
import { SshFleetConnector } from '../../centralNode/fleetProbe';
import { findSshAgent } from '../../ssh/agentChoice';
import { defaultKnownHostsFiles } from '../../ssh/hostKeyVerifier';
import { type CnAssessment, type ShareRow, assessCn, fleetBarText } from '../../viewModel/fleetStatus';
import type { CommandHost } from '../commandHost';
import { configuredLogLevel, writeToChannel } from '../localEngine';
import { secretKey } from './cnConnection';
import type { CentralNodeController } from './remoteCommands';

/** Where the saved Central Nodes come from: the User/Machine level only, never a workspace. */
export interface FleetSettings {
  /** kds.centralNodes as the user wrote it. */
  savedRaw(): unknown;
  /** The raw value of one kds.remote.* setting (the implicit Central Node of users who have them). */
  remote<T>(key: string): T | undefined;
}

/** A row of the Central Nodes view. */
export type FleetElement =
  | { kind: 'cn'; entry: CentralNodeEntry; fromRemoteSettings: boolean }
  | { kind: 'share'; parent: string; row: ShareRow }
  | { kind: 'invalid'; invalid: InvalidEntry };

const visibleEveryMs = 60_000;
const hiddenEveryMs = 300_000;

/**
 * The Central Nodes view, its status bar entry and the background rounds behind them: the saved
 * CNs (kds.centralNodes) and the one of the kds.remote.* settings, each looked at over its own
 * SSH session (the connected CN's own session is borrowed), without asking anyone anything — a
 * CN that needs a person (host key, password) says so and waits for Connect.
 */
export class FleetView implements vscode.TreeDataProvider<FleetElement>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<FleetElement | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  readonly monitor: FleetMonitor;
  private readonly view: vscode.TreeView<FleetElement>;
  private readonly item: vscode.StatusBarItem;
  private readonly subscriptions: vscode.Disposable[] = [];
  private saved: CentralNodeEntry[] = [];
  private invalid: InvalidEntry[] = [];
  private fromSettings: CentralNodeEntry | undefined;
  private pending: NodeJS.Timeout | undefined;
  private signature = '';

  constructor(
    s: CommandHost,
    private readonly rc: CentralNodeController,
    private readonly settings: FleetSettings,
  ) {
    // Rounds connect again and again: their routine lines only at debug level, failures always.
    const logger = new KdsLogger({ level: configuredLogLevel() === 'debug' ? 'debug' : 'warn', sinks: [(r) => writeToChannel(s.log, r, vscode.l10n.t('Central Nodes'))] });
    const connector = new SshFleetConnector({
      auth: (e) => ({
        ...(e.useAgent && { agent: () => findSshAgent() }),
        ...(e.identityFile && { privateKeyPath: e.identityFile, passphrase: async () => s.context.secrets.get(secretKey.passphrase(e.identityFile!)) }),
        password: async () => s.context.secrets.get(secretKey.password(e)),
      }),
      hostKeys: (e) => ({
        knownHostsFiles: [...e.knownHostsFiles, ...defaultKnownHostsFiles()],
        trustStorePath: join(s.context.globalStorageUri.fsPath, 'ssh-host-keys.json'),
        // Never a question in the background: an unknown key waits for Connect and its modal.
        onUnknown: async () => false,
      }),
      sudo: async (e) => {
        const conn = rc.connection && cnId(rc.connection.target) === cnId(e) ? rc.connection : undefined;
        const pw = (await conn?.knownSudoPassword()) ?? (await s.context.secrets.get(secretKey.password(e)));
        return pw !== undefined ? { password: async () => pw } : true;
      },
      borrow: (e) => (rc.connection && cnId(rc.connection.target) === cnId(e) ? rc.connection.rs.current() : undefined),
      logger,
    });
    this.monitor = new FleetMonitor({ connector, visibleEveryMs, hiddenEveryMs, enabled: () => vscode.workspace.isTrusted });
    this.view = vscode.window.createTreeView('kds.centralNodes', { treeDataProvider: this, showCollapseAll: true });
    this.item = vscode.window.createStatusBarItem('kds.fleet', vscode.StatusBarAlignment.Left, 49);
    this.item.name = vscode.l10n.t('KDS Central Nodes');
    this.item.command = 'kds.centralNodes.focus';
    rc.savedEntries = () => this.saved;
    const unsubscribe = this.monitor.onDidChange(() => this.schedule());
    this.subscriptions.push(
      this.view,
      this.item,
      this.changed,
      { dispose: unsubscribe },
      this.view.onDidChangeVisibility((e) => this.monitor.setVisible(e.visible)),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('kds.centralNodes') || e.affectsConfiguration('kds.remote')) this.reload();
      }),
      vscode.workspace.onDidGrantWorkspaceTrust(() => {
        this.render(true);
        void this.monitor.refresh();
      }),
      rc.onDidChangeConnection(() => {
        this.schedule();
        void this.monitor.refresh();
      }),
      rc.onDidChangeService(() => void this.monitor.refresh()),
    );
    this.reload();
    this.monitor.setVisible(this.view.visible);
  }

  /** Every Central Node of the view: the saved ones, then the kds.remote.* one. */
  get entries(): CentralNodeEntry[] {
    return this.fromSettings ? [...this.saved, this.fromSettings] : [...this.saved];
  }

  /** kds.centralNodes as written (for editing it). */
  savedRaw(): unknown[] {
    const raw = this.settings.savedRaw();
    return Array.isArray(raw) ? [...raw] : [];
  }

  isSaved(e: CentralNodeEntry): boolean {
    return this.saved.some((x) => cnId(x) === cnId(e) && x.name === e.name);
  }

  assessment(e: CentralNodeEntry): CnAssessment {
    return assessCn(this.monitor.probeOf(e), { checking: this.monitor.isChecking(e) });
  }

  /** Reads the settings again (they changed, or an edit was saved). */
  reload(): void {
    const list = parseCentralNodeList(this.settings.savedRaw());
    this.saved = list.entries;
    this.invalid = list.invalid;
    this.fromSettings = this.remoteSettingsEntry();
    void vscode.commands.executeCommand('setContext', 'kds.centralNodes.count', this.entries.length + this.invalid.length);
    this.monitor.setEntries(this.entries);
    this.render(true);
  }

  private remoteSettingsEntry(): CentralNodeEntry | undefined {
    const host = this.settings.remote<string>('kds.remote.host')?.trim();
    if (!host) return undefined;
    const get = <T>(k: string) => this.settings.remote<T>(`kds.remote.${k}`);
    const e = parseEntry({
      name: vscode.l10n.t('{0} (kds.remote settings)', host).slice(0, 64),
      host,
      ...(get<number>('port') !== undefined && { port: get<number>('port') }),
      ...(get<string>('user') && { user: get<string>('user') }),
      ...(get<string>('identityFile') && { identityFile: get<string>('identityFile') }),
      ...(get<boolean>('useAgent') !== undefined && { useAgent: get<boolean>('useAgent') }),
      ...(get<string>('sudo') && { sudo: get<string>('sudo') }),
      ...(get<string[]>('knownHostsFiles') && { knownHostsFiles: get<string[]>('knownHostsFiles') }),
      ...(get<string>('configPath') && { configPath: get<string>('configPath') }),
      ...(get<string>('serviceName') && { serviceName: get<string>('serviceName') }),
      ...(get<string[]>('engineCommand')?.length && { engineCommand: get<string[]>('engineCommand') }),
      ...(get<string>('setupPrefix') && { setupPrefix: get<string>('setupPrefix') }),
    });
    if ('problem' in e) return undefined;
    // Saved under a name already: shown once.
    return this.saved.some((x) => cnId(x) === cnId(e)) ? undefined : e;
  }

  private schedule(): void {
    if (this.pending) return;
    this.pending = setTimeout(() => {
      this.pending = undefined;
      this.render();
    }, 200);
  }

  /**
   * Redraws the rows only when what they show changed: a row redrawn while it is clicked loses
   * its element, and most rounds change nothing but the time in the tooltip (computed on hover).
   */
  private render(force = false): void {
    const signature = JSON.stringify([
      this.rc.activeId,
      this.invalid,
      this.entries.map((e) => {
        const a = this.assessment(e);
        return [cnId(e), e.name, a.icon, a.description, a.shares, this.monitor.probeOf(e)?.outcome];
      }),
    ]);
    if (force || signature !== this.signature) {
      this.signature = signature;
      this.changed.fire(undefined);
    }
    this.view.message = vscode.workspace.isTrusted ? undefined : vscode.l10n.t('Central Nodes are looked at only in a trusted workspace: KDS runs commands as root there.');
    const entries = this.entries;
    if (!entries.length) {
      this.item.hide();
      return;
    }
    const bar = fleetBarText(entries.map((e) => this.assessment(e)));
    this.item.text = bar.text;
    const tooltip = [bar.tooltip];
    for (const e of entries) {
      const a = this.assessment(e);
      tooltip.push(`${visibleText(e.name)}: ${a.description}`);
    }
    this.item.tooltip = tooltip.join('\n');
    this.item.backgroundColor = bar.warning ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
    this.item.show();
  }

  getChildren(element?: FleetElement): FleetElement[] {
    if (!element) {
      return [
        ...this.saved.map((entry): FleetElement => ({ kind: 'cn', entry, fromRemoteSettings: false })),
        ...(this.fromSettings ? [{ kind: 'cn', entry: this.fromSettings, fromRemoteSettings: true } as FleetElement] : []),
        ...this.invalid.map((invalid): FleetElement => ({ kind: 'invalid', invalid })),
      ];
    }
    if (element.kind !== 'cn') return [];
    return this.assessment(element.entry).shares.map((row): FleetElement => ({ kind: 'share', parent: cnId(element.entry), row }));
  }

  getTreeItem(el: FleetElement): vscode.TreeItem {
    if (el.kind === 'invalid') {
      const item = new vscode.TreeItem(vscode.l10n.t('Entry {0} ({1})', el.invalid.index + 1, visibleText(el.invalid.label)), vscode.TreeItemCollapsibleState.None);
      item.description = el.invalid.problem;
      item.tooltip = vscode.l10n.t('This entry of kds.centralNodes is not used: {0}', el.invalid.problem);
      item.iconPath = new vscode.ThemeIcon('error', new vscode.ThemeColor('list.errorForeground'));
      item.contextValue = 'kdsCnInvalid';
      item.command = { command: 'kds.centralNodes.openSettings', title: vscode.l10n.t('Open Settings') };
      return item;
    }
    if (el.kind === 'share') {
      const item = new vscode.TreeItem(el.row.name, vscode.TreeItemCollapsibleState.None);
      item.id = `share:${el.parent}:${el.row.name}`;
      item.description = el.row.description;
      item.tooltip = el.row.tooltip;
      item.iconPath = el.row.attention ? new vscode.ThemeIcon('warning', new vscode.ThemeColor('list.warningForeground')) : new vscode.ThemeIcon('folder');
      item.contextValue = 'kdsCnShare';
      return item;
    }
    const e = el.entry;
    const a = this.assessment(e);
    const active = this.rc.activeId === cnId(e);
    const item = new vscode.TreeItem(visibleText(e.name), a.shares.length ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.None);
    item.id = `cn:${cnId(e)}`;
    item.description = (active ? vscode.l10n.t('connected') + ' · ' : '') + a.description;
    const color = a.icon === 'error' ? 'list.errorForeground' : a.icon === 'warning' || a.icon === 'cloud-upload' ? 'list.warningForeground' : a.icon === 'pass' ? 'testing.iconPassed' : undefined;
    item.iconPath = new vscode.ThemeIcon(active && a.health === 'ok' ? 'plug' : a.icon, color ? new vscode.ThemeColor(color) : undefined);
    const probe = this.monitor.probeOf(e);
    const installed = probe?.outcome === 'ok' ? 'installed' : probe?.outcome === 'not-installed' ? 'notInstalled' : 'unknown';
    // kdsCn:<saved|settings>:<installed|notInstalled|unknown>:<active|inactive>, matched by the menus.
    item.contextValue = `kdsCn:${el.fromRemoteSettings ? 'settings' : 'saved'}:${installed}:${active ? 'active' : 'inactive'}`;
    return item;
  }

  /** The tooltip of a Central Node when it is shown: what is known now, with how long ago it was checked. */
  resolveTreeItem(item: vscode.TreeItem, el: FleetElement): vscode.TreeItem {
    if (el.kind !== 'cn') return item;
    const e = el.entry;
    const a = this.assessment(e);
    item.tooltip = [
      `${visibleText(e.name)} — ${cnLabel(e)}${el.fromRemoteSettings ? ' ' + vscode.l10n.t('(from the kds.remote settings)') : ''}`,
      ...(this.rc.activeId === cnId(e) ? [vscode.l10n.t('The views, Verdicts and the Central Node commands follow this Central Node.')] : []),
      ...a.attention.map((x) => `⚠ ${x}`),
      ...a.details,
    ].join('\n');
    return item;
  }

  getParent(el: FleetElement): FleetElement | undefined {
    if (el.kind !== 'share') return undefined;
    const entry = this.entries.find((e) => cnId(e) === el.parent);
    return entry ? { kind: 'cn', entry, fromRemoteSettings: entry === this.fromSettings } : undefined;
  }

  dispose(): void {
    if (this.pending) clearTimeout(this.pending);
    this.rc.savedEntries = () => [];
    for (const d of this.subscriptions) d.dispose();
    void this.monitor.dispose();
  }
}
