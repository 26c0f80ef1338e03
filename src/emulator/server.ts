import { randomBytes } from 'node:crypto';
import { mkdir, readdir, unlink } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { KdsLogger, type Logger } from '../common/log';
import { t } from '../common/l10n';
import packageJson from '../../package.json';
import { ensureAdminPassword } from './adminPassword';
import { API_PREFIX, type ApiContext, handleApi } from './apiRoutes';
import { DirectoryLockedError, lockDirectory } from '../common/dirLock';
import { CONSOLE_PATH, type ConsoleContext, handleConsole } from './consoleRoutes';
import { EmulatorCounters, type EmulatorStats, summarise } from './counters';
import { DetectionEngine, SLOW_FACTOR } from './detection';
import { type EmulatorOptions, EmulatorOptionError, faultPlanOf, type ResolvedOptions, resolveOptions } from './emulatorOptions';
import { describeFaults, type FaultPlan } from './faults';
import { reply } from './httpReply';
import { type IcapDetection, type IcapMode, type RunningIcapServer, startIcapServer } from './icapServer';
import { ScanStore } from './scanStore';
import { canonicalFingerprint, type Decision, type IntegrationRequest, SystemsRegistry } from './systemsRegistry';
import { ensureTlsMaterial } from './tlsMaterial';
import { followIcapModeFile, readIcapModeRequest } from './icapModeFile';
import { VerdictScheduler } from './verdictScheduler';

export type { EmulatorOptions } from './emulatorOptions';
export type { EmulatorStats } from './counters';

export interface RunningEmulator {
  /** `https://127.0.0.1:PORT`: the base URL, without the API path. */
  url: string;
  port: number;
  host: string;
  dataDir: string;
  /** The CA certificate clients must trust (`<data>/ca.pem`). */
  caPemPath: string;
  caPem: string;
  consoleUrl: string;
  /** Console password for user `admin`, always available to the caller. */
  adminPassword: string;
  /** True on the first start of this data folder: the only time the CLI prints the password. */
  adminPasswordCreated: boolean;
  /** Accepts the pair, or without a fingerprint every pending request of the sensor; returns the rows changed. */
  approve(sensorId: string, fingerprint?: string): Promise<IntegrationRequest[]>;
  /** Rejects the pair, or without a fingerprint every request of the sensor not rejected yet. */
  reject(sensorId: string, fingerprint?: string): Promise<IntegrationRequest[]>;
  /** The external systems table. */
  systems(): Promise<IntegrationRequest[]>;
  /** The ICAP server (icap://HOST:PORT/respmod and /reqmod), when started with an ICAP port. */
  icap?: RunningIcapServer;
  /**
   * Switches the ICAP server's mode and records it in the data folder (icap-mode.json, followed by
   * `kds emulate mode`; the next start keeps it). The console and VS Code switch it this way.
   */
  setIcapMode(mode: IcapMode, by: string): Promise<void>;
  /** Replaces the fault plan while running (same syntax as --faults; '' for none). */
  setFaults(spec: string): void;
  stats(): EmulatorStats;
  close(): Promise<void>;
}

const version = `kds-emulator-${packageJson.version}`;

/** The sensor ID under which ICAP detections appear in the alerts (console, GET detects of no real sensor). */
export const ICAP_SENSOR_ID = 'ICAP';
export type { IcapMode };

function hostForUrl(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return isIP(host) === 6 ? `[${host}]` : host;
}

/** Removes upload leftovers that no processing scan refers to (a crash mid-upload, say). */
async function sweepObjects(objectsDir: string, keep: Set<string>): Promise<void> {
  for (const name of await readdir(objectsDir)) {
    if (!keep.has(name)) await unlink(join(objectsDir, name)).catch(() => undefined);
  }
}

/**
 * Starts the embedded KATA Central Node: the scanner API over mutual TLS, the verdict engine
 * and the administrator's console, all on one HTTPS port.
 */
