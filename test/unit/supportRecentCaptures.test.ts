import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { linkSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prepareBundle } from '../../src/support/bundleContents';
import { recentCaptures } from '../../src/support/recentCaptures';
import { SecretScrubber } from '../../src/support/secretScrub';

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
    put('icap-capture-twice.pcap', 1000);
    linkSync(join(dir, 'icap-capture-twice.pcap'), join(dir, 'second-name'));
    const found = await recentCaptures(dir, 7 * 86_400_000, 10, now);
    assert.deepEqual(found.map((p) => p.path.slice(dir.length + 1)), ['icap-capture-local-20261201-1100.pcap', 'icap-capture-cn-20261201-1000.pcap']);
    assert.deepEqual(await recentCaptures(join(dir, 'missing')), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * Issue 19, point 10: a capture swapped after the listing (for a symlink to a root-only file, a
 * hard link to it, a FIFO, another file) is left out — the bundle never reads what is there now.
 * Before, the bundle followed the link and put the file in.
 */
test('a capture swapped after it was listed is left out, never read: symlink, hard link, FIFO, another file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kds-captures-swap-'));
  try {
    const secret = join(dir, 'root-only', 'shadow');
    mkdirSync(join(dir, 'root-only'), { mode: 0o700 });
    writeFileSync(secret, 'root:$6$SecretHashOfRoot:19000:0:99999:7:::\n', { mode: 0o600 });
    const caps = join(dir, 'caps');
    mkdirSync(caps);
    const names = ['icap-capture-a.pcap', 'icap-capture-b.pcap', 'icap-capture-c.pcap', 'icap-capture-d.pcap', 'icap-capture-e.pcap'];
    for (const n of names) writeFileSync(join(caps, n), `pcap ${n}\n`);
    const found = await recentCaptures(caps);
    assert.equal(found.length, 5);
    // After the listing, before the bundle reads them:
    const at = (n: string) => join(caps, n);
    rmSync(at(names[0]!));
    symlinkSync(secret, at(names[0]!));
    rmSync(at(names[1]!));
    linkSync(secret, at(names[1]!));
    rmSync(at(names[2]!));
    execFileSync('mkfifo', [at(names[2]!)]);
    writeFileSync(join(caps, 'other'), 'another file\n');
    renameSync(join(caps, 'other'), at(names[3]!));
    // names[4] stays as listed.
    const staging = join(dir, 'staging');
    mkdirSync(staging, { mode: 0o700 });
    const notes: string[] = [];
    const entries = await prepareBundle(
      found.map((c) => ({ name: `captures/${c.path.split('/').pop()}`, about: 'capture', file: c.path, expect: { dev: c.dev, ino: c.ino } })),
      new SecretScrubber(),
      staging,
      notes,
    );
    assert.deepEqual(entries.map((e) => e.name), [`captures/${names[4]}`]);
    assert.equal(notes.length, 4, notes.join('\n'));
    // The captures are prepared concurrently: the notes come in any order, one per swapped capture.
    const noteOf = (n: string) => notes.filter((x) => x.includes(`/${n} `));
    assert.equal(noteOf(names[0]!).length, 1, notes.join('\n'));
    assert.match(noteOf(names[0]!)[0]!, /icap-capture-a\.pcap is now a symbolic link: it was left out/);
    for (const n of names.slice(1, 4)) {
      assert.equal(noteOf(n).length, 1, `${n}: ${notes.join('\n')}`);
      assert.match(noteOf(n)[0]!, /changed after it was listed|is not a regular file/);
    }
    for (const e of entries) assert.doesNotMatch(e.data ? e.data.toString() : await readFile(e.file!, 'utf8'), /SecretHashOfRoot/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
