import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { visibleText } from '../common/displayText';

export const ICAP_LOG_NAME = 'preprocessor_icap.log';

export type IcapMode = 'monitoring' | 'blocking_simple' | 'blocking_advanced';
export const ICAP_MODES: readonly IcapMode[] = ['monitoring', 'blocking_simple', 'blocking_advanced'];

function stamp(d = new Date()): string {
  return d.toISOString().replace('T', ' ').replace('Z', '');
}

/**
 * The URL comes from the proxy's client: percent-encode what would break the one-line format,
 * reach a terminal raw (controls, bytes above ASCII: a URL is ASCII on the wire) or make a grep
 * for `verdict` / `… mode` count a line it should not.
 */
function safeUrl(url: string): string {
  const pct = (c: string) =>
    [...Buffer.from(c, c.charCodeAt(0) > 0xff ? 'utf8' : 'latin1')].map((b) => `%${b.toString(16).padStart(2, '0').toUpperCase()}`).join('');
  // Whitespace and controls encoded, no " mode" can appear; "verdict" gets its second letter encoded.
  return url.replace(/[^\x21-\x7e]|"/gu, pct).replace(/verdict/gi, (m) => m[0] + pct(m[1]!) + m.slice(2));
}

/**
 * KATA's ICAP preprocessor log, `<data>/preprocessor_icap.log`, in the style of the field log:
 * `2026-05-02 07:00:37.120 [pid] INFO preprocessor_icap: …`. The seed's recipe works on it:
 * every REQMOD/RESPMOD transaction writes exactly one line ending "accepted in <mode> mode"
 * (so `grep -c 'blocking_simple mode'` counts the transactions handled in that mode), and every
 * object scanned writes exactly one line with `verdict=` (so `grep -c verdict` counts verdicts).
 * Other lines (OPTIONS, errors, mode changes, late results) contain neither.
 * Lines are written synchronously: a line is in the file before the answer it describes is sent.
 */
export class IcapServiceLog {
  private fd: number | undefined;
  readonly path: string;

  constructor(dataDir: string) {
    this.path = join(dataDir, ICAP_LOG_NAME);
    this.fd = openSync(this.path, 'a', 0o600);
  }

  private write(level: 'INFO' | 'WARN' | 'ERROR', text: string): void {
    if (this.fd === undefined) return;
    // One line per record, and nothing a terminal would act on, whatever the peer put in a URL or a header.
    const clean = visibleText(text.replace(/[\r\n]+/g, ' '));
    writeSync(this.fd, `${stamp()} [${process.pid}] ${level} preprocessor_icap: ${clean}\n`);
  }

  options(peer: string, service: string): void {
    this.write('INFO', `OPTIONS request from ${peer} service=${service}`);
  }

  accepted(method: string, peer: string, url: string, mode: IcapMode): void {
    this.write('INFO', `${method} request from ${peer} url=${safeUrl(url)} accepted in ${mode} mode`);
  }

  verdict(fields: { scanId: string; size: number; sha256: string; verdict: string; threat?: string; action: string; waitedMs?: number; note?: string }): void {
    const parts = [`scan_id=${fields.scanId}`, `size=${fields.size}`, `sha256=${fields.sha256}`, `verdict=${fields.verdict}`];
    if (fields.threat) parts.push(`threat="${fields.threat}"`);
    parts.push(`action=${fields.action}`);
    if (fields.waitedMs !== undefined) parts.push(`waited_ms=${fields.waitedMs}`);
    if (fields.note) parts.push(`(${fields.note})`);
    this.write(fields.verdict === 'detected' ? 'WARN' : 'INFO', parts.join(' '));
  }

  /** The late result of an object already let through (KDS-TEST-SLOW); no `verdict` word on purpose. */
  lateResult(scanId: string, result: string, threat: string | undefined): void {
    this.write(result === 'detected' ? 'WARN' : 'INFO', `late scan result scan_id=${scanId} result=${result}${threat ? ` threat="${threat}"` : ''} (object already passed, alert raised when detected)`);
  }

  notScanned(scanId: string, reason: string): void {
    this.write('INFO', `scan_id=${scanId} not scanned: ${reason}`);
  }

  error(peer: string, status: number | string, reason: string): void {
    this.write('ERROR', `bad ICAP request from ${peer}: ${reason} -> ${status}`);
  }

  modeChanged(from: IcapMode, to: IcapMode, by: string): void {
    this.write('INFO', `ICAP scan mode changed from ${from} to ${to} by ${by}`);
  }

  started(url: string, mode: IcapMode): void {
    this.write('INFO', `ICAP server listening on ${url}, scan mode ${mode}`);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
