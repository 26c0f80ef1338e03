import { t, tn } from '../common/l10n';
import type { ApprovalState, FileRecord, FileStage } from '../engine/events';
import type { EngineIdentity } from './contracts';
import { stageLook } from './itemLooks';

export interface StatusSummary {
  /** For a status bar item; codicons as $(name). */
  text: string;
  tooltip: string;
  /** Files still waiting for a verdict. */
  pending: number;
  /** Something needs a person: the engine is stopped, not approved, or files cannot be read. */
  warning: boolean;
}

/** Stages after which nothing more happens to a file until it changes. */
const idle = new Set<FileStage>(['excluded', 'too-large', 'unreadable']);
/** Stages that an administrator has to act on. */
const needsAttention = new Set<FileStage>(['unreadable', 'awaiting-approval', 'missing']);

/** The status bar line and its tooltip; pure, so every wording is unit-tested. */
export function statusSummary(input: {
  running: boolean;
  approval: ApprovalState;
  files: FileRecord[];
  inQuarantine: number;
  identity?: EngineIdentity;
  /** KDS scans this configuration in another process (this window only watches it); `since` already formatted. */
  elsewhere?: { pid: number; since: string };
}): StatusSummary {
  const byStage = new Map<FileStage, number>();
  let pending = 0;
  let attention = 0;
  for (const f of input.files) {
    byStage.set(f.stage, (byStage.get(f.stage) ?? 0) + 1);
    if (!idle.has(f.stage)) pending++;
    if (needsAttention.has(f.stage)) attention++;
  }

  let text: string;
  const other = input.elsewhere;
  if (other) text = `$(broadcast) ${other.pid ? t('KDS (pid {0})', other.pid) : t('KDS (another process)')}` + (pending > 0 ? `: ${t('{0} pending', pending)}` : '');
  else if (!input.running) text = `$(circle-slash) ${t('KDS stopped')}`;
  else if (input.approval === 'pending') text = `$(shield) ${t('KDS: awaiting approval in KATA')}`;
  else if (input.approval === 'rejected') text = `$(error) ${t('KDS: integration rejected by KATA')}`;
  else text = pending > 0 ? `$(shield) ${t('KDS: {0} pending', pending)}` : '$(shield) KDS';
  // Files in quarantine now (not "today": a release lowers the count, as a person expects).
  if (input.inQuarantine > 0) text += ` $(bug) ${input.inQuarantine}`;

  const lines: string[] = [];
  if (other) lines.push(elsewhereText(other));
  else lines.push(input.running ? t('Scanner running') : t('Scanner stopped'));
  if (input.approval === 'pending') lines.push(t('The integration is waiting for approval by the KATA administrator'));
  else if (input.approval === 'rejected') lines.push(t('The KATA administrator rejected this integration'));
  else if (input.approval === 'unknown') lines.push(t('Approval by KATA not known yet'));
  if ((input.approval === 'pending' || input.approval === 'rejected') && input.identity) lines.push(approvalHint(input.identity));
  lines.push(tn(input.files.length, '{0} file in input', '{0} files in input') + ', ' + tn(pending, '{0} waiting for a verdict', '{0} waiting for a verdict'));
  for (const [stage, n] of [...byStage].sort((a, b) => b[1] - a[1])) lines.push(`  ${stageLook(stage).label}: ${n}`);
  lines.push(tn(input.inQuarantine, '{0} file in quarantine now', '{0} files in quarantine now'));

  const warning = (!input.running && !other) || input.approval === 'pending' || input.approval === 'rejected' || attention > 0;
  return { text, tooltip: lines.join('\n'), pending, warning };
}

/** "KDS is running in another process (pid N, since …)": the status bar's tooltip and the views' line. */
export function elsewhereText(other: { pid: number; since: string }): string {
  return other.pid ? t('KDS is running in another process (pid {0}, since {1}).', other.pid, other.since) : t('KDS is running in another process (since {0}); its state folder is not readable by you.', other.since);
}

/**
 * The two values the KATA administrator compares before accepting the integration request.
 * `wrap` groups the fingerprint in blocks of 8 bytes so a narrow view can break the line; the
 * exact colon form (for copying) stays in the tooltip and the notification.
 */
export function approvalHint(identity: EngineIdentity, opts: { wrap?: boolean } = {}): string {
  const fp = opts.wrap ? groupFingerprint(identity.fingerprint256) : identity.fingerprint256;
  return t('In KATA (External systems), accept system_id {0} with certificate SHA-256 {1}', identity.systemId, fp);
}

/** `AA:BB:…` (32 bytes) as four space-separated blocks of 8 bytes. */
export function groupFingerprint(fp: string): string {
  const bytes = fp.split(':');
  const blocks: string[] = [];
  for (let i = 0; i < bytes.length; i += 8) blocks.push(bytes.slice(i, i + 8).join(':'));
  return blocks.join(' ');
}
