import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { KdsLogger, type LogRecord } from '../../src/common/log';
import { loadConfig, type KdsConfig } from '../../src/engine/config';
import { createEngineFromConfig, type ConfiguredEngine } from '../../src/engine/engineFromConfig';
import type { EngineEvent, RoutedFile } from '../../src/engine/events';
import type { ScannerApi } from '../../src/kata/scannerApi';
import { type RunningEmulator, startEmulator } from '../../src/emulator/server';
import { clientCertFiles, engineConfig } from './engineConfig';
import { removeTree } from './tempDirs';

export interface Harness {
  root: string;
  dirs: { in: string; out: string; qrnt: string; state: string };
  /** Every share's folders by share name (the top-level ones are `default`'s). */
  shareDirs: Record<string, { in: string; out: string; qrnt: string }>;
  configPath: string;
  /** Read from configPath; a test may load another one, and restart() then uses it. */
  config: KdsConfig;
  emulator: RunningEmulator;
  built: ConfiguredEngine;
  events: EngineEvent[];
  logs: LogRecord[];
  routed: RoutedFile[];
  fingerprint256: string;
  /** How many rescans of input the current engine has begun (each re-reads the exclude list first). */
  rescans(): number;
  /** Starts the engine of a harness made with startEngine: false. */
  start(): Promise<void>;
  /** Restarts the engine (not the emulator) on the same folders and journal. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface HarnessOptions {
  emulator?: Partial<Parameters<typeof startEmulator>[0]>;
  /** Keys written into kata_dir_scanner.conf on top of the harness defaults. */
  conf?: Record<string, unknown>;
  /** Wraps the real KATA client, e.g. to count calls or hide /filters. */
  wrapApi?: (api: ScannerApi) => ScannerApi;
  /** Reuse an emulator (and its approvals) across harnesses. */
  sharedEmulator?: RunningEmulator;
  startEngine?: boolean;
  /** Folders to use instead of <root>/out etc. (e.g. on another file system); created, and removed afterwards. */
  dirs?: Partial<{ in: string; out: string; qrnt: string }>;
  /** Written to exclude_list.txt (beside the config) before the engine is built. */
  excludeList?: string;
  /**
   * Shares listed in `shares` of the configuration, each with <root>/<name>/{in,out,qrnt} and its
   * own keys; the top-level folders stay the share `default` unless `noDefault`.
   */
  shares?: Array<{ name: string } & Record<string, unknown>>;
  noDefault?: boolean;
  /**
   * 'thread-pool': every file call through node:fs/promises, as on a share (src/engine/folderFs.ts),
   * even on these local folders — for tests that step into those calls.
   */
  fileCalls?: 'thread-pool';
  /** false: input is treated as a share without stable file ids (smbnetfs), as mounts.ts's hasStableFileIds says of one. */
  inputFileIds?: false;
}

/**
 * A real engine on real folders talking mutual TLS to the real embedded KATA on 127.0.0.1,
 * configured through a real kata_dir_scanner.conf, with short timings so tests run in seconds.
 */
