import { test } from 'node:test';
import assert from 'node:assert/strict';
import { constants } from 'node:fs';
import type { Logger } from '../../src/common/log';
import { platformFor } from '../../src/common/platform';
import { authFailureAdvice } from '../../src/centralNode/connectAdvice';
import { type AgentProbe, findSshAgent, noAgentFound, windowsOpenSshAgentPipe } from '../../src/ssh/agentChoice';
import { AuthSteps } from '../../src/ssh/authSteps';
import { defaultKnownHostsFiles, defaultTrustStorePath } from '../../src/ssh/hostKeyVerifier';
import { Redactor } from '../../src/ssh/redact';
import { expandUserPath } from '../../src/ssh/userPaths';

const windows = platformFor('win32', {});
const linux = platformFor('linux', constants);
const mac = platformFor('darwin', { O_NOFOLLOW: 0x100 });

/** A machine with these agents running; records what was asked, in order. */
function machine(running: { openssh?: boolean; pageant?: boolean }) {
  const asked: string[] = [];
  const probe: AgentProbe = {
    pipeAnswers: async (path) => {
      asked.push(`pipe ${path}`);
      return path === windowsOpenSshAgentPipe && running.openssh === true;
    },
    pageantRunning: async () => {
      asked.push('pageant');
      return running.pageant === true;
    },
  };
  return { probe, asked };
}

test('SSH_AUTH_SOCK comes first on every system, and nothing else is probed then', async () => {
  for (const platform of [linux, mac, windows]) {
    const m = machine({ openssh: true, pageant: true });
    const found = await findSshAgent({ env: { SSH_AUTH_SOCK: '/tmp/ssh-x/agent.1' }, platform, probe: m.probe });
    assert.deepEqual([found?.kind, found?.agent], ['ssh-auth-sock', '/tmp/ssh-x/agent.1']);
    assert.match(found!.label, /SSH_AUTH_SOCK/);
    assert.deepEqual(m.asked, []);
  }
});

test('on Windows without SSH_AUTH_SOCK: the OpenSSH agent\'s pipe when it answers, else Pageant when it runs, else none', async () => {
  let m = machine({ openssh: true, pageant: true });
  let found = await findSshAgent({ env: {}, platform: windows, probe: m.probe });
  assert.deepEqual([found?.kind, found?.agent], ['windows-openssh', '\\\\.\\pipe\\openssh-ssh-agent']);
  assert.match(found!.label, /OpenSSH Authentication Agent/);
  assert.deepEqual(m.asked, ['pipe \\\\.\\pipe\\openssh-ssh-agent']);

  m = machine({ pageant: true });
  found = await findSshAgent({ env: { SSH_AUTH_SOCK: '  ' }, platform: windows, probe: m.probe });
  assert.deepEqual([found?.kind, found?.agent, found?.label], ['pageant', 'pageant', 'Pageant']);
  assert.deepEqual(m.asked, ['pipe \\\\.\\pipe\\openssh-ssh-agent', 'pageant']);

  m = machine({});
  assert.equal(await findSshAgent({ env: {}, platform: windows, probe: m.probe }), undefined);
  assert.match(noAgentFound(windows), /SSH_AUTH_SOCK is not set, the OpenSSH Authentication Agent service does not answer on \\\\\.\\pipe\\openssh-ssh-agent, and Pageant is not running/);
});

test('on Linux and macOS without SSH_AUTH_SOCK there is no agent, and no Windows pipe or Pageant is looked for', async () => {
  for (const platform of [linux, mac]) {
    const m = machine({ openssh: true, pageant: true });
    assert.equal(await findSshAgent({ env: {}, platform, probe: m.probe }), undefined);
    assert.deepEqual(m.asked, []);
  }
  assert.match(noAgentFound(linux), /SSH_AUTH_SOCK is not set/);
});

