/**
 * Issue 15 items 8–14 and its polish list, as a user sees them in a real VS Code (code-server
 * 4.100.3, headless Chromium): one demo workspace, scanned once (clean + EICAR), then each
 * scenario reads the screen. Screenshots go to test-results/15-*.png.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import type { DemoSetup } from '../../src/demo/demoSetup';
import { repoRoot, skipReason } from './support/codeServer';
import { EICAR, demoWorkspace } from './support/fixtures';
import {
  answerDialog,
  closeQuickInput,
  dialog,
  notifications,
  openKdsContainer,
  quickInput,
  quickPickRows,
  runCommand,
  scenario,
  statusBarText,
  viewMessage,
  viewRows,
  waitFor,
  waitForNotification,
  waitForRow,
  webviewFrame,
  webviewShowing,
} from './support/workbench';
import { WorkbenchHost } from './support/workbenchHost';

const skip = skipReason();
const icapFixture = join(repoRoot, 'test/fixtures/icap/kata-preprocessor.log');

describe('Issue 15: local-mode polish in a real VS Code (code-server + Chromium)', { skip, timeout: 600_000 }, () => {
  const host = new WorkbenchHost();
  let page: Page | undefined;
  let demo: DemoSetup | undefined;
  let ws = '';

  before(async () => {
    host.newBase('kds-e2e-polish-');
    // The Welcome page at start, as code-server shows it on a first start (item 13).
    await host.start({ settings: { 'workbench.startupEditor': 'welcomePage', 'files.autoSave': 'off' } });
    ws = join(host.base, 'ws-demo');
    demo = await demoWorkspace(ws);
    copyFileSync(icapFixture, join(ws, 'preprocessor_icap.log'));
    mkdirSync(join(ws, '.vscode'), { recursive: true });
    writeFileSync(join(ws, '.vscode', 'settings.json'), JSON.stringify({ 'kds.icapLogPath': 'preprocessor_icap.log' }, null, 2) + '\n');
    page = await host.open(ws);
    await openKdsContainer(page);
    await waitFor('"KDS stopped" in the status bar', async () => /KDS stopped/.test(await statusBarText(page!)) || undefined, 30_000);
  });

  after(() => host.stop(page, async () => demo?.emulator.close().catch(() => undefined)));

  test('13. Open Getting Started over another walkthrough: the KDS one, in one language, configuration step ticked', async (t) => {
    await scenario(t, () => page, '15-13-walkthrough', async () => {
      // Another walkthrough is open first (VS Code's own), as code-server shows one at first start.
      await runCommand(page!, 'Open Walkthrough...');
      const other = quickInput(page!).locator('.quick-input-list .monaco-list-row').filter({ hasNotText: /KDS/ });
      await waitFor('a built-in walkthrough to pick', async () => ((await other.count()) > 0 ? true : undefined));
      // The first row is focused; Enter (a hover tooltip may cover the row for a click).
      assert.doesNotMatch(await quickInput(page!).locator('.quick-input-list .monaco-list-row.focused').first().innerText(), /KDS/);
      await page!.keyboard.press('Enter');
      await page!.locator('.gettingStartedContainer').first().waitFor({ state: 'visible' });
      await waitFor('the walkthrough picker to close', async () => ((await quickInput(page!).isVisible()) ? undefined : true), 10_000);
      await runCommand(page!, 'KDS: Open Getting Started');
      const kds = page!.locator('.gettingStartedContainer .getting-started-category h2, .gettingStartedContainer .category-title').filter({ hasText: /Get started with KDS/ });
      await waitFor('the KDS walkthrough on screen', async () => ((await kds.count()) > 0 && (await kds.first().isVisible()) ? true : undefined), 20_000);
      const steps = await page!.locator('.gettingStartedContainer .getting-started-step').allInnerTexts();
      t.diagnostic(`steps: ${JSON.stringify(steps.map((s) => s.split('\n')[0]))}`);
      assert.match(steps[0] ?? '', /Create the configuration/);
      // The demo workspace's configuration is valid: the step is ticked by that, not by a click.
      const first = page!.locator('.gettingStartedContainer .getting-started-step').first();
      await waitFor('the configuration step ticked', async () => ((await first.locator('.codicon-pass-filled, .complete').count()) > 0 ? true : undefined), 15_000);
      // The scanning step is not ticked: nothing has been started.
      const scan = page!.locator('.gettingStartedContainer .getting-started-step').filter({ hasText: /Start scanning/ });
      assert.equal(await scan.locator('.codicon-pass-filled').count(), 0);
      // The steps and the step's page (a markdown webview, two iframes deep) are English only.
      assert.doesNotMatch(await page!.locator('.gettingStartedContainer').innerText(), /[А-Яа-яЁё]/, 'no Russian beside the English');
      const md = webviewFrame(page!);
      const body = await waitFor('the step page', async () => {
        const b = (await md.locator('body').innerText().catch(() => '')).trim();
        return b.length > 20 ? b : undefined;
      }, 30_000);
      t.diagnostic(body.slice(0, 120));
      assert.match(body, /KDS/);
      assert.doesNotMatch(body, /[А-Яа-яЁё]/, 'no Russian beside the English');
    });
  });

  test('10. Reveal in OS is not offered where it cannot work (VS Code for the Web)', async (t) => {
    await scenario(t, () => page, '15-10-reveal', async () => {
      await page!.keyboard.press('Escape');
      await page!.locator('.monaco-workbench').click({ position: { x: 700, y: 5 } }).catch(() => undefined);
      await page!.keyboard.press('F1');
      await quickInput(page!).waitFor({ state: 'visible' });
      await quickInput(page!).locator('input.input').fill('>KDS: ');
      const rows = await waitFor('KDS commands in the palette', async () => {
        const r = await quickPickRows(page!);
        return r.some((x) => /Copy SHA-256/.test(x)) ? r : undefined;
      });
      assert.ok(!rows.some((r) => /Reveal in OS/.test(r)), `palette offers: ${JSON.stringify(rows)}`);
      await closeQuickInput(page!);
    });
  });

  test('11 + polish: Verdicts follows a release; single click opens details; Enter in the confirmation keeps the file; one size format; status bar counts files in quarantine now', async (t) => {
    await scenario(t, () => page, '15-11-verdicts-release', async () => {
      await runCommand(page!, 'KDS: Start Scanning');
      writeFileSync(join(demo!.dir, 'in', 'clean.txt'), 'a perfectly clean file\n');
      writeFileSync(join(demo!.dir, 'in', 'eicar.com'), EICAR);
      await waitForRow(page!, 'Output', 'clean.txt', /not detected/, 60_000);
      await waitForRow(page!, 'Quarantine', 'eicar.com', /detected/, 60_000);
      await waitFor('the status bar to count the file in quarantine', async () => (/\b1\b/.test(await statusBarText(page!)) ? true : undefined), 20_000);

      await runCommand(page!, 'KDS: Open Verdicts');
      const frame = await webviewShowing(page!, '.kds-vt-row');
      const row = frame.locator('.kds-vt-row:visible').filter({ hasText: 'eicar.com' });
      await waitFor('eicar.com in the table', async () => ((await row.count()) > 0 ? true : undefined), 20_000);
      // Sizes as in the trees: "68 B", never "68 byte".
      const rowText = await row.first().innerText();
      assert.match(rowText, /\b68 B\b/);
      assert.doesNotMatch(rowText, /byte/);
      assert.match(rowText, /quarantine/);
      // One click opens the details.
      await row.first().click();
      const details = frame.locator('section.details');
      await waitFor('the details after one click', async () => ((await details.isVisible()) && /eicar\.com/.test(await details.innerText()) ? true : undefined));
      assert.equal(await details.locator('vscode-button').filter({ hasText: /Reveal in OS/ }).count(), 0, 'no Reveal in OS in VS Code for the Web');
      await page!.screenshot({ path: join(repoRoot, 'test-results', '15-11-verdicts-details.png') });

      // Release from the details: Enter in the confirmation keeps the file in quarantine.
      await details.locator('vscode-button').filter({ hasText: /Release from Quarantine/ }).click();
      await dialog(page!).waitFor({ state: 'visible' });
      const question = await dialog(page!).innerText();
      assert.match(question, /Release "eicar\.com" from quarantine\?/);
      await page!.keyboard.press('Enter');
      await dialog(page!).waitFor({ state: 'hidden' });
      assert.equal(await quickInput(page!).isVisible(), false, 'no reason box: nothing was released');
      await waitForRow(page!, 'Quarantine', 'eicar.com', /detected/);

      // Now on purpose: Release, then the reason box (Enter = no reason).
      await details.locator('vscode-button').filter({ hasText: /Release from Quarantine/ }).click();
      await answerDialog(page!, /Release "eicar\.com" from quarantine\?/, 'Release');
      await quickInput(page!).waitFor({ state: 'visible' });
      await page!.keyboard.press('Enter');
      await waitForRow(page!, 'Output', 'eicar.com', /released by/, 30_000);
      // The row and the details say where the file is now; Release is no longer offered.
      await waitFor('the row to say "released"', async () => (/released to output/.test(await row.first().innerText()) ? true : undefined), 20_000);
      await waitFor('Release hidden in the details', async () => ((await details.locator('vscode-button:visible').filter({ hasText: /Release from Quarantine/ }).count()) === 0 ? true : undefined));
      assert.doesNotMatch(await details.innerText(), /qrnt[\\/]eicar\.com/);
      // "In quarantine now": the release lowers the count (no bug icon count left).
      await waitFor('the status bar without a quarantine count', async () => (!/\$\(bug\)|\b1\b/.test(await statusBarText(page!)) ? true : undefined), 20_000);
      t.diagnostic(`status bar: ${await statusBarText(page!)}`);
    });
  });

  test('12 + polish: the ICAP log keeps runs of spaces, shows the verdict in its own column, a size with a unit, a regex error once', async (t) => {
    await scenario(t, () => page, '15-12-icap-log', async () => {
      await runCommand(page!, 'KDS: View ICAP Log');
      const frame = await webviewShowing(page!, '[data-testid="icap-mode"]');
      const search = frame.locator('[data-testid="icap-search"]');
      await search.locator('input').fill('double space');
      const line = frame.locator('.ll-row:visible .ll-text').filter({ hasText: /double space/ });
      await waitFor('the double-space line', async () => ((await line.count()) > 0 ? true : undefined), 20_000);
      const text = await line.first().evaluate((el) => (el as unknown as { innerText: string }).innerText);
      assert.match(text, /blocking_simple {2}mode/, `shown: ${JSON.stringify(text)}`);
      // The file size has a unit.
      const size = await frame.locator('.file-row .kds-muted').first().innerText();
      assert.match(size, /\d+(\.\d)? (B|KiB|MiB)/, size);
      // The verdict column.
      await search.locator('input').fill('verdict: detected');
      const verdictCell = frame.locator('.ll-row:visible .ll-verdict').filter({ hasText: /detected/ });
      await waitFor('a verdict in the verdict column', async () => ((await verdictCell.count()) > 0 ? true : undefined), 20_000);
      await page!.screenshot({ path: join(repoRoot, 'test-results', '15-12-icap-verdict-column.png') });
      // A bad regular expression is explained once.
      await frame.locator('[data-testid="icap-regex"]').click();
      await search.locator('input').fill('icar(');
      const error = frame.locator('.filter-error');
      const message = await waitFor('the regex error', async () => ((await error.isVisible()) ? (await error.innerText()).trim() : undefined), 20_000);
      t.diagnostic(message);
      assert.equal(message.match(/Invalid regular expression/g)?.length, 1, message);
      await search.locator('input').fill('');
    });
  });

  test('9. Edit Configuration: "●" while edited; closing asks Save / Don\'t Save / Cancel; Cancel keeps the edits', async (t) => {
    await scenario(t, () => page, '15-9-config-close', async () => {
      const before = readFileSync(demo!.configPath, 'utf8');
      await runCommand(page!, 'KDS: Edit Configuration');
      const frame = await webviewShowing(page!, '#field-poll_interval_s');
      await frame.getByText(/No unsaved changes/).first().waitFor();
      const input = frame.locator('#field-poll_interval_s input');
      const current = Number(await input.inputValue()) || 5;
      const typed = String(current === 7 ? 9 : 7);
      await input.fill(typed);
      const tab = page!.locator('.tabs-container .tab').filter({ hasText: /KDS Configuration/ });
      await waitFor('the dirty marker on the tab', async () => (/●/.test(await tab.first().innerText()) ? true : undefined));
      await page!.screenshot({ path: join(repoRoot, 'test-results', '15-9-config-dirty.png') });
      await runCommand(page!, 'View: Close Editor');
      const shown = await answerDialog(page!, /Do you want to save the changes you made to kata_dir_scanner\.conf\?/, 'Cancel');
      assert.match(shown, /Don't Save/);
      // Cancel: the form is back with the edit.
      const again = await webviewShowing(page!, '#field-poll_interval_s');
      await waitFor('the edit kept', async () => ((await again.locator('#field-poll_interval_s input').inputValue()) === typed ? true : undefined));
      assert.equal(readFileSync(demo!.configPath, 'utf8'), before);
      // Don't Save: closed, the file as it was.
      await runCommand(page!, 'View: Close Editor');
      await answerDialog(page!, /Do you want to save the changes/, "Don't Save");
      await waitFor('the tab closed', async () => ((await tab.count()) === 0 ? true : undefined));
      assert.equal(readFileSync(demo!.configPath, 'utf8'), before);
    });
  });

  test('polish: Edit Configuration shows code as code, and the Test Connection result next to the button, wherever the form is scrolled', async (t) => {
    await scenario(t, () => page, '15-config-editor-polish', async () => {
      await runCommand(page!, 'KDS: Edit Configuration');
      const frame = await webviewShowing(page!, '#field-poll_interval_s');
      const desc = frame.locator('#desc-cert_pem');
      assert.ok((await desc.locator('code').count()) >= 2, 'the key and `kds cert --out DIR` as code');
      assert.doesNotMatch(await desc.innerText(), /`/);
      // Scrolled to the bottom of the form, then Test Connection in the (sticky) header.
      await frame.locator('#field-log_file, .field').last().scrollIntoViewIfNeeded();
      await frame.locator('vscode-button').filter({ hasText: /^\s*Test Connection\s*$/ }).first().click();
      const result = frame.locator('[data-testid="test-result"]');
      await waitFor('the connection test result', async () => (/checks passed|check failed|not approved|not valid/i.test(await result.innerText()) ? true : undefined), 60_000);
      const box = await result.boundingBox();
      t.diagnostic(`result box: ${JSON.stringify(box)}`);
      assert.ok(box && box.y >= 0 && box.y < 900, 'the result is on screen, not above it');
      await page!.screenshot({ path: join(repoRoot, 'test-results', '15-config-test-connection.png') });
      await runCommand(page!, 'View: Close Editor');
    });
  });

  test('14 + 8. An invalid file keeps the views with a banner; a valid change asks once; a new kds.configPath does not mix states', async (t) => {
    await scenario(t, () => page, '15-14-config-invalid', async () => {
      const good = readFileSync(demo!.configPath, 'utf8');
      await waitForRow(page!, 'Output', 'clean.txt', /not detected/);
      // Invalid JSON: Output and Quarantine keep their rows and say why, and where.
      writeFileSync(demo!.configPath, good.replace(/\}\s*$/, ',,}\n'));
      const banner = await waitFor('the banner above Output', async () => {
        const m = await viewMessage(page!, 'Output');
        return /kata_dir_scanner\.conf/.test(m) && /line \d+/.test(m) ? m : undefined;
      }, 20_000);
      t.diagnostic(`banner: ${banner}`);
      assert.match(banner, /scanning continues with the settings it started with/);
      assert.ok((await viewRows(page!, 'Output')).some((r) => r.label === 'clean.txt'), 'Output is not blank');
      await page!.screenshot({ path: join(repoRoot, 'test-results', '15-14-invalid-banner.png') });
      // A valid change saved twice (as auto-save does): one restart prompt.
      const conf = JSON.parse(good) as Record<string, unknown>;
      conf.poll_interval_s = Number(conf.poll_interval_s) === 3 ? 4 : 3;
      const changed = JSON.stringify(conf, null, 2) + '\n';
      writeFileSync(demo!.configPath, changed);
      await waitForNotification(page!, /The KDS configuration changed\. Restart scanning/);
      writeFileSync(demo!.configPath, changed + '\n');
      await waitFor('the banner to say a restart is pending', async () => (/restart scanning to apply it/.test(await viewMessage(page!, 'Output')) ? true : undefined), 20_000);
      const prompts = (await notifications(page!)).filter((m) => /Restart scanning to apply it\?/.test(m));
      assert.equal(prompts.length, 1, JSON.stringify(await notifications(page!)));

      // Item 8: kds.configPath names another configuration with other folders while scanning.
      const otherDir = join(ws, 'other');
      for (const d of ['in', 'out', 'qrnt', 'state']) mkdirSync(join(otherDir, d), { recursive: true });
      const other = { ...conf, in_dir: join(otherDir, 'in'), out_dir: join(otherDir, 'out'), qrnt_dir: join(otherDir, 'qrnt'), state_dir: join(otherDir, 'state') };
      writeFileSync(join(ws, 'other.conf'), JSON.stringify(other, null, 2) + '\n');
      writeFileSync(join(ws, '.vscode', 'settings.json'), JSON.stringify({ 'kds.icapLogPath': 'preprocessor_icap.log', 'kds.configPath': 'other.conf' }, null, 2) + '\n');
      await waitFor('the banner after the new kds.configPath', async () => (/restart scanning to apply it/.test(await viewMessage(page!, 'Output')) ? true : undefined), 20_000);
      // The views stay with the running engine: Output still lists the first workspace's files.
      assert.ok((await viewRows(page!, 'Output')).some((r) => r.label === 'clean.txt'), 'Output follows the running engine');
      await page!.screenshot({ path: join(repoRoot, 'test-results', '15-8-config-path-banner.png') });
      // Restore (later scenarios of other files do not share this workspace, but be tidy).
      writeFileSync(join(ws, '.vscode', 'settings.json'), JSON.stringify({ 'kds.icapLogPath': 'preprocessor_icap.log' }, null, 2) + '\n');
      writeFileSync(demo!.configPath, good);
    });
  });

  test('polish: the exclude quick pick does not offer *.TMP when *.tmp is listed, warns for **, and its placeholder is short', async (t) => {
    await scenario(t, () => page, '15-exclude-quick-pick', async () => {
      await runCommand(page!, 'KDS: Edit Exclude List');
      const box = quickInput(page!).locator('input.input');
      await box.waitFor({ state: 'visible' });
      const placeholder = (await box.getAttribute('placeholder')) ?? '';
      assert.ok(placeholder.length <= 60, placeholder);
      await box.fill('**');
      await waitFor('a warning for **', async () => ((await quickPickRows(page!)).some((r) => /matches every file name/.test(r)) ? true : undefined));
      const listed = readFileSync(join(demo!.dir, 'exclude_list.txt'), 'utf8').split('\n').map((l) => l.trim()).find((l) => l && !l.startsWith('#'));
      if (listed) {
        await box.fill(listed.toUpperCase() === listed ? listed.toLowerCase() : listed.toUpperCase());
        await waitFor('the duplicate explained', async () => ((await quickPickRows(page!)).some((r) => /already in the exclude list/.test(r)) ? true : undefined));
      }
      await closeQuickInput(page!);
    });
  });
});
