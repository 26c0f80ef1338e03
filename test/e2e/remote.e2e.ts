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
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, FrameLocator, Page } from 'playwright-core';
import { sshdUnavailable } from '../helpers/sshd';
import { CN_ICAP_LOG, type LoopbackCn, type PlacedIcapLog, placeCnIcapLog, startLoopbackCn } from './loopbackCn';
import { type CodeServer, freshDir, removeDir, repoRoot, skipReason, startCodeServer } from './support/codeServer';
import { EICAR } from './support/fixtures';
import {
  allStatusBarTexts,
  answerDialog,
  closeQuickInput,
  closeWorkbench,
  escapeRe,
  launchBrowser,
  openKdsContainer,
  openWorkbench,
  quickInput,
  quickPickRows,
  runCommand,
  scenario,
  viewRows,
  waitFor,
  waitForRow,
  webviewFrame,
} from './support/workbench';

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

/** Picks `value` in a toolkit dropdown (click it, click the option), like a person. */
async function choose(frame: FrameLocator, dropdownSelector: string, value: string): Promise<void> {
  const dd = frame.locator(dropdownSelector).first();
  await dd.click();
  await dd.locator(`vscode-option[value="${value}"]`).click();
}

describe('KDS remote mode in a real VS Code (code-server + Chromium + loopback CN)', { skip, timeout: 300_000 }, () => {
  let base: string;
  let cn: LoopbackCn | undefined;
  let cs: CodeServer | undefined;
  let browser: Browser | undefined;
  let page: Page | undefined;
  let icapLog: PlacedIcapLog | undefined;

  before(async () => {
    base = freshDir('kds-e2e-remote-');
    cn = await startLoopbackCn(base);
    cs = await startCodeServer(join(base, 'code-server'), {
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
      },
    });
    browser = await launchBrowser();
  });

  after(async () => {
    icapLog?.remove();
    if (page) await closeWorkbench(page);
    await browser?.close().catch(() => undefined);
    await cs?.stop();
    await cn?.stop();
    if (base) removeDir(base);
  });

  test('10. connect to the loopback CN (host key accepted in the modal), see its quarantine fill', async (t) => {
    const ws = join(base, 'ws-remote');
    mkdirSync(ws);
    const started = Date.now();
    page = await openWorkbench(browser!, cs!.folderUrl(ws));
    await scenario(t, () => page, '10-remote-quarantine', async () => {
      const p = page!;
      const c = cn!;
      await openKdsContainer(p);
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
      const expected = Number(
        execFileSync('bash', ['-c', `grep -F 'blocking_advanced mode' "$1" | grep -F -c verdict || true`, 'grep', CN_ICAP_LOG], { encoding: 'utf8' }).trim(),
      );
      t.diagnostic(`grep count: ${expected}`);
      assert.ok(expected > 0, 'the fixture has blocking_advanced verdict lines');
      const started = Date.now();
      await scenario(t, () => page, '10b-remote-icap-log', async () => {
        const p = page!;
        const label = `${cn!.sshd.user}@127.0.0.1:${cn!.sshd.port}`;
        await runCommand(p, 'KDS: View Central Node ICAP Log');
        const frame = webviewFrame(p);
        await frame.locator('[data-testid="icap-mode"]').first().waitFor({ state: 'visible', timeout: 30_000 });
        // The panel names the file as user@host:port:/var/log/…, not a local path.
        const shownPath = await waitFor('the panel to show the CN\'s log', async () => {
          const text = await frame.locator('[data-testid="icap-path"]').innerText();
          return text.includes(label) && text.includes(CN_ICAP_LOG) ? text : undefined;
        }, 30_000);
        t.diagnostic(`panel path: ${shownPath}`);
        const count = frame.locator('[data-testid="icap-count"]');
        const settled = async (what: string, value?: number) =>
          waitFor(what, async () => {
            if (!(await count.count())) return undefined;
            const state = await count.first().getAttribute('data-state');
            const n = Number((await count.first().innerText()).trim());
            return state === 'done' && (value === undefined || n === value) ? n : undefined;
          }, 30_000);
        const all = await settled('the unfiltered count');
        t.diagnostic(`unfiltered count: ${all}`);
        await choose(frame, '[data-testid="icap-mode"]', 'blocking_advanced');
        const verdictOnly = frame.locator('[data-testid="icap-verdict-only"]');
        if ((await verdictOnly.getAttribute('aria-checked')) !== 'true') await verdictOnly.click();
        await waitFor('"verdict lines only" to be checked', async () => ((await verdictOnly.getAttribute('aria-checked')) === 'true' ? true : undefined));
        assert.equal(await settled(`the count to settle at ${expected}`, expected), expected);
        // The grep command names the file as it is on the CN (to run there).
        const grep = await frame.locator('[data-testid="icap-grep"]').innerText();
        t.diagnostic(`panel's grep: ${grep}`);
        assert.match(grep, /blocking_advanced mode/);
        assert.match(grep, /verdict/);
        assert.ok(grep.includes(CN_ICAP_LOG), `the grep names ${CN_ICAP_LOG}: ${grep}`);
        t.diagnostic(`scenario took ${Date.now() - started} ms`);
      });
    } finally {
      icapLog.remove();
    }
  });
});
