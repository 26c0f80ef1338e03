import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { hostKeyInfo, preferredHostKeyAlgorithms, verifyHostKey } from '../../src/ssh/hostKeyVerifier';
import { hashHostName, parseKnownHosts, entryMatches } from '../../src/ssh/knownHosts';
import { HostKeyChangedError, HostKeyNotTrustedError, SshConnectError } from '../../src/ssh/sshErrors';
import { KdsLogger } from '../../src/common/log';
import { SshSession } from '../../src/ssh/sshSession';
import type { HostKeyInfo, HostKeyPolicy, SshAuth } from '../../src/ssh/sshTarget';
import { keygen, TestSshd } from '../helpers/sshd';

let sshd: TestSshd;
let keyPath: string;
let n = 0;
const sessions: SshSession[] = [];

before(async () => {
  sshd = await TestSshd.start();
  keyPath = join(sshd.dir, 'id_client');
  sshd.authorize(keygen(keyPath));
});

after(async () => {
  await Promise.all(sessions.map((s) => s.close()));
  await sshd?.dispose();
});

function file(content: string): string {
  const p = join(sshd.dir, `known_hosts.${++n}`);
  writeFileSync(p, content);
  return p;
}

/** Auth that records whether any credential was asked for. */
function recordingAuth(): { auth: SshAuth; asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    auth: {
      privateKeyPath: keyPath,
      password: async () => {
        asked.push('password');
        return sshd.password;
      },
      keyboardInteractive: async () => {
        asked.push('keyboard-interactive');
        return [sshd.password];
      },
      passphrase: async () => {
        asked.push('passphrase');
        return undefined;
      },
    },
  };
}

async function connect(policy: HostKeyPolicy, auth: SshAuth = { privateKeyPath: keyPath }): Promise<SshSession> {
  const s = await SshSession.connect({ host: '127.0.0.1', port: sshd.port, user: sshd.user }, auth, policy, { readyTimeoutMs: 15000 });
  sessions.push(s);
  return s;
}

/** sshd's log from `mark` on, once it logged the end of the pre-authentication connection (bounded wait). */
async function sshdLogAfter(mark: number): Promise<string> {
  const end = Date.now() + 5000;
  for (;;) {
    const text = sshd.log().slice(mark);
    if (/\[preauth\]|Connection (closed|reset)|Disconnected from/.test(text) || Date.now() > end) return text;
    await new Promise((r) => setTimeout(r, 50));
  }
}

const noAuthAttempt = /Accepted |Failed |Postponed /;

const never = async (): Promise<boolean> => assert.fail('onUnknown must not be called for a known key');

test('a key in known_hosts (plain [host]:port form, in a comma list) is accepted without prompting', async () => {
  const kh = file(`# comment\nother.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeFakeFakeFakeFakeFakeFakeFakeFakeFakeFake\nkds.example,[127.0.0.1]:${sshd.port} ${sshd.hostPublicKey()} host\n`);
  const s = await connect({ knownHostsFiles: [join(sshd.dir, 'missing'), kh], onUnknown: never });
  assert.equal((await s.exec(['true'])).code, 0);
});

test('a key in known_hosts in the hashed |1| form is accepted without prompting', async () => {
  const hashed = hashHostName(`[127.0.0.1]:${sshd.port}`, randomBytes(20));
  const kh = file(`${hashed} ${sshd.hostPublicKey()}\n`);
  const s = await connect({ knownHostsFiles: [kh], onUnknown: never });
  assert.equal((await s.exec(['true'])).code, 0);
});

test('known_hosts parsing: hashed names match like ssh-keygen -H; port 22 has no brackets; negation excludes', () => {
  const key = sshd.hostPublicKey();
  const { entries } = parseKnownHosts(
    [`${hashHostName('cn.example', randomBytes(20))} ${key}`, `*.example,!bad.example ${key}`, `@cert-authority *.example ${key}`, `@revoked cn2.example ${key}`].join('\n'),
  );
  assert.equal(entries.length, 3, '@cert-authority lines are ignored');
  assert.ok(entryMatches(entries[0]!, 'cn.example', 22));
  assert.ok(!entryMatches(entries[0]!, 'cn.example', 2222));
  assert.ok(entryMatches(entries[1]!, 'good.example', 22));
  assert.ok(!entryMatches(entries[1]!, 'bad.example', 22));
  assert.equal(entries[2]!.marker, 'revoked');
});

