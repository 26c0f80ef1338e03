/**
 * The ICAP probe panel's message protocol (host ↔ webview). Pure TS: no vscode, no DOM. The rows
 * are plain copies of the probe's steps (src/icap/icapProbe.ts), made by the host.
 */
import { type StringsOf, hasOnlyKeys, isBoundedString, isOneOf, messageOf } from './protocolGuards';

export const icapProbePanelType = 'kds.icapProbe';

export const icapProbeStringIds = [
  'title', 'running', 'where', 'colStep', 'colStatus', 'colVerdict', 'colMessage', 'colTimes', 'rawHeaders', 'warnings',
  'noVerdict', 'conclusion', 'options', 'noAnswer',
  'url', 'urlHelp', 'what', 'whatRespmod', 'whatReqmod', 'whatDiscover', 'eicar', 'file', 'noFile', 'chooseFile', 'clearFile',
  'probe', 'next', 'showLog', 'showLogHelp', 'mode', 'discovering', 'colPath', 'colMethods', 'probeThis',
] as const;
export type IcapProbeStringId = (typeof icapProbeStringIds)[number];
export type IcapProbeStrings = StringsOf<IcapProbeStringId>;

/** What the probe tests: one method of the service at the URL, or which service paths the server has. */
export const probeServices = ['respmod', 'reqmod', 'discover'] as const;
export type ProbeService = (typeof probeServices)[number];

export interface ProbeForm {
  url: string;
  service: ProbeService;
  eicar: boolean;
}

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

/** One path tried by a discovery. */
export interface DiscoverRow {
  path: string;
  uri: string;
  status?: number;
  methods?: string;
  error?: string;
}

/** Host → webview. */
export type IcapProbeMessage =
  | { type: 'init'; strings: IcapProbeStrings; locale: string; form: ProbeForm; fileName?: string }
  | { type: 'form'; form: ProbeForm }
  | { type: 'file'; fileName?: string }
  | { type: 'start'; uri: string; where: string; discover: boolean }
  | { type: 'step'; row: IcapProbeRow }
  | { type: 'discover'; row: DiscoverRow }
  /** `next`: what to do about it; `logFilter`: the probe's requests can be shown in the ICAP log viewer. */
  | { type: 'done'; conclusion: string; next: string; exitCode: number; mode?: string; canShowLog: boolean }
  | { type: 'error'; message: string };

/** Webview → host. */
export type IcapProbeRequest =
  | { type: 'ready' }
  | ({ type: 'run' } & ProbeForm)
  | { type: 'chooseFile' }
  | { type: 'clearFile' }
  | { type: 'showLog' };

const requestTypes = ['ready', 'run', 'chooseFile', 'clearFile', 'showLog'] as const;

export const maxProbeUrlLength = 2048;

export function parseIcapProbeRequest(raw: unknown): IcapProbeRequest | undefined {
  const m = messageOf(raw, requestTypes);
  if (!m) return undefined;
  if (m.type === 'run') {
    if (!hasOnlyKeys(m, ['type', 'url', 'service', 'eicar'])) return undefined;
    if (!isBoundedString(m.url, maxProbeUrlLength, 1) || !isOneOf(m.service, probeServices) || typeof m.eicar !== 'boolean') return undefined;
    return { type: 'run', url: m.url, service: m.service, eicar: m.eicar };
  }
  if (!hasOnlyKeys(m, ['type'])) return undefined;
  return { type: m.type };
}
