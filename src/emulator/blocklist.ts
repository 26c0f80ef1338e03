import { readFileSync, statSync } from 'node:fs';
import type { Logger } from '../common/log';
import { t } from '../common/l10n';

/**
 * `<data>/blocklist.sha256`: one SHA-256 a line (the first word, so `sha256sum` output works
 * too), `#` starts a comment. Re-read whenever its size, mtime or inode changes, so an
 * administrator can edit it while the emulator runs.
 */
export class Sha256Blocklist {
  private hashes = new Set<string>();
  private stamp = '';

  constructor(
    readonly path: string,
    private readonly logger: Logger,
  ) {}

  /** Synchronous: a stat a call (microseconds), the file re-read only when it changed. */
  has(sha256: string): boolean {
    this.refresh();
    return this.hashes.has(sha256.toLowerCase());
  }

  private refresh(): void {
    let stamp: string;
    try {
      const st = statSync(this.path);
      stamp = `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch {
      stamp = 'absent';
    }
    if (stamp === this.stamp) return;
    this.stamp = stamp;
    if (stamp === 'absent') {
      this.hashes = new Set();
      return;
    }
    const next = new Set<string>();
    let bad = 0;
    try {
      for (const raw of readFileSync(this.path, 'utf8').split(/\r?\n/)) {
        const line = raw.replace(/#.*/, '').trim();
        if (!line) continue;
        const word = line.split(/\s+/)[0]!;
        if (/^[0-9a-f]{64}$/i.test(word)) next.add(word.toLowerCase());
        else bad++;
      }
    } catch (err) {
      this.logger.warn('emulator.blocklist', t('Cannot read the block list: {0}', (err as Error).message), { file: this.path });
      return;
    }
    this.hashes = next;
    this.logger.info('emulator.blocklist', t('Block list loaded: {0} hashes, {1} lines ignored.', next.size, bad), { file: this.path });
  }
}
