import { type EncapsulatedSections, encodeChunk, icapReasons, lastChunk, serializeHttpHead, serializeIcapResponse } from '../icap/icapMessage';
import { blockPage } from './icapBlockPage';
import type { IcapMode } from './icapServiceLog';

/** The services and the one method each offers (RFC 3507 §6.4: one URI per method). */
export const SERVICES = { respmod: 'RESPMOD', reqmod: 'REQMOD' } as const;
export type ServiceName = keyof typeof SERVICES;

/** What OPTIONS advertises; a client should not preview more (RFC 3507 4.5). */
export const PREVIEW = 1024;
const OPTIONS_TTL = 300;

/** The answers of the embedded KATA's ICAP server, as bytes. */
export function optionsAnswer(o: { service: ServiceName; version: string; istag: string; maxConnections: number; mode: IcapMode }): Buffer {
  return serializeIcapResponse({
    status: 200,
    reason: 'OK',
    headers: {
      Methods: SERVICES[o.service],
      Service: `KDS embedded KATA ICAP ${o.version}`,
      'Service-ID': `kata_${o.service}`,
      ISTag: o.istag,
      'Max-Connections': o.maxConnections,
      'Options-TTL': OPTIONS_TTL,
      Allow: 204,
      Preview: PREVIEW,
      'Transfer-Preview': '*',
      Date: new Date().toUTCString(),
      'X-KDS-Mode': o.mode,
    },
    body: 'none',
  });
}

/** An error answer; `close` adds Connection: close (the rest of the stream cannot be trusted to be framed). */
export function errorAnswer(status: number, istag: string, close: boolean): Buffer {
  return serializeIcapResponse({ status, reason: icapReasons[status] ?? 'Error', headers: { ISTag: istag, ...(close && { Connection: 'close' }) }, body: 'none' });
}

/** Tells the client (the probe) that the object passed because the verdict wait expired, not because it is clean. */
function verdictNote(waitedOutMs: number | undefined): Record<string, string> {
  return waitedOutMs === undefined ? {} : { 'X-KDS-Verdict': `timeout; waited_ms=${waitedOutMs}` };
}

export function noContentAnswer(istag: string, scanId: string, waitedOutMs?: number): Buffer {
  return serializeIcapResponse({ status: 204, reason: 'No Content', headers: { ISTag: istag, 'X-KDS-Scan-ID': scanId, ...verdictNote(waitedOutMs) }, body: 'none' });
}

/** ICAP 200 with an HTTP 403 block page naming the threat, and the verdict headers proxies log. */
export function blockAnswer(o: { threat: string; url: string; scanId: string; istag: string }): Buffer {
  const page = blockPage(o.threat, o.url, o.scanId);
  const resHdr = serializeHttpHead('HTTP/1.1 403 Forbidden', {
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Length': page.length,
    'Cache-Control': 'no-store',
    Connection: 'close',
    'X-KDS-Threat': o.threat,
  });
  const headers = {
    ISTag: o.istag,
    'X-Infection-Found': `Type=0; Resolution=2; Threat=${o.threat.replace(/;/g, ',')};`,
    'X-Virus-ID': o.threat,
    'X-Response-Info': 'Blocked',
    'X-KDS-Scan-ID': o.scanId,
  };
  return Buffer.concat([serializeIcapResponse({ status: 200, reason: 'OK', headers, resHdr, body: 'res-body' }), encodeChunk(page), lastChunk()]);
}

/** The head of an echo (the message sent back unchanged): the encapsulated HTTP head the client sent. */
export function echoHead(o: { method: 'REQMOD' | 'RESPMOD'; sections: EncapsulatedSections | undefined; istag: string; scanId: string; waitedOutMs?: number }): Buffer {
  const isResp = o.method === 'RESPMOD';
  const hasBody = o.sections?.body !== 'null-body';
  return serializeIcapResponse({
    status: 200,
    reason: 'OK',
    headers: { ISTag: o.istag, 'X-KDS-Scan-ID': o.scanId, ...verdictNote(o.waitedOutMs) },
    reqHdr: isResp ? undefined : o.sections?.reqHdr,
    resHdr: isResp ? o.sections?.resHdr : undefined,
    body: hasBody ? (isResp ? 'res-body' : 'req-body') : 'none',
  });
}
