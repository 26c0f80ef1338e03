import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';

/** A fresh folder removed after the test file finishes. `base` picks the file system (e.g. /dev/shm). */
export function tempDir(prefix = 'kds-test-', base = tmpdir()): string {
  const dir = mkdtempSync(join(base, prefix));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
