import { type ByteUnitTemplates, formatBytes } from '../webviewProtocol/byteSize';
import type { EvidenceSummary, SummaryLanguage } from './evidenceSummary';
import { evidenceLines } from './evidenceSummary';
import type { SystemFacts } from './systemFacts';
import { hardwareLine } from './systemFacts';

/**
 * The support-request checklist of the KATA documents (hardware model and specs, traffic level,
 * integration types, KATA/KEDR versions, date and time of the problem, description, steps to
 * reproduce) as data: the CLI asks it, the VS Code form shows it, summary.md is written from it.
 * summary.md is in the language the user chose for the ticket, which need not be the UI's, so
 * both languages live here side by side instead of in the UI bundles.
 */

export type { SummaryLanguage };

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
    if (facts.kedrVersion) out.kedrVersion = facts.kedrVersion;
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

/**
 * The facts as the request will carry them: a KATA or KEDR version the person corrected replaces
 * the one KDS found (summary.md and facts.json must not contradict the checklist).
 */
export function factsWithAnswers(facts: SystemFacts | undefined, answers: SupportAnswers): SystemFacts | undefined {
  if (!facts) return undefined;
  const out: SystemFacts = { ...facts };
  const kata = answers.kataVersion?.trim();
  if (kata && kata !== facts.kataVersion) {
    out.kataVersion = kata;
    out.kataVersionSource = 'user';
    delete out.kataVersionMissing;
  }
  const kedr = answers.kedrVersion?.trim();
  if (kedr && kedr !== facts.kedrVersion) out.kedrVersion = kedr;
  return out;
}

const headings: Record<SummaryLanguage, Record<string, string>> = {
  en: {
    title: 'KATA support request',
    made: 'Prepared with KDS {0} on {1} UTC; gathered from {2}.',
    checklist: 'Checklist',
    notGiven: '(not given)',
    contents: 'Contents of this archive',
    file: 'File',
    size: 'Size',
    what: 'What it is',
    notIncluded: 'Not included',
    secrets: 'Secrets: passwords, private keys and sudo passwords were removed from every file by KDS before the archive was written ({0} replacements).',
    facts: 'Found by KDS',
    evidence: 'What the ICAP evidence shows',
  },
  ru: {
    title: 'Заявка в техническую поддержку KATA',
    made: 'Подготовлено с помощью KDS {0}, {1} UTC; сведения собраны на {2}.',
    checklist: 'Контрольный список',
    notGiven: '(не указано)',
    contents: 'Содержимое архива',
    file: 'Файл',
    size: 'Размер',
    what: 'Что это',
    notIncluded: 'Не включено',
    secrets: 'Секреты: пароли, закрытые ключи и пароли sudo удалены KDS из всех файлов до записи архива (замен: {0}).',
    facts: 'Определено KDS',
    evidence: 'Что показывают данные ICAP',
  },
};

/** The labels of the facts, in the words of the form (no raw keys in a ticket). */
const factLabels: Record<SummaryLanguage, Record<string, string>> = {
  en: {
    hostname: 'Host name',
    os: 'Operating system',
    kernel: 'Kernel',
    hardwareModel: 'Hardware model',
    cpu: 'Processor',
    cpuCount: 'Logical processors',
    memory: 'Memory',
    kataVersion: 'KATA version',
    kedrVersion: 'KEDR version',
    'source:dpkg-query': 'from the installed packages (dpkg-query)',
    'source:rpm': 'from the installed packages (rpm)',
    'source:user': 'entered by the person filing this request',
    'missing:no-kata-package': 'not found: none of the installed packages is KATA\'s or KEDR\'s',
    'missing:no-package-tool': 'not found: neither dpkg-query nor rpm answered',
  },
  ru: {
    hostname: 'Имя узла',
    os: 'Операционная система',
    kernel: 'Ядро',
    hardwareModel: 'Модель оборудования',
    cpu: 'Процессор',
    cpuCount: 'Логических процессоров',
    memory: 'Память',
    kataVersion: 'Версия KATA',
    kedrVersion: 'Версия KEDR',
    'source:dpkg-query': 'по установленным пакетам (dpkg-query)',
    'source:rpm': 'по установленным пакетам (rpm)',
    'source:user': 'указано заявителем',
    'missing:no-kata-package': 'не найдена: среди установленных пакетов нет пакетов KATA или KEDR',
    'missing:no-package-tool': 'не найдена: не ответили ни dpkg-query, ни rpm',
  },
};

