/**
 * Small, dependency-free guards for validating what a webview posts to the extension host.
 * A webview is a web page: treat everything it sends as untrusted input (wrong types, extra
 * fields, huge strings), exactly like a request from the network. Pure TS: no vscode, no DOM,
 * so host code, webview code and node --test can all import it.
 */

/** Default upper bound for any string coming from a webview (ids, search text…). */
export const maxStringLength = 1024;

export type Fields = Record<string, unknown>;

export function isRecord(v: unknown): v is Fields {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A string of at most `max` UTF-16 units (and at least `min`). */
export function isBoundedString(v: unknown, max = maxStringLength, min = 0): v is string {
  return typeof v === 'string' && v.length <= max && v.length >= min;
}

export function isOneOf<T extends string>(v: unknown, values: readonly T[]): v is T {
  return typeof v === 'string' && (values as readonly string[]).includes(v);
}

export function isIntegerIn(v: unknown, min: number, max: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
}

/** True when `obj` has no keys besides `allowed` (unknown fields are a sign of a mismatched or forged message). */
export function hasOnlyKeys(obj: Fields, allowed: readonly string[]): boolean {
  return Object.keys(obj).every((k) => allowed.includes(k));
}

/**
 * The common shape of every webview→host message: an object with a known `type` and no
 * unexpected keys. Returns the record for further per-type checks, or undefined.
 */
export function messageOf<T extends string>(raw: unknown, types: readonly T[]): (Fields & { type: T }) | undefined {
  if (!isRecord(raw) || !isOneOf(raw.type, types)) return undefined;
  return raw as Fields & { type: T };
}

/** Every panel's first message: the webview's script runs and listens. The host answers with `init`. */
export interface ReadyMessage {
  type: 'ready';
}

/** Translated strings sent by the host (built with vscode.l10n.t); the webview holds no user-visible text of its own. */
export type StringsOf<K extends string> = Record<K, string>;

/** The plural forms a webview may need (CLDR categories; English uses one/other, Russian one/few/many). */
export const pluralForms = ['one', 'few', 'many', 'other'] as const;
/** String ids of a plural message: `<id>#one`, `<id>#few`, `<id>#many`, `<id>#other`. */
export type PluralIds<K extends string> = `${K}#${(typeof pluralForms)[number]}`;