export async function startHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const root = mkdtempSync(join(tmpdir(), 'kds-engine-'));
  const cleanups: Array<() => Promise<unknown> | unknown> = [];
  // One hook, in order: engine, then emulator, then the folders they write to.
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });
  cleanups.push(() => removeTree(root));
  const dirs = { in: join(root, 'in'), out: join(root, 'out'), qrnt: join(root, 'qrnt'), state: join(root, 'state'), ...opts.dirs };
  for (const d of [dirs.in, dirs.out, dirs.qrnt]) {
    mkdirSync(d, { recursive: true });
    if (!d.startsWith(join(root, '/'))) cleanups.push(() => removeTree(d));
  }
  const emulator =
    opts.sharedEmulator ??
    (await startEmulator({ host: '127.0.0.1', port: 0, dataDir: join(root, 'kata'), autoApprove: true, verdictDelayMs: 50, ...opts.emulator }));
  if (!opts.sharedEmulator) cleanups.push(() => emulator.close());
  const cert = await clientCertFiles(join(root, 'client'));
  const conf = engineConfig(
    { dirs, cert, emulator },
    { system_id: `test-${Math.random().toString(16).slice(2)}`, stable_ms: 200, scan_timeout_s: 60, log_file: join(root, 'kds.log'), ...opts.conf },
  );
  const shareDirs: Harness['shareDirs'] = opts.noDefault ? {} : { default: dirs };
  if (opts.noDefault) for (const k of ['in_dir', 'out_dir', 'qrnt_dir']) delete conf[k];
  if (opts.shares) {
    conf.shares = opts.shares.map((share) => {
      const d = { in: join(root, share.name, 'in'), out: join(root, share.name, 'out'), qrnt: join(root, share.name, 'qrnt') };
      for (const f of Object.values(d)) mkdirSync(f, { recursive: true });
      shareDirs[share.name] = d;
      return { in_dir: d.in, out_dir: d.out, qrnt_dir: d.qrnt, ...share };
    });
  }
  const configPath = join(root, 'kata_dir_scanner.conf');
  if (opts.excludeList !== undefined) writeFileSync(join(root, 'exclude_list.txt'), opts.excludeList);
  writeFileSync(configPath, JSON.stringify(conf, null, 2));
  const { config } = await loadConfig(configPath);
  const events: EngineEvent[] = [];
  const logs: LogRecord[] = [];
  const routed: RoutedFile[] = [];
  const logger = new KdsLogger({ level: 'debug', sinks: [(r) => logs.push(r)] });
  if (process.env.KDS_TEST_LOG) logger.addSink((r) => process.stderr.write(`${r.time} ${r.level} ${r.event} ${r.msg} ${r.file ?? ''}\n`));

  const h = {} as Harness;
  let rescans = 0;
  h.rescans = () => rescans;
  const build = async () => {
    const built = await createEngineFromConfig(h.config, logger, {
      retryBaseMs: 50,
      retryMaxMs: 500,
      stopGraceMs: 2000,
      wrapApi: opts.wrapApi,
      ...(opts.fileCalls === 'thread-pool' ? { localFolders: {} } : {}),
      ...(opts.inputFileIds === false ? { inputFileIds: false as const } : {}),
    });
    // The engine re-reads each share's exclude list at the start of every rescan of its input:
    // count them there (a rescan of the service is one of every share).
    const counts = new Map<string, number>();
    const before = rescans;
    for (const [share, list] of built.excludes) {
      counts.set(share, 0);
      const refresh = list.refresh.bind(list);
      list.refresh = (force?: boolean) => {
        counts.set(share, counts.get(share)! + 1);
        rescans = before + Math.min(...counts.values());
        return refresh(force);
      };
    }
    built.engine.onEvent((e) => {
      events.push(e);
      if (e.type === 'routed') routed.push(e.file);
    });
    return built;
  };
  Object.assign(h, { root, dirs, shareDirs, configPath, config, emulator, events, logs, routed, fingerprint256: cert.fingerprint256 });
  h.built = await build();
  let running = false;
  let closed = false;
  h.stop = async () => {
    if (closed) return;
    closed = true;
    if (running) await h.built.engine.stop();
    running = false;
    await h.built.close();
  };
  h.start = async () => {
    if (running) return;
    if (closed) {
      h.built = await build();
      closed = false;
    }
    await h.built.engine.start();
    running = true;
  };
  h.restart = async () => {
    await h.stop();
    await h.start();
  };
  cleanups.push(() => h.stop());
  if (opts.startEngine !== false) await h.start();
  return h;
}

/** Polls `cond` every 25 ms until it holds or `timeoutMs` passes; then fails naming `what`. */
export async function waitFor<T>(what: string, cond: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A short pause between observations; waits in tests stay below a second each. */
export function pause(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.min(ms, 1000)));
}

/** Log records of one event, optionally for one file. */
export function logsOf(h: Pick<Harness, 'logs'>, event: string, file?: string): LogRecord[] {
  return h.logs.filter((r) => r.event === event && (file === undefined || r.file === file));
}

/** The stages a file went through, in order, from the engine's `file` events. */
export function stagesOf(h: Pick<Harness, 'events'>, name: string): string[] {
  const out: string[] = [];
  for (const e of h.events) if (e.type === 'file' && e.file.name === name) out.push(e.file.stage);
  return out;
}

/** The snapshot record of a file in input (of one share, when given), if the engine has one. */
export function stageNow(h: Pick<Harness, 'built'>, name: string, share?: string): string | undefined {
  return h.built.engine.snapshot().files.find((f) => f.name === name && (share === undefined || f.share === share))?.stage;
}

/** Waits until the engine has begun `n` more rescans than now, so what it saw is settled. */
export async function waitRescans(h: Pick<Harness, 'rescans'>, n: number, timeoutMs = 20_000): Promise<void> {
  const target = h.rescans() + n;
  await waitFor(`${n} rescans`, () => h.rescans() >= target, timeoutMs);
}
