/**
 * What a real engine under test is configured with: a client certificate for the embedded KATA
 * and a kata_dir_scanner.conf with absolute paths. Shared by the engine harness, the crash test
 * and the benchmarks (scripts/bench), so no node:test here.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSelfSigned } from '../../src/pki/certs';

/** A self-signed client certificate: `dir`/cert.pem (certificate + key) and `dir`/server.key. */
export async function clientCertFiles(dir: string, commonName = 'kds-test'): Promise<{ certPem: string; keyPath: string; fingerprint256: string }> {
  mkdirSync(dir, { recursive: true });
  const kc = await createSelfSigned({ commonName, days: 2 });
  writeFileSync(join(dir, 'cert.pem'), kc.certPem + kc.keyPem, { mode: 0o600 });
  writeFileSync(join(dir, 'server.key'), kc.keyPem, { mode: 0o600 });
  return { certPem: join(dir, 'cert.pem'), keyPath: join(dir, 'server.key'), fingerprint256: kc.fingerprint256 };
}

export interface EngineSite {
  dirs: { in: string; out: string; qrnt: string; state: string };
  cert: { certPem: string; keyPath: string };
  emulator: { port: number; caPemPath: string };
}

/**
 * kata_dir_scanner.conf keys for an engine on `site`'s folders talking to its KATA on 127.0.0.1,
 * polling every second; `rest` adds (or overrides) the rest.
 */
export function engineConfig(site: EngineSite, rest: { system_id: string; stable_ms: number; log_file: string } & Record<string, unknown>): Record<string, unknown> {
  return {
    in_dir: site.dirs.in,
    out_dir: site.dirs.out,
    qrnt_dir: site.dirs.qrnt,
    cert_pem: site.cert.certPem,
    cert_key: site.cert.keyPath,
    kata_cn_addr: '127.0.0.1',
    kata_cn_port: site.emulator.port,
    kata_ca: site.emulator.caPemPath,
    poll_interval_s: 1,
    state_dir: site.dirs.state,
    ...rest,
  };
}
