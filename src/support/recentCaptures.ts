import { readdir, lstat } from 'node:fs/promises';
import { join } from 'node:path';
import type { FileIdentity } from './scrubFiles';

/** How `kds capture` and "KDS: Capture ICAP Traffic" name what they save. */
const captureName = /^icap-capture-.*\.pcap$/;

/** A capture found by listing its folder: the bundle opens exactly this inode, or leaves it out. */
export interface FoundCapture extends FileIdentity {
  path: string;
}

/**
 * The captures KDS itself took in `dir` during the last `maxAgeMs` (newest first, at most
 * `limit`): a support request should carry the pcaps that were taken without the user having
 * to find them again. Regular files with one link only; links are not followed. This is only a
 * listing: the bundle later opens each one once with O_NOFOLLOW and checks it is still the inode
 * listed here (scrubFiles.openBundleSource), so a capture swapped for a link to a root-only file
 * between the two never puts that file in the bundle.
 */
export async function recentCaptures(dir: string, maxAgeMs = 7 * 86_400_000, limit = 10, now = Date.now()): Promise<FoundCapture[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const found: Array<FoundCapture & { mtimeMs: number }> = [];
  for (const name of names.filter((n) => captureName.test(n))) {
    const path = join(dir, name);
    const st = await lstat(path).catch(() => undefined);
    if (st?.isFile() && st.nlink === 1 && st.size > 0 && now - st.mtimeMs <= maxAgeMs) found.push({ path, dev: st.dev, ino: st.ino, mtimeMs: st.mtimeMs });
  }
  return found
    .sort((a, b) => b.mtimeMs - a.mtimeMs)
    .slice(0, limit)
    .map(({ path, dev, ino }) => ({ path, dev, ino }));
}
