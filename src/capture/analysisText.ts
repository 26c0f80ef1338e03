import { t } from '../common/l10n';
import type { CaptureAnalysis } from './analyzeCapture';
import type { IcapTransaction } from './icapTransactions';

/** Human words for a transaction's note codes (icapTransactions.ts). */
export function transactionNoteText(code: string): string {
  switch (code) {
    case 'request-not-captured':
      return t('request not in the capture');
    case 'no-answer':
      return t('no answer');
    case 'bytes-missing':
      return t('bytes missing from the capture');
    case 'reset-by-server':
      return t('reset by the server');
    case 'reset-by-client':
      return t('reset by the client');
    case 'request-gap':
    case 'response-gap':
      return t('part of the message is not in the capture');
    case 'request-malformed':
    case 'response-malformed':
      return t('malformed message');
    case 'request-end-of-capture':
    case 'response-end-of-capture':
      return t('the capture ends inside the message');
    default:
      return code;
  }
}

/** The label of KDS's own probe and discovery transactions (src/icap/probeMarker.ts). */
export function probeTrafficText(kind: IcapTransaction['kdsProbe']): string | undefined {
  if (kind === 'discover') return t("KDS's own discovery");
  if (kind === 'probe') return t("KDS's own probe");
  return undefined;
}

function clock(iso: string): string {
  return iso.slice(11, 23);
}

/** "preview 1024, 100 Continue, 204" — the preview / 100 Continue / 204 column. */
export function flowText(x: IcapTransaction): string {
  const parts: string[] = [];
  if (x.preview !== null) parts.push(t('preview {0}', x.preview));
  if (x.continue100) parts.push('100 Continue');
  if (x.status === 204) parts.push('204');
  else if (x.allow204) parts.push(t('204 allowed'));
  return parts.join(', ');
}

/** The text `kds capture analyze` prints: summary, diagnosis, then one block per transaction. */
export function analysisText(a: CaptureAnalysis): string {
  const out: string[] = [];
  out.push(
    t(
      '{0}: {1}, {2}; {3} packet(s), {4} on ICAP port(s) {5}, {6} connection(s), {7} transaction(s).',
      a.file,
      a.format ?? t('unreadable'),
      a.linkTypes.join(', ') || '-',
      a.packets,
      a.icapPackets,
      a.ports.join(', '),
      a.connections,
      a.totalTransactions,
    ),
  );
  if (a.firstPacketTime) out.push(t('From {0} to {1} (UTC).', a.firstPacketTime, a.lastPacketTime ?? a.firstPacketTime));
  out.push('', t('Diagnosis:'));
  for (const f of a.findings) out.push(`  ${f.severity === 'error' ? '✗' : f.severity === 'warning' ? '!' : '·'} ${f.text}`);
  if (a.transactions.length) {
    out.push('', t('Transactions:'));
    for (const x of a.transactions) {
      const status = x.status === null ? t('no answer') : `${x.status} ${x.reason ?? ''}`.trim();
      const latency = x.latencyMs === null ? '' : ` ${x.latencyMs < 10 ? x.latencyMs.toFixed(1) : Math.round(x.latencyMs)} ms`;
      out.push(`  ${clock(x.time)}  ${x.client} → ${x.server}  ${x.method ?? '?'} ${x.uri ?? '?'}  ${status}${latency}`);
      const flow = flowText(x);
      const http = [x.httpRequest, x.httpStatus, x.adaptedHttpStatus && `→ ${x.adaptedHttpStatus}`].filter(Boolean).join('  ');
      const details = [flow, http, t('{0} B sent, {1} B answered', x.requestBytes, x.responseBytes)].filter(Boolean).join('; ');
      out.push(`      ${details}`);
      for (const [k, v] of Object.entries(x.verdict)) out.push(`      ${k}: ${v}`);
      const own = probeTrafficText(x.kdsProbe);
      const notes = [...(own ? [own] : []), ...x.notes.map(transactionNoteText)];
      if (notes.length) out.push(`      (${notes.join('; ')})`);
    }
  }
  return out.join('\n') + '\n';
}
