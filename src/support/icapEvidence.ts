import { basename } from 'node:path';
import { analyzeCaptureFile } from '../capture/analyzeCapture';
import { analysisText } from '../capture/analysisText';
import { t } from '../common/l10n';
import { DEFAULT_ICAP_LOG_PATH } from '../icapLog/byteSource';
import type { ProbeReport } from '../icap/icapProbe';
import { PROBE_REPORT_NAME, loadProbeReport, newestReport, parseProbeReport } from '../icap/probeReportFile';
import type { BundleSource } from './bundleContents';
import type { CaptureEvidence, EvidenceSummary } from './evidenceSummary';
import { type HostAccess, SshHostAccess } from './hostAccess';
import { extractIcapLog, hostZoneOffset, parseProblemWindow } from './icapLogExtract';

/**
 * The ICAP evidence a KATA engineer asks for first, gathered for the support bundle: the
 * preprocessor_icap.log lines of the problem's time (icapLogExtract.ts), the latest probe report,
 * and each capture's transactions and diagnosis beside its pcap. Everything goes through the
 * bundle's scrubber like any other entry.
 */

export interface IcapEvidenceOptions {
  /** The log on the host; undefined: KATA's default path; false: leave it out. */
  icapLog?: string | false;
  /** The "Date and time of the problem" answer, to choose the log's lines. */
  problemTime?: string;
  /** Local files that may hold the latest probe report (VS Code's storage, the CLI's state folder). */
  probeReports?: string[];
  /** Pcaps KDS took itself, and those the person added. */
  captures: Array<{ file: string; addedBy: 'kds' | 'user' }>;
  onStep?: (text: string) => void;
}

export interface GatheredEvidence {
  sources: BundleSource[];
  notes: string[];
  evidence: EvidenceSummary;
}

/** The Central Node's own latest report (`kds remote icap-probe` keeps it in the SSH user's state folder). */
async function hostProbeReport(host: HostAccess): Promise<ProbeReport | undefined> {
  if (!(host instanceof SshHostAccess)) return undefined;
  // A fixed script; nothing from input reaches the shell.
  const r = await host.exec(['/bin/sh', '-c', `cat -- "\${XDG_STATE_HOME:-$HOME/.local/state}/kds/${PROBE_REPORT_NAME}"`]).catch(() => undefined);
  return r?.code === 0 ? parseProbeReport(r.stdout.toString('utf8')) : undefined;
}

export async function gatherIcapEvidence(host: HostAccess, o: IcapEvidenceOptions): Promise<GatheredEvidence> {
  const sources: BundleSource[] = [];
  const notes: string[] = [];
  const evidence: EvidenceSummary = { captures: [] };
  const step = o.onStep ?? (() => undefined);

  if (o.icapLog !== false) {
    const path = o.icapLog ?? DEFAULT_ICAP_LOG_PATH;
    step(t('preprocessor_icap.log on {0}…', host.where));
    const zone = await hostZoneOffset(host);
    const window = o.problemTime ? parseProblemWindow(o.problemTime, zone) : undefined;
    const part = await extractIcapLog(host, path, { ...(window && { window }), zoneOffsetMinutes: zone }).catch((e: Error) => {
      notes.push(t('The ICAP log {0} on {1} could not be read: {2}', path, host.where, e.message));
      return null;
    });
    if (part === undefined) notes.push(t('No ICAP log at {0} on {1} (KATA writes preprocessor_icap.log there on a Central Node or Sensor with ICAP integration).', path, host.where));
    if (part) {
      const entry = `icap/${basename(path)}`;
      const { text, ...info } = part;
      const about =
        info.extent === 'whole'
          ? t("KATA's ICAP service log, whole")
          : info.extent === 'window'
            ? t("KATA's ICAP service log: the lines of the problem's time")
            : t("KATA's ICAP service log: its last {0} lines", info.lines);
      sources.push({ name: entry, about, data: text });
      evidence.icapLog = { entry, ...info };
    }
  }

  const report = newestReport([...(await Promise.all((o.probeReports ?? []).map((p) => loadProbeReport(p)))), await hostProbeReport(host)]);
  if (report) {
    const entry = 'icap/probe-latest.json';
    sources.push({ name: entry, about: t('the latest ICAP probe: {0}', report.uri), data: JSON.stringify(report, null, 2) + '\n' });
    evidence.probe = {
      entry,
      uri: report.uri,
      startedAt: report.startedAt,
      conclusion: report.conclusion.text,
      ...(report.conclusion.next && { next: report.conclusion.next }),
      failed: report.exitCode !== 0,
      ...(report.mode && { mode: report.mode }),
    };
  }

  for (const c of o.captures) {
    const name = basename(c.file);
    const entry = `captures/${name}`;
    sources.push({ name: entry, about: c.addedBy === 'kds' ? t('traffic capture KDS took') : t('traffic capture added by the user'), file: c.file });
    step(t('Reading the capture {0}…', name));
    try {
      const a = await analyzeCaptureFile(c.file);
      const analysisEntry = `${entry}.analysis.txt`;
      sources.push({ name: analysisEntry, about: t('the transactions and diagnosis of {0}', name), data: analysisText({ ...a, file: name }) });
      const ev: CaptureEvidence = {
        entry,
        analysisEntry,
        addedBy: c.addedBy,
        packets: a.packets,
        transactions: a.totalTransactions,
        ownTransactions: a.transactions.filter((x) => x.kdsProbe).length,
        ...(a.firstPacketTime && { from: a.firstPacketTime }),
        ...(a.lastPacketTime && { to: a.lastPacketTime }),
        problems: a.findings.filter((f) => f.severity !== 'info').map((f) => f.text),
      };
      evidence.captures.push(ev);
    } catch (e) {
      notes.push(t('The capture {0} could not be read: {1}', name, (e as Error).message));
    }
  }
  return { sources, notes, evidence };
}
