/**
 * Strings in the webview come from the host (built there with vscode.l10n.t and sent in the
 * panel's `init` message), so the webview holds no user-visible English of its own and both
 * languages share l10n/bundle.l10n.*.json.
 */
export interface Strings<K extends string> {
  /** The string `id`, with {0}, {1}… replaced by `args`. */
  t(id: K, ...args: Array<string | number>): string;
  /** BCP 47 locale for number and date formatting. */
  readonly locale: string;
  formatNumber(n: number): string;
  formatTime(ms: number): string;
}

export function createStrings<K extends string>(table: Record<K, string>, locale: string): Strings<K> {
  const numbers = new Intl.NumberFormat(locale);
  const times = new Intl.DateTimeFormat(locale, { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
  return {
    locale,
    t: (id, ...args) => (table[id] ?? id).replace(/\{(\d+)\}/g, (m, i: string) => (args[Number(i)] !== undefined ? String(args[Number(i)]) : m)),
    formatNumber: (n) => numbers.format(n),
    formatTime: (ms) => times.format(new Date(ms)),
  };
}

/** The strings of the panel's `init` message; the page's title is their `title` string, so it is set here too. */
export function pageStrings<K extends string>(init: { strings: Record<K | 'title', string>; locale: string }): Strings<K | 'title'> {
  const strings = createStrings(init.strings, init.locale);
  document.title = strings.t('title');
  return strings;
}
