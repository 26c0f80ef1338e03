import { readFile, stat } from 'node:fs/promises';
import { posix } from 'node:path';
import { type ScanEntry, journalFileName, parseJournal } from '../engine/journal';
import { type QuarantineAuditRecord, parseQuarantineAudit, quarantineAuditFile } from '../engine/quarantineActions';

/**
 * What the engine recorded about files it finished, wherever it runs: the journal's finished
 * scans (newest first) and the quarantine audit (oldest first). The views read history only
 * through this, so a Central Node's files get the same verdicts, hashes and "released by" as
 * local ones, however late the connection was made.
 */
export interface ScanHistory {
  finished: ScanEntry[];
  audit: QuarantineAuditRecord[];
}

export type ScanHistorySource = () => Promise<ScanHistory>;

/** The journal and audit in a local state_dir, read again only when they changed (size and mtime). */
export function localScanHistory(stateDir: string): ScanHistorySource {
  return remoteScanHistory(
    {
      async version(path) {
        try {
          const st = await stat(path);
          return `${st.size}:${st.mtimeMs}`;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
          throw err;
        }
      },
      read: (path) => readFile(path, 'utf8'),
    },
    stateDir,
  );
}

/** A file read from elsewhere; `version` changes when the content may have (e.g. size and mtime), undefined when it is missing. */
export interface RemoteTextFile {
  version(path: string): Promise<string | undefined>;
  read(path: string): Promise<string>;
}

/**
 * The journal and audit of a state_dir on another machine (the Central Node over SFTP). Each
 * file is read again only when its version changed, so a refresh every few seconds costs a stat.
 */
export function remoteScanHistory(files: RemoteTextFile, stateDir: string): ScanHistorySource {
  const journalPath = posix.join(stateDir, journalFileName);
  const auditPath = posix.join(stateDir, posix.basename(quarantineAuditFile(stateDir)));
  const cache = new Map<string, { version: string; value: unknown }>();
  const cached = async <T>(path: string, parse: (text: string) => T, empty: T): Promise<T> => {
    const version = await files.version(path);
    if (version === undefined) {
      cache.delete(path);
      return empty;
    }
    const hit = cache.get(path);
    if (hit && hit.version === version) return hit.value as T;
    const value = parse(await files.read(path));
    cache.set(path, { version, value });
    return value;
  };
  return async () => ({
    finished: await cached(journalPath, (t) => parseJournal(t).finished, [] as ScanEntry[]),
    audit: await cached(auditPath, parseQuarantineAudit, [] as QuarantineAuditRecord[]),
  });
}
