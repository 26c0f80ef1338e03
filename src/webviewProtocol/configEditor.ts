/**
 * The configuration editor's message protocol ("KDS: Edit Configuration"): every message the
 * host and the webview exchange, and the host-side validator for what the webview sends.
 * Imported by src/extension/panels/configEditorPanel.ts (host), src/configEditor/formSession.ts
 * and webview/configEditor (browser). Pure TS: no vscode, no DOM, no engine code.
 */
import { type ReadyMessage, type StringsOf, hasOnlyKeys, isBoundedString, isRecord, messageOf } from './protocolGuards';

export const configEditorPanelType = 'kds.configEditor';

/** Every user-visible string of the panel; the host fills them with vscode.l10n.t. */
export const configEditorStringIds = [
  'title', 'file', 'required', 'browse', 'browseLabel', 'save', 'revert', 'test', 'testing', 'openAsText', 'reload', 'overwrite',
  'changedOnDisk', 'changedOnDiskHint', 'parseError', 'newFile', 'noPath', 'unknownKeys', 'unknownKeysHint',
  'problems#one', 'problems#few', 'problems#many', 'problems#other', 'valid', 'saved', 'unsaved', 'wholeFile', 'defaultValue', 'notSet', 'auto', 'yes', 'no',
  'exitCode', 'testResult0', 'testResult1', 'testResult2', 'testResult3', 'statusOk', 'statusWarn', 'statusFail', 'saveBlocked', 'close',
] as const;
export type ConfigEditorStringId = (typeof configEditorStringIds)[number];
export type ConfigEditorStrings = StringsOf<ConfigEditorStringId>;

export type FormFieldKind = 'folder' | 'file' | 'string' | 'integer' | 'number' | 'boolean' | 'enum' | 'tristate' | 'json';

/** One field of the form, as the webview draws it (from formFields() of src/configEditor/formModel.ts). */
export interface FormFieldInfo {
  key: string;
  title: string;
  description: string;
  kind: FormFieldKind;
  required: boolean;
  /** The default as the control would show it ('' when there is none); shown as a placeholder / hint. */
  placeholder: string;
  /** 'enum' and 'tristate': the values, as the dropdown's option values ("auto", "true", "false" for tristate). */
  options?: string[];
}

export interface FormGroupInfo {
  id: string;
  title: string;
  keys: string[];
}

/** What a control holds: text fields and dropdowns a string, checkboxes a boolean. */
export type InputValue = string | boolean;

export interface CheckItemInfo {
  id: string;
  status: 'ok' | 'warn' | 'fail';
  title: string;
  details: string[];
}

/** The form as the host holds it; sent after every change. */
export interface FormState {
  /** The configuration file ('' when there is none: no folder open and no kds.configPath). */
  path: string;
  /** Every form key → what its control shows. */
  inputs: Record<string, InputValue>;
  /** Problems by key ('' = the whole file), the engine's own messages. */
  errors: Record<string, string>;
  /** The form differs from the file. */
  dirty: boolean;
  /** The file does not exist yet: the form starts from the original template and Save creates it. */
  isNew: boolean;
  /** The file is not a JSON object: the form is not shown; offer Open as Text / Reload. */
  parseError?: { message: string; line: number; column: number };
  /** Keys the schema does not know, with their JSON values; kept as they are on save. */
  unknown: Array<{ key: string; json: string }>;
  /** The file changed on disk since it was loaded (Reload / Overwrite). */
  changedOnDisk: boolean;
  /** SHA-256 of the file as loaded ('' when it did not exist): lets the webview restore its edits after a reload. */
  baseSha256: string;
  /** true: set every control from `inputs` (load, reload, browse, restore); false: an echo of the user's own typing. */
  replaceInputs: boolean;
  /** A one-line outcome of the last action (saved, save failed…). */
  notice?: { kind: 'info' | 'error'; text: string };
}

/** Host → webview. */
export type ConfigEditorMessage =
  | { type: 'init'; strings: ConfigEditorStrings; locale: string; fields: FormFieldInfo[]; groups: FormGroupInfo[] }
  | { type: 'state'; state: FormState }
  | { type: 'testStarted' }
  | { type: 'testResult'; exitCode: number; items: CheckItemInfo[] };

/** Webview → host. */
export type ConfigEditorRequest =
  | ReadyMessage
  /** The user changed a field (text fields debounced by the webview). */
  | { type: 'edit'; key: string; value: InputValue }
  /** Asks the host to show a folder / file picker for this key and fill it in. */
  | { type: 'browse'; key: string }
  | { type: 'save' }
  /** Save even though the file changed on disk. */
  | { type: 'overwrite' }
  /** Discard the form's edits and read the file again (Revert, and Reload of the banner). */
  | { type: 'reload' }
  | { type: 'test' }
  | { type: 'openAsText' }
  /** After a window reload: the edits kept by the webview's setState, re-applied by the host. */
  | { type: 'restore'; inputs: Record<string, InputValue>; baseSha256: string };

/** Config keys are short snake_case identifiers; a key inside an object-valued key is `parent.key` (siem.host). */
export const keyPattern = /^[a-z][a-z0-9_]{0,63}(?:\.[a-z][a-z0-9_]{0,63})?$/;
/** Longest value of one field (paths, exclude globs file names, ids): generous but bounded. */
export const maxInputLength = 4096;
/** At most this many keys in a `restore` (the schema has ~35 with the sub-keys of siem). */
export const maxRestoreKeys = 64;

const requestTypes = ['ready', 'edit', 'browse', 'save', 'overwrite', 'reload', 'test', 'openAsText', 'restore'] as const;

function isKey(v: unknown): v is string {
  return typeof v === 'string' && keyPattern.test(v);
}

function isInput(v: unknown): v is InputValue {
  return typeof v === 'boolean' || isBoundedString(v, maxInputLength);
}

/**
 * Validates a message from the configuration editor's webview. Returns a fresh, typed copy, or
 * undefined for anything malformed: unknown type, missing or extra fields, wrong types,
 * oversized strings, keys that are not snake_case identifiers.
 */
export function parseConfigEditorRequest(raw: unknown): ConfigEditorRequest | undefined {
  const m = messageOf(raw, requestTypes);
  if (!m) return undefined;
  switch (m.type) {
    case 'ready':
    case 'save':
    case 'overwrite':
    case 'reload':
    case 'test':
    case 'openAsText':
      return hasOnlyKeys(m, ['type']) ? { type: m.type } : undefined;
    case 'edit':
      return hasOnlyKeys(m, ['type', 'key', 'value']) && isKey(m.key) && isInput(m.value) ? { type: 'edit', key: m.key, value: m.value } : undefined;
    case 'browse':
      return hasOnlyKeys(m, ['type', 'key']) && isKey(m.key) ? { type: 'browse', key: m.key } : undefined;
    case 'restore': {
      if (!hasOnlyKeys(m, ['type', 'inputs', 'baseSha256']) || !isRecord(m.inputs) || !isBoundedString(m.baseSha256, 64)) return undefined;
      if (m.baseSha256 !== '' && !/^[0-9a-f]{64}$/.test(m.baseSha256)) return undefined;
      const entries = Object.entries(m.inputs);
      if (entries.length > maxRestoreKeys || !entries.every(([k, v]) => isKey(k) && isInput(v))) return undefined;
      const inputs: Record<string, InputValue> = {};
      for (const [k, v] of entries) inputs[k] = v as InputValue;
      return { type: 'restore', inputs, baseSha256: m.baseSha256 };
    }
  }
}
