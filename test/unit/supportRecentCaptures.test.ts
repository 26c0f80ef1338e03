import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { recentCaptures } from '../../src/support/recentCaptures';

test('the captures KDS took recently are found, newest first; old ones, other names, empty files and links are not', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kds-captures-'));
  try {
    const now = Date.now();
    const put = (name: string, ageMs: number, body = 'pcap') => {
      writeFileSync(join(dir, name), body);
      const t = (now - ageMs) / 1000;
      utimesSync(join(dir, name), t, t);
    };
    put('icap-capture-cn-20261201-1000.pcap', 3_600_000);
    put('icap-capture-local-20261201-1100.pcap', 60_000);
    put('icap-capture-old.pcap', 30 * 86_400_000);
    put('icap-capture-empty.pcap', 1000, '');
    put('other.pcap', 1000);
    symlinkSync('/etc/passwd', join(dir, 'icap-capture-link.pcap'));
    const found = await recentCaptures(dir, 7 * 86_400_000, 10, now);
    assert.deepEqual(found.map((p) => p.slice(dir.length + 1)), ['icap-capture-local-20261201-1100.pcap', 'icap-capture-cn-20261201-1000.pcap']);
    assert.deepEqual(await recentCaptures(join(dir, 'missing')), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
