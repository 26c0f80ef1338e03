import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { formatText, KdsLogger } from '../../src/common/log';
import { commandLine, quoteArg } from '../../src/ssh/shellCommand';
import { SshTimeoutError, SudoError } from '../../src/ssh/sshErrors';
import type { SshSession } from '../../src/ssh/sshSession';
import { TestSshd } from '../helpers/sshd';
import { connectToSshd } from '../helpers/sshSessionForTests';

let sshd: TestSshd;
let session: SshSession;
const id = randomBytes(6).toString('hex');
const sudoersFile = `/etc/sudoers.d/kds-test-${id}`;
const pwned = [`/tmp/kds-pwned-${id}-a`, `/tmp/kds-pwned-${id}-b`, `/tmp/kds-pwned-${id}-c`];
const NASTY = [
  `it's "quoted" 'twice'`,
  `$(touch ${pwned[0]})`,
  `\`touch ${pwned[1]}\``,
  `a\nnew line\n; touch ${pwned[2]}\n`,
  `  spaces  and\ttabs `,
  `$HOME * ? [a] ~ & | ; < > \\ !`,
  '',
  '-n',
  'юникод ✓',
];
const lines: string[] = [];
let remoteDir: string;

before(async () => {
  sshd = await TestSshd.start({ user: 'kds-test-exec' });
  session = await connectToSshd(sshd, 'id_exec', {
    logger: new KdsLogger({ level: 'debug', sinks: [(r) => lines.push(formatText(r))] }),
  });
  // sudo with a password for the test user; timestamp_timeout=0 so every sudo asks.
  writeFileSync(sudoersFile, `${sshd.user} ALL=(ALL:ALL) ALL\nDefaults:${sshd.user} timestamp_timeout=0, !lecture\n`, { mode: 0o440 });
  execFileSync('/usr/sbin/visudo', ['-cf', sudoersFile], { stdio: 'pipe' });
  remoteDir = `/home/${sshd.user}/kds-sftp-${id}`;
});

after(async () => {
  rmSync(sudoersFile, { force: true });
  for (const p of pwned) rmSync(p, { force: true });
  if (session && !session.isClosed) {
    await session.exec(['rm', '-rf', '--', remoteDir], { timeoutMs: 10000 }).catch(() => undefined);
    await session.close();
  }
  await sshd?.dispose();
});

test('quoteArg: a local POSIX sh gives back every argument unchanged; NUL is refused', () => {
  for (const s of NASTY) {
    assert.equal(execFileSync('/bin/sh', ['-c', `printf %s ${quoteArg(s)}`], { encoding: 'utf8' }), s);
  }
  assert.equal(commandLine(['printf', '%s', "a'b"]), `printf %s 'a'\\''b'`);
  assert.throws(() => quoteArg('a\0b'), /NUL/);
  assert.throws(() => commandLine([]));
});

test('exec: arguments with quotes, $(), backticks, newlines and spaces reach the CN as plain data', async () => {
  for (const arg of NASTY) {
    const r = await session.exec(['printf', '%s', arg], { timeoutMs: 10000 });
    assert.equal(r.code, 0, r.stderr.toString());
    assert.equal(r.stdout.toString(), arg);
  }
  const all = await session.exec(['printf', '[%s]\\n', ...NASTY], { timeoutMs: 10000 });
  assert.equal(all.stdout.toString(), NASTY.map((a) => `[${a}]\n`).join(''));
  for (const p of pwned) assert.ok(!existsSync(p), `${p} was created: an argument was run as a command`);
});

test('exec: exit codes, stderr, stdin', async () => {
  const r = await session.exec(['sh', '-c', 'echo out; echo err >&2; exit 7']);
  assert.deepEqual([r.code, r.stdout.toString(), r.stderr.toString()], [7, 'out\n', 'err\n']);
  const c = await session.exec(['cat'], { stdin: 'line 1\nline 2\n' });
  assert.equal(c.stdout.toString(), 'line 1\nline 2\n');
});

test('exec: timeout and abort stop the command', async () => {
  await assert.rejects(session.exec(['sleep', '30'], { timeoutMs: 300 }), SshTimeoutError);
  const ac = new AbortController();
  const p = session.exec(['sleep', '30'], { signal: ac.signal });
  setTimeout(() => ac.abort(new Error('stop it')), 100);
  await assert.rejects(p, /stop it/);
  // The session is still usable.
  assert.equal((await session.exec(['true'])).code, 0);
});

test('spawn: streaming stdin/stdout', async () => {
  const proc = session.spawn(['cat']);
  const got = new Promise<string>((resolve) => {
    let text = '';
    proc.stdout.on('data', (d: Buffer) => {
      text += d.toString();
      if (text.includes('ping')) resolve(text);
    });
  });
  proc.stdin.write('ping\n');
  assert.equal(await got, 'ping\n');
  proc.stdin.end();
  assert.deepEqual(await proc.exit, { code: 0 });
});

