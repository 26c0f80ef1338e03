/**
 * What the Central Nodes view, its status bar entry and `kds fleet status` say about each saved
 * Central Node, from one probe of it (centralNode/fleetProbe.ts) — plain data and words, so every
 * rule ("a stopped service needs attention") is unit-tested and the view and the CLI agree.
 */
import { t, tn } from '../common/l10n';
import { visibleText } from '../common/displayText';
import type { NodeStatus, ShareStatus } from '../engine/nodeStatus';
import type { LoggedProblem } from '../engine/serviceTrail';

/** How one look at a Central Node ended. */
export type ProbeOutcome =
  /** KDS is installed and answered (status may still be partial: see statusProblem). */
  | 'ok'
  /** The CN answers, but there is no configuration or engine of KDS on it. */
  | 'not-installed'
  /** No SSH connection: refused, timed out, name not resolved, dropped. */
  | 'unreachable'
  /** The host key is not trusted yet (unknown) or does not match: a person must look. */
  | 'host-key'
  /** The SSH server refused the credentials KDS may use without asking (agent, key, a stored password). */
  | 'auth'
  /** Something else failed on the CN (the engine refused to run, an unexpected answer). */
  | 'error';

/** `systemctl is-active` of the service; `none` when systemd gives no answer (no systemd, a container). */
export type UnitState = 'active' | 'activating' | 'inactive' | 'failed' | 'none';

export interface CnProbe {
  /** When the probe ended (ms since the epoch). */
  at: number;
  outcome: ProbeOutcome;
  /** Why, for every outcome but ok and not-installed (English or localized text of the SSH layer). */
  reason?: string;
  unit?: UnitState;
  /** From `<engine> --version` when the engine is older than --summary. */
  engineVersion?: string;
  /** `kds status --summary` from the CN. */
  status?: NodeStatus;
  /** Why the status is missing or partial (an older engine, sudo that needs a password). */
  statusProblem?: string;
  /** An older engine's `kds status --json`: at least how many files wait. */
  legacyPending?: number;
}

export type CnHealth = 'ok' | 'attention' | 'unreachable' | 'unknown';

export interface ShareRow {
  name: string;
  description: string;
  tooltip: string;
  attention: boolean;
}

export interface CnAssessment {
  health: CnHealth;
  /** ThemeIcon id for the tree: pass, warning, error, question, sync~spin. */
  icon: string;
  /** One short line beside the name. */
  description: string;
  /** Each thing a person should act on, as a sentence (icon, tooltip, kds fleet). */
  attention: string[];
  /** Everything known, one fact a line. */
  details: string[];
  /** Per share; empty when no status was read. */
  shares: ShareRow[];
  version?: string;
  /** Whether the service runs: true/false when known. */
  running?: boolean;
  approval?: string;
}

/** Text from a Central Node is shown as text: controls and bidi overrides made visible. */
const shown = (s: string) => visibleText(s);

/** Whether the service runs: systemd's definite answer first, then the engine's lock on its state_dir. */
export function serviceRuns(p: CnProbe): boolean | undefined {
  if (p.unit === 'active' || p.unit === 'activating') return true;
  if (p.unit === 'inactive' || p.unit === 'failed') return false;
  return p.status?.service.running;
}

function approvalText(a: string): string {
  switch (a) {
    case 'approved':
      return t('approved by KATA');
    case 'pending':
      return t('awaiting approval in KATA');
    case 'rejected':
      return t('rejected by KATA');
    default:
      return t('KATA approval not known yet');
  }
}

/** The service's last warning or error, as the tooltip shows it. */
function problemLine(lp: LoggedProblem): string {
  return lp.level === 'error' ? t('Last error ({0}): {1} {2}', shown(lp.time), shown(lp.event), shown(lp.message)) : t('Last warning ({0}): {1} {2}', shown(lp.time), shown(lp.event), shown(lp.message));
}

