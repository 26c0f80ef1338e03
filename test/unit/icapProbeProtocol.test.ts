import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseIcapProbeRequest } from '../../src/webviewProtocol/icapProbe';
import { splitProbeArgs } from '../../src/cli/remoteCommand';
import type { ProbeStep } from '../../src/icap/icapProbe';
import { conclude } from '../../src/icap/probeConclusion';

test('the probe panel accepts ready/chooseFile/clearFile/showLog and a run with exactly the form\'s fields', () => {
  for (const type of ['ready', 'chooseFile', 'clearFile', 'showLog'] as const) assert.deepEqual(parseIcapProbeRequest({ type }), { type });
  assert.deepEqual(parseIcapProbeRequest({ type: 'run', url: 'icap://127.0.0.1:1344/reqmod', service: 'reqmod', eicar: false }), { type: 'run', url: 'icap://127.0.0.1:1344/reqmod', service: 'reqmod', eicar: false });
  assert.deepEqual(parseIcapProbeRequest({ type: 'run', url: 'icap://h/', service: 'discover', eicar: true }), { type: 'run', url: 'icap://h/', service: 'discover', eicar: true });
  for (const bad of [
    null,
    'ready',
    {},
    { type: 'run' },
    { type: 'again' },
    { type: 'showLog', url: 'icap://x/y' },
    { type: 'run', url: 'icap://x/y', service: 'options', eicar: true },
    { type: 'run', url: 'icap://x/y', service: 'respmod', eicar: 'yes' },
    { type: 'run', url: '', service: 'respmod', eicar: true },
    { type: 'run', url: 'x'.repeat(5000), service: 'respmod', eicar: true },
    { type: 'run', url: 'icap://x/y', service: 'respmod', eicar: true, file: '/etc/shadow' },
  ]) assert.equal(parseIcapProbeRequest(bad), undefined, JSON.stringify(bad)?.slice(0, 80));
});

test('kds remote icap-probe: SSH options go to the connection, everything else to the probe', () => {
  const r = splitProbeArgs(['--host', 'cn', 'icap://s:1344/respmod', '--eicar', '--user', 'root', '--timeout', '5', '--preview=10', '--password-stdin', '--json']);
  assert.deepEqual(r.remote, ['--host', 'cn', '--user', 'root', '--password-stdin']);
  assert.deepEqual(r.probe, ['icap://s:1344/respmod', '--eicar', '--timeout', '5', '--preview=10', '--json']);
  assert.deepEqual(splitProbeArgs(['--discover', '10.0.0.9', '--host', 'cn']).probe, ['--discover', '10.0.0.9']);
});

const step = (over: Partial<ProbeStep>): ProbeStep => ({ name: 'options', method: 'OPTIONS', title: 'OPTIONS', outcome: 'ok', verdict: {}, modification: 'none', warnings: [], expectsDetection: false, detected: false, ...over });
const at = { host: '10.0.0.9', port: 1344 };

test('conclusions: each kind, each with its next step', () => {
  const cases = [
    conclude([step({ outcome: 'failed', failure: 'refused', error: 'connection refused by 10.0.0.9:1344' })], false, at),
    conclude([step({ outcome: 'failed', status: 404, error: 'ICAP 404' })], false, at),
    conclude([step({ outcome: 'failed', failure: 'no-answer', error: 'x' })], false, at),
    conclude([step({ outcome: 'failed', failure: 'http', error: 'x', peerText: 'HTTP/1.1 400 Bad Request' })], false, at),
    conclude([step({}), step({ name: 'reqmod-get', method: 'REQMOD', status: 405, outcome: 'failed', error: 'ICAP 405' })], false, at),
    conclude([step({}), step({ name: 'respmod-clean', method: 'RESPMOD', status: 204 })], false, at),
  ];
  assert.deepEqual(cases.map((c) => c.kind), ['unreachable', 'service-not-found', 'timed-out', 'not-icap', 'method-not-allowed', 'reachable']);
  for (const c of cases) assert.ok(c.next.length > 20, `${c.kind} has a next step: ${JSON.stringify(c)}`);
  assert.match(cases[0]!.next, /ICAP integration is enabled on the KATA Central Node or Sensor/);
  assert.match(cases[1]!.next, /kds icap probe --discover 10\.0\.0\.9:1344/);
  assert.match(cases[5]!.next, /Probe again with EICAR/);
});