test('sudo -S: the unique prompt is answered from the password function, never on the command line', async () => {
  let asked = 0;
  const password = async (): Promise<string> => {
    asked++;
    return sshd.password;
  };
  const r = await session.exec(['id', '-u'], { sudo: { password }, timeoutMs: 15000 });
  assert.equal(r.code, 0, r.stderr.toString());
  assert.equal(r.stdout.toString().trim(), '0');
  assert.equal(asked, 1);
  assert.equal(r.stderr.toString(), '', 'the prompt and the marker are not passed on');
  // stdin goes to the command, after sudo took the password.
  const c = await session.exec(['cat'], { sudo: { password }, stdin: 'for the command\n', timeoutMs: 15000 });
  assert.equal(c.stdout.toString(), 'for the command\n');
  // Arguments stay plain data under sudo too.
  const q = await session.exec(['printf', '%s', NASTY[1]!], { sudo: { password }, timeoutMs: 15000 });
  assert.equal(q.stdout.toString(), NASTY[1]);
  assert.ok(!existsSync(pwned[0]!));
  assert.ok(!lines.join('\n').includes(sshd.password), 'the sudo password never reaches the log');
});

test('sudo: a wrong password is a SudoError; sudo -n without a password function fails plainly', async () => {
  await assert.rejects(session.exec(['id', '-u'], { sudo: { password: async () => 'not-the-password' }, timeoutMs: 15000 }), SudoError);
  await assert.rejects(session.exec(['id', '-u'], { sudo: { password: async () => undefined }, timeoutMs: 15000 }), SudoError);
  const n = await session.exec(['id', '-u'], { sudo: true, timeoutMs: 15000 });
  assert.notEqual(n.code, 0);
  assert.match(n.stderr.toString(), /password/i);
});

test('SFTP: mkdir -p, atomic write, read, stat, readdir, rename, read stream from an offset, chmod, unlink', async () => {
  const sftp = await session.sftp();
  try {
    await sftp.mkdir(`${remoteDir}/a/b/c`);
    await sftp.mkdir(`${remoteDir}/a/b/c`); // again: fine
    await sftp.writeFileAtomic(`${remoteDir}/a/conf.json`, '{"v":1}\n', 0o640);
    await sftp.writeFileAtomic(`${remoteDir}/a/conf.json`, '{"v":2}\n', 0o600); // replaces
    assert.equal((await sftp.readFile(`${remoteDir}/a/conf.json`)).toString(), '{"v":2}\n');
    const st = await sftp.stat(`${remoteDir}/a/conf.json`);
    assert.deepEqual([st.type, st.size, st.mode], ['file', 8, 0o600]);
    assert.ok(Math.abs(st.mtimeMs - Date.now()) < 10 * 60_000);
    await session.exec(['ln', '-s', 'conf.json', `${remoteDir}/a/link`]);
    const entries = (await sftp.readdir(`${remoteDir}/a`)).sort((x, y) => x.name.localeCompare(y.name));
    assert.deepEqual(
      entries.map((e) => [e.name, e.type]),
      [
        ['b', 'directory'],
        ['conf.json', 'file'],
        ['link', 'symlink'],
      ],
      'no temporary files left behind',
    );
    assert.equal((await sftp.lstat(`${remoteDir}/a/link`)).type, 'symlink');
    await sftp.writeFileAtomic(`${remoteDir}/a/b/data`, Buffer.from('0123456789'));
    await sftp.rename(`${remoteDir}/a/b/data`, `${remoteDir}/a/conf.json`); // replaces
    const chunks: Buffer[] = [];
    for await (const c of sftp.createReadStream(`${remoteDir}/a/conf.json`, { start: 4 })) chunks.push(c as Buffer);
    assert.equal(Buffer.concat(chunks).toString(), '456789');
    await sftp.chmod(`${remoteDir}/a/conf.json`, 0o604);
    assert.equal((await sftp.stat(`${remoteDir}/a/conf.json`)).mode, 0o604);
    await sftp.unlink(`${remoteDir}/a/conf.json`);
    assert.equal(await sftp.exists(`${remoteDir}/a/conf.json`), undefined);
  } finally {
    sftp.close();
  }
});

test('sudo refusing a user without sudo rights ends the command cleanly (no write after end)', async () => {
  rmSync(sudoersFile, { force: true });
  try {
    const proc = session.spawn(['id', '-u'], { sudo: { password: async () => sshd.password } });
    const err: Buffer[] = [];
    proc.stderr.on('data', (d: Buffer) => err.push(d));
    proc.stdout.resume();
    const outcome = await proc.exit.then(
      (r) => ({ ok: true as const, r }),
      (e: Error) => ({ ok: false as const, e }),
    );
    // sudo says why on stderr (or fails the password phase); either way the process survives it.
    if (outcome.ok) assert.notEqual(outcome.r.code, 0);
    else assert.ok(outcome.e instanceof SudoError, String(outcome.e));
    await new Promise((r) => setImmediate(r));
    assert.ok(!session.isClosed);
  } finally {
    writeFileSync(sudoersFile, `${sshd.user} ALL=(ALL:ALL) ALL\nDefaults:${sshd.user} timestamp_timeout=0, !lecture\n`, { mode: 0o440 });
  }
});
