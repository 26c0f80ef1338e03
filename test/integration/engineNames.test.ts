import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KdsLogger } from '../../src/common/log';
import { EICAR } from '../../src/emulator/eicar';
import { logsOf, startHarness, waitFor, waitRescans } from '../helpers/engineHarness';

test('odd file names are delivered under exactly the same name', async () => {
  // What KATA received as the file name of each upload.
  const kataNames: string[] = [];
  const kataLog = new KdsLogger({ level: 'debug', sinks: [(r) => r.event === 'emulator.scan' && kataNames.push(String(r.file))] });
  const h = await startHarness({ emulator: { logger: kataLog } });
  const long = 'L'.repeat(196) + '.txt';
  assert.equal(Buffer.byteLength(long), 200);
  const clean = [
    'with space.txt',
    'double"quote.txt',
    "single'quote.txt",
    'new\nline.txt',
    'Отчёт за квартал.docx',
    '-leading-dash.txt',
    long,
    '100% done #1.txt',
    'tab\there;semi&amp=eq.txt',
  ];
  const detected = ['злой файл "eicar".com', '--eicar\n.com'];
  for (const name of clean) writeFileSync(join(h.dirs.in, name), `content of ${name}\n`);
  for (const name of detected) writeFileSync(join(h.dirs.in, name), EICAR);

  await waitFor('all routed', () => h.routed.length >= clean.length + detected.length);
  assert.deepEqual(readdirSync(h.dirs.out).sort(), [...clean].sort());
  assert.deepEqual(readdirSync(h.dirs.qrnt).sort(), [...detected].sort());
  for (const name of clean) assert.equal(readFileSync(join(h.dirs.out, name), 'utf8'), `content of ${name}\n`, JSON.stringify(name));
  for (const name of detected) assert.equal(readFileSync(join(h.dirs.qrnt, name), 'latin1'), EICAR, JSON.stringify(name));
  assert.deepEqual(readdirSync(h.dirs.in), []);
  for (const r of h.routed) assert.equal(r.path, join(h.dirs[r.destination], r.name));
  // KATA was told the exact names too (filename* in the upload), e.g. for its alerts.
  assert.deepEqual(kataNames.sort(), [...clean, ...detected].sort());
});

test('a name that is not valid UTF-8 is ignored as bad-name, stays, and is logged once', async () => {
  const h = await startHarness();
  const raw = Buffer.concat([Buffer.from(h.dirs.in + '/'), Buffer.from([0x66, 0xff, 0x2e, 0x74])]);
  writeFileSync(raw, 'a name from a Latin-1 client\n');
  writeFileSync(join(h.dirs.in, 'normal.txt'), 'normal\n');

  await waitFor('normal.txt routed', () => h.routed.some((r) => r.name === 'normal.txt'));
  await waitFor('bad name ignored', () => h.events.find((e) => e.type === 'ignored' && e.kind === 'bad-name'));
  await waitRescans(h, 3);
  const ignored = h.events.filter((e) => e.type === 'ignored');
  assert.equal(ignored.length, 1);
  assert.equal(ignored[0]!.type === 'ignored' && ignored[0]!.kind, 'bad-name');
  const logged = logsOf(h, 'ignored');
  assert.equal(logged.length, 1, 'logged once');
  assert.match(logged[0]!.msg, /bad-name/);
  // Still there, byte for byte.
  const left = readdirSync(h.dirs.in, { encoding: 'buffer' });
  assert.equal(left.length, 1);
  assert.ok(left[0]!.equals(Buffer.from([0x66, 0xff, 0x2e, 0x74])));
  assert.equal(readFileSync(raw, 'utf8'), 'a name from a Latin-1 client\n');
  assert.equal(h.emulator.stats().postsAccepted, 1);
  assert.deepEqual(readdirSync(h.dirs.out), ['normal.txt']);
  assert.deepEqual(readdirSync(h.dirs.qrnt), []);
});