function shareRow(s: ShareStatus): ShareRow {
  const plus = s.countsAtLeast ? '+' : '';
  const counts = t('{0} waiting · {1}{2} out · {3}{4} quarantined today', s.waiting, s.outToday, plus, s.qrntToday, plus);
  const attention: string[] = [];
  for (const f of s.folders) if (!f.ok) attention.push(t('{0} folder {1}: {2}', f.folder, shown(f.path), shown(f.problem ?? '')));
  if (s.qrntLastHour > 0) attention.push(tn(s.qrntLastHour, 'quarantine is growing: {0} file in the last hour', 'quarantine is growing: {0} files in the last hour'));
  const lines = [
    t('Share {0}', shown(s.name)),
    counts,
    ...(s.inQuarantine !== undefined ? [tn(s.inQuarantine, '{0} file in quarantine now', '{0} files in quarantine now')] : []),
    ...(s.skipped ? [tn(s.skipped, '{0} file stays in input (excluded, too large, not a regular file)', '{0} files stay in input (excluded, too large, not regular files)')] : []),
    ...(s.countsAtLeast ? [t('More files were handled today than the journal keeps: the counts are lower bounds.')] : []),
    ...s.folders.map((f) => (f.ok ? t('{0}: {1} — fine', f.folder, shown(f.path)) : t('{0}: {1} — {2}', f.folder, shown(f.path), shown(f.problem ?? '')))),
    ...(s.lastProblem ? [problemLine(s.lastProblem)] : []),
  ];
  return {
    name: shown(s.name),
    description: attention.length ? `${attention[0]}${attention.length > 1 ? ' …' : ''}` : counts,
    tooltip: lines.join('\n'),
    attention: attention.length > 0,
  };
}

/**
 * One Central Node's state for a person: healthy, needs attention (and why), unreachable, or not
 * looked at yet. `probe` undefined = never probed; `checking` = a probe runs now.
 */
