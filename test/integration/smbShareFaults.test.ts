import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EICAR } from '../../src/emulator/eicar';
import { startEmulator } from '../../src/emulator/server';
import { partialPrefix } from '../../src/engine/delivery';
import { readJournal } from '../../src/engine/journal';
import { asidePrefix } from '../../src/engine/sourceRemoval';
import { clientCertFiles, engineConfig } from '../helpers/engineConfig';
import { type Harness, logsOf, startHarness, waitFor, waitRescans } from '../helpers/engineHarness';
import { ensureBuilt, kdsBin } from '../helpers/kdsProcess';
import { mulberry32 } from '../helpers/prng';
import { type SambaShare, needSamba, sambaUnavailable, startSamba } from '../helpers/samba';

/*
 * A real SMB share (Samba + smbnetfs, test/helpers/samba.ts) that goes away under KDS: the server
 * stopped, the mount gone; and `kds run` killed with SIGKILL while it delivers on the share.
 * Nothing may be lost or delivered twice. One Samba for the file.
 */

let samba: SambaShare | undefined;
before(async () => {
  if (!sambaUnavailable()) samba = await startSamba();
});
after(async () => {
  await samba?.close();
});

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

function folders(scenario: string) {
  const s = samba!;
  for (const d of ['in', 'out', 'qrnt']) mkdirSync(join(s.served, scenario, d), { recursive: true, mode: 0o777 });
  const at = (base: string) => ({ in: join(base, scenario, 'in'), out: join(base, scenario, 'out'), qrnt: join(base, scenario, 'qrnt') });
  return { served: at(s.served), share: at(s.share) };
}

function leftovers(dirs: Record<string, string>): string[] {
  return Object.values(dirs).flatMap((d) => readdirSync(d).filter((n) => n.startsWith(partialPrefix) || n.startsWith(asidePrefix)));
}

function writeBatch(dir: string, tag: string, n: number): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (let i = 0; i < n; i++) {
    const name = `${tag}-${i}.bin`;
    const body = Buffer.concat([Buffer.from(`${name}\n`), randomBytes(2000 + i * 500)]);
    files.set(name, body);
    writeFileSync(join(dir, name), body);
  }
  return files;
}

function assertDelivered(h: Harness, dirs: { in: string; out: string }, files: Map<string, Buffer>): void {
  const uploads = h.emulator.stats().uploadsBySha256;
  for (const [name, body] of files) {
    assert.ok(readFileSync(join(dirs.out, name)).equals(body), `${name} byte-identical in output`);
    assert.equal(uploads.get(sha256(body)), 1, `${name} uploaded once: its scan survived the outage`);
    assert.equal(h.routed.filter((r) => r.name === name).length, 1, `${name} routed once`);
  }
}

