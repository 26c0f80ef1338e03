import { locateJsonError } from '../common/jsonSyntax';
import { type ConfigProblem, configSubProperties, knownKeys, requiredKeys, validateConfigObject } from '../engine/config';
import { t } from '../common/l10n';
import { formFields, formKeyOrder } from './formModel';

/**
 * Values of the configuration form: from the text of kata_dir_scanner.conf to the form and back.
 * Keys that the schema does not know are carried through untouched. The sub-keys of an
 * object-valued key (siem) are form values of their own, `siem.host` and so on; they are nested
 * again for validation and for the file.
 */

export interface FormParseError {
  /** The engine's message, naming the file, line and column. */
  message: string;
  /** 1-based. */
  line: number;
  /** 1-based. */
  column: number;
}

export interface LoadedForm {
  /** Schema keys present in the file, with their values as written (not resolved, not defaulted); `siem.host` for siem's. */
  values: Record<string, unknown>;
  /** Keys the schema does not know, with their values verbatim, in file order (`siem.x` for one inside siem). */
  unknown: Record<string, unknown>;
  /** Set when the text is not a JSON object; values and unknown are then empty. */
  parseError?: FormParseError;
}

const known = new Set(knownKeys);
// The folder triple is required only without `shares`: an emptied field is "not set" (the engine says what is missing).
const required = new Set(requiredKeys.filter((k) => !['in_dir', 'out_dir', 'qrnt_dir'].includes(k)));
/** Keys whose value is an object of sub-keys, each a form value of its own. */
const objectKeys = new Set(knownKeys.filter((k) => Object.keys(configSubProperties(k)).length > 0));

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** The object key a dotted form key belongs to ('siem' for 'siem.host'), if it is one. */
function parentOf(key: string): string | undefined {
  const dot = key.indexOf('.');
  return dot > 0 && objectKeys.has(key.slice(0, dot)) ? key.slice(0, dot) : undefined;
}

/** Dotted keys back into their objects, in the order given; other keys as they are. */
function nest(flat: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(flat)) {
    const parent = parentOf(k);
    if (parent === undefined) out[k] = v;
    else out[parent] = { ...(isPlainObject(out[parent]) ? out[parent] : {}), [k.slice(parent.length + 1)]: v };
  }
  return out;
}

/**
 * Splits the text of a configuration file into form values and unknown keys. `file` names the
 * file in messages. An empty (or whitespace-only) text is an empty form, not an error, so that a
 * new file can be filled in.
 */
export function loadForm(text: string, file: string): LoadedForm {
  const body = text.replace(/^\uFEFF/, '');
  if (body.trim() === '') return { values: {}, unknown: {} };
  let data: unknown;
  try {
    data = JSON.parse(body);
  } catch (err) {
    const where = locateJsonError(body);
    if (!where) return { values: {}, unknown: {}, parseError: { message: t('{0}: invalid JSON: {1}', file, (err as Error).message), line: 1, column: 1 } };
    return {
      values: {},
      unknown: {},
      parseError: { message: t('{0}: invalid JSON at line {1}, column {2}: {3}', file, where.line, where.column, where.message), ...pick(where) },
    };
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    const message = validateConfigObject(data, file)[0]?.message ?? '';
    const at = body.search(/\S/);
    const before = body.slice(0, at);
    return { values: {}, unknown: {}, parseError: { message, line: before.split('\n').length, column: at - (before.lastIndexOf('\n') + 1) + 1 } };
  }
  const values: Record<string, unknown> = {};
  const unknown: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(data as Record<string, unknown>)) {
    if (objectKeys.has(k) && isPlainObject(v)) {
      const sub = configSubProperties(k);
      for (const [sk, sv] of Object.entries(v)) ((sk in sub ? values : unknown) as Record<string, unknown>)[`${k}.${sk}`] = sv;
    } else (known.has(k) ? values : unknown)[k] = v;
  }
  return { values, unknown };
}

function pick(w: { line: number; column: number }): { line: number; column: number } {
  return { line: w.line, column: w.column };
}

/** True for a value that means "not set": undefined, or '' / null for a key that is not required. */
function isEmpty(key: string, v: unknown): boolean {
  return v === undefined || (!required.has(key) && (v === '' || v === null));
}

