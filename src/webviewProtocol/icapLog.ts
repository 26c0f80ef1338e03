/**
 * The ICAP log viewer panel's message protocol ("KDS: View ICAP Log"): every message the host
 * and the webview exchange, and the host-side validator for what the webview sends. Pure TS: no
 * vscode, no DOM, no Node — and no import of src/icapLog (which uses Node), so the shapes the
 * webview needs are restated here; the host maps the core's types onto them.
 */
import type { ByteUnitTemplates } from './byteSize';
import { type ReadyMessage, type StringsOf, hasOnlyKeys, isBoundedString, isOneOf, isRecord, messageOf } from './protocolGuards';

export const icapLogPanelType = 'kds.icapLog';

/** Every user-visible string of the panel; the host fills them with vscode.l10n.t. */
export const icapLogStringIds = [
  'title', 'openFile', 'noFile', 'filters', 'mode', 'modeAll', 'modeSimple', 'modeAdvanced', 'verdictOnly',
  'search', 'searchPlaceholder', 'regex', 'matchCase', 'timeFrom', 'timeTo', 'timePlaceholder', 'follow', 'fieldsAsColumns',
  'copyGrep', 'grepTimeOmitted', 'countDone#one', 'countDone#few', 'countDone#many', 'countDone#other',
  'countRunning#one', 'countRunning#few', 'countRunning#many', 'countRunning#other', 'countFailed', 'countCancelled', 'loadingEarlier', 'searchingEarlier',
  'startOfFile', 'noMatches', 'rotated', 'truncated', 'skipped#one', 'skipped#few', 'skipped#many', 'skipped#other', 'lineShortened', 'partialLine', 'linesLabel', 'colLine',
  'details', 'close', 'fileSize', 'heldLimit#one', 'heldLimit#few', 'heldLimit#many', 'heldLimit#other', 'colVerdict',
  'colMode', 'colThreat', 'colUrl', 'wrapLines', 'filterInvalid',
] as const;
export type IcapLogStringId = (typeof icapLogStringIds)[number];
export type IcapLogStrings = StringsOf<IcapLogStringId>;

export const icapLogModes = ['all', 'blocking_simple', 'blocking_advanced'] as const;
export type IcapLogViewMode = (typeof icapLogModes)[number];

/** The filter as the panel edits it (the host turns it into the core's IcapLogFilter). */
export interface IcapLogViewFilter {
  mode: IcapLogViewMode;
  verdictOnly: boolean;
  text: string;
  regex: boolean;
  matchCase: boolean;
  timeFrom: string;
  timeTo: string;
}

export const defaultIcapLogViewFilter: IcapLogViewFilter = { mode: 'all', verdictOnly: false, text: '', regex: false, matchCase: false, timeFrom: '', timeTo: '' };

export type IcapHighlightKind = 'time' | 'level' | 'mode' | 'verdict' | 'method' | 'status' | 'address' | 'key';
export type IcapVerdictClass = 'clean' | 'detected' | 'error' | 'timeout' | 'other';

/** One shown line: the text (never markup) and where to colour it. */
export interface IcapViewLine {
  /** Byte offset of the line in the file: its id (until rotation), also a page cursor. */
  offset: number;
  /** Bytes in the file, terminator included. */
  byteLength: number;
  text: string;
  /** Only the first bytes of a longer line are in `text`. */
  truncated?: boolean;
  /** The last line, still without a newline; replaced when it is complete. */
  partial?: boolean;
  /** [start, end, kind] UTF-16 spans of `text`, sorted and non-overlapping. */
  spans: Array<[number, number, IcapHighlightKind]>;
  /** Colour class of the `verdict` span. */
  verdict?: IcapVerdictClass;
  /** key=value / key: value fields, in order. */
  fields?: Array<[string, string]>;
  /** What people look for on a line, for the columns: KATA's scan mode named on it, */
  mode?: string;
  /** the threat name, */
  threat?: string;
  /** and the object's URL (else the ICAP service's). */
  url?: string;
}

/**
 * Host → webview. `epoch` changes whenever the file or the filter changes (and after rotation): a
 * `tail` page starts a new epoch; messages of an older epoch are stale.
 */
