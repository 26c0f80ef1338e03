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

/**
 * A complete local set-up in `dir`: in/, out/, qrnt/, a client certificate, an exclude list,
 * the embedded KATA (auto-approving) and a kata_dir_scanner.conf that trusts its CA. Used by
 * `npm start` / `kds demo` and by the extension's "Start Embedded KATA". Reuses whatever a
 * previous run left (certificate, system_id, approvals).
 */
export async function startDemo(dir: string, opts: { port: number; logger?: Logger }): Promise<DemoSetup> {
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
  // The ICAP server on KATA's port 1344 when it is free, else on any free port (a second demo, say).
  const icapPort = (await portIsFree('127.0.0.1', ICAP_DEFAULT_PORT)) ? ICAP_DEFAULT_PORT : 0;
  const emulatorOptions = { host: '127.0.0.1', dataDir: join(dir, 'kata'), autoApprove: true, logger: opts.logger, icapPort };
  let emulator: RunningEmulator;
  try {
    emulator = await startEmulator({ ...emulatorOptions, port: opts.port });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    emulator = await startEmulator({ ...emulatorOptions, port: 0 });
  }
  // Rewritten at every start: the port may differ, and the file documents the set-up.
  const configPath = join(dir, 'kata_dir_scanner.conf');
  const conf = demoConfig({ port: emulator.port, ca: relative(dir, emulator.caPemPath), systemId: state.systemId });
  await writeFile(configPath, JSON.stringify(conf, null, 2) + '\n');
  return { dir, configPath, emulator };
}
