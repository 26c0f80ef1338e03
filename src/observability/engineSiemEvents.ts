import type { ApprovalState, EngineEvent, Verdict } from '../engine/events';
import type { QuarantineAuditRecord } from '../engine/quarantineActions';
import type { SiemEvent, SiemEventClass } from './siemEvent';

const quarantineClass: Record<Exclude<Verdict, 'not detected'>, SiemEventClass> = {
  detect: 'file-detected',
  error: 'file-error',
  timeout: 'file-timeout',
  unknown: 'file-unknown-state',
};

/**
 * The SIEM's view of one engine (one share): which of its events are security or health news.
 * A file routed to quarantine (with its threat name when the service found one), a file left in
 * input as too large (once per version), approval granted or lost, a folder down and up again,
 * the service started and stopped. Clean files and ordinary progress are not SIEM events.
 */
export class EngineSiemEvents {
  private approval: ApprovalState = 'unknown';
  private readonly folderDown = new Set<string>();
  /** Names whose current version was already reported too large. */
  private readonly tooLarge = new Set<string>();

  constructor(
    private readonly share: string,
    private readonly emit: (e: SiemEvent) => void,
    private readonly now: () => number = Date.now,
  ) {}

  handle(e: EngineEvent): void {
    switch (e.type) {
      case 'routed': {
        const f = e.file;
        if (f.verdict === 'not detected' || f.destination !== 'qrnt') return;
        this.emit({
          cls: quarantineClass[f.verdict],
          time: f.routedAt,
          share: this.share,
          file: { name: f.name, size: f.size, ...(f.sha256 && { sha256: f.sha256 }), path: f.path },
          ...(f.threat !== undefined && { threat: f.threat }),
          scanId: f.scanId,
          verdict: f.rawState,
        });
        return;
      }
      case 'file':
        if (e.file.stage !== 'too-large') {
          // Any other stage: a later "too large" is news again (a new version, a lowered limit).
          if (e.file.stage === 'settling') this.tooLarge.delete(e.file.name);
          return;
        }
        if (this.tooLarge.has(e.file.name)) return;
        this.tooLarge.add(e.file.name);
        this.emit({
          cls: 'file-too-large',
          time: this.now(),
          share: this.share,
          file: { name: e.file.name, size: e.file.size },
          ...(e.file.reason !== undefined && { reason: e.file.reason === '413' ? 'KATA refused it (413)' : e.file.reason }),
        });
        return;
      case 'file-removed':
      case 'ignored':
        this.tooLarge.delete(e.name);
        return;
      case 'approval': {
        const before = this.approval;
        this.approval = e.state;
        if (before === e.state || e.state === 'unknown') return;
        const refused = e.state === 'pending' || e.state === 'rejected';
        const cls: SiemEventClass | undefined = e.state === 'approved' ? (before === 'unknown' ? undefined : 'approval-granted') : before === 'approved' ? 'approval-lost' : refused ? 'approval-pending' : undefined;
        if (cls) this.emit({ cls, time: this.now(), approval: e.state, reason: e.state === 'rejected' ? 'HTTP 403' : e.state === 'pending' ? 'HTTP 401' : undefined });
        return;
      }
      case 'folder':
        if (!e.available && !this.folderDown.has(e.folder)) {
          this.folderDown.add(e.folder);
          this.emit({ cls: 'folder-down', time: this.now(), share: this.share, folder: e.folder, folderPath: e.path, ...(e.reason !== undefined && { reason: e.reason }) });
        } else if (e.available && this.folderDown.delete(e.folder)) {
          this.emit({ cls: 'folder-up', time: this.now(), share: this.share, folder: e.folder, folderPath: e.path });
        }
        return;
      case 'running':
        this.emit({ cls: e.running ? 'service-start' : 'service-stop', time: this.now() });
        return;
    }
  }
}

/** A release or deletion from the quarantine audit as a SIEM event (its time is the action's). */
export function auditSiemEvent(r: QuarantineAuditRecord, id: string, share: string): SiemEvent {
  const time = Date.parse(r.time);
  return {
    cls: r.action === 'release' ? 'quarantine-release' : 'quarantine-delete',
    time: Number.isFinite(time) ? time : Date.now(),
    share,
    file: { name: r.file, sha256: r.sha256, path: r.action === 'release' && r.to ? r.to : r.from },
    user: r.user,
    ...(r.reason !== undefined && { reason: r.reason }),
    externalId: id,
  };
}
