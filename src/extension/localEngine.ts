import { existsSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import * as vscode from 'vscode';
import { FileSink, KdsLogger, type LogLevel, type LogRecord, formatJson, formatText } from '../common/log';
import { ConfigError, type KdsConfig, loadConfig } from '../engine/config';
import { type ConfiguredEngine, createEngineFromConfig } from '../engine/engineFromConfig';
import { type AttachedEventStream, attachEventStream } from '../engine/engineEventStream';
import type { StateDirOwner } from '../engine/stateDirOwner';
import { OtherProcessEngine } from '../centralNode/otherProcessEngine';
import type { EngineEvent } from '../engine/events';
import type { EngineSnapshot, EngineSource } from '../viewModel/contracts';
import { type ConfigBanner, ConfigFollower, type ReloadDecision } from '../viewModel/configFollow';
import { findConfigurations } from '../viewModel/configDiscovery';

export const defaultConfigName = 'kata_dir_scanner.conf';

export type ConfigStatus =
  /** `found`: kata_dir_scanner.conf files elsewhere in the workspace (kds-demo/…), offered by Open Configuration. */
  | { kind: 'none'; path?: string; found?: string[] }
  | { kind: 'invalid'; path: string; error: string }
  | { kind: 'ok'; path: string; config: KdsConfig; warnings: string[] };

/** Scanning refused because the workspace is not trusted. */
export class UntrustedWorkspaceError extends Error {}

const idle: EngineSnapshot = { running: false, approval: 'unknown', files: [] };

/**
 * The engine in local mode: owns the configuration, the engine's lifecycle, workspace-trust
 * gating and the logger whose records reach the "KDS" log channel. Views see it only as an
 * EngineSource, so they work the same when the engine later runs on a Central Node.
 */
export class LocalEngine implements EngineSource, vscode.Disposable {
  readonly logger: KdsLogger;
  private readonly listeners = new Set<(event: EngineEvent) => void>();
  private readonly logListeners = new Set<(record: LogRecord) => void>();
  private readonly stateChanged = new vscode.EventEmitter<void>();
  /** Fires when the configuration was (re)loaded or scanning started or stopped. */
  readonly onDidChangeState = this.stateChanged.event;
  private current: ConfigStatus = { kind: 'none' };
  private configured?: ConfiguredEngine;
  private eventStream?: AttachedEventStream;
  /** While this window does not scan: a KDS in another process on the same state_dir, followed through its event stream. */
  private other?: OtherProcessEngine;
  private unsubscribeOther: Array<() => void> = [];
  private fileSink?: FileSink;
  private unsubscribe?: () => void;
  private transition: Promise<unknown> = Promise.resolve();
  private disposed = false;
  /** Set while a Central Node is shown: the KDS log then mixes both, so this engine's lines say "[local]". */
  logTag: string | undefined;
  /** Which configuration the views show and when a restart is offered (items 8 and 14 of issue 15). */
  private readonly follower = new ConfigFollower();

  constructor(private readonly channel: vscode.LogOutputChannel) {
    this.logger = new KdsLogger({ level: configuredLogLevel(), sinks: [(r) => writeToChannel(channel, r, this.logTag), (r) => this.logListeners.forEach((l) => l(r))] });
  }

  get status(): ConfigStatus {
    return this.current;
  }

  get config(): KdsConfig | undefined {
    return this.current.kind === 'ok' ? this.current.config : undefined;
  }

  /**
   * The configuration the views show: the running engine's until it is restarted (even when the
   * file or kds.configPath changed since), else the file's, else — while the file is invalid —
   * its last valid content.
   */
  get viewConfig(): KdsConfig | undefined {
    return this.follower.viewConfig();
  }

  /** Why the views do not show the file as it is now, if they do not. */
  get banner(): ConfigBanner | undefined {
    return this.follower.banner();
  }

  get running(): boolean {
    return this.configured?.engine.snapshot().running ?? false;
  }

  get engine(): ConfiguredEngine | undefined {
    return this.configured;
  }

  /** Another process scanning the configuration the views show (this window does not scan then). */
  get elsewhere(): StateDirOwner | undefined {
    return this.configured ? undefined : this.other?.owner;
  }

  /** Whether that process writes an event stream (its input files and their stages are known). */
  get elsewhereHasStream(): boolean {
    return !!this.elsewhere && !!this.other?.hasStream;
  }

  /** Looks at the state_dir lock now (before Start Scanning decides what to offer). */
  async checkElsewhere(): Promise<StateDirOwner | undefined> {
    this.syncOtherWatch();
    await this.other?.check();
    return this.elsewhere;
  }

  /** Reads the other process's event stream now (Rescan). */
  async pollElsewhere(): Promise<void> {
    await this.other?.poll();
  }

  onEvent(listener: (event: EngineEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Every record the logger passes on (already filtered by level), e.g. for per-file log lines in the Verdicts panel. */
  onLogRecord(listener: (record: LogRecord) => void): () => void {
    this.logListeners.add(listener);
    return () => this.logListeners.delete(listener);
  }

  snapshot(): EngineSnapshot {
    return this.configured?.engine.snapshot() ?? (this.other?.owner ? this.other.snapshot() : idle);
  }

  setLogLevel(level: LogLevel): void {
    this.logger.level = level;
  }

  /** The configuration file: `kds.configPath` (relative to the first workspace folder) or kata_dir_scanner.conf there. */
  configPath(): string | undefined {
    const setting = vscode.workspace.getConfiguration('kds').get<string>('configPath')?.trim();
    const root = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    if (setting) return isAbsolute(setting) ? setting : root ? join(root, setting) : undefined;
    return root ? join(root, defaultConfigName) : undefined;
  }

  /** Reads the configuration again; never throws (the outcome is in `status`). */
  async reload(): Promise<ConfigStatus> {
    return (await this.reloadAndDecide()).status;
  }

  /** reload(), plus whether to offer a restart or warn of an invalid file (each once per distinct change). */
  reloadAndDecide(): Promise<{ status: ConfigStatus; decision: ReloadDecision }> {
    return this.serialise(async () => {
      const path = this.configPath();
      if (!path || !existsSync(path)) {
        const setting = vscode.workspace.getConfiguration('kds').get<string>('configPath')?.trim();
        const roots = (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file').map((f) => f.uri.fsPath);
        // Only when nothing was chosen: a kds.configPath naming a missing file is an error to show, not to guess past.
        const found = setting ? [] : await findConfigurations(roots).catch(() => []);
        this.current = found.length ? { kind: 'none', path, found } : { kind: 'none', path };
      } else {
        try {
          const { config, warnings } = await loadConfig(path);
          this.current = { kind: 'ok', path, config, warnings };
          for (const w of warnings) this.logger.warn('config', w, { file: path });
        } catch (err) {
          const message = err instanceof ConfigError ? err.message : String((err as Error).message ?? err);
          this.current = { kind: 'invalid', path, error: message };
          this.logger.error('config', message, { file: path });
        }
      }
      const decision = this.follower.loaded(this.current);
      this.syncOtherWatch();
      this.stateChanged.fire();
      return { status: this.current, decision };
    });
  }

  /** Starts scanning with the current configuration; throws ConfigError, UntrustedWorkspaceError or engine errors. */
  start(): Promise<void> {
    return this.serialise(async () => {
      if (this.configured) return;
      if (!vscode.workspace.isTrusted) throw new UntrustedWorkspaceError(vscode.l10n.t('Scanning is off in an untrusted workspace: KDS would send files to the server named in this workspace\'s configuration and move files between its folders. Trust the workspace to scan.'));
      const path = this.configPath();
      if (!path) throw new ConfigError(vscode.l10n.t('Open a folder or set kds.configPath first.'), defaultConfigName);
      const { config, warnings } = await loadConfig(path);
      this.current = { kind: 'ok', path, config, warnings };
      this.follower.loaded(this.current);
      try {
        this.fileSink = new FileSink(config.log_file, config.log_format === 'json' ? formatJson : formatText);
      } catch (err) {
        this.logger.warn('log-file', vscode.l10n.t('Cannot write the log file {0}: {1}', config.log_file, (err as Error).message));
      }
      const sink = this.fileSink;
      const removeSink = sink ? this.logger.addSink(sink.write) : undefined;
      let configured: ConfiguredEngine | undefined;
      try {
        configured = await createEngineFromConfig(config, this.logger);
        this.unsubscribe = configured.engine.onEvent((event) => {
          for (const l of this.listeners) {
            try {
              l(event);
            } catch (err) {
              this.channel.error(String(err));
            }
          }
          if (event.type === 'running' || event.type === 'approval') this.stateChanged.fire();
        });
        this.configured = configured;
        this.follower.started(config);
        // Like `kds run`: another window (or `kds remote` on this machine) can follow what this one does.
        this.eventStream = attachEventStream(configured, config, this.logger);
        await configured.engine.start();
        this.eventStream.started();
      } catch (err) {
        this.eventStream?.abort();
        this.eventStream = undefined;
        this.unsubscribe?.();
        this.unsubscribe = undefined;
        this.configured = undefined;
        this.follower.stopped();
        await configured?.close().catch(() => undefined);
        removeSink?.();
        sink?.close();
        this.fileSink = undefined;
        this.syncOtherWatch();
        throw err;
      }
      this.syncOtherWatch();
      this.stateChanged.fire();
    });
  }

  stop(): Promise<void> {
    return this.serialise(async () => {
      const configured = this.configured;
      if (!configured) return;
      try {
        await configured.engine.stop();
      } finally {
        await this.eventStream?.close().catch(() => undefined);
        this.eventStream = undefined;
        this.unsubscribe?.();
        this.unsubscribe = undefined;
        this.configured = undefined;
        this.follower.stopped();
        await configured.close().catch(() => undefined);
        if (!this.disposed) this.syncOtherWatch();
        this.fileSink?.close();
        this.fileSink = undefined;
        if (!this.disposed) this.stateChanged.fire();
      }
    });
  }

  /** Rescans input now; the exclude list is re-read on every rescan. */
  requestRescan(): void {
    this.configured?.engine.requestRescan();
  }

  dispose(): void {
    this.disposed = true;
    this.setOtherWatch(undefined);
    void this.stop();
    this.stateChanged.dispose();
  }

  /** Follows another process on the shown configuration's state_dir while this window does not scan. */
  private syncOtherWatch(): void {
    const dir = this.configured || this.disposed ? undefined : this.viewConfig?.state_dir;
    if (dir !== this.other?.stateDir) this.setOtherWatch(dir);
  }

  private setOtherWatch(stateDir: string | undefined): void {
    const old = this.other;
    for (const u of this.unsubscribeOther.splice(0)) u();
    this.other = undefined;
    if (old) void old.dispose();
    if (!stateDir) return;
    const other = new OtherProcessEngine(stateDir);
    this.other = other;
    this.unsubscribeOther.push(
      other.onEvent((event) => {
        if (this.configured || this.other !== other) return;
        for (const l of [...this.listeners]) {
          try {
            l(event);
          } catch (err) {
            this.channel.error(String(err));
          }
        }
      }),
      other.onDidChange(() => {
        if (this.other === other && !this.disposed) this.stateChanged.fire();
      }),
    );
    other.start();
  }

  /** Config loads, starts and stops run one after another, never interleaved. */
  private serialise<T>(work: () => Promise<T>): Promise<T> {
    const next = this.transition.then(work, work);
    this.transition = next.catch(() => undefined);
    return next;
  }
}

export function configuredLogLevel(): LogLevel {
  const v = vscode.workspace.getConfiguration('kds').get<string>('logLevel');
  return v === 'debug' || v === 'warn' || v === 'error' ? v : 'info';
}

export function writeToChannel(channel: vscode.LogOutputChannel, r: LogRecord, tag?: string): void {
  const { time: _time, level, event, msg, ...fields } = r;
  const extra = Object.entries(fields)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v)}`)
    .join(' ');
  const line = `${tag ? `[${tag}] ` : ''}[${event}] ${msg}${extra ? ' ' + extra : ''}`;
  // The engine already filtered by its own level; the channel must not drop what it was handed.
  if (level === 'error') channel.error(line);
  else if (level === 'warn') channel.warn(line);
  else if (level === 'debug') channel.debug(line);
  else channel.info(line);
}
