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
  /**
   * A plural message: the host sent `<id>#one`, `#few`, `#many`, `#other` (pluralTemplates in
   * src/common/l10n.ts); the form is chosen for `n` in this locale, `{0}` is `shown` (n formatted
   * by default), {1}… are `args`.
   */
  tn(id: string, n: number, ...args: Array<string | number>): string;
  /** The plural template itself (placeholders kept), for a caller that fills {0} with a node. */
  form(id: string, n: number): string;
  formatTime(ms: number): string;
}

export function createStrings<K extends string>(table: Record<K, string>, locale: string): Strings<K> {
  const numbers = new Intl.NumberFormat(locale);
  const times = new Intl.DateTimeFormat(locale, { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
  const plurals = new Intl.PluralRules(locale);
  const fill = (template: string, args: Array<string | number>) => template.replace(/\{(\d+)\}/g, (m, i: string) => (args[Number(i)] !== undefined ? String(args[Number(i)]) : m));
  const lookup = table as Record<string, string | undefined>;
  const form = (id: string, n: number) => lookup[`${id}#${plurals.select(n)}`] ?? lookup[`${id}#other`] ?? id;
  return {
    locale,
    t: (id, ...args) => fill(table[id] ?? id, args),
    tn: (id, n, ...args) => fill(form(id, n), [numbers.format(n), ...args]),
    form: (id, n) => form(id, n),
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
