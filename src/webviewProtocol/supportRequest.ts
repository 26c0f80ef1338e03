/**
 * Messages of the "KDS: Create Support Request" panel. The host finds out what it can (facts of
 * the Central Node or this computer, the KDS log's recent errors), the page shows the checklist
 * prefilled, the host gathers and scrubs, the page previews the archive's contents, the host
 * writes it. Pure TS (no vscode, no DOM).
 */
import { type Fields, hasOnlyKeys, isBoundedString, isOneOf, isRecord, messageOf, type StringsOf } from './protocolGuards';

export const supportRequestPanelType = 'kds.supportRequest';

export const supportRequestStringIds = [
  'title',
  'intro',
  'where',
  'language',
  'required',
  'sources',
  'kataLogs',
  'collect',
  'collectNote',
  'files',
  'addFiles',
  'removeFile',
  'noFiles',
  'prepare',
  'preparing',
  'preview',
  'previewNote',
  'notIncluded',
  'scrubbed',
  'write',
  'written',
  'missing',
  'prefilled',
] as const;
export type SupportRequestStringId = (typeof supportRequestStringIds)[number];

export const supportLanguages = ['en', 'ru'] as const;
export type SupportLanguageId = (typeof supportLanguages)[number];

export interface SupportFieldInfo {
  key: string;
  multiline: boolean;
  required: boolean;
  /** Label and explanation in both summary languages (the form follows the chosen one). */
  text: Record<SupportLanguageId, { label: string; help: string }>;
}

export interface PreviewEntry {
  name: string;
  size: number;
  about: string;
}

export type SupportRequestMessage =
  | {
      type: 'init';
      strings: StringsOf<SupportRequestStringId>;
      locale: string;
      language: SupportLanguageId;
      where: string;
      fields: SupportFieldInfo[];
      /** What KDS found out itself, per field key. */
      prefill: Record<string, string>;
      /** Why KDS left a field it tries to fill empty (e.g. no KATA package found), per field key. */
      notes?: Record<string, string>;
      files: string[];
    }
  | { type: 'files'; files: string[] }
  | { type: 'busy'; text: string }
  | { type: 'preview'; top: string; entries: PreviewEntry[]; notes: string[]; scrubbed: number }
  | { type: 'written'; path: string; size: number; sha256: string }
  | { type: 'error'; message: string };

export interface SupportPrepareOptions {
  answers: Record<string, string>;
  language: SupportLanguageId;
  kataLogs: boolean;
  collect: boolean;
}

export type SupportRequestRequest =
  | { type: 'ready' }
  | { type: 'addFiles' }
  | { type: 'removeFile'; path: string }
  | ({ type: 'prepare' } & SupportPrepareOptions)
  | { type: 'write' };

export const maxAnswerLength = 100_000;
const requestTypes = ['ready', 'addFiles', 'removeFile', 'prepare', 'write'] as const;

function answersOf(v: unknown, keys: readonly string[]): Record<string, string> | undefined {
  if (!isRecord(v)) return undefined;
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v as Fields)) {
    if (!keys.includes(k) || !isBoundedString(x, maxAnswerLength)) return undefined;
    out[k] = x;
  }
  return out;
}

/** Validates what the page posts; `fieldKeys` are the checklist's keys. */
export function parseSupportRequest(raw: unknown, fieldKeys: readonly string[]): SupportRequestRequest | undefined {
  const m = messageOf(raw, requestTypes);
  if (!m) return undefined;
  switch (m.type) {
    case 'ready':
    case 'addFiles':
    case 'write':
      return hasOnlyKeys(m, ['type']) ? { type: m.type } : undefined;
    case 'removeFile':
      return hasOnlyKeys(m, ['type', 'path']) && isBoundedString(m.path, 4096, 1) ? { type: 'removeFile', path: m.path } : undefined;
    case 'prepare': {
      if (!hasOnlyKeys(m, ['type', 'answers', 'language', 'kataLogs', 'collect'])) return undefined;
      const answers = answersOf(m.answers, fieldKeys);
      if (!answers || !isOneOf(m.language, supportLanguages) || typeof m.kataLogs !== 'boolean' || typeof m.collect !== 'boolean') return undefined;
      return { type: 'prepare', answers, language: m.language, kataLogs: m.kataLogs, collect: m.collect };
    }
  }
  return undefined;
}