test('the agent is looked up when the server accepts keys, its name is logged, and none found is said too', async () => {
  const lines: string[] = [];
  const log = { debug: () => undefined, info: (_e: string, msg: string) => lines.push(msg), warn: () => undefined, error: () => undefined } as unknown as Logger;
  let lookups = 0;
  const withAgent = new AuthSteps(
    { agent: async () => (lookups++, { kind: 'pageant', agent: 'pageant', label: 'Pageant' }), password: async () => 'pw' },
    'kds',
    new Redactor(),
    log,
    {},
    () => undefined,
  );
  assert.equal(lookups, 0, 'nothing probed before the server asks');
  const first = (await withAgent.next(null)) as { type: string; agent: string };
  assert.deepEqual([first.type, first.agent, lookups], ['agent', 'pageant', 1]);
  assert.equal(withAgent.agentUsed, 'Pageant');
  assert.deepEqual(lines, ['Offering the keys of Pageant.']);

  lines.length = 0;
  const none = new AuthSteps({ agent: async () => undefined, password: async () => 'pw' }, 'kds', new Redactor(), log, {}, () => undefined);
  const next = (await none.next(null)) as { type: string };
  assert.equal(next.type, 'password', 'no agent: straight to the next method');
  assert.deepEqual(none.tried, ['password']);
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /agent/);
});

test('the failure advice names the agent whose keys were refused, or says none was found', () => {
  assert.match(authFailureAdvice({ user: 'admin', useAgent: true, agent: 'Pageant' }), /The keys of Pageant were refused \(kds\.remote\.useAgent\)/);
  assert.match(authFailureAdvice({ user: 'admin', useAgent: true }), /kds\.remote\.useAgent is on, but /);
  assert.doesNotMatch(authFailureAdvice({ user: 'admin', useAgent: false }), /useAgent/);
});

test('kds.remote.identityFile: ~ and %USERPROFILE% on Windows, ~ on Linux; other text is left alone', () => {
  const win = { home: 'C:\\Users\\anna', env: { USERPROFILE: 'C:\\Users\\anna', APPDATA: 'C:\\Users\\anna\\AppData\\Roaming' }, platform: windows };
  assert.equal(expandUserPath('%USERPROFILE%\\.ssh\\id_ed25519', win), 'C:\\Users\\anna\\.ssh\\id_ed25519');
  assert.equal(expandUserPath('%userprofile%\\.ssh\\id_rsa', win), 'C:\\Users\\anna\\.ssh\\id_rsa', 'variable names without case, as Windows reads them');
  assert.equal(expandUserPath('~\\.ssh\\id_ed25519', win), 'C:\\Users\\anna\\.ssh\\id_ed25519');
  assert.equal(expandUserPath('~/.ssh/id_ed25519', win), 'C:\\Users\\anna\\.ssh\\id_ed25519');
  assert.equal(expandUserPath('~', win), 'C:\\Users\\anna');
  assert.equal(expandUserPath('%NOT_SET%\\key', win), '%NOT_SET%\\key');
  assert.equal(expandUserPath('D:\\keys\\cn.pem', win), 'D:\\keys\\cn.pem');
  const lin = { home: '/home/anna', env: { USERPROFILE: 'x' }, platform: linux };
  assert.equal(expandUserPath('~/.ssh/id_ed25519', lin), '/home/anna/.ssh/id_ed25519');
  assert.equal(expandUserPath('%USERPROFILE%/key', lin), '%USERPROFILE%/key', 'a Linux name may hold % signs');
  assert.equal(expandUserPath('~\\key', lin), '~\\key');
});

test('known_hosts and the trust store where OpenSSH and Windows keep them', () => {
  assert.deepEqual(defaultKnownHostsFiles({ ProgramData: 'C:\\ProgramData' }, windows, 'C:\\Users\\anna'), [
    'C:\\Users\\anna\\.ssh\\known_hosts',
    'C:\\Users\\anna\\.ssh\\known_hosts2',
    'C:\\ProgramData\\ssh\\ssh_known_hosts',
    'C:\\ProgramData\\ssh\\ssh_known_hosts2',
  ]);
  assert.deepEqual(defaultKnownHostsFiles({}, linux, '/home/anna'), ['/home/anna/.ssh/known_hosts', '/home/anna/.ssh/known_hosts2', '/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2']);
  assert.equal(defaultTrustStorePath({ APPDATA: 'C:\\Users\\anna\\AppData\\Roaming' }, windows, 'C:\\Users\\anna'), 'C:\\Users\\anna\\AppData\\Roaming\\kds\\ssh-host-keys.json');
  assert.equal(defaultTrustStorePath({}, linux, '/home/anna'), '/home/anna/.config/kds/ssh-host-keys.json');
});
