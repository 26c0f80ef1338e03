import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { formatText, KdsLogger } from '../../src/common/log';
import { findSshAgent } from '../../src/ssh/agentChoice';
import { SshAuthError } from '../../src/ssh/sshErrors';
import { SshSession } from '../../src/ssh/sshSession';
import type { HostKeyPolicy, SshAuth } from '../../src/ssh/sshTarget';
import { keygen, TestAgent, TestSshd } from '../helpers/sshd';

let sshd: TestSshd;
let pamSshd: TestSshd;
let agent: TestAgent;
let keyPath: string;
let encKeyPath: string;
let agentKeyPath: string;
const PASSPHRASE = 'kds-passphrase-Zq7 secret';
const lines: string[] = [];
const logger = new KdsLogger({ level: 'debug', sinks: [(r) => lines.push(formatText(r))] });
const sessions: SshSession[] = [];

function policy(server: TestSshd): HostKeyPolicy {
  const file = join(server.dir, `known_hosts.${server.port}`);
  writeFileSync(file, `[127.0.0.1]:${server.port} ${server.hostPublicKey()}\n`);
  return { knownHostsFiles: [file], onUnknown: async () => assert.fail('host key should be known') };
}

async function connect(auth: SshAuth, server = sshd): Promise<SshSession> {
  const s = await SshSession.connect({ host: '127.0.0.1', port: server.port, user: server.user }, auth, policy(server), {
    logger,
    protocolDebug: true,
    readyTimeoutMs: 15000,
  });
  sessions.push(s);
  return s;
}

async function whoami(s: SshSession): Promise<string> {
  const r = await s.exec(['id', '-un'], { timeoutMs: 10000 });
  assert.equal(r.code, 0, r.stderr.toString());
  return r.stdout.toString().trim();
}

before(async () => {
  sshd = await TestSshd.start();
  // keyboard-interactive needs a kbdint device: on Linux only PAM provides one (see docs/remote.md).
  pamSshd = await TestSshd.start({ usePam: true, extraConfig: ['PasswordAuthentication no'] });
  keyPath = join(sshd.dir, 'id_plain');
  encKeyPath = join(sshd.dir, 'id_encrypted');
  agentKeyPath = join(sshd.dir, 'id_agent');
  sshd.authorize(keygen(keyPath));
  sshd.authorize(keygen(encKeyPath, { passphrase: PASSPHRASE }));
  sshd.authorize(keygen(agentKeyPath));
  agent = await TestAgent.start(sshd.dir, [agentKeyPath]);
});

after(async () => {
  await Promise.all(sessions.map((s) => s.close()));
  await agent?.stop();
  await sshd?.dispose();
  await pamSshd?.dispose();
});

test('key authentication with an unencrypted private key', async () => {
  const s = await connect({ privateKeyPath: keyPath, password: async () => assert.fail('password must not be asked') });
  assert.equal(await whoami(s), sshd.user);
});

test('an encrypted key: the passphrase is asked once per connection', async () => {
  let asked = 0;
  const s = await connect({
    privateKeyPath: encKeyPath,
    passphrase: async () => {
      asked++;
      return PASSPHRASE;
    },
  });
  assert.equal(await whoami(s), sshd.user);
  assert.equal(asked, 1);
});

test('password authentication', async () => {
  let asked = 0;
  const s = await connect({
    password: async () => {
      asked++;
      return sshd.password;
    },
  });
  assert.equal(await whoami(s), sshd.user);
  assert.equal(asked, 1);
});

test('agent authentication (its own ssh-agent socket); no passphrase asked when the agent succeeds', async () => {
  const s = await connect({ agent: agent.socket, privateKeyPath: encKeyPath, passphrase: async () => assert.fail('passphrase asked despite the agent') });
  assert.equal(await whoami(s), sshd.user);
});

test('the agent kds.remote.useAgent finds (here through SSH_AUTH_SOCK) signs in, and the log names it', async () => {
  const before = lines.length;
  const s = await connect({ agent: () => findSshAgent({ env: { SSH_AUTH_SOCK: agent.socket } }), password: async () => assert.fail('password asked despite the agent') });
  assert.equal(await whoami(s), sshd.user);
  const mine = lines.slice(before);
  assert.ok(mine.some((l) => l.includes('ssh.agent') && l.includes(`the ssh-agent at ${agent.socket} (SSH_AUTH_SOCK)`)), mine.join('\n'));
  assert.ok(mine.some((l) => l.includes('ssh.connected') && l.includes('auth=agent') && l.includes('SSH_AUTH_SOCK')), mine.join('\n'));
});

test('keyboard-interactive authentication (sshd with UsePAM yes)', async () => {
  const seen: Array<{ prompt: string; echo: boolean }> = [];
  const s = await connect(
    {
      keyboardInteractive: async (_name, _instructions, prompts) => {
        seen.push(...prompts);
        return prompts.map(() => pamSshd.password);
      },
    },
    pamSshd,
  );
  assert.equal(await whoami(s), pamSshd.user);
  assert.ok(seen.length >= 1, 'sshd asked at least one prompt');
  assert.match(seen[0]!.prompt, /password/i);
  assert.equal(seen[0]!.echo, false);
});

test('keyboard-interactive with only a password function answers the Password: prompt', async () => {
  const s = await connect({ password: async () => pamSshd.password }, pamSshd);
  assert.equal(await whoami(s), pamSshd.user);
});

test('a wrong password is an SshAuthError naming the methods tried', async () => {
  await assert.rejects(
    connect({ password: async () => 'wrong-password-kds' }),
    (e: unknown) => e instanceof SshAuthError && /password/.test(e.message),
  );
});

test('a cancelled password prompt fails authentication without sending anything', async () => {
  await assert.rejects(connect({ password: async () => undefined }), SshAuthError);
});

test('secrets (password, passphrase, keyboard-interactive answers) never reach the logger', () => {
  const text = lines.join('\n');
  assert.ok(lines.length > 20, 'the protocol trace was logged');
  assert.ok(!text.includes(sshd.password), 'password leaked into the log');
  assert.ok(!text.includes(pamSshd.password), 'password leaked into the log');
  assert.ok(!text.includes(PASSPHRASE), 'passphrase leaked into the log');
  assert.ok(!text.includes('wrong-password-kds'), 'a wrong password leaked into the log');
});
