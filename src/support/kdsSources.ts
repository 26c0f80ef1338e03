import { posix } from 'node:path';
import { type HostAccess, resolveTool } from './hostAccess';
import type { SecretScrubber } from './secretScrub';

/** KDS's own side of a support request, read where KDS runs (this computer or the Central Node). */

export const KDS_LOG_TAIL_BYTES = 5 * 1024 * 1024;
export const INSTALLED_CONFIG = '/opt/kata-dir-scanner/kata_dir_scanner.conf';


export interface KdsConfigFacts {
  path: string;
  text: string;
  json?: Record<string, unknown>;
  logFile?: string;
}

async function cat(host: HostAccess, path: string): Promise<string | undefined> {
  let r = await host.exec(['/bin/cat', '--', path]);
  if (r.code !== 0) r = await host.exec(['/bin/cat', '--', path], { root: true });
  return r.code === 0 ? r.stdout.toString('utf8') : undefined;
}

/**
 * Reads the configuration, teaches the scrubber its secrets (values of secret-looking keys and
 * the client private key named by cert_key, which itself never goes in the bundle).
 */
export async function readKdsConfig(host: HostAccess, path: string, scrubber: SecretScrubber): Promise<KdsConfigFacts | undefined> {
  const text = await cat(host, path);
  if (text === undefined) return undefined;
  const out: KdsConfigFacts = { path, text };
  try {
    const json = JSON.parse(text.replace(/^\uFEFF/, '')) as Record<string, unknown>;
    out.json = json;
    scrubber.addSecretsFromJson(json);
    const base = posix.dirname(path);
    const abs = (p: unknown) => (typeof p === 'string' && p ? (p.startsWith('/') ? p : posix.join(base, p)) : undefined);
    const key = abs(json.cert_key);
    if (key) {
      const keyText = await cat(host, key);
      if (keyText) scrubber.addPrivateKey(keyText);
    }
    const pem = abs(json.cert_pem);
    if (pem && pem !== key) {
      const pemText = await cat(host, pem);
      // cert.pem may hold the key too: its key block's lines are secrets.
      const block = pemText && /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/.exec(pemText)?.[0];
      if (block) scrubber.addPrivateKey(block);
    }
    out.logFile = abs(json.log_file) ?? '/var/log/kata-dir-scanner/kata-dir-scanner.log';
  } catch {
    // A configuration that is not JSON still goes in (scrubbed): it may be the problem.
  }
  return out;
}

export async function readKdsLogTail(host: HostAccess, path: string): Promise<string | undefined> {
  let r = await host.exec(['/usr/bin/tail', '-c', String(KDS_LOG_TAIL_BYTES), '--', path]);
  if (r.code !== 0) r = await host.exec(['/usr/bin/tail', '-c', String(KDS_LOG_TAIL_BYTES), '--', path], { root: true });
  return r.code === 0 ? r.stdout.toString('utf8') : undefined;
}

/** The time range of the most recent errors (up to the last 50) in a KDS log, text or JSON lines. */
export function recentErrorRange(log: string, max = 50): { from: string; to: string; count: number } | undefined {
  const times: string[] = [];
  for (const line of log.split('\n')) {
    let time: string | undefined;
    if (line.startsWith('{')) {
      try {
        const r = JSON.parse(line) as { time?: unknown; level?: unknown };
        if (r.level === 'error' && typeof r.time === 'string') time = r.time;
      } catch {
        // not a JSON line
      }
    } else {
      time = /^(\d{4}-\d\d-\d\dT\S+)\s+ERROR\b/.exec(line)?.[1];
    }
    if (time) times.push(time);
  }
  if (times.length === 0) return undefined;
  const recent = times.slice(-max);
  return { from: recent[0]!, to: recent[recent.length - 1]!, count: recent.length };
}

export function formatErrorRange(r: { from: string; to: string; count: number }): string {
  return r.from === r.to ? `${r.from} (1 error in the KDS log)` : `${r.from} – ${r.to} (${r.count} errors in the KDS log)`;
}

/** systemctl status and the last journal lines of the service, whatever they answer (no systemd is an answer too). */
export async function serviceStatus(host: HostAccess, unit = 'kata-dir-scanner.service'): Promise<string> {
  const parts: string[] = [];
  // Resolved like `kds remote` runs them (the user's PATH, then the system folders), to an absolute path.
  const systemctl = await resolveTool(host, 'systemctl');
  const journalctl = await resolveTool(host, 'journalctl');
  if (!systemctl || !journalctl) parts.push(`systemctl/journalctl: not found on ${host.where} (no systemd)`, '');
  for (const argv of [
    ...(systemctl ? [[systemctl, 'status', '--no-pager', '--lines=0', unit]] : []),
    ...(journalctl ? [[journalctl, '-u', unit, '-n', '300', '--no-pager']] : []),
  ]) {
    const r = await host.exec(argv, { root: true }).catch((e: Error) => ({ code: 127, stdout: Buffer.alloc(0), stderr: Buffer.from(e.message) }));
    parts.push(`$ ${argv.join(' ')}`, r.stdout.toString('utf8').trimEnd(), r.stderr.toString('utf8').trimEnd(), `(exit code ${String(r.code)})`, '');
  }
  return parts.join('\n');
}
