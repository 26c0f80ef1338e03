/**
 * The "ICAP Traffic" panel's message protocol (KDS: Capture ICAP Traffic / Analyze Capture
 * File…). Pure TS: no vscode, no DOM, no Node. The shapes restate what the panel shows of a
 * capture analysis (src/capture/analyzeCapture.ts), so the webview imports nothing from Node code.
 */
import { type ReadyMessage, type StringsOf, hasOnlyKeys, messageOf } from './protocolGuards';

export const icapTrafficPanelType = 'kds.icapTraffic';

export const icapTrafficStringIds = [
  'title', 'summary', 'diagnosis', 'transactions', 'filterPlaceholder', 'savePcap', 'openWireshark', 'noTransactions', 'noMatch',
  'shownOf', 'colTime', 'colClient', 'colServer', 'colMethod', 'colUri', 'colStatus', 'colFlow', 'colVerdict', 'colHttp', 'colBytes',
  'colLatency', 'noAnswer', 'requestHeaders', 'responseHeaders', 'notCaptured', 'notes', 'empty', 'colHttpResponse',
] as const;
export type IcapTrafficStringId = (typeof icapTrafficStringIds)[number];
export type IcapTrafficStrings = StringsOf<IcapTrafficStringId>;

/** One row of the table (a transaction of the analysis, with its words already translated). */
export interface TrafficRow {
  time: string;
  client: string;
  server: string;
  method: string | null;
  uri: string | null;
  status: number | null;
  reason: string | null;
  flow: string;
  verdict: Array<[string, string]>;
  httpRequest: string | null;
  httpStatus: string | null;
  adaptedHttpStatus: string | null;
  requestBytes: number;
  responseBytes: number;
  latencyMs: number | null;
  notes: string[];
  requestHeaders: string | null;
  responseHeaders: string | null;
}

export interface TrafficFinding {
  severity: 'error' | 'warning' | 'info';
  text: string;
}

/** Host → webview. */
export type IcapTrafficMessage =
  | { type: 'init'; strings: IcapTrafficStrings; locale: string }
  | {
      type: 'analysis';
      /** Where the capture came from, shown on top (file and host). */
      source: string;
      summary: string;
      findings: TrafficFinding[];
      rows: TrafficRow[];
      wireshark: boolean;
    }
  | { type: 'error'; message: string };

/** Webview → host. */
export type IcapTrafficRequest = ReadyMessage | { type: 'savePcap' } | { type: 'openWireshark' };

const requestTypes = ['ready', 'savePcap', 'openWireshark'] as const;

export function parseIcapTrafficRequest(raw: unknown): IcapTrafficRequest | undefined {
  const m = messageOf(raw, requestTypes);
  if (!m || !hasOnlyKeys(m, ['type'])) return undefined;
  return { type: m.type };
}
