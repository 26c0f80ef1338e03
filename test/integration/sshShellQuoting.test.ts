/**
 * A CN user whose login shell is fish: sshd hands it our POSIX-quoted command lines, which fish
 * reads otherwise (`\'` inside single quotes). The connection is refused at connect with a clear
 * message instead of running commands whose words differ from the ones sent. Real sshd, real fish.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { ShellQuotingError, checkShellQuoting, hostileStrings } from '../../src/ssh/shellQuotingCheck';
import { SshSession } from '../../src/ssh/sshSession';
import { sshdUnavailable, TestSshd } from '../helpers/sshd';
import { sshdClient } from '../helpers/sshSessionForTests';

const FISH_USER = 'kds-fish';
const skip = sshdUnavailable() ?? (existsSync('/usr/bin/fish') ? undefined : 'fish is not installed: run scripts/install-system-deps.sh as root');
let sshd: TestSshd;

function ensureFishUser(): void {
  try {
    execFileSync('/usr/bin/id', ['-u', FISH_USER], { stdio: 'ignore' });
  } catch {
    try {
      execFileSync('/usr/sbin/useradd', ['-m', '-s', '/usr/bin/fish', FISH_USER], { stdio: 'pipe' });
    } catch {
      // created by a parallel run meanwhile
    }
  }
  execFileSync('/usr/sbin/usermod', ['-s', '/usr/bin/fish', FISH_USER], { stdio: 'pipe' });
  // sshd (UsePAM no) refuses a locked account even with a key: give it a random password.
  execFileSync('/usr/sbin/chpasswd', [], { input: `${FISH_USER}:kds-${randomBytes(12).toString('base64url')}\n`, stdio: ['pipe', 'ignore', 'pipe'] });
}

before(async () => {
  if (skip) return;
  ensureFishUser();
  sshd = await TestSshd.start({ extraConfig: [`AllowUsers ${FISH_USER}`] });
});

after(async () => {
  await sshd?.dispose();
});

test('connecting as a user whose login shell is fish is refused: the quoting round trip fails, nothing else runs', { skip }, async () => {
  const c = sshdClient(sshd, 'id_fish');
  await assert.rejects(SshSession.connect({ ...c.target, user: FISH_USER }, c.auth, c.hostKeys, { readyTimeoutMs: 20_000 }), (e: unknown) => {
    assert.ok(e instanceof ShellQuotingError, String(e));
    assert.match((e as Error).message, /login shell of kds-fish on 127\.0\.0\.1 does not read POSIX shell quoting .*chsh -s \/bin\/bash kds-fish/);
    return true;
  });
  // The same sshd, a bash user: accepted.
  const ok = await SshSession.connect(c.target, c.auth, c.hostKeys, { readyTimeoutMs: 20_000 });
  assert.equal((await ok.exec(['printf', '%s', "it's"])).stdout.toString(), "it's");
  await ok.close();
});

test('the round trip: exact bytes pass; a shell that changes one word fails and names it', async () => {
  const exact = Buffer.from(hostileStrings.map((s) => s + '\0').join(''));
  await checkShellQuoting(async () => ({ code: 0, stdout: exact }), { user: 'u', host: 'h' });
  const changed = Buffer.from(hostileStrings.map((s) => (s === "a\\'b" ? "a'b" : s) + '\0').join(''));
  await assert.rejects(checkShellQuoting(async () => ({ code: 0, stdout: changed }), { user: 'u', host: 'h' }), /"a\\\\'b" came back as "a'b"/);
  await assert.rejects(checkShellQuoting(async () => ({ code: 127, stdout: Buffer.alloc(0) }), { user: 'u', host: 'h' }), /printf exited with code 127/);
});
