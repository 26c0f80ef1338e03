/**
 * Remote mode in a real VS Code (code-server 4.100.3 + headless Chromium): "KDS: Connect to
 * Central Node" to a loopback CN (private sshd on 127.0.0.1, the service `kds run` started here
 * as the SSH user, the embedded KATA), the unknown host key accepted in the modal, an EICAR file
 * and a clean one dropped into the CN's input folder: Quarantine shows the EICAR with its verdict
 * and threat name, Output the clean file (10). Then, still connected, "KDS: View Central Node ICAP
 * Log" opens the CN's preprocessor_icap.log (placed here as root from the fixture, removed after)
 * over SFTP in the ICAP log panel, whose blocking_advanced + verdict-only count equals grep's (10b).
 * Every assertion reads the workbench's DOM.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { sshdUnavailable } from '../helpers/sshd';
import { CN_ICAP_LOG, type LoopbackCn, type PlacedIcapLog, placeCnIcapLog, startLoopbackCn } from './loopbackCn';
import { repoRoot, skipReason } from './support/codeServer';
import { EICAR } from './support/fixtures';
import { grepBlockingVerdictCount, icapCountSettler, showBlockingVerdictLinesOnly } from './support/icapLogPanel';
import {
  allStatusBarTexts,
  answerDialog,
  closeQuickInput,
  escapeRe,
  notifications,
  openKdsContainer,
  quickInput,
  quickPickRows,
  runCommand,
  saveScreenshot,
  scenario,
  viewRows,
  waitFor,
  waitForNotification,
  waitForRow,
  webviewShowing,
} from './support/workbench';
import { FatalWait } from './support/wait';
import { WorkbenchHost } from './support/workbenchHost';

const skip = skipReason() ?? sshdUnavailable();
/** A KATA preprocessor log with `blocking_advanced mode` verdict lines. */
const icapFixture = join(repoRoot, 'test/fixtures/icap/kata-preprocessor.log');

/** The palette's rows for `>text` (closed again afterwards). */
async function paletteRows(page: Page, text: string): Promise<string[]> {
  await closeQuickInput(page);
  await page.keyboard.press('F1');
  const widget = quickInput(page);
  await widget.waitFor({ state: 'visible' });
  await widget.locator('input.input').fill(`>${text}`);
  // The list filters synchronously after input; give it one bounded settle.
  const rows = await waitFor(`palette rows for "${text}"`, async () => {
    const r = await quickPickRows(page);
    return r.length > 0 ? r : undefined;
  }, 5_000).catch(() => [] as string[]);
  await closeQuickInput(page);
  return rows;
}

