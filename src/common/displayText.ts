/**
 * Characters that change how text around them looks rather than being text: C0 and C1 controls
 * (U+009B is a terminal CSI, U+0085 a line break), the Unicode line and paragraph separators,
 * and the bidirectional overrides that make `invoice<U+202E>gpj.exe` show as "invoiceexe.jpg".
 * A file name comes from whoever can write a share, so wherever one is shown (logs, tree labels,
 * tooltips) these are replaced by visible escapes.
 */
// eslint-disable-next-line no-control-regex
export const invisibleControls = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/g;

export function hasInvisibleControls(s: string): boolean {
  invisibleControls.lastIndex = 0;
  const found = invisibleControls.test(s);
  invisibleControls.lastIndex = 0;
  return found;
}

const named: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** A newline as a visible `\n`, the others as `\u202E`; everything else unchanged. */
export function visibleText(s: string): string {
  if (!hasInvisibleControls(s)) return s;
  return s.replace(invisibleControls, (c) => named[c] ?? `\\u${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`);
}

/** JSON text (valid, same value) in which none of these characters appears raw. */
export function jsonWithVisibleControls(value: unknown): string {
  return JSON.stringify(value).replace(invisibleControls, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Plain text for Markdown: controls made visible, then every ASCII punctuation character escaped (so no link, emphasis, HTML or autolink can form). */
export function markdownText(s: string): string {
  return visibleText(s).replace(/[!-/:-@[-`{-~]/g, '\\$&');
}

/** An inline code span holding `s` as it is (controls made visible); the fence is longer than any run of backticks in it. */
export function markdownCode(s: string): string {
  const v = visibleText(s);
  const longest = Math.max(0, ...[...v.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = '`'.repeat(longest + 1);
  const pad = v.startsWith('`') || v.endsWith('`') || v.startsWith(' ') ? ' ' : '';
  return `${fence}${pad}${v}${pad}${fence}`;
}