export type IcapLogMessage =
  | { type: 'init'; strings: IcapLogStrings; locale: string; /** Sizes as everywhere in KDS (byteSize.ts). */ byteUnits: ByteUnitTemplates; /** A file the host was asked to open (command argument); otherwise the webview restores its own. */ path?: string; /** A filter to start with instead of the restored one (e.g. search ICAP for kata-logs). */ filter?: IcapLogViewFilter }
  /** A file is open (or none: path undefined) with this filter; the list is emptied until the next `tail` page. */
  | { type: 'file'; path?: string; grep: string; grepTimeOmitted: boolean; follow: boolean }
  /** The filter was rejected: nothing else changed. */
  | { type: 'filterError'; field: 'search' | 'timeFrom' | 'timeTo'; message: string }
  /** `tail` replaces the list; `before` prepends. `startCursor` is for the next pageBefore. */
  | { type: 'page'; epoch: number; kind: 'tail' | 'before'; lines: IcapViewLine[]; startCursor: number; atStart: boolean; size: number }
  /** New lines in follow mode; `reset` = rotated/truncated (list emptied first). */
  | { type: 'append'; epoch: number; lines: IcapViewLine[]; reset?: 'rotated' | 'truncated'; skippedBytes?: number; size: number }
  | { type: 'count'; epoch: number; state: 'running' | 'done' | 'error'; matched: number; lines: number; done: number; total: number; error?: string }
  | { type: 'error'; message: string };

/** Webview → host. */
export type IcapLogRequest =
  | ReadyMessage
  /** After `init`: what to show (restored view state). An empty path = the host's choice (default log, if any). */
  | { type: 'view'; path: string; filter: IcapLogViewFilter; follow: boolean }
  | { type: 'filter'; filter: IcapLogViewFilter }
  | { type: 'follow'; on: boolean }
  | { type: 'pageBefore'; epoch: number; cursor: number }
  | { type: 'openFile' }
  | { type: 'copyGrep' };

/** Limits on what the webview may send. */
export const maxPathLength = 4096;
export const maxSearchLength = 1000;
export const maxTimeInputLength = 64;

const requestTypes = ['ready', 'view', 'filter', 'follow', 'pageBefore', 'openFile', 'copyGrep'] as const;
const filterKeys = ['mode', 'verdictOnly', 'text', 'regex', 'matchCase', 'timeFrom', 'timeTo'] as const;

/** A fresh, validated filter, or undefined. */
export function parseIcapLogViewFilter(raw: unknown): IcapLogViewFilter | undefined {
  if (!isRecord(raw) || !hasOnlyKeys(raw, filterKeys)) return undefined;
  const { mode, verdictOnly, text, regex, matchCase, timeFrom, timeTo } = raw;
  if (!isOneOf(mode, icapLogModes)) return undefined;
  if (typeof verdictOnly !== 'boolean' || typeof regex !== 'boolean' || typeof matchCase !== 'boolean') return undefined;
  if (!isBoundedString(text, maxSearchLength) || !isBoundedString(timeFrom, maxTimeInputLength) || !isBoundedString(timeTo, maxTimeInputLength)) return undefined;
  return { mode, verdictOnly, text, regex, matchCase, timeFrom, timeTo };
}

/** A byte offset / epoch: a non-negative safe integer. */
function isCursor(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/**
 * Validates a message from the ICAP log webview. Returns a fresh typed object, or undefined for
 * anything malformed: unknown type, missing or extra fields, wrong types, oversized strings.
 */
export function parseIcapLogRequest(raw: unknown): IcapLogRequest | undefined {
  const m = messageOf(raw, requestTypes);
  if (!m) return undefined;
  switch (m.type) {
    case 'ready':
    case 'openFile':
    case 'copyGrep':
      return hasOnlyKeys(m, ['type']) ? { type: m.type } : undefined;
    case 'view': {
      if (!hasOnlyKeys(m, ['type', 'path', 'filter', 'follow']) || !isBoundedString(m.path, maxPathLength) || typeof m.follow !== 'boolean') return undefined;
      if (m.path.includes('\0')) return undefined;
      const filter = parseIcapLogViewFilter(m.filter);
      return filter ? { type: 'view', path: m.path, filter, follow: m.follow } : undefined;
    }
    case 'filter': {
      if (!hasOnlyKeys(m, ['type', 'filter'])) return undefined;
      const filter = parseIcapLogViewFilter(m.filter);
      return filter ? { type: 'filter', filter } : undefined;
    }
    case 'follow':
      return hasOnlyKeys(m, ['type', 'on']) && typeof m.on === 'boolean' ? { type: 'follow', on: m.on } : undefined;
    case 'pageBefore':
      return hasOnlyKeys(m, ['type', 'epoch', 'cursor']) && isCursor(m.epoch) && isCursor(m.cursor) ? { type: 'pageBefore', epoch: m.epoch, cursor: m.cursor } : undefined;
  }
}
