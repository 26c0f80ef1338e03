/**
 * One size format for every KDS surface (trees, quick picks, the Verdicts and ICAP log panels):
 * binary units, one decimal below 10 ("1.5 MiB", "15 MiB"), whole bytes below 1 KiB ("5 B").
 * Pure (no vscode, no DOM, no Node): the host passes the translated unit templates, the
 * webviews receive the same templates in their `init` strings.
 */

export const byteUnits = ['B', 'KiB', 'MiB', 'GiB', 'TiB'] as const;
export type ByteUnit = (typeof byteUnits)[number];

/** `{0} B`, `{0} KiB`… translated; `{0}` is the number. */
export type ByteUnitTemplates = Record<ByteUnit, string>;

/** `number` formats the value (e.g. Intl.NumberFormat with the user's locale); default: '.' as decimal point. */
export function formatBytes(bytes: number, units: ByteUnitTemplates, number: (n: number, decimals: number) => string = (n, d) => n.toFixed(d)): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '?';
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < byteUnits.length - 1) {
    value /= 1024;
    unit++;
  }
  const decimals = unit > 0 && value < 10 ? 1 : 0;
  const shown = unit === 0 ? number(value, 0) : number(decimals ? Math.round(value * 10) / 10 : Math.round(value), decimals);
  return units[byteUnits[unit]!].replace('{0}', shown);
}

/** A locale-aware number formatter for formatBytes. */
export function localeNumber(locale: string): (n: number, decimals: number) => string {
  const byDecimals = [0, 1].map((d) => new Intl.NumberFormat(locale, { minimumFractionDigits: d, maximumFractionDigits: d, useGrouping: true }));
  return (n, d) => byDecimals[d]!.format(n);
}