export async function startEmulator(opts: EmulatorOptions): Promise<RunningEmulator> {
  const options = resolveOptions(opts);
  const logger: Logger = opts.logger ?? new KdsLogger({ sinks: [] });
  const dataDir = resolve(options.dataDir);
  const objectsDir = join(dataDir, 'objects');
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  await mkdir(objectsDir, { recursive: true, mode: 0o700 });
  await mkdir(join(dataDir, 'rules'), { recursive: true, mode: 0o700 });
  let unlock: () => Promise<void>;
  try {
    unlock = await lockDirectory(dataDir, 'emulator.pid');
  } catch (err) {
    if (err instanceof DirectoryLockedError) throw new Error(t('The data folder {0} is in use by another emulator (process {1}).', dataDir, err.pid));
    throw err;
  }
  try {
    // The mode switched last (console, `kds emulate mode`, VS Code) survives a restart unless --icap-mode says otherwise.
    if (options.icap && opts.icapMode === undefined) {
      const asked = await readIcapModeRequest(dataDir);
      if (asked) options.icap = { ...options.icap, mode: asked.mode };
    }
    return await start(options, dataDir, objectsDir, logger, unlock);
  } catch (err) {
    await unlock();
    throw err;
  }
}

async function start(options: ResolvedOptions, dataDir: string, objectsDir: string, logger: Logger, unlock: () => Promise<void>): Promise<RunningEmulator> {
  const tls = await ensureTlsMaterial(dataDir, options.host, logger);
  const admin = await ensureAdminPassword(dataDir);
  const registry = new SystemsRegistry(dataDir);
  await registry.refresh();
  const store = new ScanStore(dataDir);
  await store.load();
  const processing = store.all().filter((s) => s.state === 'processing');
  await sweepObjects(objectsDir, new Set(processing.flatMap((s) => (s.objectFile ? [s.objectFile] : []))));

  const engine = new DetectionEngine(dataDir, logger);
  await engine.yara.isAvailable();
  const scheduler = new VerdictScheduler(store, engine, objectsDir, logger);
  const counters = new EmulatorCounters();
  let faults: FaultPlan = options.faults;

  const server: Server = createServer({
    key: tls.key,
    cert: tls.cert,
    // Like KATA: any client certificate gets through TLS; who may call is decided per request
    // from the (sensorId, fingerprint) approvals. The one place the project allows this.
    requestCert: true,
    rejectUnauthorized: false,
    minVersion: 'TLSv1.2',
  });
  // Clients poll every few seconds (poll_interval_s, default 5): with Node's default 5 s the
  // connection would close just as the next poll reuses it, costing a handshake or a reset.
  server.keepAliveTimeout = 65_000;
  server.on('tlsClientError', (err) => logger.debug('emulator.tls', t('TLS handshake failed: {0}', err.message)));

  const apiCtx: ApiContext = {
    settings: options,
    faults: () => faults,
    store,
    registry,
    scheduler,
    objectsDir,
    logger,
    counters,
    version,
  };
  let consoleCtx: ConsoleContext | undefined;

  let icap: RunningIcapServer | undefined;
  if (options.icap) {
    const onDetection = (d: IcapDetection) => {
      logger.warn('emulator.icap', t('ICAP detection: {0} in {1} ({2} mode, {3})', d.verdict.threats.map((x) => x.name).join(', '), d.url, d.mode, d.action), { scanId: d.scanId, sha256: d.sha256 });
      const byTechnology = new Map<string, string[]>();
      for (const threat of d.verdict.threats) byTechnology.set(threat.technology, [...(byTechnology.get(threat.technology) ?? []), threat.name]);
      void store.addAlerts(
        [...byTechnology].map(([technology, threats]) => ({
          sensorId: ICAP_SENSOR_ID,
          sensorInstanceId: d.method,
          scanId: d.scanId,
          eventTime: d.at,
          detectTime: new Date().toISOString(),
          technology: technology as 'am' | 'yara',
          importance: technology === 'am' ? ('high' as const) : ('medium' as const),
          fileName: d.url,
          size: d.size,
          sha256: d.sha256,
          md5: d.md5,
          threats,
        })),
      );
    };
    icap = await startIcapServer({
      host: options.icap.host,
      port: options.icap.port,
      mode: options.icap.mode,
      dataDir,
      engine,
      logger,
      maxObjectSize: options.maxObjectSize,
      slowVerdictMs: options.verdictDelayMs * SLOW_FACTOR,
      advancedWaitMs: options.icap.advancedWaitMs,
      onDetection,
      version: packageJson.version,
    });
  }
  // Another process (kds emulate mode, VS Code on `kds demo`) switches the mode through the data folder.
  const modeFile = icap ? await followIcapModeFile(dataDir, icap, { logger }).catch(async (err: Error) => {
    await icap?.close();
    throw err;
  }) : undefined;

  async function dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // A client that dies mid-upload makes Node emit 'aborted' on the request one tick after it
    // checked for listeners; if pipeline() removed its own in between, the error would be
    // uncaught and bring the whole emulator down. The handler reading the body sees the failure.
    req.on('error', () => undefined);
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    const path = q < 0 ? raw : raw.slice(0, q);
    const query = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
    const started = Date.now();
    try {
      if (path.startsWith(API_PREFIX)) {
        res.once('finish', () => {
          counters.countStatus(res.statusCode);
          logger.debug('emulator.request', `${req.method} ${path} ${res.statusCode}`, { durationMs: Date.now() - started });
        });
        await handleApi(req, res, apiCtx, path, query);
      } else if (path === CONSOLE_PATH || path.startsWith(`${CONSOLE_PATH}/`)) {
        await handleConsole(req, res, consoleCtx!, path);
      } else if (path === '/') {
        reply(res, 302, '', { Location: CONSOLE_PATH });
      } else {
        reply(res, 404, 'Not found');
      }
    } catch (err) {
      logger.error('emulator.request', t('Request failed: {0}', (err as Error).message), { path });
      reply(res, 500, 'Internal server error');
    }
  }
  server.on('request', (req: IncomingMessage, res: ServerResponse) => void dispatch(req, res));

  await new Promise<void>((resolveListen, rejectListen) => {
    server.once('error', (err) => {
      void icap?.close();
      rejectListen(err);
    });
    server.listen(options.port, options.host, () => {
      server.off('error', rejectListen);
      resolveListen();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const url = `https://${hostForUrl(options.host)}:${port}`;
  consoleCtx = { password: admin.password, csrfToken: randomBytes(32).toString('hex'), registry, store, logger, apiUrl: url + API_PREFIX, icap, ...(modeFile && { setIcapMode: modeFile.set }) };

  // A restart with a shorter --verdict-delay-ms should not leave old scans waiting longer than that.
  const now = Date.now();
  for (const scan of processing) {
    scan.dueAt = Math.min(scan.dueAt, now + options.verdictDelayMs * (scan.slow ? SLOW_FACTOR : 1));
    scheduler.schedule(scan);
  }
  logger.info('emulator.start', t('KATA emulator listening on {0}', url), {
    dataDir,
    stateShape: options.stateShape,
    autoApprove: options.autoApprove,
    faults: describeFaults(faults) || undefined,
    resumed: processing.length || undefined,
  });

  let closing: Promise<void> | undefined;
  const decide = async (sensorId: string, fingerprint: string | undefined, decision: Decision) => {
    let fp: string | undefined;
    if (fingerprint !== undefined) {
      fp = canonicalFingerprint(fingerprint);
      if (!fp) throw new EmulatorOptionError(t('"{0}" is not a SHA-256 certificate fingerprint.', fingerprint));
    }
    return registry.decide(sensorId, fp, decision);
  };

  return {
    url,
    port,
    host: options.host,
    dataDir,
    caPemPath: tls.caPemPath,
    caPem: tls.caPem,
    consoleUrl: url + CONSOLE_PATH,
    adminPassword: admin.password,
    adminPasswordCreated: admin.created,
    approve: (sensorId, fingerprint) => decide(sensorId, fingerprint, 'accepted'),
    reject: (sensorId, fingerprint) => decide(sensorId, fingerprint, 'rejected'),
    async systems() {
      await registry.refresh();
      return registry.list();
    },
    icap,
    async setIcapMode(mode, by) {
      if (!modeFile) throw new Error(t('The embedded KATA runs without an ICAP server.'));
      await modeFile.set(mode, by);
    },
    setFaults(spec) {
      faults = faultPlanOf(spec);
    },
    stats: () => ({
      postsAccepted: counters.postsAccepted,
      uploadsBySha256: new Map(counters.uploadsBySha256),
      deletes: counters.deleteRequests,
      scansDeleted: counters.scansDeleted,
      apiRequests: counters.apiRequests,
      statusCounts: new Map(counters.statusCounts),
      faults: { ...counters.faults },
      scans: store
        .all()
        .sort((a, b) => a.submittedAt.localeCompare(b.submittedAt))
        .map(summarise),
    }),
    close() {
      closing ??= (async () => {
        const closed = new Promise<void>((done) => server.close(() => done()));
        server.closeAllConnections();
        modeFile?.stop();
        await icap?.close();
        await scheduler.close();
        await closed;
        await store.close();
        await unlock();
        logger.info('emulator.stop', t('KATA emulator stopped.'));
      })();
      return closing;
    },
  };
}
