import * as vscode from 'vscode';
import type { KataClient } from '../kata/client';
import { createKataClient } from '../engine/kataClientFromConfig';
import { ThreatNameLookup } from '../kata/threatNames';
import type { FolderItem, FolderKind } from '../viewModel/contracts';
import { DestinationFolderModel } from '../viewModel/destinationFolderModel';
import { InputFolderModel } from '../viewModel/inputFolderModel';
import type { LocalEngine } from './localEngine';
import type { ActiveEngine } from './centralNode/activeEngine';

const threatRefreshMs = 60_000;
const destinationRefreshMs = 30_000;
/** SFTP cannot watch a folder: remote output and quarantine are listed again this often (and on routed events). */
const remoteRefreshMs = 10_000;

/**
 * The three folder models for the current configuration, rebuilt whenever the configuration
 * is reloaded or scanning starts or stops. Output and quarantine are listed from disk, so they
 * show even while scanning is stopped.
 */
export class FolderModels implements vscode.Disposable {
  private input?: InputFolderModel;
  private out?: DestinationFolderModel;
  private qrnt?: DestinationFolderModel;
  private threats?: ThreatNameLookup;
  private threatClient?: KataClient;
  private readonly changed = new vscode.EventEmitter<FolderKind>();
  /** Fires (per folder) when a model's items changed; consumers debounce. */
  readonly onDidChange = this.changed.event;
  private readonly cleanups: Array<() => void> = [];
  private timers: NodeJS.Timeout[] = [];
  private generation = 0;
  private readonly subscription: vscode.Disposable;

  /** `active` (optional): when it holds a connected Central Node, the models show the CN's folders (remote mode). */
  constructor(
    private readonly engine: LocalEngine,
    private readonly active?: ActiveEngine,
  ) {
    this.subscription = (active ?? engine).onDidChangeState(() => void this.rebuild());
    void this.rebuild();
  }

  items(folder: FolderKind): FolderItem[] {
    const model = folder === 'in' ? this.input : folder === 'out' ? this.out : this.qrnt;
    return model?.items() ?? [];
  }

  get(folder: FolderKind, name: string): FolderItem | undefined {
    if (folder === 'in') return this.input?.get(name);
    return this.items(folder).find((i) => i.name === name);
  }

  async refresh(): Promise<void> {
    await Promise.all([this.out?.refresh(), this.qrnt?.refresh()]);
  }

  dispose(): void {
    this.disposed = true;
    this.subscription.dispose();
    this.teardown();
    this.changed.dispose();
  }

  private teardown(): void {
    for (const c of this.cleanups.splice(0)) c();
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.input?.dispose();
    this.out?.dispose();
    this.qrnt?.dispose();
    this.input = this.out = this.qrnt = undefined;
    this.threats = undefined;
    void this.threatClient?.close().catch(() => undefined);
    this.threatClient = undefined;
  }

  private async rebuild(): Promise<void> {
    if (this.disposed) return;
    const generation = ++this.generation;
    const remote = this.active?.centralNode;
    if (remote) {
      const c = remote.config;
      const key = ['remote', remote.label, c.configPath, c.in_dir, c.out_dir, c.qrnt_dir].join('|');
      if (key === this.builtFor) return;
      this.teardown();
      this.builtFor = key;
      // The CN's folders over SFTP; facts come from the followed event stream (no local journal, no KATA client here).
      const opts = { source: remote.source, lister: remote.lister, history: remote.history };
      this.input = new InputFolderModel(remote.source, c.in_dir, { join: remote.lister.join });
      this.out = new DestinationFolderModel({ folder: 'out', dir: c.out_dir, ...opts });
      this.qrnt = new DestinationFolderModel({ folder: 'qrnt', dir: c.qrnt_dir, ...opts, ...(remote.threats && { threats: remote.threats }) });
      this.cleanups.push(this.input.onChange(() => this.changed.fire('in')));
      this.cleanups.push(this.out.onChange(() => this.changed.fire('out')));
      this.cleanups.push(this.qrnt.onChange(() => this.changed.fire('qrnt')));
      this.timers.push(setInterval(() => void this.refresh().catch(() => undefined), remoteRefreshMs));
      await this.refresh().catch(() => undefined);
      for (const f of ['in', 'out', 'qrnt'] as const) this.changed.fire(f);
      return;
    }
    if (this.active?.notInstalled) {
      // A Central Node without KDS: nothing to list; the views' welcome content offers Set Up.
      const key = `missing|${this.active.notInstalled.label}`;
      if (key === this.builtFor) return;
      this.teardown();
      this.builtFor = key;
      for (const f of ['in', 'out', 'qrnt'] as const) this.changed.fire(f);
      return;
    }
    // The running engine's folders until it restarts; while the file is invalid, the last valid ones.
    const config = this.engine.viewConfig;
    const key = config ? [config.configPath, config.in_dir, config.out_dir, config.qrnt_dir, config.state_dir, this.engine.running].join('|') : '';
    if (key === this.builtFor) return;
    this.teardown();
    this.builtFor = key;
    if (config) {
      // The scanner's own client when scanning; otherwise a client of our own for threat names.
      let client: KataClient | undefined = this.engine.engine?.client;
      if (!client && vscode.workspace.isTrusted) {
        let own: KataClient | undefined;
        try {
          own = await createKataClient(config);
        } catch {
          own = undefined; // no certificate yet: threat names simply stay unknown
        }
        if (generation !== this.generation) {
          void own?.close().catch(() => undefined);
          // A rebuild that started meanwhile for the same folders saw them as built and returned:
          // build them now, or the views would stay empty although the folders hold files.
          if (this.builtFor === key) {
            this.builtFor = '';
            void this.rebuild();
          }
          return;
        }
        client = this.threatClient = own;
      }
      this.threats = client ? new ThreatNameLookup(client) : undefined;
      this.input = new InputFolderModel(this.engine, config.in_dir);
      this.out = new DestinationFolderModel({ folder: 'out', dir: config.out_dir, stateDir: config.state_dir, source: this.engine });
      this.qrnt = new DestinationFolderModel({ folder: 'qrnt', dir: config.qrnt_dir, stateDir: config.state_dir, source: this.engine, threats: this.threats });
      this.cleanups.push(this.input.onChange(() => this.changed.fire('in')));
      this.cleanups.push(this.out.onChange(() => this.changed.fire('out')));
      this.cleanups.push(this.qrnt.onChange(() => this.changed.fire('qrnt')));
      const qrnt = this.qrnt;
      const threats = this.threats;
      const refreshThreats = async () => {
        if (threats && (await threats.refresh().catch(() => false))) await qrnt.refresh();
      };
      this.timers.push(setInterval(() => void refreshThreats(), threatRefreshMs));
      this.timers.push(setInterval(() => void this.refresh().catch(() => undefined), destinationRefreshMs));
      await this.refresh().catch(() => undefined);
      void refreshThreats();
    }
    for (const f of ['in', 'out', 'qrnt'] as const) this.changed.fire(f);
  }

  private builtFor = '';
  private disposed = false;
}
