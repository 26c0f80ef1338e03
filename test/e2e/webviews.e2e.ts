/**
 * Scenarios 5–7 of issue 6: the webview panels (Verdicts, Edit Configuration, ICAP Log) in a
 * real VS Code (code-server 4.100.3, headless Chromium). A webview's content is two iframes
 * deep (iframe.webview → iframe#active-frame). Selectors follow webview/{verdicts,configEditor,
 * icapLog}/main.ts and webview/components (toolkit vscode-* elements, .kds-vt-row table rows).
 * Kept apart from views.e2e.ts: the panels were being written while these were.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, FrameLocator, Page } from 'playwright-core';
import type { DemoSetup } from '../../src/demo/demoSetup';
import { type CodeServer, freshDir, removeDir, repoRoot, skipReason, startCodeServer } from './support/codeServer';
import { EICAR, demoWorkspace } from './support/fixtures';
import { closeWorkbench, launchBrowser, openKdsContainer, openWorkbench, quickInput, runCommand, scenario, statusBarText, waitFor, waitForRow, webviewFrame } from './support/workbench';

const skip = skipReason();
const icapFixture = join(repoRoot, 'test/fixtures/icap/c-icap-server.log');

describe('KDS webview panels in a real VS Code (code-server + Chromium)', { skip, timeout: 600_000 }, () => {
  let base: string;
  let cs: CodeServer;
  let browser: Browser;
  let page: Page | undefined;
  let demo: DemoSetup | undefined;

  before(async () => {
    base = freshDir('kds-e2e-webviews-');
    cs = await startCodeServer(base);
    browser = await launchBrowser();
    const ws = join(base, 'ws-demo');
    demo = await demoWorkspace(ws);
    // An unknown key that the configuration editor must keep.
    const conf = JSON.parse(readFileSync(demo.configPath, 'utf8')) as Record<string, unknown>;
    conf.x_site_note = 'kept by the editor';
    writeFileSync(demo.configPath, JSON.stringify(conf, null, 2) + '\n');
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

  test('5. Open Verdicts: both files with the right verdicts; filtering by detect leaves one row', async (t) => {
    await scenario(t, () => page, '5-verdicts', async () => {
      await runCommand(page!, 'KDS: Open Verdicts');
      const frame = await panel('.kds-vt-row');
      const rows = frame.locator('.kds-vt-row');
      const texts = await waitFor('both files in the table', async () => {
        const all = await rows.allInnerTexts();
        return all.some((r) => r.includes('clean.txt')) && all.some((r) => r.includes('eicar.com')) ? all : undefined;
      });
      const clean = texts.find((r) => r.includes('clean.txt'))!;
      const bad = texts.find((r) => r.includes('eicar.com'))!;
      assert.match(clean, /not detected/i);
      assert.match(bad, /detect/i);
      assert.doesNotMatch(bad, /not detected/i);
      await choose(frame, 'vscode-dropdown', 'detect');
      const after = await waitFor('one row after filtering by detect', async () => {
        const all = await rows.allInnerTexts();
        return all.length === 1 ? all : undefined;
      });
      assert.match(after[0]!, /eicar\.com/);
    });
  });

  test('6. Edit Configuration: change poll_interval_s, save; the file holds it and the unknown key', async (t) => {
    await scenario(t, () => page, '6-config-editor', async () => {
      await runCommand(page!, 'KDS: Edit Configuration');
      const frame = await panel('#field-poll_interval_s');
      const field = frame.locator('#field-poll_interval_s');
      const input = field.locator('input');
      await (await input.count() ? input : field).first().fill('7');
      await frame.locator('vscode-button').filter({ hasText: /^\s*Save\s*$/ }).first().click();
      const saved = await waitFor('poll_interval_s = 7 on disk', () => {
        const conf = JSON.parse(readFileSync(demo!.configPath, 'utf8')) as Record<string, unknown>;
        return Number(conf.poll_interval_s) === 7 ? conf : undefined;
      }, 20_000);
      assert.equal(saved.x_site_note, 'kept by the editor');
    });
  });

  test('7. View ICAP Log: blocking_advanced mode + verdict lines only shows the grep count', async (t) => {
    const expected = Number(execFileSync('bash', ['-c', `grep -a -F 'blocking_advanced mode' "$1" | grep -a -c -F verdict || true`, 'grep', icapFixture], { encoding: 'utf8' }).trim());
    t.diagnostic(`grep count: ${expected}`);
    await scenario(t, () => page, '7-icap-log', async () => {
      await runCommand(page!, 'KDS: View ICAP Log');
      // Without a default log the panel asks for a file; the web file dialog takes a typed path.
      const widget = quickInput(page!);
      if (await widget.isVisible()) {
        await widget.locator('input.input').fill(icapFixture);
        await page!.keyboard.press('Enter');
      }
      const frame = await panel('[data-testid="icap-mode"]');
      await choose(frame, '[data-testid="icap-mode"]', 'blocking_advanced');
      const verdictOnly = frame.locator('vscode-checkbox').filter({ hasText: /verdict/i }).first();
      if ((await verdictOnly.getAttribute('aria-checked')) !== 'true') await verdictOnly.click();
      const count = await waitFor(`the count to settle at ${expected}`, async () => {
        const n = frame.locator('[data-testid="icap-count"]');
        if (!(await n.count())) return undefined;
        const state = await n.first().getAttribute('data-state');
        const value = Number((await n.first().innerText()).trim());
        return state !== 'running' && value === expected ? value : undefined;
      }, 30_000);
      assert.equal(count, expected);
    });
  });
});
