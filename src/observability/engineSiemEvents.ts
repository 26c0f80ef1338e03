import type { ApprovalState, EngineEvent, Verdict } from '../engine/events';
import type { QuarantineAuditRecord } from '../engine/quarantineActions';
import type { SiemEvent, SiemEventClass } from './siemEvent';

/** Versions remembered as already reported too large (the oldest are forgotten first). */
const tooLargeRemembered = 10_000;

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
  /**
   * Versions (name, size, mtime) already reported too large: the same file seen again (the input
   * share came back, the service restarted its listing) is not news; a new version is.
   */
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
      case 'file': {
        if (e.file.stage !== 'too-large') return;
        const version = `${e.file.name}\0${e.file.size}\0${e.file.mtimeMs}`;
        if (this.tooLarge.has(version)) return;
        this.tooLarge.add(version);
        if (this.tooLarge.size > tooLargeRemembered) this.tooLarge.delete(this.tooLarge.values().next().value!);
        this.emit({
          cls: 'file-too-large',
          time: this.now(),
          share: this.share,
          file: { name: e.file.name, size: e.file.size },
          ...(e.file.reason !== undefined && { reason: tooLargeReason(e.file.reason) }),
        });
        return;
      }
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

/** The engine's reason for "too large" ('413', 'limit N') in words. */
function tooLargeReason(reason: string): string {
  if (reason === '413') return 'KATA refused it as too large (HTTP 413)';
  const limit = /^limit (\d+)$/.exec(reason);
  return limit ? `larger than the limit of ${limit[1]} bytes` : reason;
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