export function assessCn(probe: CnProbe | undefined, o: { checking?: boolean; now?: number } = {}): CnAssessment {
  if (!probe) {
    return { health: 'unknown', icon: o.checking ? 'sync~spin' : 'question', description: o.checking ? t('checking…') : t('not checked yet'), attention: [], details: [], shares: [] };
  }
  const age = ageText(probe.at, o.now ?? Date.now());
  const checked = t('Checked {0}', age);
  switch (probe.outcome) {
    case 'unreachable':
      return { health: 'unreachable', icon: 'error', description: t('not reachable'), attention: [t('Not reachable: {0}', shown(probe.reason ?? ''))], details: [checked], shares: [] };
    case 'host-key':
      return { health: 'attention', icon: 'warning', description: t('host key not trusted'), attention: [shown(probe.reason ?? t('The host key is not trusted yet.')), t('Connect to it once to compare and accept its host key.')], details: [checked], shares: [] };
    case 'auth':
      return { health: 'attention', icon: 'warning', description: t('sign-in needed'), attention: [shown(probe.reason ?? ''), t('Connect to it to sign in (a password you let KDS remember is used from then on).')], details: [checked], shares: [] };
    case 'error':
      return { health: 'attention', icon: 'warning', description: t('error'), attention: [shown(probe.reason ?? '')], details: [checked], shares: [] };
    case 'not-installed':
      return { health: 'attention', icon: 'cloud-upload', description: t('KDS not installed'), attention: [t('KDS is not installed: use Set Up.')], details: [checked], shares: [] };
    case 'ok':
      break;
  }
  const attention: string[] = [];
  const details: string[] = [];
  const st = probe.status;
  const running = serviceRuns(probe);
  const version = st?.version ?? probe.engineVersion;
  if (running === false) attention.push(probe.unit === 'failed' ? t('The service has failed.') : t('The service is stopped.'));
  if (st?.service.approval === 'pending' || st?.service.approval === 'rejected') {
    attention.push(st.service.approval === 'pending' ? t('KATA has not approved the integration yet (system_id {0}).', shown(st.service.systemId)) : t('KATA rejected the integration (system_id {0}).', shown(st.service.systemId)));
  }
  const shares = (st?.shares ?? []).map(shareRow);
  for (const [i, s] of (st?.shares ?? []).entries()) {
    if (!shares[i]!.attention) continue;
    for (const f of s.folders) if (!f.ok) attention.push(t('Share {0}: the {1} folder {2}: {3}', shown(s.name), f.folder, shown(f.path), shown(f.problem ?? '')));
    if (s.qrntLastHour > 0) attention.push(tn(s.qrntLastHour, 'Share {1}: quarantine is growing ({0} file in the last hour).', 'Share {1}: quarantine is growing ({0} files in the last hour).', shown(s.name)));
  }
  if (probe.statusProblem) details.push(shown(probe.statusProblem));
  details.push(running === undefined ? t('Service state not known') : running ? t('Service running') : t('Service not running'));
  if (probe.unit && probe.unit !== 'none') details.push(t('systemd: {0}', probe.unit));
  if (st) {
    details.push(approvalText(st.service.approval));
    if (st.service.runningVersion && st.service.runningVersion !== st.version) details.push(t('The running engine is {0}; {1} is installed (restart the service to use it).', shown(st.service.runningVersion), shown(st.version)));
    if (st.lastProblem) details.push(problemLine(st.lastProblem));
    if (st.journalError) details.push(t('The journal cannot be read: {0}', shown(st.journalError)));
  } else if (probe.legacyPending !== undefined) {
    details.push(tn(probe.legacyPending, '{0} file with KATA or waiting to be moved', '{0} files with KATA or waiting to be moved'));
  }
  details.push(checked);
  const sum = (k: 'waiting' | 'outToday' | 'qrntToday') => (st?.shares ?? []).reduce((n, s) => n + s[k], 0);
  const words = [
    running === undefined ? undefined : running ? t('running') : t('stopped'),
    version ? `KDS ${shown(version)}` : undefined,
    st ? t('{0} waiting · {1} out · {2} quarantined today', sum('waiting'), sum('outToday'), sum('qrntToday')) : undefined,
  ].filter((x): x is string => !!x);
  return {
    health: attention.length ? 'attention' : 'ok',
    icon: attention.length ? 'warning' : 'pass',
    description: attention.length ? attention[0]! : words.join(' · '),
    attention,
    details,
    shares,
    ...(version && { version: shown(version) }),
    ...(running !== undefined && { running }),
    ...(st && { approval: st.service.approval }),
  };
}

/** "just now", "2 min ago", "at 14:05" — when the probe ended. */
export function ageText(at: number, now: number): string {
  const s = Math.max(0, Math.round((now - at) / 1000));
  if (s < 10) return t('just now');
  if (s < 90) return tn(s, '{0} second ago', '{0} seconds ago');
  const m = Math.round(s / 60);
  if (m < 90) return tn(m, '{0} minute ago', '{0} minutes ago');
  return t('at {0}', new Date(at).toLocaleTimeString());
}

export function needsAttention(a: CnAssessment): boolean {
  return a.health === 'attention' || a.health === 'unreachable';
}

/** The status bar entry: how many CNs need attention, of how many. */
export function fleetBarText(assessments: CnAssessment[]): { text: string; warning: boolean; tooltip: string } {
  const total = assessments.length;
  const bad = assessments.filter(needsAttention).length;
  const unknown = assessments.filter((a) => a.health === 'unknown').length;
  const lines = [tn(total, '{0} Central Node saved', '{0} Central Nodes saved')];
  if (bad) lines.push(tn(bad, '{0} needs attention', '{0} need attention'));
  if (unknown) lines.push(tn(unknown, '{0} not checked yet', '{0} not checked yet'));
  return {
    text: bad ? `$(warning) ${tn(bad, '{0} CN needs attention', '{0} CNs need attention')}` : `$(server) ${tn(total, '{0} CN', '{0} CNs')}`,
    warning: bad > 0,
    tooltip: lines.join('\n'),
  };
}
