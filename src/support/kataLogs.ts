import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { createInterface } from 'node:readline';
import { pipeline } from 'node:stream/promises';
import { t } from '../common/l10n';
import { compileFilter } from '../icapLog/logFilter';
import { type HostAccess, makePrivateTempDir, reclaim, removeTree } from './hostAccess';
import { KataToolFailed, kataTool } from './kataTools';

export type KataLogKind = 'history' | 'detects';

export const SIEM_TOOL = 'kata-collect-siem-logs';

export interface FetchedKataLogs {
  tool: string;
  /** The argv run on the host (for the report). */
  command: string[];
  /** Local files, in the order the tool wrote them. */
  files: string[];
  /** The tool's own output (stdout + stderr). */
  output: string;
  /** Whether the remote temporary folder was removed. */
  cleaned: boolean;
}

function safeLocalName(name: string): string {
  const n = name.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_');
  return n || 'log';
}

/**
 * Runs `kata-collect-siem-logs log-history|log-detects --output-dir DIR --no-compress` as root
 * into a private temporary folder, copies what it wrote to `localDir`, and removes the folder.
 */
export async function fetchKataLogs(host: HostAccess, kind: KataLogKind, localDir: string): Promise<FetchedKataLogs> {
  const tool = await kataTool(host, SIEM_TOOL);
  const dir = await makePrivateTempDir(host, `siem-${kind}`);
  let cleaned = false;
  try {
    const command = [tool, `log-${kind}`, '--output-dir', dir, '--no-compress'];
    const r = await host.exec(command, { root: true });
    const output = r.stdout.toString('utf8') + r.stderr.toString('utf8');
    if (r.code !== 0) throw new KataToolFailed(t('{0} log-{1} failed on {2} (exit code {3}): {4}', SIEM_TOOL, kind, host.where, String(r.code), output.trim()));
    await reclaim(host, dir);
    await mkdir(localDir, { recursive: true, mode: 0o700 });
    const files: string[] = [];
    const walk = async (remote: string, prefix: string): Promise<void> => {
      for (const e of (await host.readdir(remote)).sort((a, b) => a.name.localeCompare(b.name))) {
        if (e.type === 'directory') await walk(posix.join(remote, e.name), `${prefix}${safeLocalName(e.name)}_`);
        else if (e.type === 'file') {
          const local = join(localDir, prefix + safeLocalName(e.name));
          await pipeline(host.read(posix.join(remote, e.name), 0), createWriteStream(local, { mode: 0o600 }));
          files.push(local);
        }
      }
    };
    await walk(dir, '');
    if (files.length === 0) throw new KataToolFailed(t('{0} log-{1} wrote nothing on {2}. Its output: {3}', SIEM_TOOL, kind, host.where, output.trim() || '-'));
    return { tool, command, files, output, cleaned: (cleaned = await removeTree(host, dir)) };
  } finally {
    if (!cleaned) await removeTree(host, dir).catch(() => false);
  }
}

export interface GrepOptions {
  /** Substring, case-insensitive (default ICAP). */
  pattern?: string;
  /** Only lines with a time at or after this (the ICAP log viewer's time syntax). */
  since?: string;
  /** Lines kept per file for display (default all). */
  maxLines?: number;
}

export interface FileMatches {
  file: string;
  lines: number;
  matched: number;
  matches: string[];
}

/** The lines of each file that match, with counts: the same lines as the ICAP log viewer's filter and `grep -ci`. */
export async function grepFiles(files: string[], opts: GrepOptions = {}): Promise<FileMatches[]> {
  const filter = compileFilter({
    search: { text: opts.pattern ?? 'ICAP', ignoreCase: true },
    ...(opts.since && { timeFrom: opts.since }),
  });
  const out: FileMatches[] = [];
  for (const file of files) {
    const r: FileMatches = { file, lines: 0, matched: 0, matches: [] };
    const rl = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
    for await (const line of rl) {
      r.lines++;
      if (filter.test(line)) {
        r.matched++;
        if (opts.maxLines === undefined || r.matches.length < opts.maxLines) r.matches.push(line);
      }
    }
    out.push(r);
  }
  return out;
}

