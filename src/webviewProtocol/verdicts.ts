/**
 * The Verdicts panel's message protocol: every message the host and the webview exchange, and
 * the host-side validator for what the webview sends. Imported by src/extension/panels (host)
 * and webview/verdicts (browser). Pure TS: no vscode, no DOM.
 */
import { type ReadyMessage, type StringsOf, hasOnlyKeys, isBoundedString, isOneOf, messageOf } from './protocolGuards';
import type { ByteUnitTemplates } from './byteSize';
import type { VerdictDestination, VerdictKey, VerdictRow } from './verdictsQuery';

export const verdictsPanelType = 'kds.verdicts';

/** Every user-visible string of the panel; the host fills them with vscode.l10n.t. */
export const verdictsStringIds = [
  'title', 'search', 'searchPlaceholder', 'filterVerdict', 'allVerdicts', 'counts', 'chartTitle', 'chartEmpty',
  'colTime', 'colName', 'colSize', 'colSha256', 'colVerdict', 'colThreat', 'colDuration', 'colDestination',
  'verdict.not detected', 'verdict.detect', 'verdict.error', 'verdict.timeout', 'verdict.unknown', 'verdict.pending',
  'dest.out', 'dest.qrnt', 'dest.released', 'dest.deleted', 'details', 'detailsEmpty', 'fullSha256', 'scanId', 'path', 'rawState', 'stateChanges', 'logLines', 'noLogLines',
  'release', 'rescan', 'copyHash', 'reveal', 'close', 'rowsShown#one', 'rowsShown#few', 'rowsShown#many', 'rowsShown#other', 'loading', 'sortAscending', 'sortDescending', 'tableLabel', 'tabChanges', 'tabLog',
  'colShare', 'filterShare', 'allShares',
] as const;
export type VerdictsStringId = (typeof verdictsStringIds)[number];
export type VerdictsStrings = StringsOf<VerdictsStringId>;

/** A state change of one file: an engine stage (`uploading`, `submitted`…) or a journal step (`intent`, `verdict`, `done`). */
export interface StateChange {
  at: number;
  state: string;
  /** English detail from the engine (a reason, a raw KATA state); shown as is. */
  detail?: string;
}

export interface VerdictDetails {
  id: string;
  share?: string;
  name: string;
  size: number;
  sha256?: string;
  scanId?: string;
  path?: string;
  verdict?: VerdictKey;
  rawState?: string;
  threat?: string;
  destination?: VerdictDestination;
  changes: StateChange[];
  logLines: string[];
}

export const verdictActions = ['release', 'rescan', 'copyHash', 'reveal'] as const;
export type VerdictAction = (typeof verdictActions)[number];

/** Host → webview. */
export type VerdictsMessage =
  | {
      type: 'init';
      strings: VerdictsStrings;
      /** Labels of engine stages and journal steps, by code. */
      stateLabels: Record<string, string>;
      /** BCP 47 tag for number and date formatting. */
      locale: string;
      /** Sizes as the trees show them (src/webviewProtocol/byteSize.ts). */
      byteUnits: ByteUnitTemplates;
      /** "Reveal in OS" works here (not in VS Code for the Web, not for a Central Node's files). */
      canReveal: boolean;
      /** The shares of the engine shown; with more than one the table has a Share column and filter. */
      shares: string[];
    }
  /** The full table, in chunks (large tables are not sent as one message); `last` marks the final chunk. */
  | { type: 'reset'; rows: VerdictRow[]; last: boolean }
  /** Changes since the previous message, batched by the host (at most a few per second). */
  | { type: 'update'; upserted: VerdictRow[]; removed: string[] }
  /** Answer to a `details` request; undefined when the row no longer exists. */
  | { type: 'details'; id: string; details?: VerdictDetails };

/** Webview → host. */
export type VerdictsRequest =
  | ReadyMessage
  | { type: 'details'; id: string }
  | { type: 'action'; action: VerdictAction; id: string };

/** Row ids are scanIds (UUID-like) or `in:<file name>`; file names are at most 255 bytes, so 512 is ample. */
export const maxIdLength = 512;

const requestTypes = ['ready', 'details', 'action'] as const;

/**
 * Validates a message from the Verdicts webview. Returns it typed, or undefined for anything
 * malformed: unknown type, missing or extra fields, wrong types, oversized strings.
 */
export function parseVerdictsRequest(raw: unknown): VerdictsRequest | undefined {
  const m = messageOf(raw, requestTypes);
  if (!m) return undefined;
  switch (m.type) {
    case 'ready':
      return hasOnlyKeys(m, ['type']) ? { type: 'ready' } : undefined;
    case 'details':
      return hasOnlyKeys(m, ['type', 'id']) && isBoundedString(m.id, maxIdLength, 1) ? { type: 'details', id: m.id } : undefined;
    case 'action':
      return hasOnlyKeys(m, ['type', 'action', 'id']) && isOneOf(m.action, verdictActions) && isBoundedString(m.id, maxIdLength, 1)
        ? { type: 'action', action: m.action, id: m.id }
        : undefined;
  }
}
