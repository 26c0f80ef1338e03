import type { SystemFacts } from './systemFacts';
import { hardwareLine } from './systemFacts';

/**
 * The support-request checklist of the KATA documents (hardware model and specs, traffic level,
 * integration types, KATA/KEDR versions, date and time of the problem, description, steps to
 * reproduce) as data: the CLI asks it, the VS Code form shows it, summary.md is written from it.
 * summary.md is in the language the user chose for the ticket, which need not be the UI's, so
 * both languages live here side by side instead of in the UI bundles.
 */

export type SummaryLanguage = 'en' | 'ru';

export const CHECKLIST_KEYS = ['hardware', 'traffic', 'integrations', 'kataVersion', 'kedrVersion', 'osVersion', 'problemTime', 'description', 'steps', 'contact'] as const;
export type ChecklistKey = (typeof CHECKLIST_KEYS)[number];

export type SupportAnswers = Partial<Record<ChecklistKey, string>> & { language?: SummaryLanguage };

interface FieldText {
  label: string;
  help: string;
}

export interface ChecklistField {
  key: ChecklistKey;
  multiline: boolean;
  required: boolean;
  text: Record<SummaryLanguage, FieldText>;
}

export const CHECKLIST: readonly ChecklistField[] = [
  {
    key: 'hardware',
    multiline: false,
    required: true,
    text: {
      en: { label: 'Hardware model and specs', help: 'Server model of the Central Node / Sensor (or "virtual machine" and the hypervisor), CPU and RAM. Prefilled from DMI, /proc/cpuinfo and /proc/meminfo.' },
      ru: { label: 'Модель и характеристики оборудования', help: 'Модель сервера Central Node / Sensor (или «виртуальная машина» и гипервизор), процессор и память. Заполнено по DMI, /proc/cpuinfo и /proc/meminfo.' },
    },
  },
  {
    key: 'traffic',
    multiline: false,
    required: true,
    text: {
      en: { label: 'Traffic level', help: 'How much traffic reaches KATA: e.g. Mbit/s on the SPAN port, ICAP requests per second from the proxy, files per hour through KDS.' },
      ru: { label: 'Уровень трафика', help: 'Сколько трафика приходит в KATA: например, Мбит/с на SPAN-порту, ICAP-запросов в секунду от прокси, файлов в час через KDS.' },
    },
  },
  {
    key: 'integrations',
    multiline: false,
    required: true,
    text: {
      en: { label: 'Integration types', help: 'Which integrations are in use: ICAP (which proxy, e.g. Squid), mail (SMTP/POP3), SPAN, KEDR agents, the scanner REST API (KDS).' },
      ru: { label: 'Типы интеграции', help: 'Какие интеграции используются: ICAP (какой прокси, например Squid), почта (SMTP/POP3), SPAN, агенты KEDR, REST API сканера (KDS).' },
    },
  },
  {
    key: 'kataVersion',
    multiline: false,
    required: true,
    text: {
      en: { label: 'KATA version', help: 'The version of Kaspersky Anti Targeted Attack Platform (web console: Help, About). Prefilled from the installed packages of the Central Node when KDS finds them.' },
      ru: { label: 'Версия KATA', help: 'Версия Kaspersky Anti Targeted Attack Platform (веб-консоль: Справка, О программе). Заполнено по установленным пакетам Central Node, если KDS их нашёл.' },
    },
  },
  {
    key: 'kedrVersion',
    multiline: false,
    required: false,
    text: {
      en: { label: 'KEDR version', help: 'The version of Kaspersky Endpoint Detection and Response, if it is used; otherwise leave empty.' },
      ru: { label: 'Версия KEDR', help: 'Версия Kaspersky Endpoint Detection and Response, если используется; иначе оставьте пустым.' },
    },
  },
  {
    key: 'osVersion',
    multiline: false,
    required: false,
    text: {
      en: { label: 'Operating system', help: 'The Central Node\'s operating system and kernel. Prefilled from /etc/os-release and uname.' },
      ru: { label: 'Операционная система', help: 'Операционная система и ядро Central Node. Заполнено по /etc/os-release и uname.' },
    },
  },
  {
    key: 'problemTime',
    multiline: false,
    required: true,
    text: {
      en: { label: 'Date and time of the problem', help: 'When it happened, with the time zone (e.g. 2024-05-01 10:00–10:30 UTC+3). Prefilled with the time range of the recent errors in the KDS log.' },
      ru: { label: 'Дата и время проблемы', help: 'Когда это произошло, с часовым поясом (например, 2024-05-01 10:00–10:30 UTC+3). Заполнено промежутком последних ошибок в журнале KDS.' },
    },
  },
  {
    key: 'description',
    multiline: true,
    required: true,
    text: {
      en: { label: 'Description of the problem', help: 'What you expected, what happened instead, and under which conditions (e.g. no ICAP detections although the proxy sends traffic).' },
      ru: { label: 'Описание проблемы', help: 'Что ожидалось, что произошло вместо этого и при каких условиях (например, нет обнаружений по ICAP, хотя прокси отправляет трафик).' },
    },
  },
  {
    key: 'steps',
    multiline: true,
    required: true,
    text: {
      en: { label: 'Steps to reproduce', help: 'Numbered steps after which the problem appears (e.g. 1. download a .deb through the proxy 2. look for ICAP in log-history).' },
      ru: { label: 'Шаги для воспроизведения', help: 'Пронумерованные шаги, после которых проявляется проблема (например, 1. скачать .deb через прокси 2. искать ICAP в log-history).' },
    },
  },
  {
    key: 'contact',
    multiline: false,
    required: false,
    text: {
      en: { label: 'Contact', help: 'Who support should answer (name, e-mail or phone). Optional.' },
      ru: { label: 'Контакт', help: 'Кому должна ответить поддержка (имя, e-mail или телефон). Необязательно.' },
    },
  },
];

