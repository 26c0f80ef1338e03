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

export function initL10n(locale: string = detectLocale()): void {
  const lang = locale.split('-')[0]!.toLowerCase();
  configuredLocale = lang;
  if (lang === 'en') {
    l10n.config({ contents: {} });
    return;
  }
  try {
    const file = join(packageRoot(), 'l10n', `bundle.l10n.${lang}.json`);
    l10n.config({ contents: JSON.parse(readFileSync(file, 'utf8')) });
  } catch {
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