test('an unknown key: onUnknown gets the SHA256 fingerprint ssh-keygen -lf prints; refusing sends no credential', async () => {
  const { auth, asked } = recordingAuth();
  const seen: HostKeyInfo[] = [];
  const mark = sshd.log().length;
  const store = join(sshd.dir, 'refused-store.json');
  await assert.rejects(
    connect(
      {
        knownHostsFiles: [file('')],
        trustStorePath: store,
        onUnknown: async (info) => {
          seen.push(info);
          return false;
        },
      },
      auth,
    ),
    HostKeyNotTrustedError,
  );
  assert.equal(seen.length, 1);
  assert.equal(seen[0]!.sha256, sshd.hostFingerprint());
  assert.equal(seen[0]!.algorithm, 'ssh-ed25519');
  assert.equal(seen[0]!.host, '127.0.0.1');
  assert.equal(seen[0]!.port, sshd.port);
  assert.equal(seen[0]!.key.toString('base64'), sshd.hostPublicKey().split(' ')[1]);
  assert.deepEqual(asked, [], 'no credential may be asked for before the host key is trusted');
  assert.ok(!existsSync(store), 'nothing stored for a refused key');
  // And sshd never saw an authentication attempt (not even the key, which needs no prompt).
  assert.doesNotMatch(await sshdLogAfter(mark), noAuthAttempt);
});

test('accepting an unknown key stores it in the trust store; the next connection does not ask', async () => {
  const store = join(sshd.dir, 'sub', 'trust.json');
  const knownHosts = file('');
  let asked = 0;
  const policy: HostKeyPolicy = {
    knownHostsFiles: [knownHosts],
    trustStorePath: store,
    onUnknown: async () => {
      asked++;
      return true;
    },
  };
  await (await connect(policy)).close();
  assert.equal(asked, 1);
  assert.match(sshd.log(), noAuthAttempt, 'sshd logs authentication attempts, so their absence elsewhere means something');
  const saved = JSON.parse(readFileSync(store, 'utf8')) as { keys: Array<{ host: string; port: number; sha256: string }> };
  assert.deepEqual(
    saved.keys.map((k) => [k.host, k.port, k.sha256]),
    [['127.0.0.1', sshd.port, sshd.hostFingerprint()]],
  );
  assert.equal(readFileSync(knownHosts, 'utf8'), '', 'known_hosts is never written');
  await (await connect(policy)).close();
  assert.equal(asked, 1, 'the stored key is trusted without asking again');
});

test('a revoked key is refused with HostKeyChangedError and no credential asked', async () => {
  const { auth, asked } = recordingAuth();
  const kh = file(`@revoked [127.0.0.1]:${sshd.port} ${sshd.hostPublicKey()}\n`);
  const mark = sshd.log().length;
  await assert.rejects(connect({ knownHostsFiles: [kh], onUnknown: never }, auth), (e: unknown) => e instanceof HostKeyChangedError && e.reason === 'revoked');
  assert.deepEqual(asked, []);
  assert.doesNotMatch(await sshdLogAfter(mark), noAuthAttempt);
});

test('a CHANGED key (sshd restarted with a new host key) is refused: HostKeyChangedError, no prompt, no credential', async () => {
  const oldKey = sshd.hostPublicKey();
  const oldFp = sshd.hostFingerprint();
  const kh = file(`[127.0.0.1]:${sshd.port} ${oldKey}\n`);
  const store = join(sshd.dir, 'changed-store.json');
  // Also known through the trust store: both sources are named in the error.
  writeFileSync(store, JSON.stringify({ version: 1, keys: [{ host: '127.0.0.1', port: sshd.port, algorithm: 'ssh-ed25519', key: oldKey.split(' ')[1], sha256: oldFp, addedAt: new Date().toISOString() }] }));
  await sshd.restart({ newHostKey: true });
  const mark = sshd.log().length;
  const { auth, asked } = recordingAuth();
  await assert.rejects(
    connect({ knownHostsFiles: [kh], trustStorePath: store, onUnknown: never }, auth),
    (e: unknown) => {
      assert.ok(e instanceof HostKeyChangedError, String(e));
      assert.equal(e.reason, 'changed');
      assert.equal(e.info.sha256, sshd.hostFingerprint());
      assert.ok(e.known.every((k) => k.sha256 === oldFp));
      assert.ok(e.message.includes(kh) && e.message.includes(store), e.message);
      return true;
    },
  );
  assert.deepEqual(asked, []);
  assert.doesNotMatch(await sshdLogAfter(mark), noAuthAttempt);
});

