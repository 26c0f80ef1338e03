import { readdir, lstat } from 'node:fs/promises';
import { join } from 'node:path';

/** How `kds capture` and "KDS: Capture ICAP Traffic" name what they save. */
const captureName = /^icap-capture-.*\.pcap$/;

/**
 * The captures KDS itself took in `dir` during the last `maxAgeMs` (newest first, at most
 * `limit`): a support request should carry the pcaps that were taken without the user having
 * to find them again. Regular files only; links are not followed.
 */
export async function recentCaptures(dir: string, maxAgeMs = 7 * 86_400_000, limit = 10, now = Date.now()): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const found: Array<{ path: string; mtimeMs: number }> = [];
  for (const name of names.filter((n) => captureName.test(n))) {
    const path = join(dir, name);
    const st = await lstat(path).catch(() => undefined);
    if (st?.isFile() && st.size > 0 && now - st.mtimeMs <= maxAgeMs) found.push({ path, mtimeMs: st.mtimeMs });
  }
  return found.sort((a, b) => b.mtimeMs - a.mtimeMs).slice(0, limit).map((f) => f.path);
}