/** The values as they would be written: empty optional fields dropped, sub-keys nested in their objects. */
export function cleanValues(values: Record<string, unknown>): Record<string, unknown> {
  return nest(Object.fromEntries(Object.entries(values).filter(([k, v]) => !isEmpty(k, v))));
}

/**
 * Validates the form with the engine's own validation (the schema, then the checks after it,
 * such as distinct folders). One problem per key, with exactly the message the engine would
 * give for the same mistake; [] when the engine accepts it. Unknown keys are never problems.
 * `file` should be the absolute path of the configuration file: relative folders resolve against it.
 */
export function validateForm(values: Record<string, unknown>, file: string): ConfigProblem[] {
  return validateConfigObject(cleanValues(values), file);
}

/**
 * Formatted JSON for the file (2 spaces, trailing newline; CRLF when the original used CRLF).
 * Keys keep the order of `originalText`; new keys follow in form order; unknown keys keep
 * their values. Empty optional fields are left out rather than written as "".
 * A key both in `values` and in `unknown` takes the value from `values`.
 */
export function renderConfig(values: Record<string, unknown>, unknown: Record<string, unknown>, originalText?: string): string {
  const original = originalObject(originalText);
  const flatClean = Object.fromEntries(Object.entries(values).filter(([k, v]) => !isEmpty(k, v)));
  const flatAll: Record<string, unknown> = { ...unknown, ...flatClean };
  for (const k of Object.keys(unknown)) if (known.has(k) && !(k in flatClean)) delete flatAll[k];
  const all = nest(withSubKeysOrdered(flatAll, original));
  const clean = nest(flatClean);
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(original)) if (k in all) out[k] = all[k];
  for (const k of formKeyOrder().map((f) => parentOf(f) ?? f)) if (k in clean && !(k in out)) out[k] = all[k];
  for (const k of Object.keys(all)) if (!(k in out)) out[k] = all[k];
  const text = JSON.stringify(out, null, 2) + '\n';
  return originalText?.includes('\r\n') ? text.replace(/\n/g, '\r\n') : text;
}

/** Sub-keys of each object in the order the file had them, then the schema's, then any others. */
function withSubKeysOrdered(flat: Record<string, unknown>, original: Record<string, unknown>): Record<string, unknown> {
  const rank = (key: string): number => {
    const parent = parentOf(key)!;
    const sub = key.slice(parent.length + 1);
    const inFile = Object.keys(isPlainObject(original[parent]) ? original[parent] : {}).indexOf(sub);
    if (inFile >= 0) return inFile;
    const inSchema = Object.keys(configSubProperties(parent)).indexOf(sub);
    return inSchema >= 0 ? 1000 + inSchema : 2000;
  };
  const entries = Object.entries(flat);
  const plain = entries.filter(([k]) => parentOf(k) === undefined);
  const dotted = entries.filter(([k]) => parentOf(k) !== undefined).sort(([a], [b]) => rank(a) - rank(b));
  return Object.fromEntries([...plain, ...dotted]);
}

function originalObject(text: string | undefined): Record<string, unknown> {
  if (!text) return {};
  try {
    const data: unknown = JSON.parse(text.replace(/^\uFEFF/, ''));
    return isPlainObject(data) ? data : {};
  } catch {
    return {};
  }
}

/**
 * Converts what a form control holds into the value to store: '' (or undefined) → undefined
 * (not set); integers and numbers parsed when they are numbers, otherwise kept as typed so
 * that validation names the mistake; tristate "auto" / "true" / "false" → "auto" / true / false;
 * booleans from "true" / "false". Unknown keys: returned unchanged.
 */
export function valueFromInput(key: string, input: string | boolean | number | undefined | null): unknown {
  if (input === undefined || input === null) return undefined;
  const field = formFields().find((f) => f.key === key);
  if (!field) return input;
  if (typeof input !== 'string') return input;
  if (input === '' && !field.required) return undefined;
  switch (field.kind) {
    case 'integer':
    case 'number': {
      const s = input.trim();
      const n = Number(s);
      return s !== '' && Number.isFinite(n) ? n : input;
    }
    case 'boolean':
    case 'tristate':
      return input === 'true' ? true : input === 'false' ? false : input;
    case 'json':
      // Text that is not JSON stays text: the engine then says what the key must be.
      try {
        return JSON.parse(input) as unknown;
      } catch {
        return input;
      }
    default:
      return input;
  }
}
