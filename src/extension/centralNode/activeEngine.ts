import * as vscode from 'vscode';
import type { KdsConfig } from '../../engine/config';
import type { EngineEvent } from '../../engine/events';
import type { ThreatNameLookup } from '../../kata/threatNames';
import type { RemoteEngineSource } from '../../centralNode/remoteEngineSource';
import type { EngineSnapshot, EngineSource } from '../../viewModel/contracts';
import type { FolderLister } from '../../viewModel/folderLister';
import type { LocalEngine } from '../localEngine';

/** What the views need of a connected Central Node (built by CnConnection). */
export interface RemoteWorkspace {
  /** user@host:port, for titles and the status bar. */
  label: string;
  /** The CN's kata_dir_scanner.conf as parsed there (paths are the CN's). */
  config: KdsConfig;
  source: RemoteEngineSource;
  lister: FolderLister;
  /** Release or delete on the CN through the installed engine (`kds quarantine …` over SSH). */
  quarantine(action: 'release' | 'delete', name: string, reason?: string): Promise<{ path: string; sha256: string }>;
  /** The last `systemctl is-active` answer: true/false when systemd gave a definite one, undefined otherwise. */
  serviceActive?: () => boolean | undefined;
  /** Threat names the CN's service wrote into its event stream (see remoteThreats.ts). */
  threats?: ThreatNameLookup;
}

/** Heartbeats are written every 30 s: a stream silent this long (while connected) is not a running service. */
export const remoteStaleMs = 95_000;

/**
 * The one place that decides which engine the views, the status bar and the commands see: the
 * local engine, unless a Central Node is connected. Everything subscribes here, so switching
 * modes is setRemote().
 */
export class ActiveEngine implements EngineSource, vscode.Disposable {
  private remoteValue: RemoteWorkspace | undefined;
  private readonly changed = new vscode.EventEmitter<void>();
  /** Fires when the mode switched, the local configuration reloaded, or scanning started/stopped (either side). */
  readonly onDidChangeState = this.changed.event;
  private readonly listeners = new Set<(e: EngineEvent) => void>();
  private readonly subscriptions: vscode.Disposable[] = [];
  private unsubscribeRemote: Array<() => void> = [];
  private readonly unsubscribeLocal: () => void;
  private remoteSince = 0;
  private lastRunning = false;
  private staleTimer: NodeJS.Timeout | undefined;

  constructor(readonly local: LocalEngine) {
    this.subscriptions.push(local.onDidChangeState(() => this.changed.fire()));
    this.unsubscribeLocal = local.onEvent((e) => {
      if (!this.remoteValue) this.forward(e);
    });
  }

  get mode(): 'local' | 'remote' {
    return this.remoteValue ? 'remote' : 'local';
  }

  get remote(): RemoteWorkspace | undefined {
    return this.remoteValue;
  }

  /** The configuration the views show: the CN's when connected. */
  get config(): KdsConfig | undefined {
    return this.remoteValue?.config ?? this.local.config;
  }

  /** 'ok' when there is a configuration to show (remote: always), else the local status. */
  get configState(): 'none' | 'invalid' | 'ok' {
    return this.remoteValue ? 'ok' : this.local.status.kind;
  }

  /**
   * Local: the local engine. Remote: the CN's service — `systemctl is-active` when systemd gave a
   * definite answer, otherwise its event stream (the last `running` event or snapshot), and not
   * running when the stream has been silent for longer than heartbeats allow.
   */
  get running(): boolean {
    const r = this.remoteValue;
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

  setRemote(remote: RemoteWorkspace | undefined): void {
    for (const u of this.unsubscribeRemote.splice(0)) u();
    this.remoteValue = remote;
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
    return this.remoteValue ? this.remoteValue.source.snapshot() : this.local.snapshot();
  }

  private forward(e: EngineEvent): void {
    for (const l of [...this.listeners]) l(e);
  }

  dispose(): void {
    if (this.staleTimer) clearInterval(this.staleTimer);
    for (const u of this.unsubscribeRemote.splice(0)) u();
    this.unsubscribeLocal();
    for (const s of this.subscriptions) s.dispose();
    this.changed.dispose();
  }
}
