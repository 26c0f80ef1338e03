import { t } from '../common/l10n';
import type { ApprovalState } from '../engine/events';

export type FolderKey = 'in' | 'out' | 'qrnt';

/** What readiness is decided from: all of it learnt from the engine's events and KATA's answers. */
export interface ReadinessInput {
  running: boolean;
  /** Folders the engine reported unusable (the others are usable or not yet tried). */
  foldersDown: ReadonlyMap<FolderKey, { path: string; reason: string }>;
  /** undefined: KATA has not answered yet. */
  kataReachable: boolean | undefined;
  kataReason: string;
  approval: ApprovalState;
  systemId: string;
  fingerprint256: string;
}

/**
 * /readyz: ready when the engine runs, no folder is known to be down, KATA answers and has
 * approved this external system. Otherwise every reason, one a line, for the body of the 503.
 */
export function readiness(i: ReadinessInput): { ready: boolean; reasons: string[] } {
  const reasons: string[] = [];
  if (!i.running) reasons.push(t('the engine is not running'));
  for (const [folder, down] of i.foldersDown) reasons.push(t('the {0} folder {1} is unavailable: {2}', folder, down.path, down.reason));
  if (i.kataReachable === false) reasons.push(t('KATA is unreachable: {0}', i.kataReason));
  else if (i.kataReachable === undefined && i.approval === 'unknown') reasons.push(t('KATA has not answered yet'));
  if (i.approval === 'pending') {
    reasons.push(t('KATA has not approved this external system yet: in the KATA web console, External systems, accept system_id {0} with certificate SHA-256 {1}', i.systemId, i.fingerprint256));
  } else if (i.approval === 'rejected') {
    reasons.push(t('KATA rejected this external system: in the KATA web console, External systems, accept system_id {0} with certificate SHA-256 {1}', i.systemId, i.fingerprint256));
  }
  return { ready: reasons.length === 0, reasons };
}
