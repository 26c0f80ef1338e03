/**
 * Several shares in a real VS Code (code-server, headless Chromium), issue 21: a demo workspace
 * whose configuration lists a second share, hr, beside the top-level folders (share default).
 * The Input/Output/Quarantine views group files by share (a node per share, its files under it:
 * the same name in two shares is two rows), each file lands in its own share's folders, and
 * Verdicts has a Share column and a share filter.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import type { DemoSetup } from '../../src/demo/demoSetup';
import { skipReason } from './support/codeServer';
import { EICAR, demoWorkspace } from './support/fixtures';
import { closeQuickInput, openKdsContainer, pickQuickItem, quickInput, runCommand, scenario, statusBarText, viewRows, waitFor, waitForRow, webviewShowing } from './support/workbench';
import { WorkbenchHost } from './support/workbenchHost';

const skip = skipReason();

describe('Several shares in a real VS Code (code-server + Chromium)', { skip, timeout: 600_000 }, () => {
  const host = new WorkbenchHost();
  let page: Page | undefined;
  let demo: DemoSetup | undefined;

  before(async () => {
    host.newBase('kds-e2e-shares-');
    await host.start();
    const ws = join(host.base, 'ws-shares');
    demo = await demoWorkspace(ws);
    for (const f of ['in', 'out', 'qrnt']) mkdirSync(join(ws, 'hr', f), { recursive: true });
    writeFileSync(join(ws, 'exclude_list.hr.txt'), '*.hrskip\n');
    const conf = JSON.parse(readFileSync(demo.configPath, 'utf8')) as Record<string, unknown>;
    conf.shares = [{ name: 'hr', in_dir: './hr/in/', out_dir: './hr/out/', qrnt_dir: './hr/qrnt/' }];
    writeFileSync(demo.configPath, JSON.stringify(conf, null, 2) + '\n');
    page = await host.open(ws);
  });

  after(() => host.stop(page, async () => demo?.emulator.close().catch(() => undefined)));

  test('21a. the views group by share; the same name in two shares is two files, each routed in its own share', async (t) => {
    await scenario(t, () => page, '21a-views-by-share', async () => {
      const p = page!;
      const ws = demo!.dir;
      await openKdsContainer(p);
      await waitFor('"KDS stopped" in the status bar', async () => /KDS stopped/.test(await statusBarText(p)) || undefined, 30_000);
      await runCommand(p, 'KDS: Start Scanning');
      writeFileSync(join(ws, 'in', 'same.txt'), 'of the default share\n');
      writeFileSync(join(ws, 'hr', 'in', 'same.txt'), 'of hr\n');
      writeFileSync(join(ws, 'hr', 'in', 'eicar.com'), EICAR);
      writeFileSync(join(ws, 'hr', 'in', 'notes.hrskip'), 'excluded in hr only\n');

      const output = await waitFor('same.txt under both share nodes in Output', async () => {
        const rows = await viewRows(p, 'Output');
        return rows.filter((r) => r.label === 'same.txt').length === 2 ? rows : undefined;
      }, 60_000);
      t.diagnostic(`Output: ${JSON.stringify(output.map((r) => r.text))}`);
      const labels = output.map((r) => r.label);
      assert.ok(labels.indexOf('default') >= 0 && labels.indexOf('hr') > labels.indexOf('default'), `share nodes default and hr: ${JSON.stringify(labels)}`);
      assert.match(output.find((r) => r.label === 'hr')!.description, /1 file/);
      const quarantine = await waitForRow(p, 'Quarantine', 'eicar.com', /detected/, 60_000);
      assert.doesNotMatch(quarantine.description, /not detected/);
      const qLabels = (await viewRows(p, 'Quarantine')).map((r) => r.label);
      assert.ok(qLabels.indexOf('hr') >= 0 && qLabels.indexOf('eicar.com') > qLabels.indexOf('hr'), `eicar.com under hr: ${JSON.stringify(qLabels)}`);
      await waitForRow(p, 'Input', 'notes.hrskip', /excluded/, 30_000);
      assert.equal(readFileSync(join(ws, 'out', 'same.txt'), 'utf8'), 'of the default share\n');
      assert.equal(readFileSync(join(ws, 'hr', 'out', 'same.txt'), 'utf8'), 'of hr\n');
      assert.ok(existsSync(join(ws, 'hr', 'qrnt', 'eicar.com')) && !existsSync(join(ws, 'qrnt', 'eicar.com')), 'EICAR in hr\'s quarantine only');
    });
  });

  test('21b. Verdicts: a Share column, and the share filter leaves hr\'s files', async (t) => {
    await scenario(t, () => page, '21b-verdicts-share', async () => {
      const p = page!;
      await runCommand(p, 'KDS: Open Verdicts');
      const frame = await webviewShowing(p, '.kds-vt-row');
      const rows = () => frame.locator('.kds-vt-row:visible').allInnerTexts();
      // same.txt twice, eicar.com, and hr's excluded notes.hrskip (no verdict).
      const all = await waitFor('four files in Verdicts', async () => {
        const r = await rows();
        return r.length === 4 ? r : undefined;
      });
      t.diagnostic(`Verdicts: ${JSON.stringify(all)}`);
      assert.ok((await frame.getByText(/^\s*Share\s*$/).count()) > 0, 'a Share column header');
      // A row's cells, one a line: time, share, file, …
      const shareOf = (row: string) => row.split('\n')[1]?.trim();
      assert.deepEqual(all.map(shareOf).sort(), ['default', 'hr', 'hr', 'hr'], `the Share column: ${JSON.stringify(all)}`);
      const shareDropdown = frame.locator('vscode-dropdown').filter({ has: frame.locator('vscode-option[value="hr"]') }).first();
      await shareDropdown.click();
      await shareDropdown.locator('vscode-option[value="hr"]').click();
      const hrOnly = await waitFor('only hr\'s rows after the share filter', async () => {
        const r = await rows();
        return r.length === 3 ? r : undefined;
      });
      assert.deepEqual(hrOnly.map(shareOf), ['hr', 'hr', 'hr'], JSON.stringify(hrOnly));
      assert.ok(hrOnly.some((r) => r.includes('eicar.com')) && hrOnly.some((r) => r.includes('same.txt')), JSON.stringify(hrOnly));
    });
  });

  test('21c. Edit Exclude List from the palette asks which share, then edits that share\'s list only', async (t) => {
    await scenario(t, () => page, '21c-exclude-share', async () => {
      const p = page!;
      const ws = demo!.dir;
      const defaultList = readFileSync(join(ws, 'exclude_list.txt'), 'utf8');
      await runCommand(p, 'KDS: Edit Exclude List');
      const widget = quickInput(p);
      await widget.waitFor({ state: 'visible' });
      // The share pick (its input's placeholder asks), answered by typing the share's name.
      await widget.locator('input.input[placeholder="The exclude list of which share?"]').waitFor({ state: 'visible' });
      await widget.locator('.quick-input-list .monaco-list-row').filter({ has: p.locator('.label-name', { hasText: /^hr$/ }) }).first().waitFor({ state: 'attached' });
      await widget.locator('input.input').fill('hr');
      await p.keyboard.press('Enter');
      // hr's list: its *.hrskip entry, matching hr's excluded file.
      await widget.locator('.quick-input-list .monaco-list-row').filter({ has: p.locator('.label-name', { hasText: /^\*\.hrskip$/ }) }).first().waitFor({ state: 'visible' });
      await widget.locator('input.input').fill('*.tmp');
      await pickQuickItem(p, 'Add "*.tmp"');
      await widget.locator('.quick-input-list .monaco-list-row').filter({ has: p.locator('.label-name', { hasText: /^\*\.tmp$/ }) }).first().waitFor({ state: 'visible' });
      await closeQuickInput(p);
      const hrLines = readFileSync(join(ws, 'exclude_list.hr.txt'), 'utf8').split(/\r?\n/);
      assert.ok(hrLines.includes('*.hrskip') && hrLines.includes('*.tmp'), `hr's list: ${JSON.stringify(hrLines)}`);
      assert.equal(readFileSync(join(ws, 'exclude_list.txt'), 'utf8'), defaultList, 'the default share\'s list is untouched');
      writeFileSync(join(ws, 'hr', 'in', 'draft.tmp'), 'excluded in hr now\n');
      await waitForRow(p, 'Input', 'draft.tmp', /excluded/, 30_000);
    });
  });
});
