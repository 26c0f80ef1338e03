import type { KdsConfig } from '../engine/config';

/** The outcome of reading the configuration file (LocalEngine's ConfigStatus, restated without vscode). */
export type LoadedConfig =
  | { kind: 'none'; path?: string }
  | { kind: 'invalid'; path: string; error: string }
  | { kind: 'ok'; path: string; config: KdsConfig };

/** Why the views do not show the file as it is now; shown above them (a tree view's message). */
export type ConfigBanner =
  /** The file is invalid; the views show the running engine's or the last valid configuration. */
  | { kind: 'invalid'; path: string; error: string; showing: 'running' | 'last-valid' | 'nothing' }
  /** A valid change not applied yet: the engine runs with the configuration it started with. */
  | { kind: 'restart-pending'; path: string }
  /** kds.configPath names no file while scanning runs with another one. */
  | { kind: 'missing'; path?: string; runningPath: string };

export interface ReloadDecision {
  /** Offer "Restart Scanning" (once per distinct valid configuration). */
  offerRestart: boolean;
  /** Warn that the file became invalid (once per distinct error). */
  warnInvalid: boolean;
}

/**
 * One consistent answer to "which configuration do the views show, and when do we ask to
 * restart" (issue 15 items 8 and 14). While scanning, the views follow the running engine's
 * configuration until it is restarted, whatever the file or kds.configPath now say. While the
 * file is invalid, they keep the last valid configuration of that file, with a banner saying
 * why. A restart is offered once per valid change that differs from what runs: auto-save
 * writing the same content again, or the same change saved twice, asks nothing new.
 */
export class ConfigFollower {
  private running: KdsConfig | undefined;
  private lastValid: KdsConfig | undefined;
  private status: LoadedConfig = { kind: 'none' };
  private offeredKey: string | undefined;
  private warnedError: string | undefined;

  /** Scanning started with `config`. */
  started(config: KdsConfig): void {
    this.running = config;
    this.lastValid = config;
    this.offeredKey = undefined;
    this.warnedError = undefined;
  }

  stopped(): void {
    this.running = undefined;
  }

  get runningConfig(): KdsConfig | undefined {
    return this.running;
  }

  /** The file was read (after a save, a change on disk or a new kds.configPath). */
  loaded(status: LoadedConfig): ReloadDecision {
    this.status = status;
    if (status.kind === 'ok') {
      this.lastValid = status.config;
      this.warnedError = undefined;
    }
    if (!this.running) return { offerRestart: false, warnInvalid: false };
    if (status.kind === 'invalid') {
      const warn = this.warnedError !== `${status.path}\u0000${status.error}`;
      this.warnedError = `${status.path}\u0000${status.error}`;
      return { offerRestart: false, warnInvalid: warn };
    }
    if (status.kind !== 'ok') return { offerRestart: false, warnInvalid: false };
    const key = configKey(status.config);
    if (key === configKey(this.running)) {
      this.offeredKey = undefined; // changed back: nothing to apply
      return { offerRestart: false, warnInvalid: false };
    }
    if (key === this.offeredKey) return { offerRestart: false, warnInvalid: false };
    this.offeredKey = key;
    return { offerRestart: true, warnInvalid: false };
  }

  /** The configuration the views show. */
  viewConfig(): KdsConfig | undefined {
    if (this.running) return this.running;
    if (this.status.kind === 'ok') return this.status.config;
    if (this.status.kind === 'invalid' && this.lastValid?.configPath === this.status.path) return this.lastValid;
    return undefined;
  }

  banner(): ConfigBanner | undefined {
    const s = this.status;
    if (s.kind === 'invalid') {
      const showing = this.running ? 'running' : this.viewConfig() ? 'last-valid' : 'nothing';
      return { kind: 'invalid', path: s.path, error: s.error, showing };
    }
    if (!this.running) return undefined;
    if (s.kind === 'none') return { kind: 'missing', path: s.path, runningPath: this.running.configPath };
    if (configKey(s.config) !== configKey(this.running)) return { kind: 'restart-pending', path: this.running.configPath };
    return undefined;
  }
}

/** The configuration as a canonical string (keys sorted), to compare two loads. */
export function configKey(config: KdsConfig): string {
  return JSON.stringify(config, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  );
}
