import { closeSync, fstatSync, fsyncSync, openSync, readSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { t } from '../common/l10n';
import type { Logger } from '../common/log';
import { type QuarantineAuditRecord, parseQuarantineAudit, quarantineAuditFile } from '../engine/quarantineActions';

/** Where the follower keeps how far the audit has been sent: beside the audit, in state_dir. */
export const auditCursorFileName = 'siem-audit.cursor';

interface Cursor {
  /** The audit file's inode: another file under the name starts from its beginning. */
  ino: number;
  /** Bytes of it whose records reached the network. */
  offset: number;
}

export interface AuditFollowerOptions {
  stateDir: string;
  logger: Logger;
  /** Hands one record on; `sent` is called once it reached the network. False: no room now, try later. */
  deliver(record: QuarantineAuditRecord, id: string, sent: () => void): boolean;
  /** How often the file is looked at (default 1 s). */
  intervalMs?: number;
}

/**
 * Releases and deletions from quarantine happen in other processes (`kds quarantine`, the VS Code
 * extension), which append one fsync'ed JSON line each to <state_dir>/quarantine-audit.jsonl. The
 * service follows that file and sends each record to the SIEM once: a cursor (inode and offset)
 * in <state_dir>/siem-audit.cursor moves past a record only when it reached the network, so a
 * record is neither skipped (the SIEM was down, the service restarted) nor sent again in normal
 * operation. Records are never dropped: while the SIEM queue is full the follower waits. On its
 * very first start the follower begins at the end of the file (the history before SIEM was
 * configured is not replayed).
 */
export class AuditFollower {
  private readonly auditPath: string;
  private readonly cursorPath: string;
  private cursor: Cursor = { ino: 0, offset: 0 };
  /** How far records were handed to deliver() (ahead of the cursor while they are in the queue). */
  private readOffset = 0;
  private timer?: NodeJS.Timeout;
  private busy = false;
  /** Offsets of records handed on and not yet sent, in order; the cursor moves past the sent prefix. */
  private readonly pending: Array<{ end: number; sent: boolean }> = [];

  constructor(private readonly o: AuditFollowerOptions) {
    this.auditPath = quarantineAuditFile(o.stateDir);
    this.cursorPath = join(o.stateDir, auditCursorFileName);
  }

  start(): void {
    this.cursor = this.loadCursor();
    this.readOffset = this.cursor.offset;
    void this.poll();
    this.timer = setInterval(() => void this.poll(), this.o.intervalMs ?? 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Reads what was appended since the last look and hands on every complete record it can. */
  async poll(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      let st;
      try {
        st = statSync(this.auditPath);
      } catch {
        return; // no release or deletion yet
      }
      if (st.ino !== this.cursor.ino || st.size < this.cursor.offset) {
        // A new audit file (first one, or replaced by the administrator): from its start.
        this.pending.length = 0;
        this.cursor = { ino: st.ino, offset: 0 };
        this.readOffset = 0;
        this.saveCursor();
      }
      if (st.size <= this.readOffset) return;
      const data = await readFromOffset(this.auditPath, this.readOffset, st.size - this.readOffset);
      let at = this.readOffset;
      for (const bytes of completeLines(data)) {
        const end = at + bytes.length + 1;
        const line = bytes.toString('utf8');
        const [record] = parseQuarantineAudit(line);
        if (!record) {
          // A foreign or torn line: passed over, never stuck on.
          this.handedOn(end, true);
          at = end;
          continue;
        }
        const slot = { end, sent: false };
        const id = `audit-${this.cursor.ino}-${at}`;
        if (!this.o.deliver(record, id, () => this.markSent(slot))) break;
        this.pending.push(slot);
        at = end;
      }
      this.readOffset = at;
    } catch (err) {
      this.o.logger.warn('siem-audit', t('cannot read the quarantine audit {0}: {1}', this.auditPath, (err as Error).message));
    } finally {
      this.busy = false;
    }
  }

  private handedOn(end: number, sent: boolean): void {
    const slot = { end, sent };
    this.pending.push(slot);
    this.advance();
  }

  private markSent(slot: { end: number; sent: boolean }): void {
    slot.sent = true;
    this.advance();
  }

  private advance(): void {
    let moved = false;
    while (this.pending.length && this.pending[0]!.sent) {
      this.cursor.offset = this.pending.shift()!.end;
      moved = true;
    }
    if (moved) this.saveCursor();
  }

  private loadCursor(): Cursor {
    try {
      const c = JSON.parse(readFileSyncSafe(this.cursorPath)) as Partial<Cursor>;
      if (typeof c.ino === 'number' && typeof c.offset === 'number' && c.offset >= 0) return { ino: c.ino, offset: c.offset };
    } catch {
      // none yet, or unreadable: start at the end, as on the first start
    }
    try {
      const st = statSync(this.auditPath);
      const c = { ino: st.ino, offset: st.size };
      this.cursor = c;
      this.saveCursor();
      return c;
    } catch {
      return { ino: 0, offset: 0 };
    }
  }

  /** Written aside, synced and renamed over: a crash leaves the old cursor or the new one. */
  private saveCursor(): void {
    const tmp = `${this.cursorPath}.tmp`;
    try {
      writeFileSync(tmp, JSON.stringify(this.cursor) + '\n', { mode: 0o600 });
      const fd = openSync(tmp, 'r');
      try {
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, this.cursorPath);
    } catch (err) {
      this.o.logger.warn('siem-audit', t('cannot save the SIEM audit cursor {0}: {1}', this.cursorPath, (err as Error).message));
    }
  }
}

function readFileSyncSafe(path: string): string {
  const fd = openSync(path, 'r');
  try {
    const size = Math.min(fstatSync(fd).size, 4096);
    const buf = Buffer.alloc(size);
    readSync(fd, buf, 0, size, 0);
    return buf.toString('utf8');
  } finally {
    closeSync(fd);
  }
}

async function readFromOffset(path: string, offset: number, length: number): Promise<Buffer> {
  // One line per human decision: small. Only the new part is read all the same, at most 16 MiB a time.
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(Math.min(length, 16 * 1024 * 1024));
    const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** The complete lines of `data` (each followed by a newline), as bytes; a last line without one is still being written. */
function completeLines(data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let start = 0;
  for (let nl = data.indexOf(0x0a); nl >= 0; nl = data.indexOf(0x0a, start)) {
    out.push(data.subarray(start, nl));
    start = nl + 1;
  }
  return out;
}
