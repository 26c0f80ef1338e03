import * as vscode from 'vscode';
import { type KdsConfig, type ShareConfig, shareNamed } from '../../engine/config';
import type { EngineEvent } from '../../engine/events';
import type { ThreatNameLookup } from '../../kata/threatNames';
import type { RemoteEngineSource } from '../../centralNode/remoteEngineSource';
import type { EngineSnapshot, EngineSource } from '../../viewModel/contracts';
import type { FolderLister } from '../../viewModel/folderLister';
import type { LocalEngine } from '../localEngine';
import { type ScanHistorySource, localScanHistory } from '../../viewModel/scanHistory';
import type { LogRecord } from '../../common/log';
import { type ExcludeListStore, type QuarantineStore, localExcludeList, localQuarantine } from '../../viewModel/engineActions';

/** What the views need of a connected Central Node (built by CnConnection). */
export interface CentralNodeWorkspace {
  /** user@host:port, for titles and the status bar. */
  label: string;
  /** The CN's kata_dir_scanner.conf as parsed there (paths are the CN's). */
  config: KdsConfig;
  source: RemoteEngineSource;
  lister: FolderLister;
  /** Release or delete in a share's quarantine on the CN through the installed engine (`kds quarantine …` over SSH, audited there). */
  quarantine: (share: ShareConfig) => QuarantineStore;
  /** A share's exclude list on the CN, re-read by its service after an edit. */
  excludeList: (share: ShareConfig) => ExcludeListStore;
  /** The last `systemctl is-active` answer: true/false when systemd gave a definite one, undefined otherwise. */
  serviceActive?: () => boolean | undefined;
  /** Threat names the CN's service wrote into its event stream (see remoteThreats.ts). */
  threats?: ThreatNameLookup;
  /** The CN's journal and quarantine audit (over SFTP): verdicts of files routed before the connection. */
  history: ScanHistorySource;
}

/** Heartbeats are written every 30 s: a stream silent this long (while connected) is not a running service. */
export const remoteStaleMs = 95_000;

/**
 * The one place that decides which engine the views, the status bar and the commands see: the
 * local engine, unless a Central Node is connected. Everything subscribes here, so switching
 * modes is setCentralNode().
 */
export class ActiveEngine implements EngineSource, vscode.Disposable {
  private remoteValue: CentralNodeWorkspace | undefined;
  private readonly changed = new vscode.EventEmitter<void>();
  /** Fires when the mode switched, the local configuration reloaded, or scanning started/stopped (either side). */
  readonly onDidChangeState = this.changed.event;
  private readonly listeners = new Set<(e: EngineEvent) => void>();
  private readonly subscriptions: vscode.Disposable[] = [];
  private unsubscribeRemote: Array<() => void> = [];
  private readonly unsubscribeLocal: () => void;
  private remoteSince = 0;
  private missing: { label: string; configPath: string } | undefined;
  private localHistory: { dir: string; source: ScanHistorySource } | undefined;
  private readonly logListeners = new Set<(r: LogRecord) => void>();
  private readonly unsubscribeLocalLog: () => void;
  private lastRunning = false;
  private staleTimer: NodeJS.Timeout | undefined;

  constructor(readonly local: LocalEngine) {
    this.subscriptions.push(local.onDidChangeState(() => this.changed.fire()));
    this.unsubscribeLocal = local.onEvent((e) => {
      if (this.mode === 'local') this.forward(e);
    });
    this.unsubscribeLocalLog = local.onLogRecord((r) => {
      if (this.mode === 'local') for (const l of [...this.logListeners]) l(r);
    });
  }

  get mode(): 'local' | 'remote' {
    return this.remoteValue || this.missing ? 'remote' : 'local';
  }

  /** Connected to a Central Node where KDS is not installed yet (no configuration there): the views say so and offer Set Up. */
  get notInstalled(): { label: string; configPath: string } | undefined {
    return this.missing;
  }

  /** The label of the Central Node the views follow (installed or not). */
  get remoteLabel(): string | undefined {
    return this.remoteValue?.label ?? this.missing?.label;
  }

  /** The local engine's log records while local mode is shown (a CN's are not in this session's log). */
  onLogRecord(listener: (record: LogRecord) => void): () => void {
    this.logListeners.add(listener);
    return () => this.logListeners.delete(listener);
  }

  /** Where the views read the history of finished files: the CN's journal over SFTP, else the local state_dir. */
  history(): ScanHistorySource | undefined {
    if (this.remoteValue) return this.remoteValue.history;
    if (this.missing) return undefined;
    const dir = (this.local.viewConfig ?? this.local.config)?.state_dir;
    if (!dir) return undefined;
    if (this.localHistory?.dir !== dir) this.localHistory = { dir, source: localScanHistory(dir) };
    return this.localHistory.source;
  }

  /** The shares of the engine the views show (the CN's when connected); empty without a configuration. */
  shares(): ShareConfig[] {
    return this.viewedConfig()?.shares ?? [];
  }