/** Validates an answers file (JSON). Throws with a message naming the bad key. */
export function parseAnswers(raw: unknown): SupportAnswers {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new Error('answers: a JSON object is expected');
  const out: SupportAnswers = {};
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    if (k === 'language') {
      if (v !== 'en' && v !== 'ru') throw new Error('answers: "language" must be "en" or "ru"');
      out.language = v;
      continue;
    }
    if (!(CHECKLIST_KEYS as readonly string[]).includes(k)) throw new Error(`answers: unknown key "${k}" (known: language, ${CHECKLIST_KEYS.join(', ')})`);
    if (typeof v !== 'string') throw new Error(`answers: "${k}" must be a string`);
    if (v.length > 100_000) throw new Error(`answers: "${k}" is longer than 100000 characters`);
    out[k as ChecklistKey] = v;
  }
  return out;
}

/** The answers KDS can give itself; the user's own answers win. */
export function prefill(facts: SystemFacts | undefined, kdsVersion: string, errorRange: string | undefined): SupportAnswers {
  const out: SupportAnswers = {};
  if (facts) {
    const hw = hardwareLine(facts);
    if (hw) out.hardware = hw;
    if (facts.kataVersion) out.kataVersion = facts.kataVersion;
    const os = [facts.os, facts.kernel && `kernel ${facts.kernel}`].filter(Boolean).join(', ');
    if (os) out.osVersion = os;
  }
  out.integrations = `Scanner REST API (KDS ${kdsVersion})`;
  if (errorRange) out.problemTime = errorRange;
  return out;
}

export function missingRequired(a: SupportAnswers): ChecklistKey[] {
  return CHECKLIST.filter((f) => f.required && !a[f.key]?.trim()).map((f) => f.key);
}

const headings: Record<SummaryLanguage, Record<string, string>> = {
  en: {
    title: 'KATA support request',
    made: 'Prepared with KDS {0} on {1}.',
    checklist: 'Checklist',
    notGiven: '(not given)',
    contents: 'Contents of this archive',
    notIncluded: 'Not included',
    secrets: 'Secrets: passwords, private keys and sudo passwords were removed from every file by KDS before the archive was written ({0} replacements).',
    facts: 'Found by KDS',
  },
  ru: {
    title: 'Заявка в техническую поддержку KATA',
    made: 'Подготовлено с помощью KDS {0}, {1}.',
    checklist: 'Контрольный список',
    notGiven: '(не указано)',
    contents: 'Содержимое архива',
    notIncluded: 'Не включено',
    secrets: 'Секреты: пароли, закрытые ключи и пароли sudo удалены KDS из всех файлов до записи архива (замен: {0}).',
    facts: 'Определено KDS',
  },
};

const fill = (s: string, ...args: string[]) => s.replace(/\{(\d)\}/g, (_m, i: string) => args[Number(i)] ?? '');

export interface SummaryInput {
  answers: SupportAnswers;
  language: SummaryLanguage;
  kdsVersion: string;
  createdAt: Date;
  facts?: SystemFacts;
  /** Archive entries: name and what it is (in the summary's language when possible). */
  contents: Array<{ name: string; about: string; size: number }>;
  /** What could not be gathered and why. */
  notIncluded: string[];
  scrubbed: number;
}

/** summary.md: the checklist filled in, then what the archive holds. */
export function renderSummary(s: SummaryInput): string {
  const h = headings[s.language];
  const md: string[] = [`# ${h.title}`, '', fill(h.made!, s.kdsVersion, s.createdAt.toISOString()), '', `## ${h.checklist}`, ''];
  for (const f of CHECKLIST) {
    const v = s.answers[f.key]?.trim();
    const label = f.text[s.language].label;
    if (f.multiline && v) md.push(`### ${label}`, '', v, '');
    else md.push(`- **${label}:** ${v ? v.replace(/\n/g, ' ') : h.notGiven}`);
  }
  md.push('');
  if (s.facts) {
    md.push(`## ${h.facts}`, '');
    for (const [k, v] of Object.entries(s.facts)) if (v !== undefined) md.push(`- ${k}: ${String(v)}`);
    md.push('');
  }
  md.push(`## ${h.contents}`, '', '| file | bytes | |', '|---|---:|---|');
  for (const c of s.contents) md.push(`| ${c.name} | ${c.size} | ${c.about.replace(/\|/g, '\\|')} |`);
  md.push('');
  if (s.notIncluded.length) {
    md.push(`## ${h.notIncluded}`, '');
    for (const n of s.notIncluded) md.push(`- ${n}`);
    md.push('');
  }
  md.push(fill(h.secrets!, String(s.scrubbed)), '');
  return md.join('\n');
}
