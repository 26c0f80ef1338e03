import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseIcapProbeRequest } from '../../src/webviewProtocol/icapProbe';
import { splitProbeArgs } from '../../src/cli/remoteCommand';
import { conclude, type ProbeStep } from '../../src/icap/icapProbe';

test('parseIcapProbeRequest accepts ready/again only, with no extra keys', () => {
  assert.deepEqual(parseIcapProbeRequest({ type: 'ready' }), { type: 'ready' });
  assert.deepEqual(parseIcapProbeRequest({ type: 'again' }), { type: 'again' });
  for (const bad of [null, 'ready', { type: 'run' }, { type: 'again', url: 'icap://x/y' }, {}]) assert.equal(parseIcapProbeRequest(bad), undefined);
});

test('kds remote icap-probe: SSH options go to the connection, everything else to the probe', () => {
  const r = splitProbeArgs(['--host', 'cn', 'icap://s:1344/respmod', '--eicar', '--user', 'root', '--timeout', '5', '--preview=10', '--password-stdin', '--json']);
  assert.deepEqual(r.remote, ['--host', 'cn', '--user', 'root', '--password-stdin']);
  assert.deepEqual(r.probe, ['icap://s:1344/respmod', '--eicar', '--timeout', '5', '--preview=10', '--json']);
  assert.deepEqual(splitProbeArgs(['--discover', '10.0.0.9', '--host', 'cn']).probe, ['--discover', '10.0.0.9']);
});

const step = (over: Partial<ProbeStep>): ProbeStep => ({ name: 'options', method: 'OPTIONS', title: 'OPTIONS', outcome: 'ok', verdict: {}, modification: 'none', warnings: [], expectsDetection: false, detected: false, ...over });

test('conclusions', () => {
  assert.equal(conclude([step({ outcome: 'failed', failure: 'refused', error: 'x' })], false).kind, 'unreachable');
  assert.equal(conclude([step({ outcome: 'failed', status: 404, error: 'ICAP 404' })], false).kind, 'service-not-found');
  assert.equal(conclude([step({ outcome: 'failed', failure: 'no-answer', error: 'x' })], false).kind, 'timed-out');
  assert.equal(conclude([step({ outcome: 'failed', failure: 'http', error: 'x' })], false).kind, 'not-icap');
  const eicar = step({ name: 'respmod-eicar', method: 'RESPMOD', expectsDetection: true });
  assert.equal(conclude([step({}), { ...eicar, modification: 'blocked', httpStatus: 403, detected: true }], true).text, 'detects EICAR and blocks it (HTTP 403)');
  assert.equal(conclude([step({}), { ...eicar, modification: 'unchanged-204', detected: true }], true).kind, 'does-not-block');
  assert.equal(conclude([step({}), { ...eicar, modification: 'unchanged-204' }], true).kind, 'does-not-block');
  assert.equal(conclude([step({}), step({ name: 'reqmod-get', method: 'REQMOD', status: 405, outcome: 'failed', error: 'ICAP 405' })], false).kind, 'method-not-allowed');
});