  /** The configuration whose folders the views show: the CN's, else the local engine's (its last valid one). */
  private viewedConfig(): KdsConfig | undefined {
    if (this.remoteValue) return this.remoteValue.config;
    return this.missing ? undefined : (this.local.viewConfig ?? this.local.config);
  }

  /** A share's exclude list of the engine the views show (the only share's when `share` is not given); undefined without a configuration or such a share. */
  excludeList(share?: string): ExcludeListStore | undefined {
    const config = this.viewedConfig();
    const s = config && (share === undefined ? config.shares[0] : shareNamed(config, share));
    if (!config || !s) return undefined;
    if (this.remoteValue) return this.remoteValue.excludeList(s);
    return localExcludeList(config, s, () => this.local.requestRescan());
  }

  /** A share's quarantine of the engine the views show (the only share's when `share` is not given); undefined without a configuration or such a share. */
  quarantine(share?: string): QuarantineStore | undefined {
    const config = this.viewedConfig();
    const s = config && (share === undefined ? config.shares[0] : shareNamed(config, share));
    if (!config || !s) return undefined;
    if (this.remoteValue) return this.remoteValue.quarantine(s);
    return localQuarantine(config, s, this.local.logger);
  }

  /** A key that changes whenever history() would read somewhere else. */
  get historyKey(): string {
    if (this.remoteValue) return `remote|${this.remoteValue.label}|${this.remoteValue.config.state_dir}`;
    if (this.missing) return `missing|${this.missing.label}`;
    return `local|${(this.local.viewConfig ?? this.local.config)?.state_dir ?? ''}`;
  }

  get centralNode(): CentralNodeWorkspace | undefined {
    return this.remoteValue;
  }

  /** The configuration the views show: the CN's when connected. */
  get config(): KdsConfig | undefined {
    return this.remoteValue?.config ?? this.local.config;
  }

  /** 'ok' when there is a configuration to show (remote: always), else the local status. */
  get configState(): 'none' | 'invalid' | 'ok' | 'notInstalled' {
    return this.remoteValue ? 'ok' : this.missing ? 'notInstalled' : this.local.status.kind;
  }

  /**
   * Local: the local engine. Remote: the CN's service — `systemctl is-active` when systemd gave a
   * definite answer, otherwise its event stream (the last `running` event or snapshot), and not
   * running when the stream has been silent for longer than heartbeats allow.
   */
  get running(): boolean {
    const r = this.remoteValue;
    if (this.missing) return false;
    if (!r) return this.local.running;
    const systemd = r.serviceActive?.();
    if (systemd !== undefined) return systemd;
    if (!r.source.snapshot().running) return false;
    const last = Math.max(r.source.lastRecordAt ?? 0, this.remoteSince);
    return Date.now() - last < remoteStaleMs;
  }

  /** Re-evaluates the state (after a service start/stop, or a `systemctl is-active` answer) and tells listeners. */
  refresh(): void {
    this.lastRunning = this.running;
    this.changed.fire();
  }

  /** Shows a Central Node without KDS (undefined: back to what setCentralNode said). */
  setNotInstalled(missing: { label: string; configPath: string } | undefined): void {
    if (missing) this.setCentralNode(undefined, missing);
    else if (this.missing) this.setCentralNode(undefined);
  }

  setCentralNode(remote: CentralNodeWorkspace | undefined, missing?: { label: string; configPath: string }): void {
    for (const u of this.unsubscribeRemote.splice(0)) u();
    this.remoteValue = remote;
    this.missing = remote ? undefined : missing;
    // While a CN is shown, the local engine's lines in the shared KDS log say they are local.
    this.local.logTag = this.mode === 'remote' ? vscode.l10n.t('local') : undefined;
    if (this.staleTimer) clearInterval(this.staleTimer);
    this.staleTimer = undefined;
    if (remote) {
      this.remoteSince = Date.now();
      // A service that died without a last `running: false` line is noticed by its missing heartbeats.
      this.staleTimer = setInterval(() => {
        if (this.remoteValue === remote && this.running !== this.lastRunning) this.refresh();
      }, 15_000);
      this.staleTimer.unref?.();
      this.unsubscribeRemote.push(
        remote.source.onEvent((e) => {
          if (this.remoteValue === remote) this.forward(e);
        }),
        remote.source.onDidChangeState(() => {
          if (this.remoteValue === remote) this.refresh();
        }),
      );
    }
    this.lastRunning = this.running;
    this.changed.fire();
  }

  onEvent(listener: (event: EngineEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  snapshot(): EngineSnapshot {
    return this.remoteValue ? this.remoteValue.source.snapshot() : this.missing ? { running: false, approval: 'unknown', files: [] } : this.local.snapshot();
  }

  private forward(e: EngineEvent): void {
    for (const l of [...this.listeners]) l(e);
  }

  dispose(): void {
    if (this.staleTimer) clearInterval(this.staleTimer);
    for (const u of this.unsubscribeRemote.splice(0)) u();
    this.unsubscribeLocal();
    this.unsubscribeLocalLog();
    for (const s of this.subscriptions) s.dispose();
    this.changed.dispose();
  }
}
