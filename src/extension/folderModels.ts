import * as vscode from 'vscode';
import type { KataClient } from '../kata/client';
import { createKataClient } from '../engine/kataClientFromConfig';
import { ThreatNameLookup } from '../kata/threatNames';
import type { ShareConfig } from '../engine/config';
import type { EngineSource, FolderItem, FolderKind } from '../viewModel/contracts';
import { FolderHealthView, type ShareNode, shareNodes } from '../viewModel/shareNodes';
import { DestinationFolderModel } from '../viewModel/destinationFolderModel';
import { InputFolderModel } from '../viewModel/inputFolderModel';
import type { LocalEngine } from './localEngine';
import type { ActiveEngine } from './centralNode/activeEngine';

const threatRefreshMs = 60_000;
const destinationRefreshMs = 30_000;
/** SFTP cannot watch a folder: remote output and quarantine are listed again this often (and on routed events). */
const remoteRefreshMs = 10_000;

/** One share's three folder models. */
interface ShareModels {
  share: ShareConfig;
  input: InputFolderModel;
  out: DestinationFolderModel;
  qrnt: DestinationFolderModel;
}

/**
 * The folder models of every share of the current configuration (input, output, quarantine per
 * share), rebuilt whenever the configuration is reloaded or scanning starts or stops. Output and
 * quarantine are listed from disk, so they show even while scanning is stopped.
 */
export class FolderModels implements vscode.Disposable {
  private sets: ShareModels[] = [];
  private health?: FolderHealthView;
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

  /** The shares shown, in the configuration's order. */
  shares(): ShareConfig[] {
    return this.sets.map((m) => m.share);
  }

  /** Items of one share's folder, or of every share's (pickers, counts). */
  items(folder: FolderKind, share?: string): FolderItem[] {
    const sets = share === undefined ? this.sets : this.sets.filter((m) => m.share.name === share);
    if (sets.length === 1) return modelOf(sets[0]!, folder).items();
    return sets.flatMap((m) => modelOf(m, folder).items());
  }

  /** A file by folder and name, in one share (the first share having it when not given). */
  get(folder: FolderKind, name: string, share?: string): FolderItem | undefined {
    for (const m of this.sets) {
      if (share !== undefined && m.share.name !== share) continue;
      const item = modelOf(m, folder).get(name);
      if (item) return item;
    }
    return undefined;
  }

  /** The share nodes of a view (shown when there is more than one share). */
  shareNodes(folder: FolderKind): ShareNode[] {
    const health = this.health;
    if (!health) return [];
    return shareNodes(folder, this.shares(), (share) => this.items(folder, share), health);
  }

  async refresh(): Promise<void> {
    await Promise.all(this.sets.flatMap((m) => [m.out.refresh(), m.qrnt.refresh()]));
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
    for (const m of this.sets) {
      m.input.dispose();
      m.out.dispose();
      m.qrnt.dispose();
    }
    this.sets = [];
    this.health?.dispose();
    this.health = undefined;
    void this.threatClient?.close().catch(() => undefined);
    this.threatClient = undefined;
  }

  /** One share's models; a change of any of them fires its view. */
  private build(share: ShareConfig, make: (share: ShareConfig) => Omit<ShareModels, 'share'>): void {
    const m = { share, ...make(share) };
    this.sets.push(m);
    this.cleanups.push(m.input.onChange(() => this.changed.fire('in')));
    this.cleanups.push(m.out.onChange(() => this.changed.fire('out')));
    this.cleanups.push(m.qrnt.onChange(() => this.changed.fire('qrnt')));
  }

  private watchHealth(source: EngineSource): void {
    const health = (this.health = new FolderHealthView(source));
    this.cleanups.push(health.onChange(() => ['in', 'out', 'qrnt'].forEach((f) => this.changed.fire(f as FolderKind))));
  }

  private async rebuild(): Promise<void> {
    if (this.disposed) return;
    const generation = ++this.generation;
    const remote = this.active?.centralNode;
    if (remote) {
      const c = remote.config;
      const key = ['remote', remote.label, c.configPath, sharesKey(c.shares)].join('|');
      if (key === this.builtFor) return;
      this.teardown();
      this.builtFor = key;
      // The CN's folders over SFTP; facts come from the followed event stream (no local journal, no KATA client here).
      const opts = { source: remote.source, lister: remote.lister, history: remote.history };
      for (const share of c.shares) {
        this.build(share, (s) => ({
          input: new InputFolderModel(remote.source, s.in_dir, { join: remote.lister.join, share: s.name }),
          out: new DestinationFolderModel({ folder: 'out', share: s.name, dir: s.out_dir, ...opts }),
          qrnt: new DestinationFolderModel({ folder: 'qrnt', share: s.name, dir: s.qrnt_dir, ...opts, ...(remote.threats && { threats: remote.threats }) }),
        }));
      }
      this.watchHealth(remote.source);
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
    const key = config ? [config.configPath, sharesKey(config.shares), config.state_dir, this.engine.running].join('|') : '';
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
      const threats = client ? new ThreatNameLookup(client) : undefined;
      for (const share of config.shares) {
        this.build(share, (s) => ({
          input: new InputFolderModel(this.engine, s.in_dir, { share: s.name }),
          out: new DestinationFolderModel({ folder: 'out', share: s.name, dir: s.out_dir, stateDir: config.state_dir, source: this.engine }),
          qrnt: new DestinationFolderModel({ folder: 'qrnt', share: s.name, dir: s.qrnt_dir, stateDir: config.state_dir, source: this.engine, threats }),
        }));
      }
      this.watchHealth(this.engine);
      const quarantines = this.sets.map((m) => m.qrnt);
      const refreshThreats = async () => {
        if (threats && (await threats.refresh().catch(() => false))) await Promise.all(quarantines.map((q) => q.refresh()));
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

function modelOf(m: ShareModels, folder: FolderKind): InputFolderModel | DestinationFolderModel {
  return folder === 'in' ? m.input : folder === 'out' ? m.out : m.qrnt;
}

/** What decides whether the models must be rebuilt: every share's name and folders. */
function sharesKey(shares: readonly ShareConfig[]): string {
  return shares.map((s) => [s.name, s.in_dir, s.out_dir, s.qrnt_dir, s.exclude_list].join('\u0000')).join('|');
}