describe('KDS remote mode in a real VS Code (code-server + Chromium + loopback CN)', { skip, timeout: 300_000 }, () => {
  const host = new WorkbenchHost();
  let cn: LoopbackCn | undefined;
  let page: Page | undefined;
  let icapLog: PlacedIcapLog | undefined;
  let userEngine = '';

  before(async () => {
    const base = host.newBase('kds-e2e-remote-');
    cn = await startLoopbackCn(base);
    // The User's own engine command: this checkout's engine (the loopback CN's, run as kds-test
    // there), through a wrapper that leaves a mark when it runs.
    userEngine = join(cn.prefix, 'user-engine.sh');
    writeFileSync(userEngine, `#!/bin/sh\ntouch '${userEngine}.ran'\nexec '${process.execPath}' '${join(repoRoot, 'bin/kds.js')}' "$@"\n`, { mode: 0o755 });
    await host.start({
      dir: join(base, 'code-server'),
      settings: {
        'kds.remote.host': '127.0.0.1',
        'kds.remote.port': cn.sshd.port,
        'kds.remote.user': cn.sshd.user,
        'kds.remote.identityFile': cn.identityFile,
        'kds.remote.useAgent': false,
        'kds.remote.configPath': cn.configPath,
        'kds.remote.sudo': 'never',
        // No known_hosts entry for the sshd: the unknown key is shown in the modal and accepted there.
        'kds.remote.knownHostsFiles': [],
        // Honoured (a User setting), while the workspace's below is not.
        'kds.remote.engineCommand': [userEngine],
      },
    });
  });

  after(async () => {
    icapLog?.remove();
    await host.stop(page, async () => cn?.stop());
  });

  test('10. connect to the loopback CN (host key accepted in the modal), see its quarantine fill; the workspace\'s kds.remote.* settings are ignored and said so', async (t) => {
    const ws = join(host.base, 'ws-remote');
    mkdirSync(join(ws, '.vscode'), { recursive: true });
    // Issue 19 point 1: the repository's own settings try to choose the host, the trusted host keys
    // (a known_hosts holding the sshd's real key: honoured, no host-key modal would appear) and
    // the engine command (honoured, Service Status would run it). Flat and nested spellings.
    const c0 = cn!;
    const pwned = join(host.base, 'workspace-engine-command-ran');
    writeFileSync(join(ws, 'evil_known_hosts'), `[127.0.0.1]:${c0.sshd.port} ${c0.sshd.hostPublicKey()}\n`);
    writeFileSync(
      join(ws, '.vscode', 'settings.json'),
      `{\n  // a repository's settings\n  "kds.remote.host": "203.0.113.9",\n  "kds": { "remote": { "engineCommand": ["/bin/sh", "-c", "touch ${pwned}"], "knownHostsFiles": ["${join(ws, 'evil_known_hosts')}"] } },\n}\n`,
    );
    const started = Date.now();
    page = await host.open(ws);
    await scenario(t, () => page, '10-remote-quarantine', async () => {
      const p = page!;
      const c = cn!;
      await openKdsContainer(p);
      const told = await waitForNotification(p, /KDS ignores .*kds\.remote\.host.* in .*settings\.json/, 30_000);
      for (const k of ['kds.remote.host', 'kds.remote.knownHostsFiles', 'kds.remote.engineCommand']) assert.ok(told.includes(k), `${k} named: ${told}`);
      t.diagnostic(`said: ${told}`);
      await runCommand(p, 'KDS: Connect to Central Node');

      // The host key is unknown: the modal names it by its SHA256 fingerprint; trust it.
      const shown = await answerDialog(p, new RegExp(`host key of 127\\.0\\.0\\.1:${c.sshd.port} is not known[\\s\\S]*${escapeRe(c.hostFingerprint)}`), 'Trust and Connect');
      t.diagnostic(`host key modal: ${JSON.stringify(shown)}`);

      const label = `${c.sshd.user}@127.0.0.1:${c.sshd.port}`;
      await waitFor(`the status bar to show ${label}`, async () => (await allStatusBarTexts(p)).find((s) => s.includes(label)), 30_000);

      // kds.running follows the CN's service (its event stream says running): Stop Scanning is offered, Start is not.
      const rows = await waitFor('"Stop Scanning" in the palette (kds.running from the CN)', async () => {
        const r = await paletteRows(p, 'KDS: S');
        return r.some((x) => /Stop Scanning/.test(x)) ? r : undefined;
      }, 20_000);
      assert.ok(!rows.some((x) => /Start Scanning/.test(x)), `Start Scanning is hidden while the CN scans: ${JSON.stringify(rows)}`);

      c.drop('clean.txt', 'a perfectly clean file on the CN\n');
      c.drop('eicar.com', EICAR);

      const clean = await waitForRow(p, 'Output', 'clean.txt', /not detected/, 60_000);
      const bad = await waitForRow(p, 'Quarantine', 'eicar.com', /detect/, 60_000);
      assert.doesNotMatch(bad.description, /not detected/);
      assert.match(clean.description, /not detected/);
      // The threat name comes from the CN's service (its KATA client) through the event stream.
      const named = await waitForRow(p, 'Quarantine', 'eicar.com', /EICAR-Test-File/, 30_000);
      t.diagnostic(`Quarantine: ${named.text}; Output: ${clean.text}`);
      const input = await viewRows(p, 'Input');
      assert.ok(!input.some((r) => r.label === 'clean.txt' || r.label === 'eicar.com'), `both left the CN's Input: ${JSON.stringify(input)}`);
      assert.ok(existsSync(join(c.outDir, 'clean.txt')) && existsSync(join(c.qrntDir, 'eicar.com')), 'the files are on the CN where the views say');
      // Service Status runs the engine on the CN: the User's engine command, never the workspace's.
      rmSync(`${userEngine}.ran`, { force: true });
      await runCommand(p, 'KDS: Service Status');
      await waitFor('Service Status to have run the User\'s engine command', async () => {
        const said = (await notifications(p)).find((m) => /not installed|will not run/.test(m));
        if (said) throw new FatalWait(`Service Status did not run the User's engine command: ${said}`);
        return existsSync(`${userEngine}.ran`) ? true : undefined;
      }, 30_000);
      t.diagnostic(`Service Status ran the User's engine command ${userEngine}`);
      assert.ok(!existsSync(pwned), 'the workspace\'s kds.remote.engineCommand never ran');
      t.diagnostic(`scenario took ${Date.now() - started} ms`);
    });
  });

  test('10b. View Central Node ICAP Log: the CN\'s log over SFTP; blocking_advanced mode + verdict lines only shows the grep count', async (t) => {
    if (existsSync(CN_ICAP_LOG)) {
      t.skip(`${CN_ICAP_LOG} exists on this machine (a real log is never touched)`);
      return;
    }
    assert.ok(page, 'scenario 10 opened the workbench and connected');
    icapLog = placeCnIcapLog(icapFixture);
    assert.ok(icapLog, `${CN_ICAP_LOG} was created (as root)`);
    try {
      const expected = grepBlockingVerdictCount(CN_ICAP_LOG);
      t.diagnostic(`grep count: ${expected}`);
      assert.ok(expected > 0, 'the fixture has blocking_advanced verdict lines');
      const started = Date.now();
      await scenario(t, () => page, '10b-remote-icap-log', async () => {
        const p = page!;
        const label = `${cn!.sshd.user}@127.0.0.1:${cn!.sshd.port}`;
        await runCommand(p, 'KDS: View Central Node ICAP Log');
        const frame = await webviewShowing(p, '[data-testid="icap-mode"]');
        // The panel names the file as user@host:port:/var/log/…, not a local path.
        const shownPath = await waitFor('the panel to show the CN\'s log', async () => {
          const text = await frame.locator('[data-testid="icap-path"]').innerText();
          return text.includes(label) && text.includes(CN_ICAP_LOG) ? text : undefined;
        }, 30_000);
        t.diagnostic(`panel path: ${shownPath}`);
        const settled = icapCountSettler(frame);
        const all = await settled('the unfiltered count');
        t.diagnostic(`unfiltered count: ${all}`);
        await showBlockingVerdictLinesOnly(frame);
        assert.equal(await settled(`the count to settle at ${expected}`, expected), expected);
        // The grep command names the file as it is on the CN (to run there).
        const grep = await frame.locator('[data-testid="icap-grep"]').innerText();
        t.diagnostic(`panel's grep: ${grep}`);
        assert.match(grep, /blocking_advanced mode/);
        assert.match(grep, /verdict/);
        assert.ok(grep.includes(CN_ICAP_LOG), `the grep names ${CN_ICAP_LOG}: ${grep}`);
        // Issue 15 item 6: after Disconnect the panel stops reading the CN and says so (no "connection is closed" every second).
        await runCommand(p, 'KDS: Disconnect from Central Node');
        await frame.getByText(/is closed: the log is not read until you connect again/).first().waitFor({ timeout: 30_000 });
        await saveScreenshot(p, '10b-remote-icap-log-disconnected');
        t.diagnostic(`scenario took ${Date.now() - started} ms`);
      });
    } finally {
      icapLog.remove();
    }
  });
});
