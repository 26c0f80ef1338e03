/**
 * Scenarios 5–7 of issue 6: the webview panels (Verdicts, Edit Configuration, ICAP Log) in a
 * real VS Code (code-server 4.100.3, headless Chromium). A webview's content is two iframes
 * deep (iframe.webview → iframe#active-frame). Selectors follow webview/{verdicts,configEditor,
 * icapLog}/main.ts and webview/components (toolkit vscode-* elements, .kds-vt-row table rows,
 * pooled: rows past the end are `hidden`, so only visible rows count).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, FrameLocator, Page } from 'playwright-core';
import type { DemoSetup } from '../../src/demo/demoSetup';
import { type CodeServer, freshDir, removeDir, repoRoot, skipReason, startCodeServer } from './support/codeServer';
import { EICAR, demoWorkspace } from './support/fixtures';
import { closeWorkbench, launchBrowser, openKdsContainer, openWorkbench, runCommand, scenario, statusBarText, waitFor, waitForRow, webviewFrame } from './support/workbench';

const skip = skipReason();
/** A KATA preprocessor log with `blocking_advanced mode` verdict lines (c-icap-server.log has none). */
const icapFixture = join(repoRoot, 'test/fixtures/icap/kata-preprocessor.log');

describe('KDS webview panels in a real VS Code (code-server + Chromium)', { skip, timeout: 600_000 }, () => {
  let base: string;
  let cs: CodeServer;
  let browser: Browser;
  let page: Page | undefined;
  let demo: DemoSetup | undefined;
  let icapLog = '';

  before(async () => {
    base = freshDir('kds-e2e-webviews-');
    cs = await startCodeServer(base);
    browser = await launchBrowser();
    const ws = join(base, 'ws-demo');
    demo = await demoWorkspace(ws);
    // An unknown key that the configuration editor must keep.
    const conf = JSON.parse(readFileSync(demo.configPath, 'utf8')) as Record<string, unknown>;
    conf.x_note = 'kept by the editor';
    writeFileSync(demo.configPath, JSON.stringify(conf, null, 2) + '\n');
    // The ICAP log the workspace's kds.icapLogPath names (View ICAP Log opens it without a picker).
    icapLog = join(ws, 'preprocessor_icap.log');
    copyFileSync(icapFixture, icapLog);
    mkdirSync(join(ws, '.vscode'), { recursive: true });
    writeFileSync(join(ws, '.vscode', 'settings.json'), JSON.stringify({ 'kds.icapLogPath': 'preprocessor_icap.log' }, null, 2) + '\n');
    page = await openWorkbench(browser, cs.folderUrl(ws));
    await openKdsContainer(page);
    await waitFor('"KDS stopped" in the status bar', async () => /KDS stopped/.test(await statusBarText(page!)) || undefined, 30_000);
    await runCommand(page, 'KDS: Start Scanning');
    writeFileSync(join(demo.dir, 'in', 'clean.txt'), 'a perfectly clean file\n');
    writeFileSync(join(demo.dir, 'in', 'eicar.com'), EICAR);
    await waitForRow(page, 'Output', 'clean.txt', /not detected/, 60_000);
    await waitForRow(page, 'Quarantine', 'eicar.com', /detected/, 60_000);
  });

  after(async () => {
    if (page) await closeWorkbench(page);
    await browser?.close().catch(() => undefined);
    await cs?.stop();
    await demo?.emulator.close().catch(() => undefined);
    if (base) removeDir(base);
  });

  /** The webview of the active editor, once its content has rendered `selector`. */
  async function panel(selector: string): Promise<FrameLocator> {
    const frame = webviewFrame(page!);
    await frame.locator(selector).first().waitFor({ state: 'visible', timeout: 30_000 });
    return frame;
  }

  /** Picks `value` in a toolkit dropdown (click it, click the option), like a person. */
  async function choose(frame: FrameLocator, dropdownSelector: string, value: string): Promise<void> {
    const dd = frame.locator(dropdownSelector).first();
    await dd.click();
    await dd.locator(`vscode-option[value="${value}"]`).click();
  }

  /** The texts of the table rows on screen (the pool's spare rows are hidden). */
  async function visibleRows(frame: FrameLocator): Promise<string[]> {
    return frame.locator('.kds-vt-row:visible').allInnerTexts();
  }

  test('5. Open Verdicts: both files with the right verdicts; filtering by detect leaves one row', async (t) => {
    await scenario(t, () => page, '5-verdicts', async () => {
      await runCommand(page!, 'KDS: Open Verdicts');
      const frame = await panel('.kds-vt-row');
      const texts = await waitFor('both files in the table', async () => {
        const all = await visibleRows(frame);
        return all.length === 2 && all.some((r) => r.includes('clean.txt')) && all.some((r) => r.includes('eicar.com')) ? all : undefined;
      });
      const clean = texts.find((r) => r.includes('clean.txt'))!;
      const bad = texts.find((r) => r.includes('eicar.com'))!;
      assert.match(clean, /not detected/i);
      assert.match(bad, /detect/i);
      assert.doesNotMatch(bad, /not detected/i);
      await choose(frame, 'vscode-dropdown', 'detect');
      const after = await waitFor('one visible row after filtering by detect', async () => {
        const all = await visibleRows(frame);
        return all.length === 1 ? all : undefined;
      });
      assert.match(after[0]!, /eicar\.com/);
      // Stays at one: no second row reappears once the table has settled.
      await page!.waitForTimeout(500);
      assert.deepEqual(await visibleRows(frame), after);
      t.diagnostic(`after the filter: ${JSON.stringify(after)}`);
    });
  });

  test('6. Edit Configuration: change poll_interval_s, save; the file holds it and the unknown key', async (t) => {
    await scenario(t, () => page, '6-config-editor', async () => {
      const before = JSON.parse(readFileSync(demo!.configPath, 'utf8')) as Record<string, unknown>;
      const newValue = Number(before.poll_interval_s) === 7 ? 9 : 7;
      await runCommand(page!, 'KDS: Edit Configuration');
      const frame = await panel('#field-poll_interval_s');
      await frame.getByText(/No unsaved changes/).first().waitFor();
      const input = frame.locator('#field-poll_interval_s input');
      await input.fill(String(newValue));
      // Like a person who types and clicks Save at once: Save sends the debounced edit first.
      await frame.locator('vscode-button').filter({ hasText: /^\s*Save\s*$/ }).first().click();
      const saved = await waitFor(`poll_interval_s = ${newValue} on disk`, () => {
        const conf = JSON.parse(readFileSync(demo!.configPath, 'utf8')) as Record<string, unknown>;
        return Number(conf.poll_interval_s) === newValue ? conf : undefined;
      }, 20_000);
      assert.equal(saved.x_note, 'kept by the editor');
      await frame.getByText(/No unsaved changes/).first().waitFor();
    });
  });

  test('7. View ICAP Log: blocking_advanced mode + verdict lines only shows the grep count', async (t) => {
    const expected = Number(
      execFileSync('bash', ['-c', `grep -F 'blocking_advanced mode' "$1" | grep -F -c verdict || true`, 'grep', icapLog], { encoding: 'utf8' }).trim(),
    );
    t.diagnostic(`grep count: ${expected}`);
    assert.ok(expected > 0, 'the fixture has blocking_advanced verdict lines');
    await scenario(t, () => page, '7-icap-log', async () => {
      // kds.icapLogPath (workspace setting) names the file: no picker.
      await runCommand(page!, 'KDS: View ICAP Log');
      const frame = await panel('[data-testid="icap-mode"]');
      await waitFor('the panel to show the configured file', async () => ((await frame.locator('[data-testid="icap-path"]').innerText()).includes('preprocessor_icap.log') ? true : undefined));
      const count = frame.locator('[data-testid="icap-count"]');
      const settled = async (what: string, value?: number) =>
        waitFor(what, async () => {
          if (!(await count.count())) return undefined;
          const state = await count.first().getAttribute('data-state');
          const n = Number((await count.first().innerText()).trim());
          return state === 'done' && (value === undefined || n === value) ? n : undefined;
        }, 30_000);
      t.diagnostic(`unfiltered count: ${await settled('the unfiltered count')}`);
      await choose(frame, '[data-testid="icap-mode"]', 'blocking_advanced');
      const verdictOnly = frame.locator('[data-testid="icap-verdict-only"]');
      if ((await verdictOnly.getAttribute('aria-checked')) !== 'true') await verdictOnly.click();
      await waitFor('"verdict lines only" to be checked', async () => ((await verdictOnly.getAttribute('aria-checked')) === 'true' ? true : undefined));
      assert.equal(await settled(`the count to settle at ${expected}`, expected), expected);
      const grep = await frame.locator('[data-testid="icap-grep"]').innerText();
      t.diagnostic(`panel's grep: ${grep}`);
      assert.match(grep, /blocking_advanced mode/);
      assert.match(grep, /verdict/);
    });
  });
});
