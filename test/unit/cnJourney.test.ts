/**
 * View-model tests of the Central Node journey (issue 15 items 5 and 7, issue 14's one interface):
 * the CN's history read "over SFTP" gives files routed before the connection their verdicts and
 * "released by" as locally; the exclude list on a CN is edited through the same store interface,
 * a failed re-read is an error for the user; auth failures name the settings to change.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { authFailureAdvice } from '../../src/centralNode/connectAdvice';
import { Journal } from '../../src/engine/journal';
import { cnExcludeList } from '../../src/centralNode/cnOps';
import { DestinationFolderModel } from '../../src/viewModel/destinationFolderModel';
import { localScanHistory, remoteScanHistory } from '../../src/viewModel/scanHistory';

const dir = mkdtempSync(join(tmpdir(), 'kds-cnjourney-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A "CN" whose files are read through a counter, as SFTP would (version = size:mtime). */
function countingFiles() {
  const reads: string[] = [];
  return {
    reads,
    files: {
      async version(path: string) {
        try {
          const st = statSync(path);
          return `${st.size}:${st.mtimeMs}`;
        } catch {
          return undefined;
        }
      },
      async read(path: string) {
        reads.push(path);
        return readFileSync(path, 'utf8');
      },
    },
  };
}

test('item 5: files routed before the connection get their verdicts from the CN\'s journal, released files say who released them', async () => {
  const state = join(dir, 'state');
  const out = join(dir, 'out');
  await mkdir(state, { recursive: true });
  await mkdir(out, { recursive: true });
  // The CN's service handled two files long before VS Code connected: no event of theirs will ever be seen.
  const j = Journal.open(state);
  const t0 = Date.now() - 3_600_000;
  for (const [id, name, size, verdict, dest] of [
    ['s1', 'clean.txt', 5, 'not detected', 'out'],
    ['s2', 'eicar.com', 68, 'detect', 'qrnt'],
  ] as const) {
    j.intent({ scanId: id, name, size, mtimeMs: t0, ino: 1 });
    j.submitted(id, 'a'.repeat(63) + id.slice(1));
    j.verdict(id, verdict, dest);
    j.done(id, 'routed');
  }
  j.close();
  await writeFile(join(out, 'clean.txt'), 'clean');
  await writeFile(join(out, 'eicar.com'), 'x'.repeat(68));
  writeFileSync(join(state, 'quarantine-audit.jsonl'), JSON.stringify({ time: new Date(t0 + 10).toISOString(), user: 'root (VS Code, ssh root)', action: 'release', file: 'eicar.com', sha256: 'a'.repeat(63) + '2', from: '/mnt/qrnt/eicar.com', to: '/mnt/out/eicar.com' }) + '\n');

  const cn = countingFiles();
  const remote = remoteScanHistory(cn.files, state);
  const local = localScanHistory(state);
  assert.deepEqual(await remote(), await local(), 'the CN\'s history reads the same as a local one');
  const model = new DestinationFolderModel({ folder: 'out', dir: out, history: remote, debounceMs: 1 });
  try {
    await model.refresh();
    const clean = model.get('clean.txt');
    const released = model.get('eicar.com');
    assert.equal(clean?.verdict, 'not detected', `clean.txt: ${JSON.stringify(clean)}`);
    assert.equal(released?.verdict, 'detect');
    assert.equal(released?.released?.by, 'root (VS Code, ssh root)');
    // Unchanged files are not read again on the next refresh (a stat each).
    const before = cn.reads.length;
    await model.refresh();
    assert.equal(cn.reads.length, before);
  } finally {
    model.dispose();
  }
});

test('item 7 / one interface: the CN\'s exclude list is edited like the local one; a failed re-read by the service is an error', async () => {
  const path = join(dir, 'exclude_list.txt');
  writeFileSync(path, '# keep this comment\n*.tmp\n');
  const ctx = {
    shell: async () => ({ exec: async () => ({ code: 0, stdout: Buffer.alloc(0), stderr: Buffer.alloc(0) }) }),
    files: async () =>
      ({
        readFile: async (p: string) => readFileSync(p),
        exists: async (p: string) => {
          try {
            const st = statSync(p);
            return { type: 'file', size: st.size, mtimeMs: st.mtimeMs, mode: st.mode & 0o7777, uid: 0, gid: 0 };
          } catch {
            return undefined;
          }
        },
        writeFileAtomic: async (p: string, data: string) => writeFileSync(p, data),
      }) as never,
  };
  let reloadAnswer: string | undefined;
  const store = cnExcludeList(ctx, { share: 'default', path, label: `root@cn:${path}`, caseSensitive: false, inputNames: async () => ['a.doc'], reload: async () => reloadAnswer });
  await store.edit({ add: '*.doc' });
  assert.equal(readFileSync(path, 'utf8'), '# keep this comment\n*.tmp\n*.doc\n');
  await assert.rejects(store.edit({ add: '/etc/passwd' }), /Cannot add/);
  reloadAnswer = 'Job for kata-dir-scanner.service failed';
  await assert.rejects(store.edit({ remove: '*.tmp' }), /saved, but the service did not re-read it: Job for kata-dir-scanner\.service failed/);
  assert.equal(readFileSync(path, 'utf8'), '# keep this comment\n*.doc\n');
});

test('item 7: an authentication failure names the settings to fix', () => {
  const withKey = authFailureAdvice({ user: 'root', identityFile: '/home/a/.ssh/id_ed25519', useAgent: true });
  assert.match(withKey, /kds\.remote\.identityFile \(\/home\/a\/\.ssh\/id_ed25519\)/);
  assert.match(withKey, /~root\/\.ssh\/authorized_keys/);
  assert.match(withKey, /SSH_AUTH_SOCK is not set/);
  assert.match(withKey, /kds\.remote\.user/);
  const agent = authFailureAdvice({ user: 'admin', useAgent: true, agent: 'the ssh-agent at /tmp/agent.sock (SSH_AUTH_SOCK)' });
  assert.match(agent, /Set kds\.remote\.identityFile/);
  assert.match(agent, /The keys of the ssh-agent at \/tmp\/agent\.sock \(SSH_AUTH_SOCK\) were refused \(kds\.remote\.useAgent\)/);
});