const byteUnits: Record<SummaryLanguage, ByteUnitTemplates> = {
  en: { B: '{0} B', KiB: '{0} KiB', MiB: '{0} MiB', GiB: '{0} GiB', TiB: '{0} TiB' },
  ru: { B: '{0} Б', KiB: '{0} КиБ', MiB: '{0} МиБ', GiB: '{0} ГиБ', TiB: '{0} ТиБ' },
};

const fill = (s: string, ...args: string[]) => s.replace(/\{(\d)\}/g, (_m, i: string) => args[Number(i)] ?? '');

export interface SummaryInput {
  answers: SupportAnswers;
  language: SummaryLanguage;
  kdsVersion: string;
  createdAt: Date;
  /** Where the facts, logs and tools were gathered ("this computer", user@host:port). */
  where?: string;
  /** The facts with the person's corrections applied (factsWithAnswers). */
  facts?: SystemFacts;
  /** The other archive entries: name and what it is (in the summary's language when possible). */
  contents: Array<{ name: string; about: string; size: number }>;
  /** What could not be gathered and why. */
  notIncluded: string[];
  scrubbed: number;
  /** What the ICAP log, the latest probe and the captures show. */
  evidence?: EvidenceSummary;
}

/** Markdown text of a table cell or list item on one line. */
function inline(text: string): string {
  return text.replace(/\r?\n+/g, ' ').replace(/\|/g, '\\|').trim();
}

function factLines(f: SystemFacts, language: SummaryLanguage): string[] {
  const L = factLabels[language];
  const out: string[] = [];
  const item = (label: string, value: string) => out.push(`- **${label}:** ${inline(value)}`);
  for (const key of ['hostname', 'os', 'kernel', 'hardwareModel', 'cpu', 'cpuCount', 'memory'] as const) {
    const v = f[key];
    if (v !== undefined && v !== '') item(L[key]!, String(v));
  }
  if (f.kataVersion) item(L.kataVersion!, `${f.kataVersion} (${L[`source:${f.kataVersionSource ?? 'user'}`]})`);
  else if (f.kataVersionMissing) item(L.kataVersion!, L[`missing:${f.kataVersionMissing}`]!);
  if (f.kedrVersion) item(L.kedrVersion!, f.kedrVersion);
  return out;
}

/**
 * summary.md, written like a ticket: who and when, the checklist as one unbroken list, the
 * description and the steps under their own headings, what the ICAP evidence shows, the facts KDS
 * found (with the form's labels), then what the archive holds and what it lacks.
 */
export function renderSummary(s: SummaryInput): string {
  const h = headings[s.language];
  const md: string[] = [`# ${h.title}`, '', fill(h.made!, s.kdsVersion, s.createdAt.toISOString().slice(0, 16).replace('T', ' '), s.where ?? s.facts?.host ?? '-'), '', `## ${h.checklist}`, ''];
  const long = CHECKLIST.filter((f) => f.multiline);
  for (const f of CHECKLIST.filter((x) => !x.multiline)) {
    const v = s.answers[f.key]?.trim();
    md.push(`- **${f.text[s.language].label}:** ${v ? inline(v) : h.notGiven}`);
  }
  md.push('');
  for (const f of long) {
    const v = s.answers[f.key]?.trim();
    md.push(`## ${f.text[s.language].label}`, '', v || h.notGiven, '');
  }
  const evidence = s.evidence ? evidenceLines(s.evidence, s.language) : [];
  if (evidence.length) md.push(`## ${h.evidence}`, '', ...evidence, '');
  if (s.facts) {
    const lines = factLines(s.facts, s.language);
    if (lines.length) md.push(`## ${h.facts}`, '', ...lines, '');
  }
  md.push(`## ${h.contents}`, '', `| ${h.file} | ${h.size} | ${h.what} |`, '|---|---:|---|');
  for (const c of s.contents) md.push(`| ${inline(c.name)} | ${formatBytes(c.size, byteUnits[s.language])} | ${inline(c.about)} |`);
  md.push('');
  if (s.notIncluded.length) {
    md.push(`## ${h.notIncluded}`, '');
    for (const n of s.notIncluded) md.push(`- ${inline(n)}`);
    md.push('');
  }
  md.push(fill(h.secrets!, String(s.scrubbed)), '');
  return md.join('\n');
}
