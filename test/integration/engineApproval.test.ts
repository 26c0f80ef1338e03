import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EICAR } from '../../src/emulator/eicar';
import { logsOf, stageNow, startHarness, waitFor, waitRescans } from '../helpers/engineHarness';

const names = ['one.txt', 'two.txt', 'eicar.com'];
function writeFiles(dir: string): void {
  writeFileSync(join(dir, 'one.txt'), 'one\n');
  writeFileSync(join(dir, 'two.txt'), 'two\n');
  writeFileSync(join(dir, 'eicar.com'), EICAR);
}

test('integration not approved yet: files wait in input, one warning names system_id and certificate; approval lets them flow', async () => {
  const h = await startHarness({ emulator: { autoApprove: false } });
  const systemId = h.config.system_id;
  writeFiles(h.dirs.in);

  await waitFor('approval pending', () => h.built.engine.approvalState === 'pending');
  await waitFor('files awaiting approval', () => names.every((n) => stageNow(h, n) === 'awaiting-approval'));
  assert.ok(h.events.some((e) => e.type === 'approval' && e.state === 'pending' && e.systemId === systemId && e.fingerprint256 === h.fingerprint256));
  assert.deepEqual(h.built.engine.snapshot().identity, { systemId, fingerprint256: h.fingerprint256 });
  assert.equal(h.built.engine.snapshot().approval, 'pending');
  // A few seconds of retries: still one warning.
  await waitRescans(h, 3);
  const warns = logsOf(h, 'awaiting-approval');
  assert.equal(warns.length, 1, 'one warning, not one per attempt');
  assert.equal(warns[0]!.level, 'warn');
  assert.ok(warns[0]!.msg.includes(systemId), warns[0]!.msg);
  assert.ok(warns[0]!.msg.includes(h.fingerprint256), warns[0]!.msg);
  assert.equal(warns[0]!.system_id, systemId);
  assert.equal(warns[0]!.fingerprint256, h.fingerprint256);
  assert.deepEqual(readdirSync(h.dirs.in).sort(), [...names].sort());
  assert.equal(h.emulator.stats().postsAccepted, 0);
  // The request KATA shows the administrator carries the same certificate.
  const [row] = await h.emulator.systems();
  assert.equal(row!.sensorId, systemId);
  assert.equal(row!.state, 'pending');
  assert.equal(row!.fingerprint.replace(/:/g, ''), h.fingerprint256.replace(/:/g, ''));

  await h.emulator.approve(systemId);
  await waitFor('all routed after approval', () => h.routed.length >= names.length);
  assert.equal(h.built.engine.approvalState, 'approved');
  assert.equal(logsOf(h, 'approved').length, 1);
  assert.deepEqual(readdirSync(h.dirs.in), []);
  assert.deepEqual(readdirSync(h.dirs.out).sort(), ['one.txt', 'two.txt']);
  assert.deepEqual(readdirSync(h.dirs.qrnt), ['eicar.com']);
});

test('integration rejected (403): files stay in input and the log says it was rejected', async () => {
  const h = await startHarness({ emulator: { autoApprove: false } });
  const systemId = h.config.system_id;
  writeFiles(h.dirs.in);
  await waitFor('approval pending', () => h.built.engine.approvalState === 'pending');
  // The administrator rejects the pending request.
  await h.emulator.reject(systemId);

  await waitFor('approval rejected', () => h.built.engine.approvalState === 'rejected');
  const rejected = await waitFor('a warning that says rejected', () => logsOf(h, 'awaiting-approval').find((r) => /reject/i.test(r.msg)));
  assert.equal(rejected.level, 'warn');
  assert.match(rejected.msg, /403/);
  assert.ok(rejected.msg.includes(systemId));
  await waitRescans(h, 3);
  assert.equal(logsOf(h, 'awaiting-approval').filter((r) => /reject/i.test(r.msg)).length, 1, 'said once');
  assert.deepEqual(readdirSync(h.dirs.in).sort(), [...names].sort());
  assert.deepEqual(readdirSync(h.dirs.out), []);
  assert.deepEqual(readdirSync(h.dirs.qrnt), []);
  assert.equal(h.emulator.stats().postsAccepted, 0);
  // Between the engine's probes of KATA (one file is then briefly 'uploading', refused again).
  await waitFor('every file waiting in line', () => names.every((n) => ['queued', 'awaiting-approval'].includes(stageNow(h, n) ?? '')));
});
