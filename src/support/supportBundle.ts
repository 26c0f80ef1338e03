import { basename, join } from 'node:path';
import { collectChecks } from '../engine/configChecks';
import { t } from '../common/l10n';
import { findEngine } from '../centralNode/cnOps';
import type { BundleSource, PreparedEntry } from './bundleContents';
import { prepareBundle } from './bundleContents';
import type { EvidenceSummary } from './evidenceSummary';
import { gatherIcapEvidence } from './icapEvidence';
import { type HostAccess, LocalHostAccess, SshHostAccess } from './hostAccess';
import { type KataLogKind, fetchKataLogs, grepFiles } from './kataLogs';
import { MissingKataTool } from './kataTools';
import { kdsVersion } from '../common/version';
import { INSTALLED_CONFIG, formatErrorRange, readKdsConfig, readKdsLogTail, recentErrorRange, serviceStatus } from './kdsSources';
import { SecretScrubber } from './secretScrub';
import { type ChecklistKey, type SummaryLanguage, type SupportAnswers, factsWithAnswers, prefill, renderSummary } from './supportSummary';
import { type SystemFacts, gatherFacts } from './systemFacts';

/**
 * The support request from start to end, shared by `kds support-bundle` and the VS Code form:
 * discover (fast: facts for the prefilled checklist), gather (slow: KATA's tools, the collect
 * archive), compose (scrub everything, add summary.md) — then the caller previews, confirms and
 * writes with bundleContents.writeBundle.
 */

export interface Discovery {
  /** Where the facts and logs come from ("this computer", user@host:port). */
  where: string;
  facts?: SystemFacts;
  kdsVersion: string;
  configPath?: string;
  configText?: string;
  logTail?: string;
  prefill: SupportAnswers;
  scrubber: SecretScrubber;
  notes: string[];
}

/** Facts, KDS configuration and log, and the answers KDS can give itself. Teaches the scrubber the secrets it finds. */
export async function discover(host: HostAccess, opts: { configPath?: string; secrets?: string[]; privateKeyTexts?: string[] } = {}): Promise<Discovery> {
  const scrubber = new SecretScrubber();
  for (const s of opts.secrets ?? []) scrubber.addSecret(s);
  for (const k of opts.privateKeyTexts ?? []) scrubber.addPrivateKey(k);
  const notes: string[] = [];
  const facts = await gatherFacts(host).catch((e: Error) => {
    notes.push(t('System facts of {0}: {1}', host.where, e.message));
    return undefined;
  });
  const version = kdsVersion;
  const configPath = opts.configPath ?? ((await host.stat(INSTALLED_CONFIG)) ? INSTALLED_CONFIG : undefined);
  let configText: string | undefined;
  let logTail: string | undefined;
  if (configPath) {
    const cfg = await readKdsConfig(host, configPath, scrubber);
    if (!cfg) notes.push(t('The KDS configuration {0} could not be read on {1}.', configPath, host.where));
    else {
      configText = cfg.text;
      if (cfg.logFile) {
        logTail = await readKdsLogTail(host, cfg.logFile);
        if (logTail === undefined) notes.push(t('The KDS log {0} could not be read on {1}.', cfg.logFile, host.where));
      }
    }
  } else notes.push(t('No KDS configuration: pass --config FILE (none at {0} on {1}).', INSTALLED_CONFIG, host.where));
  const range = logTail ? recentErrorRange(logTail) : undefined;
  return { where: host.where, ...(facts && { facts }), kdsVersion: version, ...(configPath && { configPath }), ...(configText !== undefined && { configText }), ...(logTail !== undefined && { logTail }), prefill: prefill(facts, version, range && formatErrorRange(range)), scrubber, notes };
}

