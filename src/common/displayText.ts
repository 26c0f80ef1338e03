/**
 * Characters that change how text around them looks rather than being text: C0 and C1 controls
 * (ESC starts every terminal CSI and OSC sequence — screen clears, window titles, OSC 8 links —;
 * U+009B is a CSI on its own, U+0085 a line break), the Unicode line and paragraph separators,
 * the bidirectional overrides that make `invoice<U+202E>gpj.exe` show as "invoiceexe.jpg", and
 * the invisible format characters that hide text (zero-width space, word joiner and invisible
 * operators, interlinear annotation, tag characters). A file name comes from whoever can write a
 * share, an ICAP header from whoever runs the server, a URL in a log from whoever reaches the
 * proxy: wherever such text is shown (logs, tree labels, tooltips, the terminal) these are
 * replaced by visible escapes.
 */
// eslint-disable-next-line no-control-regex
export const invisibleControls = /[\u0000-\u001f\u007f-\u009f\u061c\u200b\u200e\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\ufff9-\ufffb]|\udb40[\udc00-\udc7f]/g;

export function hasInvisibleControls(s: string): boolean {
  invisibleControls.lastIndex = 0;
  const found = invisibleControls.test(s);
  invisibleControls.lastIndex = 0;
  return found;
}

/** `\uXXXX` for each UTF-16 unit (a tag character becomes its surrogate pair: valid JSON too). */
function unicodeEscape(c: string, upper = true): string {
  let out = '';
  for (let i = 0; i < c.length; i++) {
    const hex = c.charCodeAt(i).toString(16).padStart(4, '0');
    out += `\\u${upper ? hex.toUpperCase() : hex}`;
  }
  return out;
}

const named: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** A newline as a visible `\n`, the others as `\u202E`; everything else unchanged. */
export function visibleText(s: string): string {
  if (!hasInvisibleControls(s)) return s;
  return s.replace(invisibleControls, (c) => named[c] ?? unicodeEscape(c));
}

/**
 * Text for a terminal or a file, at the point where it is written: every character above made
 * visible except the line breaks and tabs of the text's own layout, so a peer's reason phrase,
 * a capture's header or a log line can move no cursor, clear no screen and set no title. JSON
 * text stays valid JSON with the same value (JSON.stringify leaves no raw control but its own
 * newlines; what it leaves raw in strings — C1, bidi — becomes a `\uXXXX` escape).
 */
export function terminalText(s: string): string {
  if (!hasInvisibleControls(s)) return s;
  return s.replace(invisibleControls, (c) => (c === '\n' || c === '\t' ? c : c === '\r' ? '\\r' : unicodeEscape(c)));
}

/** JSON text (valid, same value) in which none of these characters appears raw. */
export function jsonWithVisibleControls(value: unknown): string {
  return JSON.stringify(value).replace(invisibleControls, (c) => unicodeEscape(c, false));
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
