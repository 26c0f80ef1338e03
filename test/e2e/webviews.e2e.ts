/**
 * Scenarios 5–7 of issue 6: the webview panels (Verdicts, Edit Configuration, ICAP Log) in a
 * real VS Code (code-server 4.100.3, headless Chromium). A webview's content is two iframes
 * deep (iframe.webview → iframe#active-frame). Selectors follow webview/{verdicts,configEditor,
 * icapLog}/main.ts and webview/components (toolkit vscode-* elements, .kds-vt-row table rows,
 * pooled: rows past the end are `hidden`, so only visible rows count).
 */
import assert from 'node:assert/strict';
import { appendFileSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FrameLocator, Page } from 'playwright-core';
import type { DemoSetup } from '../../src/demo/demoSetup';
import { repoRoot, skipReason } from './support/codeServer';
import { EICAR, demoWorkspace } from './support/fixtures';
import { grepBlockingVerdictCount, icapCountSettler, showBlockingVerdictLinesOnly } from './support/icapLogPanel';
import { choose, openKdsContainer, runCommand, scenario, statusBarText, waitFor, waitForRow, webviewShowing } from './support/workbench';
import { WorkbenchHost } from './support/workbenchHost';

const skip = skipReason();
/** A KATA preprocessor log with `blocking_advanced mode` verdict lines (c-icap-server.log has none). */
const icapFixture = join(repoRoot, 'test/fixtures/icap/kata-preprocessor.log');

describe('KDS webview panels in a real VS Code (code-server + Chromium)', { skip, timeout: 600_000 }, () => {
  const host = new WorkbenchHost();
  let page: Page | undefined;
  let demo: DemoSetup | undefined;
  let icapLog = '';

  before(async () => {
    host.newBase('kds-e2e-webviews-');
    await host.start();
    const ws = join(host.base, 'ws-demo');
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
    page = await host.open(ws);
    await openKdsContainer(page);
    await waitFor('"KDS stopped" in the status bar', async () => /KDS stopped/.test(await statusBarText(page!)) || undefined, 30_000);
    await runCommand(page, 'KDS: Start Scanning');
    writeFileSync(join(demo.dir, 'in', 'clean.txt'), 'a perfectly clean file\n');
    writeFileSync(join(demo.dir, 'in', 'eicar.com'), EICAR);
    await waitForRow(page, 'Output', 'clean.txt', /not detected/, 60_000);
    await waitForRow(page, 'Quarantine', 'eicar.com', /detected/, 60_000);
  });

  after(() => host.stop(page, async () => demo?.emulator.close().catch(() => undefined)));

  /** The texts of the table rows on screen (the pool's spare rows are hidden). */
  async function visibleRows(frame: FrameLocator): Promise<string[]> {
    return frame.locator('.kds-vt-row:visible').allInnerTexts();
  }

  test('5. Open Verdicts: both files with the right verdicts; filtering by detect leaves one row', async (t) => {
    await scenario(t, () => page, '5-verdicts', async () => {
      await runCommand(page!, 'KDS: Open Verdicts');
      const frame = await webviewShowing(page!, '.kds-vt-row');
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
      const frame = await webviewShowing(page!, '#field-poll_interval_s');
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
    const expected = grepBlockingVerdictCount(icapLog);
    t.diagnostic(`grep count: ${expected}`);
    assert.ok(expected > 0, 'the fixture has blocking_advanced verdict lines');
    await scenario(t, () => page, '7-icap-log', async () => {
      // kds.icapLogPath (workspace setting) names the file: no picker.
      await runCommand(page!, 'KDS: View ICAP Log');
      const frame = await webviewShowing(page!, '[data-testid="icap-mode"]');
      await waitFor('the panel to show the configured file', async () => ((await frame.locator('[data-testid="icap-path"]').innerText()).includes('preprocessor_icap.log') ? true : undefined));
      const settled = icapCountSettler(frame);
      t.diagnostic(`unfiltered count: ${await settled('the unfiltered count')}`);
      await showBlockingVerdictLinesOnly(frame);
      assert.equal(await settled(`the count to settle at ${expected}`, expected), expected);
      const grep = await frame.locator('[data-testid="icap-grep"]').innerText();
      t.diagnostic(`panel's grep: ${grep}`);
      assert.match(grep, /blocking_advanced mode/);
      assert.match(grep, /verdict/);
    });
  });

  test('7b. a regex slow on every line (URLs anyone who reaches the proxy writes): Searching… with Cancel; Search stopped. with Continue Searching', async (t) => {
    await scenario(t, () => page, '7b-icap-log-searching', async () => {
      // Issue 19 point 16: 200 lines of 27 KB whose URL is http://x/ + 30 × "a"; (a|aa)*z is slow on each, under its budget.
      appendFileSync(icapLog, Array.from({ length: 200 }, (_, i) => `2024-05-01 12:${String(i % 60).padStart(2, '0')}:00 [info] blocking_simple mode verdict=clean url=http://x/${'a'.repeat(30)} ${'b'.repeat(27_000)}`).join('\n') + '\n');
      const frame = await webviewShowing(page!, '[data-testid="icap-mode"]');
      await choose(frame, '[data-testid="icap-mode"]', 'all');
      const verdictOnly = frame.locator('[data-testid="icap-verdict-only"]');
      if ((await verdictOnly.getAttribute('aria-checked')) === 'true') await verdictOnly.click();
      await frame.locator('[data-testid="icap-regex"]').click();
      await frame.locator('[data-testid="icap-search"] input').fill('(a|aa)*z');
      const edge = frame.locator('[data-testid="icap-edge"]');
      const cancel = frame.locator('[data-testid="icap-cancel-search"]');
      const more = frame.locator('[data-testid="icap-continue-search"]');
      // Each filter change above started a search of its own: wait for this one's "Searching…" with Cancel.
      const searching = await waitFor('"Searching…" with Cancel', async () => {
        const text = await edge.innerText();
        return /Searching/.test(text) && (await cancel.isVisible()) ? text : undefined;
      }, 30_000);
      t.diagnostic(`while searching: ${searching}`);
      await cancel.click();
      await waitFor('"Search stopped." with Continue Searching', async () => ((await edge.innerText()).includes('Search stopped.') && (await more.isVisible()) && !(await cancel.isVisible()) ? true : undefined), 30_000);
      // VS Code itself answered meanwhile: the palette opens and lists a command.
      await runCommand(page!, 'KDS: Show Log');
      await more.click();
      await cancel.waitFor({ state: 'visible', timeout: 30_000 });
      await cancel.click();
      await waitFor('stopped again', async () => ((await edge.innerText()).includes('Search stopped.') ? true : undefined), 30_000);
    });
  });
});