export interface GatherOptions {
  kataLogs: boolean;
  /** Runs kds collect (download, verification, removal question) and returns the local archive. */
  collect?: () => Promise<string | undefined>;
  /** Files the person added (pcaps go to captures/ with their analysis, the rest to attachments/). */
  addFiles: string[];
  /** Captures KDS took itself (recentCaptures), labelled as such. */
  captures?: string[];
  /** preprocessor_icap.log on the host: undefined = KATA's default path, false = leave it out. */
  icapLog?: string | false;
  /** The "Date and time of the problem" answer: which lines of preprocessor_icap.log to take. */
  problemTime?: string;
  /** Local files that may hold the latest ICAP probe report. */
  probeReports?: string[];
  /** Local private folder for downloads. */
  workDir: string;
  grep?: string;
  onStep?: (text: string) => void;
  /** Called with each "not included" note as soon as it is known. */
  onNote?: (text: string) => void;
}

export interface Gathered {
  sources: BundleSource[];
  notes: string[];
  evidence: EvidenceSummary;
}

const isCapture = (f: string) => /\.(pcap|pcapng|cap)$/i.test(f);

/** kds check --json where KDS runs: in-process here, the installed engine on a Central Node. */
async function checkJson(host: HostAccess, configPath: string): Promise<string | undefined> {
  if (host instanceof LocalHostAccess) return JSON.stringify(await collectChecks(configPath), null, 2) + '\n';
  if (!(host instanceof SshHostAccess)) return undefined;
  // The installed engine beside the configuration, found the way every Central Node command finds it.
  const exec = await findEngine(host.cnContext(), configPath).catch(() => undefined);
  if (!exec) return undefined;
  const r = await host.exec([...exec, 'check', '--config', configPath, '--json'], { root: true, timeoutMs: 120_000 });
  const out = r.stdout.toString('utf8');
  return out.trim() ? out : undefined;
}

export async function gather(host: HostAccess, d: Discovery, o: GatherOptions): Promise<Gathered> {
  const sources: BundleSource[] = [];
  const notes = [...d.notes];
  const note = (text: string) => {
    notes.push(text);
    o.onNote?.(text);
  };
  for (const n of d.notes) o.onNote?.(n);
  const step = o.onStep ?? (() => undefined);
  if (d.configText !== undefined) sources.push({ name: `kds/${basename(d.configPath!)}`, about: t('KDS configuration (secrets removed)'), data: d.configText });
  if (d.logTail !== undefined) sources.push({ name: 'kds/kds.log', about: t('KDS log (last {0} MiB)', 5), data: d.logTail });
  step(t('Service status and journal on {0}…', host.where));
  sources.push({ name: 'kds/service-status.txt', about: t('systemctl status and journalctl of kata-dir-scanner'), data: await serviceStatus(host) });
  if (d.configPath) {
    step(t('kds check --json…'));
    const check = await checkJson(host, d.configPath).catch((e: Error) => {
      note(t('kds check: {0}', e.message));
      return undefined;
    });
    if (check) sources.push({ name: 'kds/check.json', about: t('kds check --json'), data: check });
    else note(t('kds check --json could not run on {0} (KDS not installed there).', host.where));
  }
  const icap = await gatherIcapEvidence(host, {
    ...(o.icapLog !== undefined && { icapLog: o.icapLog }),
    ...(o.problemTime && { problemTime: o.problemTime }),
    ...(o.probeReports && { probeReports: o.probeReports }),
    captures: [...(o.captures ?? []).map((file) => ({ file, addedBy: 'kds' as const })), ...o.addFiles.filter(isCapture).map((file) => ({ file, addedBy: 'user' as const }))],
    onStep: step,
  });
  sources.push(...icap.sources);
  for (const n of icap.notes) note(n);
  if (o.kataLogs) {
    for (const kind of ['history', 'detects'] as KataLogKind[]) {
      step(t('kata-collect-siem-logs log-{0} on {1}…', kind, host.where));
      try {
        const f = await fetchKataLogs(host, kind, join(o.workDir, `log-${kind}`));
        const matches = await grepFiles(f.files, { pattern: o.grep ?? 'ICAP' });
        for (const m of matches) {
          const head = `# ${basename(m.file)}: ${m.matched} of ${m.lines} lines match "${o.grep ?? 'ICAP'}" (case-insensitive)\n`;
          sources.push({ name: `kata-logs/${basename(m.file)}.${o.grep ?? 'ICAP'}.txt`, about: t('lines of log-{0} matching {1}: {2} of {3}', kind, o.grep ?? 'ICAP', m.matched, m.lines), data: head + m.matches.join('\n') + (m.matches.length ? '\n' : '') });
        }
      } catch (e) {
        note(e instanceof MissingKataTool ? e.message : t('log-{0}: {1}', kind, (e as Error).message));
        if (e instanceof MissingKataTool) break;
      }
    }
  }
  if (o.collect) {
    step(t('kata-collect on {0}…', host.where));
    try {
      const archive = await o.collect();
      if (archive) sources.push({ name: `kata-collect/${basename(archive)}`, about: t('kata-collect archive (every entry checked for secrets)'), file: archive, tarGz: true });
    } catch (e) {
      note((e as Error).message);
    }
  }
  for (const f of o.addFiles.filter((x) => !isCapture(x))) sources.push({ name: `attachments/${basename(f)}`, about: t('file added by the user'), file: f });
  return { sources, notes, evidence: icap.evidence };
}

