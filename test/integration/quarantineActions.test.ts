import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KdsLogger, type LogRecord } from '../../src/common/log';
import { deleteFromQuarantine, QuarantineActionError, releaseFromQuarantine } from '../../src/engine/quarantineActions';
import { tempDir } from '../helpers/tempDirs';

function setup(outBase?: string) {
  const root = tempDir();
  const qrnt = join(root, 'qrnt');
  const out = outBase ? join(tempDir('kds-out-', outBase), 'out') : join(root, 'out');
  mkdirSync(qrnt);
  mkdirSync(out);
  const logs: LogRecord[] = [];
  const logger = new KdsLogger({ level: 'debug', sinks: [(r) => logs.push(r)] });
  return { root, qrnt, out, logs, logger, auditFile: join(root, 'state', 'quarantine-audit.jsonl') };
}

const sha = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');
const audit = (f: string) => readFileSync(f, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

test('release moves the file to output across file systems, logs at warn and appends an audit line', { skip: !existsSync('/dev/shm') && 'no /dev/shm' }, async () => {
  const s = setup('/dev/shm');
  const body = Buffer.from('false positive, said the analyst\n');
  writeFileSync(join(s.qrnt, 'report.doc'), body);
  const r = await releaseFromQuarantine({ qrntDir: s.qrnt, outDir: s.out, name: 'report.doc', user: 'alice', reason: 'checked by hand', logger: s.logger, auditFile: s.auditFile });
  assert.notEqual(statSync(s.qrnt).dev, statSync(s.out).dev, 'the test really crosses file systems');
  assert.equal(r.path, join(s.out, 'report.doc'));
  assert.equal(r.sha256, sha(body));
  assert.deepEqual(readFileSync(r.path), body);
  assert.deepEqual(readdirSync(s.qrnt), []);
  assert.deepEqual(readdirSync(s.out), ['report.doc'], 'no partial copy left');
  const log = s.logs.find((l) => l.event === 'quarantine.released')!;
  assert.equal(log.level, 'warn');
  assert.equal(log.sha256, r.sha256);
  assert.equal(log.user, 'alice');
  assert.equal(log.file, 'report.doc');
  const [line, ...rest] = audit(s.auditFile);
  assert.equal(rest.length, 0);
  assert.equal(line!.user, 'alice');
  assert.equal(line!.action, 'release');
  assert.equal(line!.file, 'report.doc');
  assert.equal(line!.sha256, r.sha256);
  assert.equal(line!.from, join(s.qrnt, 'report.doc'));
  assert.equal(line!.to, r.path);
  assert.equal(line!.reason, 'checked by hand');
  assert.ok(!Number.isNaN(Date.parse(String(line!.time))));
  assert.equal(statSync(s.auditFile).mode & 0o777, 0o600);
});

test('release replaces a file of the same name in output', async () => {
  const s = setup();
  writeFileSync(join(s.out, 'a.bin'), 'old version');
  writeFileSync(join(s.qrnt, 'a.bin'), 'released version');
  await releaseFromQuarantine({ qrntDir: s.qrnt, outDir: s.out, name: 'a.bin', user: 'bob', logger: s.logger, auditFile: s.auditFile });
  assert.equal(readFileSync(join(s.out, 'a.bin'), 'utf8'), 'released version');
  assert.deepEqual(readdirSync(s.out), ['a.bin']);
  assert.equal(audit(s.auditFile)[0]!.reason, undefined);
});

test('delete unlinks the file, logs at warn and appends to the same audit', async () => {
  const s = setup();
  writeFileSync(join(s.qrnt, 'one'), '1');
  writeFileSync(join(s.qrnt, 'two'), '2');
  await releaseFromQuarantine({ qrntDir: s.qrnt, outDir: s.out, name: 'one', user: 'carol', logger: s.logger, auditFile: s.auditFile });
  const r = await deleteFromQuarantine({ qrntDir: s.qrnt, name: 'two', user: 'carol', logger: s.logger, auditFile: s.auditFile });
  assert.equal(r.sha256, sha('2'));
  assert.deepEqual(readdirSync(s.qrnt), []);
  const lines = audit(s.auditFile);
  assert.deepEqual(lines.map((l) => l.action), ['release', 'delete']);
  assert.equal(lines[1]!.sha256, sha('2'));
  assert.equal(lines[1]!.to, undefined);
  const log = s.logs.find((l) => l.event === 'quarantine.deleted')!;
  assert.equal(log.level, 'warn');
  assert.equal(log.sha256, sha('2'));
});

test('symlinks, directories, bad names and missing files are refused with a clear error and nothing changes', async () => {
  const s = setup();
  writeFileSync(join(s.root, 'secret'), 'not in quarantine');
  symlinkSync(join(s.root, 'secret'), join(s.qrnt, 'link'));
  mkdirSync(join(s.qrnt, 'dir'));
  const base = { qrntDir: s.qrnt, outDir: s.out, user: 'mallory', logger: s.logger, auditFile: s.auditFile };
  const refused = async (p: Promise<unknown>, code: string, msg: RegExp) => {
    await assert.rejects(p, (err: unknown) => {
      assert.ok(err instanceof QuarantineActionError);
      assert.equal(err.code, code);
      assert.match(err.message, msg);
      return true;
    });
  };
  await refused(releaseFromQuarantine({ ...base, name: 'link' }), 'not-regular', /symbolic link/);
  await refused(deleteFromQuarantine({ ...base, name: 'link' }), 'not-regular', /symbolic link/);
  await refused(releaseFromQuarantine({ ...base, name: 'dir' }), 'not-regular', /not a regular file/);
  await refused(deleteFromQuarantine({ ...base, name: 'dir' }), 'not-regular', /not a regular file/);
  for (const name of ['../secret', '..', '.', '', 'a\0b', 'x/y']) {
    await refused(releaseFromQuarantine({ ...base, name }), 'bad-name', /not a file name in the quarantine folder/);
    await refused(deleteFromQuarantine({ ...base, name }), 'bad-name', /not a file name/);
  }
  await refused(releaseFromQuarantine({ ...base, name: 'gone' }), 'missing', /no longer in quarantine/);
  await refused(deleteFromQuarantine({ ...base, name: 'gone' }), 'missing', /no longer in quarantine/);
  assert.equal(readFileSync(join(s.root, 'secret'), 'utf8'), 'not in quarantine');
  assert.deepEqual(readdirSync(s.qrnt).sort(), ['dir', 'link']);
  assert.deepEqual(readdirSync(s.out), []);
  assert.equal(existsSync(s.auditFile), false, 'refusals are not audited as actions');
});

test('a hard-linked file in quarantine (nlink > 1) is not released: refused, logged, left where it is', async () => {
  const s = setup();
  // A share user links a root-only file into quarantine (same file system) and asks for its release.
  writeFileSync(join(s.root, 'shadow'), 'root:$y$secret:19000:0:99999:7:::\n', { mode: 0o600 });
  linkSync(join(s.root, 'shadow'), join(s.qrnt, 'invoice.pdf'));
  const base = { qrntDir: s.qrnt, outDir: s.out, user: 'mallory', logger: s.logger, auditFile: s.auditFile };
  await assert.rejects(releaseFromQuarantine({ ...base, name: 'invoice.pdf' }), (err: unknown) => {
    assert.ok(err instanceof QuarantineActionError);
    assert.equal(err.code, 'hard-link');
    assert.match(err.message, /hard link/);
    return true;
  });
  assert.deepEqual(readdirSync(s.out), [], 'nothing released');
  assert.deepEqual(readdirSync(s.qrnt), ['invoice.pdf'], 'left where it is');
  assert.equal(statSync(join(s.root, 'shadow')).nlink, 2);
  assert.equal(s.logs.filter((l) => l.event === 'quarantine.hardLink').length, 1);
  assert.equal(existsSync(s.auditFile), false);
});
