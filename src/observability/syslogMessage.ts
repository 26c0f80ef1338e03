import { jsonWithVisibleControls } from '../common/displayText';
import type { SiemFormat } from '../engine/config';
import { formatCef } from './cefFormat';
import { type SiemEvent, type SiemSource, siemClasses } from './siemEvent';

/**
 * RFC 5424 syslog messages: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - MSG`, MSG being
 * a CEF record or one JSON object (no byte-order mark: CEF and JSON parsers take the text as it
 * is). Neither ever contains a raw newline: CEF escapes it, JSON writes control characters as
 * \u escapes (bidirectional ones too, so nothing on the wire reorders text when displayed).
 */

export const appName = 'kds';

/** CEF severity 0–10 → syslog severity (RFC 5424: 2 critical … 6 informational). */
export function syslogSeverity(cefSeverity: number): number {
  if (cefSeverity >= 9) return 2;
  if (cefSeverity >= 7) return 4;
  if (cefSeverity >= 4) return 5;
  return 6;
}

/** A header field: printable US-ASCII without spaces, at most `max` characters, '-' when empty. */
function headerField(s: string, max: number): string {
  const v = s.replace(/[^\x21-\x7e]/g, '').slice(0, max);
  return v === '' ? '-' : v;
}

/** The event as one JSON object: exact values (a file name decodes to exactly its characters). */
export function eventJson(e: SiemEvent, src: SiemSource): Record<string, unknown> {
  const c = siemClasses[e.cls];
  return {
    time: new Date(e.time).toISOString(),
    event: e.cls,
    name: c.name,
    severity: c.severity,
    category: c.category,
    ...(c.action !== undefined && { action: c.action }),
    host: src.hostname,
    systemId: src.systemId,
    centralNode: src.centralNode,
    version: src.version,
    pid: src.pid,
    ...(e.share !== undefined && { share: e.share }),
    ...(e.file !== undefined && { file: e.file }),
    ...(e.threat !== undefined && { threat: e.threat }),
    ...(e.scanId !== undefined && { scanId: e.scanId }),
    ...(e.verdict !== undefined && { verdict: e.verdict }),
    ...(e.folder !== undefined && { folder: e.folder }),
    ...(e.folderPath !== undefined && { folderPath: e.folderPath }),
    ...(e.reason !== undefined && { reason: e.reason }),
    ...(e.user !== undefined && { user: e.user }),
    ...(e.approval !== undefined && { approval: e.approval }),
    ...(e.externalId !== undefined && { id: e.externalId }),
  };
}

export function formatSyslog(e: SiemEvent, src: SiemSource, o: { format: SiemFormat; facility: number }): string {
  const pri = o.facility * 8 + syslogSeverity(siemClasses[e.cls].severity);
  const header = `<${pri}>1 ${new Date(e.time).toISOString()} ${headerField(src.hostname, 255)} ${appName} ${headerField(String(src.pid), 128)} ${headerField(e.cls, 32)} -`;
  const msg = o.format === 'cef' ? formatCef(e, src) : jsonWithVisibleControls(eventJson(e, src));
  return `${header} ${msg}`;
}

/**
 * RFC 6587 framing for a stream: octet counting (`LEN SP MSG`, what RFC 5425 prescribes for TLS,
 * and safe whatever the message holds) or a trailing LF (for receivers that only split lines;
 * safe here because a message never holds a raw LF).
 */
export function frame(message: string, framing: 'octet-counting' | 'lf'): Buffer {
  const body = Buffer.from(message, 'utf8');
  if (framing === 'lf') return Buffer.concat([body, Buffer.from('\n')]);
  return Buffer.concat([Buffer.from(`${body.length} `), body]);
}
