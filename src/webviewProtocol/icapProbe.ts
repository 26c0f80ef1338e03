/**
 * The ICAP probe panel's message protocol (host ↔ webview). Pure TS: no vscode, no DOM. The rows
 * are plain copies of the probe's steps (src/icap/icapProbe.ts), made by the host.
 */
import { type StringsOf, hasOnlyKeys, messageOf } from './protocolGuards';

export const icapProbePanelType = 'kds.icapProbe';

export const icapProbeStringIds = [
  'title', 'running', 'where', 'colStep', 'colStatus', 'colVerdict', 'colMessage', 'colTimes', 'rawHeaders', 'warnings',
  'noVerdict', 'again', 'failure', 'ok', 'conclusion', 'options', 'noAnswer',
] as const;
export type IcapProbeStringId = (typeof icapProbeStringIds)[number];
export type IcapProbeStrings = StringsOf<IcapProbeStringId>;

export interface IcapProbeRow {
  title: string;
  outcome: 'ok' | 'warning' | 'failed';
  status?: number;
  reason?: string;
  /** One line per verdict header. */
  verdict: string[];
  /** What happened to the HTTP message, already in words. */
  message: string;
  ttfbMs?: number;
  totalMs?: number;
  /** Preview and connection facts, in words. */
  transport: string;
  rawHead?: string;
  /** OPTIONS facts as "name: value" lines. */
  options: string[];
  warnings: string[];
  error?: string;
}

/** Host → webview. */
export type IcapProbeMessage =
  | { type: 'init'; strings: IcapProbeStrings; locale: string }
  | { type: 'start'; uri: string; where: string }
  | { type: 'step'; row: IcapProbeRow }
  | { type: 'done'; conclusion: string; exitCode: number }
  | { type: 'error'; message: string };

/** Webview → host. */
export type IcapProbeRequest = { type: 'ready' } | { type: 'again' };

const requestTypes = ['ready', 'again'] as const;

export function parseIcapProbeRequest(raw: unknown): IcapProbeRequest | undefined {
  const m = messageOf(raw, requestTypes);
  if (!m || !hasOnlyKeys(m, ['type'])) return undefined;
  return { type: m.type };
}