test('a key of ANOTHER TYPE for a host known by its ed25519 key is a change, not "unknown": refused with both fingerprints, even when new keys would be accepted', async () => {
  await sshd.restart({ newHostKey: true });
  const knownKey = sshd.hostPublicKey();
  const knownFp = sshd.hostFingerprint();
  const kh = file(`[127.0.0.1]:${sshd.port} ${knownKey}\n`);
  // The man in the middle presents only an ECDSA key.
  await sshd.restart({ newHostKey: true, hostKeyType: 'ecdsa' });
  const ecdsaFp = sshd.hostFingerprint();
  const mark = sshd.log().length;
  const { auth, asked } = recordingAuth();
  const offered: string[] = [];
  const acceptNew = async (info: HostKeyInfo): Promise<boolean> => {
    offered.push(info.sha256);
    return true; // what --accept-new-host-key answers
  };
  await assert.rejects(connect({ knownHostsFiles: [kh], onUnknown: acceptNew }, auth), (e: unknown) => {
    assert.ok(e instanceof HostKeyChangedError, String(e));
    assert.equal(e.reason, 'changed');
    assert.equal(e.info.sha256, ecdsaFp);
    assert.match(e.info.algorithm, /^ecdsa-sha2-/);
    assert.deepEqual(e.known.map((k) => k.sha256), [knownFp]);
    assert.ok(e.message.includes(knownFp) && e.message.includes(ecdsaFp), e.message);
    return true;
  });
  assert.deepEqual(offered, [], 'never offered as an unknown key');
  assert.deepEqual(asked, []);
  assert.doesNotMatch(await sshdLogAfter(mark), noAuthAttempt);
});

test('verifyHostKey: any known key of the host makes a key of another type a change (also without the algorithm restriction)', async () => {
  const ed = sshd.dir + '/type-a';
  const ec = sshd.dir + '/type-b';
  const edPub = keygen(ed).split(' ').slice(0, 2).join(' ');
  const ecPub = keygen(ec, { type: 'ecdsa' }).split(' ').slice(0, 2).join(' ');
  const kh = file(`cn.example ${edPub}\n`);
  const info = hostKeyInfo('cn.example', 22, Buffer.from(ecPub.split(' ')[1]!, 'base64'));
  await assert.rejects(verifyHostKey({ knownHostsFiles: [kh], onUnknown: async () => true }, info), (e: unknown) => e instanceof HostKeyChangedError && e.reason === 'changed');
  assert.deepEqual(await preferredHostKeyAlgorithms({ knownHostsFiles: [kh], onUnknown: never }, 'cn.example', 22), ['ssh-ed25519'], 'only the known type is offered to the server');
});

test('the server drops the connection while the user looks at an unknown key: the attempt fails, and the late answer is ignored without an error', async () => {
  const logged: string[] = [];
  const logger = new KdsLogger({ level: 'debug', sinks: [(r) => logged.push(r.event)] });
  let answer!: (ok: boolean) => void;
  let asked!: () => void;
  const askedNow = new Promise<void>((resolve) => (asked = resolve));
  const attempt = SshSession.connect(
    { host: '127.0.0.1', port: sshd.port, user: sshd.user },
    { privateKeyPath: keyPath },
    {
      knownHostsFiles: [file('')],
      onUnknown: () => {
        asked();
        return new Promise<boolean>((resolve) => (answer = resolve));
      },
    },
    { readyTimeoutMs: 15000, logger },
  );
  await askedNow;
  assert.ok(sshd.dropConnections() > 0);
  await assert.rejects(attempt, SshConnectError);
  // The user refuses after the connection is gone: the refusal reaches a closed connection.
  answer(false);
  await until(() => logged.includes('ssh.hostKey'));
  // An error thrown by that late refusal would surface here, while this test runs.
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
});

async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !done(); i++) await new Promise((resolve) => setTimeout(resolve, 20));
  assert.ok(done());
}