/** What KDS found, overridden by every answer the person gave (an empty answer keeps KDS's). */
export function mergeAnswers(prefilled: SupportAnswers, answers: SupportAnswers): SupportAnswers {
  return { ...prefilled, ...Object.fromEntries(Object.entries(answers).filter(([, v]) => typeof v === 'string' && v.trim() !== '')) };
}

export interface Composed {
  entries: PreparedEntry[];
  top: string;
}

/** Scrubs every source into `staging` and puts summary.md (in `language`) first. */
export async function compose(d: Discovery, g: Gathered, answers: SupportAnswers, language: SummaryLanguage, staging: string, now = new Date()): Promise<Composed> {
  const merged = mergeAnswers(d.prefill, answers);
  // A version the person corrected replaces the one KDS found, in facts.json as in summary.md.
  const facts = factsWithAnswers(d.facts, merged);
  const entries = await prepareBundle(g.sources, d.scrubber, staging);
  const factsJson = Buffer.from(d.scrubber.text(JSON.stringify({ kdsVersion: d.kdsVersion, ...facts }, null, 2) + '\n'));
  entries.push({ name: 'facts.json', about: language === 'ru' ? 'сведения о системе, собранные KDS' : 'system facts found by KDS', size: factsJson.length, data: factsJson });
  // The table lists the other entries: the summary is the file being read.
  const contents = entries.map((e) => ({ name: e.name, about: e.about, size: e.size }));
  const summaryText = renderSummary({ answers: merged, language, kdsVersion: d.kdsVersion, createdAt: now, where: d.where, ...(facts && { facts }), contents, notIncluded: g.notes, scrubbed: d.scrubber.total(), evidence: g.evidence });
  const summary = d.scrubber.content(Buffer.from(summaryText, 'utf8'));
  entries.unshift({ name: 'summary.md', about: language === 'ru' ? 'эта сводка: контрольный список и что показывают данные' : 'this summary: the checklist and what the evidence shows', size: summary.length, data: summary });
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
  return { entries, top: `kds-support-${stamp}` };
}

/** Why a field KDS tries to fill is empty, in the UI's language (shown by the form and the CLI questions). */
export function prefillNotes(d: Discovery): Partial<Record<ChecklistKey, string>> {
  const out: Partial<Record<ChecklistKey, string>> = {};
  const missing = d.facts?.kataVersionMissing;
  if (missing === 'no-kata-package') out.kataVersion = t("KDS found no KATA or KEDR package on {0}: enter the version the KATA web console shows (Help, About).", d.where);
  else if (missing === 'no-package-tool') out.kataVersion = t('KDS could not list the installed packages on {0} (neither dpkg-query nor rpm answered): enter the version the KATA web console shows (Help, About).', d.where);
  return out;
}
