import { closeSync, fdatasyncSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export type Destination = 'out' | 'qrnt';

/** How a scan ended in the journal's eyes. */
export type ScanOutcome =
  | 'routed'
  /** The file changed, vanished or was excluded while KATA had it; its result is not used. */
  | 'abandoned'
  /** The upload failed or was cut by a crash; KATA may still hold a result to delete. */
  | 'interrupted';

/** The durable progress of one submission of one version of one file. */
export interface ScanEntry {
  scanId: string;
  name: string;
  size: number;
  mtimeMs: number;
  ino: number;
  intentAt: number;
  sha256?: string;
  submittedAt?: number;
  state?: string;
  verdictAt?: number;
  destination?: Destination;
  placedPath?: string;
  outcome?: ScanOutcome;
  doneAt?: number;
  /** KATA no longer holds a result for this scanId (deleted, or never existed). */
  resultCleared?: boolean;
}

type Op =
  | { op: 'intent'; scanId: string; name: string; size: number; mtimeMs: number; ino: number; at: number }
  | { op: 'submitted'; scanId: string; sha256: string; at: number }
  | { op: 'verdict'; scanId: string; state: string; destination: Destination; at: number }
  | { op: 'placed'; scanId: string; path: string; at: number }
  | { op: 'done'; scanId: string; outcome: ScanOutcome; at: number }
  | { op: 'cleared'; scanId: string; at: number };

function applyOp(entries: Map<string, ScanEntry>, op: Op): ScanEntry | undefined {
  if (op.op === 'intent') {
    const e: ScanEntry = { scanId: op.scanId, name: op.name, size: op.size, mtimeMs: op.mtimeMs, ino: op.ino, intentAt: op.at };
    entries.set(op.scanId, e);
    return e;
  }
  const e = entries.get(op.scanId);
  if (!e) return undefined;
  switch (op.op) {
    case 'submitted':
      e.sha256 = op.sha256;
      e.submittedAt = op.at;
      break;
    case 'verdict':
      e.state = op.state;
      e.destination = op.destination;
      e.verdictAt = op.at;
      break;
    case 'placed':
      e.placedPath = op.path;
      break;
    case 'done':
      e.outcome = op.outcome;
      e.doneAt = op.at;
      break;
    case 'cleared':
      e.resultCleared = true;
      break;
  }
  return e;
}

const fileName = 'journal.jsonl';
/** How many finished scans survive a compaction, for `kds status` and the extension's history. */
const keepFinished = 1000;

/**
 * Append-only, fsync'ed record of every submission. Each step is written before the action it
 * allows (an upload, a removal from input), so after a crash at any instant the engine knows
 * which results to poll, which deliveries to finish and which stray results to delete. A torn
 * last line from a crash is ignored.
 */
export class Journal {
  private fd: number;
  private readonly entries = new Map<string, ScanEntry>();
  private appended = 0;

  private constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.load();
    this.fd = this.compact();
  }

  static open(dir: string): Journal {
    return new Journal(dir);
  }

  get path(): string {
    return join(this.dir, fileName);
  }

  /** Entries that still need work: not finished, or finished with a result to delete. */
  live(): ScanEntry[] {
    return [...this.entries.values()].filter((e) => !e.outcome || !e.resultCleared);
  }

  /** Finished entries, newest first. */
  finished(limit = keepFinished): ScanEntry[] {
    return [...this.entries.values()]
      .filter((e) => e.outcome)
      .sort((a, b) => (b.doneAt ?? 0) - (a.doneAt ?? 0))
      .slice(0, limit);
  }

  get(scanId: string): ScanEntry | undefined {
    return this.entries.get(scanId);
  }

  intent(e: { scanId: string; name: string; size: number; mtimeMs: number; ino: number }): ScanEntry {
    return this.write({ op: 'intent', ...e, at: Date.now() });
  }
  submitted(scanId: string, sha256: string): ScanEntry {
    return this.write({ op: 'submitted', scanId, sha256, at: Date.now() });
  }
  verdict(scanId: string, state: string, destination: Destination): ScanEntry {
    return this.write({ op: 'verdict', scanId, state, destination, at: Date.now() });
  }
  placed(scanId: string, path: string): ScanEntry {
    return this.write({ op: 'placed', scanId, path, at: Date.now() });
  }
  done(scanId: string, outcome: ScanOutcome): ScanEntry {
    return this.write({ op: 'done', scanId, outcome, at: Date.now() });
  }
  cleared(scanId: string): ScanEntry {
    return this.write({ op: 'cleared', scanId, at: Date.now() });
  }

  close(): void {
    closeSync(this.fd);
  }

  private write(op: Op): ScanEntry {
    const entry = this.apply(op);
    if (!entry) throw new Error(`journal: unknown scanId ${op.scanId}`);
    writeSync(this.fd, JSON.stringify(op) + '\n');
    fdatasyncSync(this.fd);
    if (++this.appended > 20_000) {
      closeSync(this.fd);
      this.fd = this.compact();
    }
    return entry;
  }

  private apply(op: Op): ScanEntry | undefined {
    return applyOp(this.entries, op);
  }

  private load(): void {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        this.apply(JSON.parse(line) as Op);
      } catch {
        // Only the last line can be torn by a crash; nothing after it was acknowledged.
      }
    }
  }

  /** Rewrites the journal as one record per entry (live ones and the newest finished ones). */
  private compact(): number {
    const keep = new Set([...this.live(), ...this.finished()].map((e) => e.scanId));
    for (const id of [...this.entries.keys()]) if (!keep.has(id)) this.entries.delete(id);
    const lines: string[] = [];
    for (const e of this.entries.values()) {
      lines.push(JSON.stringify({ op: 'intent', scanId: e.scanId, name: e.name, size: e.size, mtimeMs: e.mtimeMs, ino: e.ino, at: e.intentAt }));
      if (e.sha256) lines.push(JSON.stringify({ op: 'submitted', scanId: e.scanId, sha256: e.sha256, at: e.submittedAt }));
      if (e.state && e.destination) lines.push(JSON.stringify({ op: 'verdict', scanId: e.scanId, state: e.state, destination: e.destination, at: e.verdictAt }));
      if (e.placedPath) lines.push(JSON.stringify({ op: 'placed', scanId: e.scanId, path: e.placedPath, at: Date.now() }));
      if (e.outcome) lines.push(JSON.stringify({ op: 'done', scanId: e.scanId, outcome: e.outcome, at: e.doneAt }));
      if (e.resultCleared) lines.push(JSON.stringify({ op: 'cleared', scanId: e.scanId, at: Date.now() }));
    }
    const tmp = this.path + '.tmp';
    const fd = openSync(tmp, 'w', 0o600);
    writeSync(fd, lines.length ? lines.join('\n') + '\n' : '');
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, this.path);
    const dirFd = openSync(this.dir, 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
    this.appended = 0;
    return openSync(this.path, 'a', 0o600);
  }
}

/** Reads a journal without taking it over (for `kds status` while the service runs). */
export function readJournal(dir: string): { live: ScanEntry[]; finished: ScanEntry[] } {
  let text = '';
  try {
    text = readFileSync(join(dir, fileName), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  return parseJournal(text);
}

/** The journal file's name in state_dir (a follower elsewhere reads it by this name). */
export const journalFileName = fileName;

/** A journal's text as entries (read here, or over SFTP from a Central Node). */
export function parseJournal(text: string): { live: ScanEntry[]; finished: ScanEntry[] } {
  const entries = new Map<string, ScanEntry>();
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      applyOp(entries, JSON.parse(line) as Op);
    } catch {
      // torn last line
    }
  }
  const all = [...entries.values()];
  return {
    live: all.filter((e) => !e.outcome || !e.resultCleared),
    finished: all.filter((e) => e.outcome).sort((a, b) => (b.doneAt ?? 0) - (a.doneAt ?? 0)),
  };
}
