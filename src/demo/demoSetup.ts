import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { Logger } from '../common/log';
import { type RunningEmulator, startEmulator } from '../emulator/server';
import { portIsFree } from '../common/portIsFree';

const ICAP_DEFAULT_PORT = 1344;
import { writeClientCertificate } from '../pki/clientCertificateFiles';

export interface DemoSetup {
  dir: string;
  configPath: string;
  emulator: RunningEmulator;
}

interface DemoState {
  systemId: string;
}

/**
 * The kata_dir_scanner.conf of a demo set-up, paths relative to its dir (in/, out/, qrnt/,
 * client/cert.pem + server.key, exclude_list.txt, state/, kds.log), for the KATA at 127.0.0.1:`port`
 * whose CA is the file `ca`.
 */
export function demoConfig(kata: { port: number; ca: string; systemId: string }) {
  return {
    in_dir: 'in',
    out_dir: 'out',
    qrnt_dir: 'qrnt',
    cert_pem: 'client/cert.pem',
    cert_key: 'client/server.key',
    kata_cn_addr: '127.0.0.1',
    kata_cn_port: kata.port,
    kata_ca: kata.ca,
    system_id: kata.systemId,
    exclude_list: 'exclude_list.txt',
    stable_ms: 1000,
    poll_interval_s: 1,
    state_dir: 'state',
    log_file: 'kds.log',
  };
}

export interface DemoOptions {
  /** The KATA port asked for explicitly (0: any free one); wins over the configuration's kata_cn_port. */
  port?: number;
  /** Without `port`: the port of a new set-up (8443); an existing one keeps its kata_cn_port. */
  defaultPort?: number;
  logger?: Logger;
  /**
   * The port written in the existing configuration is taken: may the embedded KATA use `actual`
   * instead and the configuration say so? Not given: yes. False: the emulator is stopped again,
   * the file is left alone and DemoPortDeclined is thrown.
   */
  confirmPortChange?: (change: { configPath: string; configured: number; actual: number }) => Promise<boolean>;
  /** Told when kata_cn_port was changed in an existing configuration (the CLI prints it). */
  onPortChanged?: (change: { configPath: string; configured: number; actual: number }) => void;
}

/** The person kept the configured port (confirmPortChange answered no). */
export class DemoPortDeclined extends Error {}

/** kata_cn_port of an existing demo configuration, when the file is a JSON object that has one. */
function configuredPort(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  try {
    const conf = JSON.parse(text) as { kata_cn_port?: unknown };
    const port = conf?.kata_cn_port;
    return typeof port === 'number' && Number.isInteger(port) && port > 0 && port < 65536 ? port : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A complete local set-up in `dir`: in/, out/, qrnt/, a client certificate, an exclude list,
 * the embedded KATA (auto-approving) and a kata_dir_scanner.conf that trusts its CA. Used by
 * `npm start` / `kds demo` and by the extension's "Start Embedded KATA". Reuses whatever a
 * previous run left (certificate, system_id, approvals) and never rewrites a configuration that
 * is already there: the KATA starts on its kata_cn_port, and only when that port is taken is the
 * port changed in the file (after confirmPortChange), nothing else.
 */
export async function startDemo(dir: string, opts: DemoOptions): Promise<DemoSetup> {
  for (const sub of ['in', 'out', 'qrnt', 'client', 'kata']) await mkdir(join(dir, sub), { recursive: true, mode: 0o700 });
  const statePath = join(dir, 'demo.json');
  let state: DemoState;
  try {
    state = JSON.parse(await readFile(statePath, 'utf8')) as DemoState;
  } catch {
    state = { systemId: randomUUID() };
    await writeFile(statePath, JSON.stringify(state, null, 2) + '\n');
  }
  if (!existsSync(join(dir, 'client', 'cert.pem'))) {
    await writeClientCertificate(join(dir, 'client'), { commonName: 'kds-demo', days: 365, force: false });
  }
  const excludePath = join(dir, 'exclude_list.txt');
  if (!existsSync(excludePath)) {
    await writeFile(excludePath, '# One file name or mask a line; matching files are never sent to KATA and stay in input.\n# *.tmp\n');
  }
  const configPath = join(dir, 'kata_dir_scanner.conf');
  const existing = await readFile(configPath, 'utf8').catch(() => undefined);
  const configured = configuredPort(existing);
  const wantedPort = opts.port ?? configured ?? opts.defaultPort ?? 8443;
  // The ICAP server on KATA's port 1344 when it is free, else on any free port (a second demo, say).
  const icapPort = (await portIsFree('127.0.0.1', ICAP_DEFAULT_PORT)) ? ICAP_DEFAULT_PORT : 0;
  const emulatorOptions = { host: '127.0.0.1', dataDir: join(dir, 'kata'), autoApprove: true, logger: opts.logger, icapPort };
  let emulator: RunningEmulator;
  try {
    emulator = await startEmulator({ ...emulatorOptions, port: wantedPort });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    emulator = await startEmulator({ ...emulatorOptions, port: 0 });
  }
  if (existing === undefined) {
    const conf = demoConfig({ port: emulator.port, ca: relative(dir, emulator.caPemPath), systemId: state.systemId });
    await writeFile(configPath, JSON.stringify(conf, null, 2) + '\n');
  } else if (configured !== undefined && configured !== emulator.port) {
    const change = { configPath, configured, actual: emulator.port };
    if (opts.confirmPortChange && !(await opts.confirmPortChange(change))) {
      await emulator.close();
      throw new DemoPortDeclined(`kata_cn_port ${configured} kept`);
    }
    // Only the port changes: whatever else the person edited in the file stays.
    const conf = JSON.parse(existing) as Record<string, unknown>;
    conf.kata_cn_port = emulator.port;
    await writeFile(configPath, JSON.stringify(conf, null, 2) + '\n');
    opts.onPortChanged?.(change);
  }
  return { dir, configPath, emulator };
}
