import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from './atomicFile';

export const ADMIN_PASSWORD_FILE = 'admin-password';

/**
 * The console password: random on first start and kept in `<data>/admin-password` (0600).
 * `created` tells the caller it may print it, which happens on that first start only.
 */
export async function ensureAdminPassword(dataDir: string): Promise<{ password: string; path: string; created: boolean }> {
  const path = join(dataDir, ADMIN_PASSWORD_FILE);
  try {
    const password = (await readFile(path, 'utf8')).trim();
    if (password) return { password, path, created: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  // 144 bits, URL-safe so it can be typed and pasted anywhere.
  const password = randomBytes(18).toString('base64url');
  await writeFileAtomic(path, password + '\n', 0o600);
  return { password, path, created: true };
}
