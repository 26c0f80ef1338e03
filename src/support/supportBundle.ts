import { basename, join } from 'node:path';
import { collectChecks } from '../engine/configChecks';
import { t } from '../common/l10n';
import { findEngine } from '../centralNode/cnOps';
import type { BundleSource, PreparedEntry } from './bundleContents';
import { prepareBundle } from './bundleContents';
import { type HostAccess, LocalHostAccess, SshHostAccess } from './hostAccess';
import { type KataLogKind, fetchKataLogs, grepFiles } from './kataLogs';
import { MissingKataTool } from './kataTools';
import type { FoundCapture } from './recentCaptures';
import { kdsVersion } from '../common/version';
import { INSTALLED_CONFIG, formatErrorRange, readKdsConfig, readKdsLogTail, recentErrorRange, serviceStatus } from './kdsSources';
import { SecretScrubber } from './secretScrub';
import { type SummaryLanguage, type SupportAnswers, prefill, renderSummary } from './supportSummary';
import { type SystemFacts, gatherFacts } from './systemFacts';

/**
 * The support request from start to end, shared by `kds support-bundle` and the VS Code form:
 * discover (fast: facts for the prefilled checklist), gather (slow: KATA's tools, the collect
 * archive), compose (scrub everything, add summary.md) — then the caller previews, confirms and
 * writes with bundleContents.writeBundle.
 */

export interface Discovery {
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
  return { ...(facts && { facts }), kdsVersion: version, ...(configPath && { configPath }), ...(configText !== undefined && { configText }), ...(logTail !== undefined && { logTail }), prefill: prefill(facts, version, range && formatErrorRange(range)), scrubber, notes };
}

export interface GatherOptions {
  kataLogs: boolean;
  /** Runs kds collect (download, verification, removal question) and returns the local archive. */
  collect?: () => Promise<string | undefined>;
  /** Files the user added (paths), and captures KDS found by listing (opened only if still the inode listed). */
  addFiles: Array<string | FoundCapture>;
  /** Local private folder for downloads. */
  workDir: string;
  grep?: string;
  onStep?: (text: string) => void;
}

export interface Gathered {
  sources: BundleSource[];
  notes: string[];
}

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
  const step = o.onStep ?? (() => undefined);
  if (d.configText !== undefined) sources.push({ name: `kds/${basename(d.configPath!)}`, about: t('KDS configuration (secrets removed)'), data: d.configText });
  if (d.logTail !== undefined) sources.push({ name: 'kds/kds.log', about: t('KDS log (last {0} MiB)', 5), data: d.logTail });
  step(t('Service status and journal on {0}…', host.where));
  sources.push({ name: 'kds/service-status.txt', about: t('systemctl status and journalctl of kata-dir-scanner'), data: await serviceStatus(host) });
  if (d.configPath) {
    step(t('kds check --json…'));
    const check = await checkJson(host, d.configPath).catch((e: Error) => {
      notes.push(t('kds check: {0}', e.message));
      return undefined;
    });
    if (check) sources.push({ name: 'kds/check.json', about: t('kds check --json'), data: check });
    else notes.push(t('kds check --json could not run on {0} (KDS not installed there).', host.where));
  }
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
        notes.push(e instanceof MissingKataTool ? e.message : t('log-{0}: {1}', kind, (e as Error).message));
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
      notes.push((e as Error).message);
    }
  }
  for (const a of o.addFiles) {
    const f = typeof a === 'string' ? a : a.path;
    const isPcap = /\.(pcap|pcapng|cap)$/i.test(f);
    sources.push({ name: `${isPcap ? 'captures' : 'attachments'}/${basename(f)}`, about: isPcap ? t('traffic capture added by the user') : t('file added by the user'), file: f, ...(typeof a !== 'string' && { expect: { dev: a.dev, ino: a.ino } }) });
  }
  return { sources, notes };
}

export interface Composed {
  entries: PreparedEntry[];
  top: string;
}

/** Scrubs every source into `staging` and puts summary.md (in `language`) first. */
export async function compose(d: Discovery, g: Gathered, answers: SupportAnswers, language: SummaryLanguage, staging: string, now = new Date()): Promise<Composed> {
  const facts = d.facts;
  const entries = await prepareBundle(g.sources, d.scrubber, staging, g.notes);
  const factsJson = Buffer.from(d.scrubber.text(JSON.stringify({ kdsVersion: d.kdsVersion, ...facts }, null, 2) + '\n'));
  entries.push({ name: 'facts.json', about: language === 'ru' ? 'сведения о системе, собранные KDS' : 'system facts found by KDS', size: factsJson.length, data: factsJson });
  const merged: SupportAnswers = { ...d.prefill, ...Object.fromEntries(Object.entries(answers).filter(([, v]) => typeof v === 'string' && v.trim() !== '')) };
  // The summary names itself; its size is not known before it is written.
  const contents = [{ name: 'summary.md', about: language === 'ru' ? 'эта сводка' : 'this summary', size: 0 }, ...entries.map((e) => ({ name: e.name, about: e.about, size: e.size }))];
  const summaryText = renderSummary({ answers: merged, language, kdsVersion: d.kdsVersion, createdAt: now, ...(facts && { facts }), contents, notIncluded: g.notes, scrubbed: d.scrubber.total() });
  const summary = d.scrubber.content(Buffer.from(summaryText, 'utf8'));
  entries.unshift({ name: 'summary.md', about: contents[0]!.about, size: summary.length, data: summary });
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
  return { entries, top: `kds-support-${stamp}` };
}
