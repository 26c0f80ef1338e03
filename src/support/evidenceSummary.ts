
/**
 * What the ICAP evidence in the bundle shows, as data (gathered by icapEvidence.ts) and as the few
 * lines of summary.md that say it, in the summary's language. Texts KDS produced while it ran (a
 * probe's conclusion, a capture's findings) are quoted as they are.
 */

/** The language summary.md is written in (the person's choice, not necessarily the UI's). */
export type SummaryLanguage = 'en' | 'ru';

export interface IcapLogEvidence {
  /** The archive entry. */
  entry: string;
  /** The log on the host it was read from. */
  path: string;
  /** What part of the log the entry holds. */
  extent: 'whole' | 'window' | 'tail';
  /** The problem's time range the lines were chosen by (ISO, UTC), with the margin. */
  window?: { from: string; to: string };
  /** The window was asked for but no line of the log falls in it (so the tail is included instead). */
  windowEmpty?: boolean;
  lines: number;
  bytes: number;
  totalBytes: number;
  firstTime?: string;
  lastTime?: string;
  /** Lines "… accepted in <mode> mode", per mode. */
  accepted: Record<string, number>;
  /** verdict=<word>, per word. */
  verdicts: Record<string, number>;
  /** Lines naming the probe's host (kds-probe.invalid). */
  probeLines: number;
}

export interface ProbeEvidence {
  entry: string;
  uri: string;
  startedAt: string;
  conclusion: string;
  next?: string;
  failed: boolean;
  mode?: string;
}

export interface CaptureEvidence {
  /** The pcap's entry and its analysis's. */
  entry: string;
  analysisEntry: string;
  /** Who added it: KDS itself (kds capture, KDS: Capture ICAP Traffic) or the person. */
  addedBy: 'kds' | 'user';
  packets: number;
  transactions: number;
  /** Transactions that were KDS's own probe or discovery. */
  ownTransactions: number;
  from?: string;
  to?: string;
  /** Findings of severity error/warning, as KDS worded them. */
  problems: string[];
}

export interface EvidenceSummary {
  icapLog?: IcapLogEvidence;
  probe?: ProbeEvidence;
  captures: CaptureEvidence[];
}

const words: Record<SummaryLanguage, Record<string, string>> = {
  en: {
    logWhole: 'the whole log ({0} lines, {1} to {2} UTC)',
    logWindow: 'the lines from {0} to {1} UTC, the problem\'s time and 15 minutes either side ({2} lines)',
    logTail: 'its last {0} lines ({1} to {2} UTC); the log holds {3} bytes in all',
    logTailNoWindow: 'No line of the log falls in the problem\'s time ({0} to {1} UTC), so',
    log: '**preprocessor_icap.log** (`{0}`, from {1}): {2}.',
    accepted: 'Transactions accepted: {0}.',
    noneAccepted: 'No transaction was accepted in these lines: KATA\'s ICAP service received nothing from the proxy then.',
    verdicts: 'Verdicts: {0}.',
    probeLines: '{0} of the lines are KDS\'s own probe (kds-probe.invalid).',
    probe: '**Latest ICAP probe** (`{0}`, {1} UTC) of {2}: {3}.',
    next: 'Next step it gave: {0}',
    capture: '**Capture** `{0}` ({1}; transactions and diagnosis in `{2}`): {3} packet(s), {4} ICAP transaction(s){5}.',
    byKds: 'taken by KDS',
    byUser: 'added by the person filing this request',
    span: ' from {0} to {1} UTC',
    own: '{0} of the transactions are KDS\'s own probe or discovery traffic and are left out of the diagnosis.',
    problems: 'Diagnosis: {0}',
    noProblem: 'Diagnosis: no problem found.',
  },
  ru: {
    logWhole: 'весь журнал (строк: {0}, с {1} по {2} UTC)',
    logWindow: 'строки с {0} по {1} UTC — время проблемы и по 15 минут до и после (строк: {2})',
    logTail: 'его конец (строк: {0}, с {1} по {2} UTC); размер всего журнала, байт: {3}',
    logTailNoWindow: 'Ни одна строка журнала не относится ко времени проблемы (с {0} по {1} UTC), поэтому',
    log: '**preprocessor_icap.log** (`{0}`, с {1}): {2}.',
    accepted: 'Принято транзакций: {0}.',
    noneAccepted: 'В этих строках нет ни одной принятой транзакции: служба ICAP KATA в это время ничего не получала от прокси.',
    verdicts: 'Вердикты: {0}.',
    probeLines: 'Строк собственной проверки KDS (kds-probe.invalid) среди них: {0}.',
    probe: '**Последняя проверка ICAP** (`{0}`, {1} UTC) для {2}: {3}.',
    next: 'Предложенный следующий шаг: {0}',
    capture: '**Запись трафика** `{0}` ({1}; транзакции и диагноз в `{2}`): пакетов {3}, транзакций ICAP {4}{5}.',
    byKds: 'записана KDS',
    byUser: 'добавлена заявителем',
    span: ' с {0} по {1} UTC',
    own: 'Транзакций собственной проверки или поиска служб KDS среди них: {0}; в диагноз они не входят.',
    problems: 'Диагноз: {0}',
    noProblem: 'Диагноз: проблем не найдено.',
  },
};