test('the share goes away under KDS (smbd stopped, then the mount gone) and comes back: nothing lost, nothing doubled, nothing written into the bare mount point', { timeout: 300_000 }, async (t) => {
  if (!needSamba(t)) return;
  const s = samba!;
  const f = folders('outage');
  // Verdicts take 3 s: the outages start while KATA still has the files.
  const h = await startHarness({ dirs: f.share, conf: { stable_ms: 1500 }, emulator: { verdictDelayMs: 3000 } });
  const submitted = (files: Map<string, Buffer>) => () => [...files.keys()].every((n) => h.built.engine.snapshot().files.find((x) => x.name === n)?.stage === 'submitted');

  // 1. The server stops.
  const first = writeBatch(f.served.in, 'server-down', 8);
  await waitFor('the first batch with KATA', submitted(first), 60_000);
  await s.stopServer();
  await waitFor('input reported unavailable', () => h.events.some((e) => e.type === 'folder' && e.folder === 'in' && !e.available), 30_000);
  await waitFor('the verdicts arrive while the share is down', () => [...first.keys()].every((n) => logsOf(h, 'verdict', n).length > 0), 30_000);
  // Each delivery tried meanwhile finds the file gone from view (or output unavailable) and waits.
  await waitRescans(h, 3);
  assert.equal(h.routed.length, 0);
  await s.startServer();
  await waitFor('the first batch delivered after the server came back', () => [...first.keys()].every((n) => h.routed.some((r) => r.name === n)), 90_000);
  await waitFor('input empty', () => readdirSync(f.served.in).length === 0, 30_000);
  assertDelivered(h, f.served, first);

  // 2. The mount goes away (smbnetfs stopped, unmounted): the share's folders vanish.
  const second = writeBatch(f.served.in, 'unmounted', 8);
  await waitFor('the second batch with KATA', submitted(second), 60_000);
  const downEvents = h.events.filter((e) => e.type === 'folder' && !e.available).length;
  await s.unmount();
  await waitFor('a folder reported unavailable again', () => h.events.filter((e) => e.type === 'folder' && !e.available).length > downEvents, 30_000);
  await waitFor('the verdicts arrive while unmounted', () => [...second.keys()].every((n) => logsOf(h, 'verdict', n).length > 0), 30_000);
  await new Promise((r) => setTimeout(r, 1000));
  assert.deepEqual(readdirSync(s.mountPoint), [], 'nothing written into the bare mount point');
  await s.mount();
  await waitFor('the second batch delivered after the remount', () => [...second.keys()].every((n) => h.routed.some((r) => r.name === n)), 90_000);
  await waitFor('input empty', () => readdirSync(f.served.in).length === 0, 30_000);
  assertDelivered(h, f.served, second);
  assert.deepEqual(readdirSync(f.served.out).sort(), [...first.keys(), ...second.keys()].sort());
  assert.deepEqual(leftovers(f.served), []);
  assert.deepEqual(
    h.logs.filter((r) => r.event === 'internal').map((r) => r.msg),
    [],
  );
});

function waitExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

