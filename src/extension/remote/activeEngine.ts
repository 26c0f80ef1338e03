import * as vscode from 'vscode';
import type { KdsConfig } from '../../engine/config';
import type { EngineEvent } from '../../engine/events';
import type { RemoteEngineSource } from '../../remote/remoteEngineSource';
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
}

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

  get running(): boolean {
    return this.remoteValue ? this.remoteValue.source.snapshot().running : this.local.running;
  }

  setRemote(remote: RemoteWorkspace | undefined): void {
    for (const u of this.unsubscribeRemote.splice(0)) u();
    this.remoteValue = remote;
    if (remote) {
      this.unsubscribeRemote.push(
        remote.source.onEvent((e) => {
          if (this.remoteValue === remote) this.forward(e);
        }),
        remote.source.onDidChangeState(() => {
          if (this.remoteValue === remote) this.changed.fire();
        }),
      );
    }
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
    for (const u of this.unsubscribeRemote.splice(0)) u();
    this.unsubscribeLocal();
    for (const s of this.subscriptions) s.dispose();
    this.changed.dispose();
  }
}
