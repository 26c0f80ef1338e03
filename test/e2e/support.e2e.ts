/**
 * Issue 11 in a real VS Code (code-server + Chromium), local mode (KDS on the Central Node
 * itself): stand-in kata-collect / kata-collect-siem-logs scripts (test/helpers/kataStandIns.ts)
 * in a folder named by KDS_KATA_TOOL_DIRS, which code-server's extension host inherits.
 *  - KDS: Fetch KATA Log History / Detects opens log-history.log in the ICAP log viewer with the
 *    search ICAP set: its count equals grep -ci ICAP.
 *  - KDS: Create Support Request: the form is prefilled (hardware), answers typed, Prepare shows
 *    the contents, the kata-collect removal is confirmed in a modal, Write Archive saves a
 *    .tar.gz that holds summary.md and the collect archive and none of the planted secrets.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import type { DemoSetup } from '../../src/demo/demoSetup';
import { writeStandIns } from '../helpers/kataStandIns';
import { skipReason } from './support/codeServer';
import { demoWorkspace } from './support/fixtures';
import { icapCountSettler } from './support/icapLogPanel';
import { answerDialog, dialog, pickQuickItem, quickInput, runCommand, scenario, statusBarText, waitFor, webviewShowing } from './support/workbench';
import { WorkbenchHost } from './support/workbenchHost';

const skip = skipReason();
const secret = `E2eSecret-${process.pid}-Xq9`;

describe('KATA logs and the support request in a real VS Code', { skip, timeout: 600_000 }, () => {
  const host = new WorkbenchHost();
  let page: Page | undefined;
  let demo: DemoSetup | undefined;
  let ws = '';

  before(async () => {
    host.newBase('kds-e2e-support-');
    const stand = writeStandIns(join(host.base, 'kata'), { plant: `password=${secret}\nsudo ${secret}\n`, collectBytes: 64 * 1024, secretName: secret });
    // The extension host takes PATH from the login shell; KDS_KATA_TOOL_DIRS reaches it.
    process.env.KDS_KATA_TOOL_DIRS = stand.bin;
    await host.start();
    ws = join(host.base, 'ws');
    demo = await demoWorkspace(ws);
    const conf = JSON.parse(readFileSync(demo.configPath, 'utf8')) as Record<string, unknown>;
    conf.share_password = secret;
    writeFileSync(demo.configPath, JSON.stringify(conf, null, 2) + '\n');
    const logFile = typeof conf.log_file === 'string' ? (conf.log_file.startsWith('/') ? conf.log_file : join(ws, conf.log_file)) : undefined;
    if (logFile) appendFileSync(logFile, `2024-05-01T10:00:00.000Z ERROR kata.error "login with ${secret}"\n`);
    page = await host.open(ws);
    // The extension is active (its status item shows) before its commands are looked for.
    await waitFor('"KDS stopped" in the status bar', async () => /KDS stopped/.test(await statusBarText(page!)) || undefined, 120_000);
  });

  after(async () => {
    delete process.env.KDS_KATA_TOOL_DIRS;
    await host.stop(page, async () => demo?.emulator.close().catch(() => undefined));
  });

  test('Fetch KATA Log History: log-history.log opens in the ICAP log viewer, search ICAP set, count = grep -ci', async (t) => {
    await scenario(t, () => page, 'support-kata-logs', async () => {
      await runCommand(page!, 'KDS: Fetch KATA Log History / Detects (ICAP lines)');
      await pickQuickItem(page!, /log-history/);
      const frame = await webviewShowing(page!, '[data-testid="icap-mode"]');
      const path = await waitFor('log-history.log in the viewer', async () => {
        const p = await frame.locator('[data-testid="icap-path"]').innerText();
        return p.includes('log-history.log') ? p.trim() : undefined;
      }, 60_000);
      const expected = Number(execFileSync('grep', ['-ci', 'ICAP', path], { encoding: 'utf8' }).trim());
      t.diagnostic(`grep -ci ICAP ${path}: ${expected}`);
      assert.ok(expected > 0);
      const settled = icapCountSettler(frame);
      assert.equal(await settled(`the count to settle at ${expected}`, expected), expected);
    });
  });

  test('Create Support Request: prefilled form, preview, modal removal question, archive written without the secrets', async (t) => {
    await scenario(t, () => page, 'support-request', async () => {
      await runCommand(page!, 'KDS: Create Support Request');
      const frame = await webviewShowing(page!, '[data-testid="f-hardware"]');
      const hardware = await waitFor('the hardware field prefilled', async () => {
        const v = await frame.locator('[data-testid="f-hardware"]').inputValue();
        return v ? v : undefined;
      });
      t.diagnostic(`hardware: ${hardware}`);
      assert.match(hardware, /RAM/);
      assert.match(await frame.locator('[data-testid="f-problemTime"]').inputValue(), /2024-05-01T10:00:00\.000Z/);
      // No KATA package on this machine: the KATA version stays empty and the form says why (issue 23, point 2).
      assert.equal(await frame.locator('[data-testid="f-kataVersion"]').inputValue(), '');
      assert.match(await frame.locator('[data-testid="f-kataVersion-note"]').innerText(), /KDS found no KATA or KEDR package on this computer/);
      await frame.locator('[data-testid="f-traffic"]').fill('50 Mbit/s ICAP');
      await frame.locator('[data-testid="f-kataVersion"]').fill('6.0');
      await frame.locator('[data-testid="f-description"]').fill(`No ICAP detections; the admin password is ${secret}`);
      await frame.locator('[data-testid="f-steps"]').fill('1. download a .deb through the proxy');
      await frame.getByText('Prepare and Preview').click();
      // kata-logs twice, then kata-collect and the download: generous on a loaded machine.
      await dialog(page!).waitFor({ state: 'visible', timeout: 180_000 });
      await answerDialog(page!, /kata-collect archive was downloaded and verified/, 'Remove');
      const preview = frame.locator('[data-testid="support-preview"]');
      await waitFor('the preview', async () => ((await preview.isVisible()) && /summary\.md/.test(await preview.innerText()) ? true : undefined), 120_000);
      const shown = await preview.innerText();
      assert.match(shown, /kata-collect\/collect-/);
      assert.match(shown, /kata-logs\/log-history\.log\.ICAP\.txt/);
      assert.doesNotMatch(shown, new RegExp(secret));
      const out = join(ws, 'ticket.tar.gz');
      await frame.getByText('Write Archive…').click();
      // code-server's save dialog is VS Code's simple dialog: a quick input holding the path.
      const box = quickInput(page!).locator('input.input');
      await box.waitFor({ state: 'visible' });
      // The dialog fills in its default path after it shows: replace it only once it is there.
      await waitFor('the save dialog\'s default path', async () => ((await box.inputValue()).endsWith('.tar.gz') ? true : undefined), 30_000);
      await box.fill(out);
      await waitFor('our path in the save dialog', async () => ((await box.inputValue()) === out ? true : undefined), 10_000);
      await page!.keyboard.press('Enter');
      await waitFor('the archive to be written', async () => (/Written /.test(await frame.locator('[data-testid="support-status"]').innerText()) ? true : undefined), 60_000);
      assert.ok(existsSync(out));
      const x = join(host.base, 'x');
      mkdirSync(x);
      execFileSync('tar', ['-xzf', out, '-C', x]);
      const top = readdirSync(x)[0]!;
      const summary = readFileSync(join(x, top, 'summary.md'), 'utf8');
      assert.match(summary, /50 Mbit\/s ICAP/);
      // The version typed replaces "not found" in what KDS found, too.
      assert.match(summary, /- \*\*KATA version:\*\* 6\.0 \(entered by the person filing this request\)/);
      const collect = readdirSync(join(x, top, 'kata-collect')).find((n) => n.endsWith('.tar.gz'))!;
      execFileSync('tar', ['-xzf', join(x, top, 'kata-collect', collect), '-C', x]);
      const grep = spawnSync('grep', ['-rl', secret, x], { encoding: 'utf8' });
      assert.equal(grep.status, 1, `the secret is in: ${grep.stdout}`);
    });
  });
});
