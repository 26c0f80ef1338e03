import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type DemoSetup, startDemo } from '../../../src/demo/demoSetup';
import { type RunningEmulator, startEmulator } from '../../../src/emulator/server';
import { fingerprint256 } from '../../../src/pki/certs';
import { writeClientCertificate } from '../../../src/pki/clientCertificateFiles';

/** The harmless EICAR anti-virus test string, assembled so this file is not itself flagged. */
export const EICAR = ['X5O!P%@AP[4\\PZX54(P^)7CC)7}', '$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*'].join('');

/**
 * A workspace that is a complete demo set-up (in/, out/, qrnt/, client certificate, exclude list,
 * kata_dir_scanner.conf at the workspace root, so no setting is needed) served by the embedded
 * KATA, started here with auto-approval on a free port.
 */
export async function demoWorkspace(dir: string): Promise<DemoSetup> {
  mkdirSync(dir, { recursive: true });
  return startDemo(dir, { port: 0 });
}

export interface PendingWorkspace {
  dir: string;
  configPath: string;
  inDir: string;
  outDir: string;
  systemId: string;
  fingerprint: string;
  emulator: RunningEmulator;
}

/**
 * A workspace whose KATA (the embedded emulator, started here WITHOUT auto-approval, data kept
 * outside the workspace) has never seen its certificate: the first scan request leaves the
 * integration pending until an administrator accepts it in the console.
 */
export async function pendingApprovalWorkspace(dir: string, kataDataDir: string): Promise<PendingWorkspace> {
  for (const sub of ['in', 'out', 'qrnt']) mkdirSync(join(dir, sub), { recursive: true });
  const emulator = await startEmulator({ host: '127.0.0.1', port: 0, dataDir: kataDataDir, autoApprove: false });
  const cert = await writeClientCertificate(join(dir, 'client'), { commonName: 'kds-e2e-pending', days: 30, force: false });
  const systemId = randomUUID();
  writeFileSync(join(dir, 'kata_ca.pem'), emulator.caPem);
  const configPath = join(dir, 'kata_dir_scanner.conf');
  const conf = {
    in_dir: 'in',
    out_dir: 'out',
    qrnt_dir: 'qrnt',
    cert_pem: 'client/cert.pem',
    cert_key: 'client/server.key',
    kata_cn_addr: '127.0.0.1',
    kata_cn_port: emulator.port,
    kata_ca: 'kata_ca.pem',
    system_id: systemId,
    exclude_list: 'exclude_list.txt',
    stable_ms: 500,
    poll_interval_s: 1,
    state_dir: 'state',
    log_file: 'kds.log',
  };
  writeFileSync(configPath, JSON.stringify(conf, null, 2) + '\n');
  return { dir, configPath, inDir: join(dir, 'in'), outDir: join(dir, 'out'), systemId, fingerprint: fingerprint256(cert.made.certPem), emulator };
}
