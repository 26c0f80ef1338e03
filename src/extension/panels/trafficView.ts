import { t } from '../../common/l10n';
import type { CaptureAnalysis } from '../../capture/analyzeCapture';
import { flowText, probeTrafficText, transactionNoteText } from '../../capture/analysisText';
import type { TrafficFinding, TrafficRow } from '../../webviewProtocol/icapTraffic';

/** The ICAP Traffic panel's rows, findings and summary line from an analysis (translated). */
export function trafficView(a: CaptureAnalysis): { summary: string; findings: TrafficFinding[]; rows: TrafficRow[] } {
  return {
    summary: t(
      '{0}, {1}: {2} packet(s), {3} connection(s) on port(s) {4}, {5} transaction(s).',
      a.format ?? t('unreadable'),
      a.linkTypes.join(', ') || '-',
      a.packets,
      a.connections,
      a.ports.join(', '),
      a.totalTransactions,
    ),
    findings: a.findings.map((f) => ({ severity: f.severity, text: f.text })),
    rows: a.transactions.map((x) => ({
      time: x.time,
      client: x.client,
      server: x.server,
      method: x.method,
      uri: x.uri,
      status: x.status,
      reason: x.reason,
      flow: flowText(x),
      verdict: Object.entries(x.verdict),
      httpRequest: x.httpRequest,
      httpStatus: x.httpStatus,
      adaptedHttpStatus: x.adaptedHttpStatus,
      requestBytes: x.requestBytes,
      responseBytes: x.responseBytes,
      latencyMs: x.latencyMs,
      notes: [probeTrafficText(x.kdsProbe), ...x.notes.map(transactionNoteText)].filter((n): n is string => !!n),
      requestHeaders: x.requestHeaders,
      responseHeaders: x.responseHeaders,
    })),
  };
}