test('kill -9 of `kds run` while it delivers on the share: every file in exactly one folder, byte for byte, input emptied', { timeout: 300_000 }, async (t) => {
  if (!needSamba(t)) return;
  ensureBuilt();
  const seed = Number(process.env.KDS_SMB_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
  const replay = `seed ${seed} (replay: KDS_SMB_CRASH_SEED=${seed})`;
  t.diagnostic(replay);
  const rand = mulberry32(seed);
  const f = folders('crash');
  // One hook, in reverse order of set-up: the child, the emulator, then the folder they write to.
  const cleanups: Array<() => unknown> = [];
  t.after(async () => {
    for (const c of cleanups.reverse()) await c();
  });
  const local = mkdtempSync(join(tmpdir(), 'kds-smb-crash-'));
  cleanups.push(() => rmSync(local, { recursive: true, force: true }));
  const emulator = await startEmulator({ host: '127.0.0.1', port: 0, dataDir: join(local, 'kata'), autoApprove: true, verdictDelayMs: 200, faults: 'latency=15' });
  cleanups.push(() => emulator.close());
  const cert = await clientCertFiles(join(local, 'client'));
  const confPath = join(local, 'kata_dir_scanner.conf');
  writeFileSync(
    confPath,
    JSON.stringify(
      engineConfig(
        { dirs: { ...f.share, state: join(local, 'state') }, cert, emulator },
        { system_id: `smb-crash-${seed}`, stable_ms: 1500, max_inflight: 4, log_file: join(local, 'kds.log'), log_format: 'json' },
      ),
    ),
  );
  let child: ChildProcess | undefined;
  cleanups.push(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await waitExit(child, 5000);
    }
  });
  const start = () => spawn(process.execPath, [kdsBin, 'run', '--config', confPath], { cwd: local, stdio: ['ignore', 'ignore', 'ignore'] });

  const files = new Map<string, { body: Buffer; dest: 'out' | 'qrnt' }>();
  for (let i = 0; i < 36; i++) {
    const bad = i % 6 === 0;
    const name = bad ? `eicar-${i}.com` : `doc-${i}.bin`;
    const body = bad ? Buffer.from(EICAR + ' '.repeat(i % 40) + '\r\n', 'latin1') : Buffer.concat([Buffer.from(`doc ${i}\n`), randomBytes(500 + Math.floor(rand() * 200_000))]);
    files.set(name, { body, dest: bad ? 'qrnt' : 'out' });
  }
  const names = [...files.keys()];
  // The producer: smbnetfs answers EIO for a moment when the machine is very busy; a producer
  // tries again (bounded), as any program writing to a share would.
  const produce = async (path: string, body: Buffer) => {
    for (let attempt = 1; ; attempt++) {
      try {
        writeFileSync(path, body);
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EIO' || attempt >= 10) throw err;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  };
  const t0 = Date.now();
  let kills = 0;
  for (let wave = 0; wave < 6; wave++) {
    // Half the files from another host, half through the mount.
    for (const name of names.slice(wave * 6, wave * 6 + 6)) await produce(join(wave % 2 ? f.share.in : f.served.in, name), files.get(name)!.body);
    child = start();
    await new Promise((r) => setTimeout(r, 2500 + Math.floor(rand() * 2500)));
    assert.ok(child.exitCode === null && child.signalCode === null, `${replay}: kds run exited by itself before kill ${kills + 1}`);
    child.kill('SIGKILL');
    assert.ok(await waitExit(child, 10_000), `${replay}: kds run did not die`);
    kills++;
  }
  child = start();
  const done = () => names.every((n) => existsSync(join(f.served[files.get(n)!.dest], n))) && readdirSync(f.served.in).length === 0;
  await waitFor(`${replay}: every file delivered and input empty`, done, 120_000);
  await waitFor(`${replay}: the journal has nothing unfinished`, () => readJournal(join(local, 'state')).live.every((e) => e.outcome), 30_000);
  child.kill('SIGTERM');
  assert.ok(await waitExit(child, 15_000), `${replay}: the last instance did not stop on SIGTERM`);
  const events = readFileSync(join(local, 'kds.log'), 'utf8')
    .split('\n')
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as { event?: string; path?: string; scanId?: string }];
      } catch {
        return []; // a line torn by SIGKILL
      }
    });
  const count = (pred: (e: { event?: string; path?: string; scanId?: string }) => boolean) => events.filter(pred).length;
  t.diagnostic(
    `${files.size} files, ${kills} kills, ${((Date.now() - t0) / 1000).toFixed(1)} s; after the kills: ${count((e) => e.event === 'recovered' && !!e.path)} deliveries finished, ` +
      `${count((e) => e.event === 'recovered' && !e.path && !!e.scanId)} uploads sent again, ${count((e) => e.event === 'routed')} routed in all`,
  );

  for (const [name, { body, dest }] of files) {
    assert.ok(readFileSync(join(f.served[dest], name)).equals(body), `${replay}: ${name} byte-identical in ${dest}`);
    assert.equal(existsSync(join(f.served[dest === 'out' ? 'qrnt' : 'out'], name)), false, `${replay}: ${name} also in the other folder`);
  }
  const expected = (dest: 'out' | 'qrnt') => names.filter((n) => files.get(n)!.dest === dest).sort();
  assert.deepEqual(readdirSync(f.served.out).sort(), expected('out'), `${replay}: output holds exactly the clean files`);
  assert.deepEqual(readdirSync(f.served.qrnt).sort(), expected('qrnt'), `${replay}: quarantine holds exactly the EICAR files`);
  assert.deepEqual(leftovers(f.served), [], `${replay}: temporary names left on the share`);
  const uploaded = emulator.stats().uploadsBySha256;
  const wanted = new Set([...files.values()].map((x) => sha256(x.body)));
  assert.deepEqual([...uploaded.keys()].filter((s) => !wanted.has(s)), [], `${replay}: uploads of contents that were never in input`);
});
