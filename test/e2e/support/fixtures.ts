import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type DemoSetup, demoConfig, startDemo } from '../../../src/demo/demoSetup';
import { type RunningEmulator, startEmulator } from '../../../src/emulator/server';
import { fingerprint256 } from '../../../src/pki/pemText';
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
  // The demo's configuration, with a shorter stability wait.
  const conf = { ...demoConfig({ port: emulator.port, ca: 'kata_ca.pem', systemId }), stable_ms: 500 };
  writeFileSync(configPath, JSON.stringify(conf, null, 2) + '\n');
  return { dir, configPath, inDir: join(dir, 'in'), outDir: join(dir, 'out'), systemId, fingerprint: fingerprint256(cert.made.certPem), emulator };
}
