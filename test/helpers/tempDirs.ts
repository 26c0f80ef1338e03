import { mkdtempSync, readdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';

/** A fresh folder removed after the test file finishes. `base` picks the file system (e.g. /dev/shm). */
export function tempDir(prefix = 'kds-test-', base = tmpdir()): string {
  const dir = mkdtempSync(join(base, prefix));
  after(() => removeTree(dir));
  return dir;
}

/**
 * rm -rf. On Windows a file whose last handle is still closing is only "delete pending", and its
 * folder cannot be removed until that close, which runs on the event loop, is done (ENOTEMPTY):
 * the asynchronous rm retries without blocking the loop.
 */
export async function removeTree(path: string): Promise<void> {
  try {
    await rm(path, { recursive: true, force: true, maxRetries: 20 });
  } catch (err) {
    // What is left is what something still holds open: name it.
    const walk = (d: string): string[] => {
      try {
        return readdirSync(d).flatMap((n) => [join(d, n), ...walk(join(d, n))]);
      } catch {
        return [];
      }
    };
    throw new Error(`${(err as Error).message}; left: ${walk(path).join(', ')}`);
  }
}