test('a peer that is not ICAP: what it is (HTTP; HTTPS/TLS — an HTTPS server or icaps), said once, its text as data; the next step', () => {
  // An HTTP server's status line, and an HTTP/0.9-style HTML answer (Python's http.server to "ICAP/1.0").
  const http = conclude([step({ outcome: 'failed', failure: 'http', error: '10.0.0.9:1344 answered with HTTP: HTTP/1.1 400 Bad Request', peerText: 'HTTP/1.1 400 Bad Request' })], false, at);
  assert.equal(http.text, '10.0.0.9:1344 is an HTTP server, not an ICAP service (it answered “HTTP/1.1 400 Bad Request”)');
  assert.equal(http.peer, 'http');
  assert.match(http.next, /KATA's ICAP service is plain ICAP on port 1344: check the address, the port and the scheme icap:\/\/ in the proxy's icap_service line/);
  const html = conclude([step({ outcome: 'failed', failure: 'http', peerText: '<!DOCTYPE HTML>' })], false, at);
  assert.equal(html.text, '10.0.0.9:1344 is an HTTP server, not an ICAP service (it answered “<!DOCTYPE HTML>”)');
  assert.doesNotMatch(html.text, /\\n/);
  const tls = conclude([step({ outcome: 'failed', failure: 'tls', error: '10.0.0.9:8443 speaks TLS' })], false, { host: '10.0.0.9', port: 8443 });
  assert.equal(tls.peer, 'tls');
  assert.match(tls.text, /10\.0\.0\.9:8443 speaks TLS: it is an HTTPS server — KATA's web console or scanner API, for example — or an ICAP-over-TLS \(icaps:\/\/\) service/);
  assert.match(tls.next, /plain ICAP on port 1344, not TLS/);
  const other = conclude([step({ outcome: 'failed', failure: 'not-icap', peerText: 'SSH-2.0-OpenSSH_9.2' })], false, at);
  assert.equal(other.text, '10.0.0.9:1344 is not an ICAP service: it answered “SSH-2.0-OpenSSH_9.2”');
  for (const c of [http, html, tls, other]) assert.equal(c.text.match(/not an ICAP/g)?.length ?? 0, c.peer === 'tls' ? 0 : 1, c.text);
});

test('EICAR conclusions: blocked (with the mode the server names), monitoring, not detected, let through after the verdict wait', () => {
  const eicar = step({ name: 'respmod-eicar', method: 'RESPMOD', title: 'RESPMOD: HTTP response with the EICAR test file', expectsDetection: true });
  const blocked = conclude([step({}), { ...eicar, modification: 'blocked', httpStatus: 403, detected: true }], true, { ...at, mode: 'blocking_simple' });
  assert.equal(blocked.kind, 'detects-eicar');
  assert.equal(blocked.text, 'detects EICAR and blocks it (HTTP 403) — the server says it is in blocking_simple mode (standard real-time scanning: a slow verdict does not hold traffic)');
  assert.match(conclude([step({}), { ...eicar, modification: 'blocked', httpStatus: 403, detected: true }], true, { ...at, mode: 'blocking_advanced' }).text, /blocking_advanced mode \(extended real-time scanning: traffic waits for the verdict\)/);
  assert.equal(conclude([step({}), { ...eicar, modification: 'blocked', httpStatus: 403, detected: true }], true, at).text, 'detects EICAR and blocks it (HTTP 403)');
  const monitoring = conclude([step({}), { ...eicar, modification: 'unchanged-204' }], true, { ...at, mode: 'monitoring' });
  assert.equal(monitoring.kind, 'does-not-block');
  assert.match(monitoring.text, /^EICAR was not blocked — the server says it is in monitoring mode$/);
  assert.match(monitoring.next, /Expected in monitoring mode/);
  const unknown = conclude([step({}), { ...eicar, modification: 'unchanged-204' }], true, at);
  assert.equal(unknown.text, 'EICAR was not blocked');
  assert.match(unknown.next, /^The service is in monitoring mode, or KATA did not detect it — check Detections in the KATA console or preprocessor_icap\.log/);
  assert.equal(conclude([step({}), { ...eicar, modification: 'unchanged-204', detected: true }], true, at).kind, 'does-not-block');
  const waited = conclude([step({}), step({ name: 'respmod-file', method: 'RESPMOD', title: 'RESPMOD: HTTP response with slow.bin', status: 204, modification: 'unchanged-204', waitedOutMs: 2004 })], false, { ...at, mode: 'blocking_advanced' });
  assert.equal(waited.kind, 'passed-after-wait');
  assert.equal(waited.text, 'RESPMOD: HTTP response with slow.bin: the object was let through because the verdict wait expired after 2004 ms (blocking_advanced mode), not because it is clean');
  assert.match(waited.next, /verdict=timeout/);
});
