import * as l10n from '@vscode/l10n';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from './packageRoot';

/**
 * Runtime strings outside VS Code (CLI, service, embedded KATA). The English text is the key,
 * exactly as vscode.l10n.t does it, so one bundle (l10n/bundle.l10n.<lang>.json) serves the
 * extension host and the command line alike.
 */
export function detectLocale(env: NodeJS.ProcessEnv = process.env): string {
  const raw = env.KDS_LOCALE || env.LC_ALL || env.LC_MESSAGES || env.LANG || 'en';
  return raw.split(/[._@]/)[0]!.toLowerCase() || 'en';
}

let configuredLocale = 'en';
let bundle: Record<string, string> = {};

export function initL10n(locale: string = detectLocale()): void {
  const lang = locale.split('-')[0]!.toLowerCase();
  configuredLocale = lang;
  if (lang === 'en') {
    bundle = {};
    l10n.config({ contents: {} });
    return;
  }
  try {
    const file = join(packageRoot(), 'l10n', `bundle.l10n.${lang}.json`);
    bundle = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
    l10n.config({ contents: bundle });
  } catch {
    bundle = {};
    l10n.config({ contents: {} });
    configuredLocale = 'en';
  }
}

export function currentLocale(): string {
  return configuredLocale;
}

/** Translate `message`, filling {0}, {1}… with `args`. */
export function t(message: string, ...args: Array<string | number | boolean>): string {
  return l10n.t(message, ...args);
}

/**
 * A count with its noun in the plural form the language needs: tn(n, "{0} file", "{0} files").
 * English has two forms, Russian three (one: 1, 21; few: 2–4, 22; many: 5–20, 25), so the
 * translation of the English plural is looked up once per CLDR category, under the key
 * `<English plural>/plural:<category>` (@vscode/l10n's key for a message with a comment). A
 * language without those keys shows the English form. Further placeholders ({1}…) take `args`.
 */
export function tn(n: number, one: string, other: string, ...args: Array<string | number | boolean>): string {
  const category = pluralCategory(n);
  const translated = bundle[`${other}/plural:${category}`];
  const template = translated ?? (category === 'one' ? one : other);
  const values = [n, ...args];
  return template.replace(/\{(\d+)\}/g, (m, i: string) => (values[Number(i)] !== undefined ? String(values[Number(i)]) : m));
}

/** The CLDR plural category of `n` in the configured language ('one', 'few', 'many', 'other'…). */
export function pluralCategory(n: number, locale: string = configuredLocale): Intl.LDMLPluralRule {
  let rules = pluralRules.get(locale);
  if (!rules) pluralRules.set(locale, (rules = new Intl.PluralRules(locale)));
  return rules.select(n);
}

const pluralRules = new Map<string, Intl.PluralRules>();

/**
 * The templates of a plural message per CLDR category (`{0}` left in), for a webview that picks
 * the form itself: `{ '<id>#one': …, '<id>#few': …, '<id>#many': …, '<id>#other': … }`.
 */
export function pluralTemplates<K extends string>(id: K, one: string, other: string): Record<`${K}#${'one' | 'few' | 'many' | 'other'}`, string> {
  const form = (category: string) => bundle[`${other}/plural:${category}`] ?? (category === 'one' ? one : other);
  return { [`${id}#one`]: form('one'), [`${id}#few`]: form('few'), [`${id}#many`]: form('many'), [`${id}#other`]: form('other') } as Record<`${K}#${'one' | 'few' | 'many' | 'other'}`, string>;
}
