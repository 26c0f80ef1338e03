import { t } from '../common/l10n';
import { CHECKLIST, type ChecklistKey, type SummaryLanguage, type SupportAnswers } from '../support/supportSummary';

/**
 * The support checklist asked on a terminal (`kds support-bundle` without --answers): each field
 * with its explanation, what KDS found as the default (Enter keeps it), a required field asked
 * again until it is answered (or "-" leaves it empty on purpose), several lines for the
 * description and the steps (an empty line ends them). End of input stops asking.
 */

export interface QuestionIo {
  print(line: string): void;
  /** One line typed by the person; undefined at end of input. */
  ask(prompt: string): Promise<string | undefined>;
}

/** "-" alone: leave this required field empty and go on. */
const SKIP = '-';

async function askMultiline(io: QuestionIo): Promise<string | undefined> {
  const lines: string[] = [];
  for (;;) {
    const line = await io.ask(lines.length ? '… ' : '> ');
    if (line === undefined) return lines.length ? lines.join('\n') : undefined;
    if (!line.trim()) return lines.join('\n');
    lines.push(line.replace(/\s+$/, ''));
  }
}

export async function askChecklist(io: QuestionIo, prefilled: SupportAnswers, given: SupportAnswers, language: SummaryLanguage, notes: Partial<Record<ChecklistKey, string>> = {}): Promise<SupportAnswers> {
  const out: SupportAnswers = { ...given };
  for (const f of CHECKLIST) {
    if (given[f.key]) continue;
    const txt = f.text[language];
    io.print(`\n${txt.label}${f.required ? ` (${t('required')})` : ''}\n  ${txt.help}`);
    if (notes[f.key]) io.print(`  ${notes[f.key]}`);
    const def = prefilled[f.key];
    if (f.multiline) io.print(`  ${def ? t('Several lines; an empty line ends them (at once: keep what KDS found).') : t('Several lines; an empty line ends them.')}`);
    for (;;) {
      const a = f.multiline ? await askMultiline(io) : await io.ask(def ? `[${def}] > ` : '> ');
      if (a === undefined) return out;
      const v = a.trim();
      if (v === SKIP && f.required) break;
      if (v) {
        out[f.key] = f.multiline ? a.replace(/^\s*\n|\s+$/g, '') : v;
        break;
      }
      if (def || !f.required) break;
      io.print(`  ${t('This field is required: answer it, or type - to leave it empty.')}`);
    }
  }
  return out;
}