const fill = (s: string, ...args: Array<string | number>) => s.replace(/\{(\d)\}/g, (_m, i: string) => String(args[Number(i)] ?? ''));
const clock = (iso: string | undefined) => (iso ? iso.slice(0, 19).replace('T', ' ') : '?');
const counts = (r: Record<string, number>) =>
  Object.entries(r)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
const oneLine = (s: string) => s.replace(/\s*\n\s*/g, ' ').trim();

/** The evidence paragraphs of summary.md (list items), most telling first. */
export function evidenceLines(e: EvidenceSummary, language: SummaryLanguage): string[] {
  const w = words[language];
  const out: string[] = [];
  const log = e.icapLog;
  if (log) {
    let part: string;
    if (log.extent === 'whole') part = fill(w.logWhole!, log.lines, clock(log.firstTime), clock(log.lastTime));
    else if (log.extent === 'window') part = fill(w.logWindow!, clock(log.window?.from), clock(log.window?.to), log.lines);
    else part = fill(w.logTail!, log.lines, clock(log.firstTime), clock(log.lastTime), log.totalBytes);
    const sentences = [fill(w.log!, log.entry, log.path, part)];
    if (log.windowEmpty && log.window) sentences.unshift(fill(w.logTailNoWindow!, clock(log.window.from), clock(log.window.to)));
    const accepted = Object.values(log.accepted).reduce((a, b) => a + b, 0);
    sentences.push(accepted ? fill(w.accepted!, counts(log.accepted)) : w.noneAccepted!);
    if (Object.keys(log.verdicts).length) sentences.push(fill(w.verdicts!, counts(log.verdicts)));
    if (log.probeLines) sentences.push(fill(w.probeLines!, log.probeLines));
    out.push(`- ${sentences.join(' ')}`);
  }
  if (e.probe) {
    const p = e.probe;
    const sentences = [fill(w.probe!, p.entry, clock(p.startedAt), p.uri, oneLine(p.conclusion))];
    if (p.next) sentences.push(fill(w.next!, oneLine(p.next)));
    out.push(`- ${sentences.join(' ')}`);
  }
  for (const c of e.captures) {
    const span = c.from ? fill(w.span!, clock(c.from), clock(c.to ?? c.from)) : '';
    const sentences = [fill(w.capture!, c.entry, c.addedBy === 'kds' ? w.byKds! : w.byUser!, c.analysisEntry, c.packets, c.transactions, span)];
    if (c.ownTransactions) sentences.push(fill(w.own!, c.ownTransactions));
    sentences.push(c.problems.length ? fill(w.problems!, c.problems.map(oneLine).join(' ')) : w.noProblem!);
    out.push(`- ${sentences.join(' ')}`);
  }
  return out;
}
