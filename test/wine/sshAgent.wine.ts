import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server as PipeServer } from 'node:net';
import { AgentProtocol, Client, type ParsedKey, Server, utils } from 'ssh2';
import type { Logger } from '../../src/common/log';
import { findSshAgent, systemAgentProbe, windowsOpenSshAgentPipe } from '../../src/ssh/agentChoice';
import { AuthSteps } from '../../src/ssh/authSteps';
import { Redactor } from '../../src/ssh/redact';

/*
 * kds.remote.useAgent on Windows, run by test/integration/windowsUnderWine.test.ts with the
 * Windows build of Node.js. The agent is a stand-in speaking the OpenSSH agent protocol on
 * Windows OpenSSH's named pipe; Pageant's side is only what Wine can show (its absence).
 */

const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined } as unknown as Logger;
const parse = (text: string) => utils.parseKey(text) as ParsedKey;

test('no agent running on Windows: the OpenSSH pipe does not answer, no Pageant answers (within the probe\'s time), none is found', async () => {
  assert.equal(await systemAgentProbe.pipeAnswers(windowsOpenSshAgentPipe), false);
  // ssh2's pagent.exe is a 32-bit program and this Wine runs 64-bit ones only: it ends here
  // without an answer. On Windows it exits 11 ("Pageant is not running"). Either way: none.
  assert.equal(await systemAgentProbe.pageantRunning(), false);
  assert.equal(await findSshAgent({ env: {} }), undefined);
});

test('the Windows OpenSSH agent is found on its named pipe, and its key signs in', async (t) => {
  const user = utils.generateKeyPairSync('ed25519');
  const userKey = parse(user.private);
  const userPublic = parse(user.public);
  const signs: string[] = [];

  // The agent: the OpenSSH agent protocol on \\.\pipe\openssh-ssh-agent, as Windows' service serves it.
  const agentServer: PipeServer = createServer((socket) => {
    const protocol = new AgentProtocol(false);
    socket.on('error', () => undefined);
    protocol.on('identities', (req) => protocol.getIdentitiesReply(req, [userPublic]));
    protocol.on('sign', (req, _key, data) => {
      signs.push('sign');
      protocol.signReply(req, userKey.sign(data));
    });
    socket.pipe(protocol).pipe(socket);
  });
  await new Promise<void>((resolve, reject) => agentServer.once('error', reject).listen(windowsOpenSshAgentPipe, resolve));
  t.after(() => new Promise<void>((resolve) => agentServer.close(() => resolve())));

  // The Central Node's sshd: accepts that key only.
  const server = new Server({ hostKeys: [utils.generateKeyPairSync('ed25519').private] }, (client) => {
    client.on('error', () => undefined);
    client.on('authentication', (ctx) => {
      if (ctx.method !== 'publickey' || ctx.key.algo !== userPublic.type || !ctx.key.data.equals(userPublic.getPublicSSH())) return ctx.reject(['publickey']);
      if (ctx.signature && userPublic.verify(ctx.blob!, ctx.signature, ctx.hashAlgo) !== true) return ctx.reject(['publickey']);
      ctx.accept();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as { port: number }).port;

  const found = await findSshAgent({ env: {} });
  assert.deepEqual([found?.kind, found?.agent], ['windows-openssh', '\\\\.\\pipe\\openssh-ssh-agent']);

  const steps = new AuthSteps({ agent: () => findSshAgent({ env: {} }) }, 'kds', new Redactor(), quiet, {}, () => undefined);
  const client = new Client();
  await new Promise<void>((resolve, reject) => {
    client.once('ready', () => resolve());
    client.once('error', reject);
    client.connect({
      host: '127.0.0.1',
      port,
      username: 'kds',
      readyTimeout: 30_000,
      hostVerifier: () => true,
      authHandler: (methodsLeft, _partial, next) => void steps.next(methodsLeft).then((method) => next(method as never)),
    });
  });
  client.end();
  assert.deepEqual(steps.tried, ['agent']);
  assert.match(steps.agentUsed ?? '', /OpenSSH Authentication Agent of Windows/);
  assert.ok(signs.length >= 1, 'the agent signed');
});
