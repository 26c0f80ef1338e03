import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { once } from 'node:events';
import { Agent, request } from 'undici';
import { UsageError } from '../../src/cli/command';
import { command as emulateCommand } from '../../src/cli/emulateCommand';
import { startEmulator, type RunningEmulator } from '../../src/emulator/server';
import { API, anonymousAgent, call, newClient, seedTls, tempDataDir, waitFor, type TestClient } from '../helpers/emulatorClient';

const root = join(__dirname, '..', '..');
const cli = join(root, 'test', 'helpers', 'emulatorCli.ts');
let emu: RunningEmulator;
let dataDir: string;
let client: TestClient;
let browser: Agent;
const dirs: string[] = [];

before(async () => {
  dataDir = await tempDataDir();
  dirs.push(dataDir);
  emu = await startEmulator({ dataDir, port: 0, icapPort: 0 });
  client = await newClient(emu, 'console');
  // A browser has no client certificate; the console must not need one.
  browser = anonymousAgent(emu);
});

after(async () => {
  await emu.close();
  await client.agent.close();
  await browser.close();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function basic(password: string, user = 'admin'): Record<string, string> {
  return { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` };
}

async function consolePage(): Promise<{ html: string; csrf: string }> {
  const r = await call(emu, browser, 'GET', '/console', { headers: basic(emu.adminPassword) });
  assert.equal(r.status, 200);
  const csrf = /name="csrf" value="([0-9a-f]+)"/.exec(r.text)?.[1] ?? '';
  return { html: r.text, csrf };
}

function form(fields: Record<string, string>): { body: string; headers: Record<string, string> } {
  return { body: new URLSearchParams(fields).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } };
}

/** Runs `kds emulate …` from the sources in a child process. */
function runCli(args: string[]) {
  return spawn(process.execPath, ['--import', 'tsx', cli, 'emulate', ...args], { cwd: root, env: { ...process.env, KDS_LOCALE: 'en' }, stdio: ['ignore', 'pipe', 'pipe'] });
}

async function runCliToEnd(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = runCli(args);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

test('console: password required (missing or wrong → 401), strict security headers, admin password file 0600', async () => {
  const none = await call(emu, browser, 'GET', '/console');
  assert.equal(none.status, 401);
  assert.match(String(none.headers['www-authenticate']), /^Basic realm=/);
  assert.equal((await call(emu, browser, 'GET', '/console', { headers: basic('wrong') })).status, 401);
  assert.equal((await call(emu, browser, 'GET', '/console', { headers: basic(emu.adminPassword, 'root') })).status, 401);
  const ok = await call(emu, browser, 'GET', '/console', { headers: basic(emu.adminPassword) });
  assert.equal(ok.status, 200);
  assert.match(String(ok.headers['content-type']), /^text\/html/);
  const csp = String(ok.headers['content-security-policy']);
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /style-src 'nonce-[^']+'/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.equal(ok.headers['x-frame-options'], 'DENY');
  assert.equal(ok.headers['x-content-type-options'], 'nosniff');
  assert.doesNotMatch(ok.text, /<script/i);
  const nonce = /'nonce-([^']+)'/.exec(csp)![1]!;
  assert.ok(ok.text.includes(`<style nonce="${nonce}">`));
  assert.equal((await stat(join(dataDir, 'admin-password'))).mode & 0o777, 0o600);
  assert.equal((await stat(join(dataDir, 'ca.key'))).mode & 0o777, 0o600);
});

test('console: Accept and Reject over HTTPS; a missing or wrong CSRF token, or no password, is refused', async () => {
  const sensor = 'console-<b>&"sensor';
  const path = `${API}${encodeURIComponent(sensor)}/scans/filters`;
  assert.equal((await call(emu, client.agent, 'GET', path)).status, 401);

  const { html, csrf } = await consolePage();
  assert.ok(csrf.length >= 32);
  assert.ok(!html.includes('<b>&"sensor'), 'client-supplied text is escaped');
  assert.ok(html.includes('console-&#60;b&#62;&#38;&#34;sensor'));
  assert.ok(html.includes(client.cert.fingerprint256));

  const fields = { sensorId: sensor, fingerprint: client.cert.fingerprint256, action: 'accept' };
  const noToken = form(fields);
  assert.equal((await call(emu, browser, 'POST', '/console/systems', { body: noToken.body, headers: { ...noToken.headers, ...basic(emu.adminPassword) } })).status, 403);
  const badToken = form({ ...fields, csrf: 'f'.repeat(64) });
  assert.equal((await call(emu, browser, 'POST', '/console/systems', { body: badToken.body, headers: { ...badToken.headers, ...basic(emu.adminPassword) } })).status, 403);
  const good = form({ ...fields, csrf });
  assert.equal((await call(emu, browser, 'POST', '/console/systems', { body: good.body, headers: good.headers })).status, 401, 'no password');
  const crossSite = await call(emu, browser, 'POST', '/console/systems', {
    body: good.body,
    headers: { ...good.headers, ...basic(emu.adminPassword), origin: 'https://evil.example' },
  });
  assert.equal(crossSite.status, 403);
  assert.equal((await call(emu, client.agent, 'GET', path)).status, 401, 'nothing was decided so far');

  const accepted = await call(emu, browser, 'POST', '/console/systems', { body: good.body, headers: { ...good.headers, ...basic(emu.adminPassword) } });
  assert.equal(accepted.status, 303);
  assert.equal(accepted.headers.location, '/console');
  assert.equal((await call(emu, client.agent, 'GET', path)).status, 200);

  const reject = form({ ...fields, action: 'reject', csrf });
  assert.equal((await call(emu, browser, 'POST', '/console/systems', { body: reject.body, headers: { ...reject.headers, ...basic(emu.adminPassword) } })).status, 303);
  assert.equal((await call(emu, client.agent, 'GET', path)).status, 403);
  assert.match((await consolePage()).html, /class="rejected">Rejected</);
});

test('console: detections list shows time, sensor, file name, SHA-256 and threat', async () => {
  const { EICAR } = await import('../../src/emulator/eicar');
  const { postScan, finalState } = await import('../helpers/emulatorClient');
  await emu.approve('console-detect', client.cert.fingerprint256);
  assert.equal((await postScan(emu, client, 'console-detect', { scanId: '1', content: EICAR, fileName: 'x<y>.com' })).status, 200);
  assert.equal(await finalState(emu, client, 'console-detect', '1'), 'detect');
  const { html } = await consolePage();
  assert.ok(html.includes('x&#60;y&#62;.com'));
  assert.ok(html.includes('EICAR-Test-File'));
  assert.ok(html.includes('275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f'));
});

test('kds emulate approve / reject in another process reach the running server', async () => {
  const sensor = 'cli-sensor';
  const path = `${API}${sensor}/scans/filters`;
  assert.equal((await call(emu, client.agent, 'GET', path)).status, 401);
  const approved = await runCliToEnd(['approve', '--data', dataDir, sensor]);
  assert.equal(approved.code, 0, approved.stderr);
  assert.match(approved.stdout, new RegExp(client.cert.fingerprint256));
  await waitFor('the approval to be picked up', async () => ((await call(emu, client.agent, 'GET', path)).status === 200 ? true : undefined));

  const fp = client.cert.fingerprint256.replace(/:/g, '').toLowerCase();
  const rejected = await runCliToEnd(['reject', '--data', dataDir, sensor, '--fingerprint', fp]);
  assert.equal(rejected.code, 0, rejected.stderr);
  await waitFor('the rejection to be picked up', async () => ((await call(emu, client.agent, 'GET', path)).status === 403 ? true : undefined));

  const listed = await runCliToEnd(['list', '--data', dataDir]);
  assert.equal(listed.code, 0);
  assert.match(listed.stdout, /rejected\s+cli-sensor/);
  const nothing = await runCliToEnd(['approve', '--data', dataDir, 'no-such-sensor']);
  assert.equal(nothing.code, 1);
  const badFp = await runCliToEnd(['approve', '--data', dataDir, sensor, '--fingerprint', 'abc']);
  assert.equal(badFp.code, 2);
});

test('kds emulate: prints URL, CA and console (password on first start only), stops cleanly on SIGTERM; bad options exit 2', async () => {
  const dir = await tempDataDir();
  dirs.push(dir);
  await seedTls(dataDir, dir);
  async function serveOnce(): Promise<string> {
    const child = runCli(['--port', '0', '--data', dir, '--verdict-delay-ms', '0', '--state-shape', 'scans', '--faults', 'latency=1']);
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.resume();
    const exited = once(child, 'exit');
    try {
      const url = await waitFor('the emulator to print its URL', () => /KATA emulator: (https:\/\/127\.0\.0\.1:\d+)/.exec(stdout)?.[1] ?? undefined, 15_000);
      await waitFor('the banner', () => (stdout.includes('Ctrl-C') ? true : undefined));
      const agent = new Agent({ connect: { ca: emu.caPem } });
      try {
        const res = await request(`${url}/console`, { dispatcher: agent });
        await res.body.text();
        assert.equal(res.statusCode, 401);
      } finally {
        await agent.close();
      }
    } finally {
      child.kill('SIGTERM');
    }
    const [code] = (await exited) as [number | null];
    assert.equal(code, 0);
    return stdout;
  }
  const first = await serveOnce();
  assert.match(first, new RegExp(`CA certificate.*${join(dir, 'ca.pem').replace(/[/.]/g, '\\$&')}`));
  assert.match(first, /Console: +https:\/\/127\.0\.0\.1:\d+\/console/);
  const password = /Console password \(shown only this once\): (\S+)/.exec(first)?.[1];
  assert.ok(password);
  const second = await serveOnce();
  assert.doesNotMatch(second, /shown only this once/);
  assert.ok(!second.includes(password!));

  const badFaults = await runCliToEnd(['--data', dir, '--faults', '429=2']);
  assert.equal(badFaults.code, 2, badFaults.stderr);
  assert.match(badFaults.stderr, /probability/);
  for (const bad of [['--faults', 'boom=0.1'], ['--state-shape', 'list'], ['--port', 'eighty'], ['--max-processing', '0'], ['--unknown']]) {
    await assert.rejects(emulateCommand.run(['--data', dir, ...bad]), UsageError, bad.join(' '));
  }
});

test('console: the ICAP server section shows the services and switches the mode (CSRF-checked)', async () => {
  const { html, csrf } = await consolePage();
  assert.match(html, new RegExp(`RESPMOD service: icap://127\\.0\\.0\\.1:${emu.icap!.port}/respmod`));
  assert.match(html, /<option value="blocking_simple" selected>/);
  const bad = form({ mode: 'monitoring', csrf: 'f'.repeat(64) });
  assert.equal((await call(emu, browser, 'POST', '/console/icap-mode', { body: bad.body, headers: { ...bad.headers, ...basic(emu.adminPassword) } })).status, 403);
  assert.equal(emu.icap!.mode(), 'blocking_simple');
  const unknown = form({ mode: 'blocking_everything', csrf });
  assert.equal((await call(emu, browser, 'POST', '/console/icap-mode', { body: unknown.body, headers: { ...unknown.headers, ...basic(emu.adminPassword) } })).status, 400);
  const good = form({ mode: 'monitoring', csrf });
  assert.equal((await call(emu, browser, 'POST', '/console/icap-mode', { body: good.body, headers: { ...good.headers, ...basic(emu.adminPassword) } })).status, 303);
  assert.equal(emu.icap!.mode(), 'monitoring');
  assert.match((await consolePage()).html, /<option value="monitoring" selected>/);
});
