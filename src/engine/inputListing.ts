import type { Dirent, Stats } from 'node:fs';
import { lstat, opendir } from 'node:fs/promises';
import { join } from 'node:path';
import { nameProblem } from '../common/platform';
import type { IgnoredKind } from './events';
import { isReservedInputName } from './sourceRemoval';

export interface ListedFile {
  name: string;
  stats: Stats;
}

export interface Listing {
  files: ListedFile[];
  ignored: Array<{ name: string; kind: IgnoredKind }>;
}

/** What readdir alone tells: names that may be regular files, and entries that are certainly not. */
export interface InputNames {
  candidates: string[];
  ignored: Array<{ name: string; kind: IgnoredKind }>;
}

const statBatch = 64;

/**
 * The names in `dir` from one readdir, without a stat: entries whose type readdir reports as
 * something else than a regular file are ignored. Subfolders, symlinks (never followed, so a
 * link cannot smuggle /etc/shadow into KATA or out of quarantine), FIFOs (opening one would
 * block), sockets, devices, names that are not valid UTF-8, and names this OS cannot hold (on
 * Windows `a:b`, `CON`, `report.` from a share): neither could be written back under the same name.
 */
export async function readInputNames(dir: string): Promise<InputNames> {
  // Read in slices (opendir), not in one scandir: a folder of 100 000 names would otherwise be
  // one native allocation of tens of MB per listing, which the C allocator keeps for good.
  const entries = (await opendir(dir, { encoding: 'buffer' as BufferEncoding, bufferSize: 1024 })) as unknown as AsyncIterable<Dirent<Buffer>>;
  const out: InputNames = { candidates: [], ignored: [] };
  for await (const d of entries) {
    const name = d.name.toString('utf8');
    // KDS's own (a file being moved out of input): never an input file of its own.
    if (isReservedInputName(name)) continue;
    if (!Buffer.from(name, 'utf8').equals(d.name)) {
      out.ignored.push({ name: d.name.toString('latin1'), kind: 'bad-name' });
      continue;
    }
    const kind = nameProblem(name) ? 'forbidden-name' : direntKind(d);
    if (kind === undefined) out.candidates.push(name);
    else out.ignored.push({ name, kind });
  }
  return out;
}

/** The regular single-link files directly in `dir` with their lstat; everything else as ignored. */
export async function listInput(dir: string): Promise<Listing> {
  const names = await readInputNames(dir);
  const out: Listing = { files: [], ignored: names.ignored };
  const candidates = names.candidates;
  for (let i = 0; i < candidates.length; i += statBatch) {
    const batch = candidates.slice(i, i + statBatch);
    const stats = await Promise.all(batch.map((name) => lstat(join(dir, name)).catch(() => undefined)));
    batch.forEach((name, j) => {
      const st = stats[j];
      if (!st) return; // vanished between readdir and lstat
      const kind = statsKind(st);
      if (kind === undefined) out.files.push({ name, stats: st });
      else out.ignored.push({ name, kind });
    });
  }
  return out;
}

/** undefined = a regular file, or a type readdir could not tell (DT_UNKNOWN on some network file systems). */
function direntKind(d: Dirent<Buffer>): IgnoredKind | undefined {
  if (d.isDirectory()) return 'directory';
  if (d.isSymbolicLink()) return 'symlink';
  if (d.isFIFO()) return 'fifo';
  if (d.isSocket()) return 'socket';
  if (d.isBlockDevice() || d.isCharacterDevice()) return 'device';
  return undefined;
}

/**
 * undefined for a regular file with one link. A file with more links has other names, perhaps
 * outside input (a hard link to /etc/shadow made by someone who can write here): never scanned.
 */
export function statsKind(st: Stats): IgnoredKind | undefined {
  if (st.isFile()) return st.nlink > 1 ? 'hard-link' : undefined;
  if (st.isDirectory()) return 'directory';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  return 'device';
}
