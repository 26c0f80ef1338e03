/**
 * Issue 23 ("what a support engineer tripped over") in a real VS Code (code-server + Chromium),
 * walked as the reviewer did: `kds demo` (what `npm start` runs) in a terminal of the workspace,
 * then VS Code on that workspace.
 * - 6: the workspace has no kata_dir_scanner.conf at its root; the one in kds-demo/ is found,
 *   said in the Input view and offered first by Open Configuration;
 * - 1: the folder views list what is in the folders while `kds demo` scans, say "KDS is running in
 *   another process (pid N, since …)", follow its event stream, and Start Scanning offers to watch
 *   it or stop it (a modal confirmation; SIGTERM by the pid of the lock) and start here;
 * - 7: the ICAP mode of that embedded KATA in the status bar, switched from VS Code (the
 *   `kds demo` process switches, as `kds emulate mode` confirms);
 * - 16 and 4: the ICAP log viewer wraps lines, "Fields as columns" shows mode, one Verdict, threat
 *   and URL; an invalid filter leaves no stale lines, count or grep command;
 * - 10: the walkthrough's ICAP step has command links, no `npx`, and its documentation link opens
 *   the guide shipped in the .vsix.
 * Screenshots test-results/23-*.png.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { EICAR } from '../../src/emulator/eicar';
import { type KdsChild, runKds, spawnKds, stopChild } from '../helpers/kdsProcess';
import { repoRoot, skipReason } from './support/codeServer';
import {
  answerDialog,
  clickNotificationButton,
  openKdsContainer,
  pickQuickItem,
  runCommand,
  saveScreenshot,
  scenario,
  statusBarEntry,
  statusBarText,
  viewMessage,
  waitFor,
  waitForRow,
  webviewFrame,
  webviewShowing,
  welcomeText,
} from './support/workbench';
import { WorkbenchHost } from './support/workbenchHost';

const skip = skipReason();

describe('Issue 23 in a real VS Code: another process, found configurations, ICAP mode, log viewer, walkthrough', { skip, timeout: 900_000 }, () => {
  const host = new WorkbenchHost();
  let page: Page | undefined;
  let demo: KdsChild | undefined;
  let ws = '';
  let demoDir = '';

  before(async () => {
    host.newBase('kds-e2e-ux-');
    await host.start();
    ws = join(host.base, 'ws-ux');
    demoDir = join(ws, 'kds-demo');
    mkdirSync(join(ws, '.vscode'), { recursive: true });
    // The ICAP log viewer's file (kds.icapLogPath): a KATA preprocessor log with modes, verdicts and threats.
    copyFileSync(join(repoRoot, 'test/fixtures/icap/kata-preprocessor.log'), join(ws, 'preprocessor_icap.log'));
    writeFileSync(join(ws, '.vscode', 'settings.json'), JSON.stringify({ 'kds.icapLogPath': 'preprocessor_icap.log' }, null, 2) + '\n');
    // What the reviewer had: `npm start` (kds demo) running in a terminal of the workspace.
    demo = spawnKds(['demo', '--dir', demoDir, '--port', '0'], { cwd: ws });
    await waitFor('kds demo to be up', () => (/running end to end/.test(demo!.stdout()) ? true : undefined), 120_000);
    writeFileSync(join(demoDir, 'in', 'clean-before.txt'), 'a harmless text\n');
    writeFileSync(join(demoDir, 'in', 'eicar-before.com'), EICAR);
    await waitFor('kds demo to route both', () => (existsSync(join(demoDir, 'out', 'clean-before.txt')) && existsSync(join(demoDir, 'qrnt', 'eicar-before.com')) ? true : undefined), 60_000);
    page = await host.open(ws);
    await openKdsContainer(page);
  });

  after(() => host.stop(page, async () => (demo ? stopChild(demo) : undefined)));

  test('6. the configuration in kds-demo/ is found and offered by Open Configuration', async (t) => {
    await scenario(t, () => page, '23-6-found-configuration', async () => {
      const p = page!;
      const welcome = await waitFor('the Input view to say a configuration was found', async () => {
        const w = await welcomeText(p, 'Input');
        return /found one in a folder of it/.test(w) ? w : undefined;
      }, 60_000);
      assert.match(welcome, /Use a Configuration Found in the Workspace/);
      await saveScreenshot(p, '23-6-found-welcome');
      await runCommand(p, 'KDS: Open Configuration');
      await pickQuickItem(p, /kds-demo\/kata_dir_scanner\.conf/);
      await waitFor('kds.configPath in the workspace settings', () => {
        const settings = JSON.parse(readFileSync(join(ws, '.vscode', 'settings.json'), 'utf8')) as Record<string, string>;
        return settings['kds.configPath'] === 'kds-demo/kata_dir_scanner.conf' ? true : undefined;
      });
    });
  });

  test('7. the ICAP mode of kds demo\'s embedded KATA in the status bar, switched from VS Code', async (t) => {
    await scenario(t, () => page, '23-7-icap-mode', async () => {
      const p = page!;
      // The embedded KATA of `kds demo` (another process), found through the configuration's kata_ca folder.
      const item = await waitFor('the ICAP mode in the status bar', async () => {
        const e = await statusBarEntry(p, 'kds.icapMode');
        return /ICAP: blocking_simple/.test(e.text) ? e : undefined;
      }, 60_000);
      t.diagnostic(`status bar: ${item.text}`);
      await p.locator('.statusbar [id="kds.kds.kds.icapMode"], .statusbar [id="kds.icapMode"]').first().click();
      await pickQuickItem(p, /^blocking_advanced/);
      await waitFor('the status bar to say blocking_advanced', async () => (/ICAP: blocking_advanced/.test((await statusBarEntry(p, 'kds.icapMode')).text) ? true : undefined), 20_000);
      const kata = join(ws, 'kds-demo', 'kata');
      const log = readFileSync(join(kata, 'preprocessor_icap.log'), 'utf8');
      assert.match(log, /ICAP scan mode changed from blocking_simple to blocking_advanced by VS Code/);
      const cli = await runKds(['emulate', 'mode', '--data', kata]);
      assert.match(cli.stdout, /^blocking_advanced/);
    });
  });

  test('1. while kds demo scans in another process: the folders, its pid, its verdicts; Start Scanning offers to watch or take over', async (t) => {
    await scenario(t, () => page, '23-1-another-process', async () => {
      const p = page!;
      const pid = demo!.child.pid!;
      await waitForRow(p, 'Output', 'clean-before.txt', /not detected/, 60_000);
      await waitForRow(p, 'Quarantine', 'eicar-before.com', /detected/, 60_000);
      const status = await waitFor('the status bar to name the other process', async () => {
        const s = await statusBarText(p);
        return s.includes(`KDS (pid ${pid})`) ? s : undefined;
      }, 30_000);
      t.diagnostic(`status bar: ${status}`);
      const said = new RegExp(`KDS is running in another process \\(pid ${pid}, since `);
      assert.match(await viewMessage(p, 'Output'), said);
      assert.match(await viewMessage(p, 'Input'), said);
      // Live: what kds demo does next reaches the views through its event stream.
      writeFileSync(join(demoDir, 'in', 'eicar-live.com'), EICAR);
      await waitForRow(p, 'Quarantine', 'eicar-live.com', /detected/, 60_000);
      await saveScreenshot(p, '23-1-another-process-views');

      await runCommand(p, 'KDS: Start Scanning');
      await clickNotificationButton(p, new RegExp(`already scanning this configuration in another process \\(pid ${pid}`), 'Stop It and Start Here');
      const shown = await answerDialog(p, new RegExp(`Stop the KDS process ${pid}\\?[\\s\\S]*kds\\.js demo --dir[\\s\\S]*SIGTERM`), 'Stop and Start Here');
      t.diagnostic(shown.replace(/\s+/g, ' '));
      assert.equal(await demo!.exited, 0, demo!.stderr());
      await waitFor('scanning in this window', async () => {
        const s = await statusBarText(p);
        return !/pid|stopped/.test(s) && /KDS/.test(s) ? s : undefined;
      }, 60_000);
      assert.doesNotMatch(await viewMessage(p, 'Output'), /another process/);
      await saveScreenshot(p, '23-1-took-over');
    });
  });

  test('16 + 4. the ICAP log wraps lines; Fields as columns shows mode, one Verdict, threat and URL; an invalid filter clears what it showed', async (t) => {
    await scenario(t, () => page, '23-16-icap-log', async () => {
      const p = page!;
      await runCommand(p, 'KDS: View ICAP Log');
      const frame = await webviewShowing(p, '[data-testid="icap-mode"]');
      const search = frame.locator('[data-testid="icap-search"] input');
      // The panel sends what is typed 350 ms after the last key: until then the previous filter's
      // lines are on screen (an unfiltered tail has these lines too). Wait for this filter's own
      // answer — its grep command, and its count (the count box is cleared when the filter changes).
      const searchFor = async (text: string): Promise<void> => {
        await search.fill(text);
        await waitFor(`the count of the filter "${text}"`, async () => {
          const grep = await frame.locator('[data-testid="icap-grep"]').innerText();
          const done = (await frame.locator('[data-testid="icap-count"][data-state="done"]').count()) > 0;
          return grep.includes(`'${text}'`) && done ? true : undefined;
        }, 20_000);
      };
      await searchFor('cannot reach scanner');
      const row = frame.locator('.ll-row:visible').filter({ hasText: /cannot reach scanner/ }).first();
      await row.waitFor({ timeout: 20_000 });
      // Wrapped: the whole line is in view, on more than one row's height, nothing cut at the edge.
      const box = await row.boundingBox();
      const cell = row.locator('.ll-text');
      const clipped = await cell.evaluate((el) => (el as unknown as { scrollWidth: number; clientWidth: number }).scrollWidth > (el as unknown as { clientWidth: number }).clientWidth + 1);
      t.diagnostic(`row height ${box?.height}`);
      assert.ok(box && box.height >= 38, `a wrapped row is taller than one line (${box?.height})`);
      assert.equal(clipped, false);
      assert.match(await cell.innerText(), /in blocking_simple mode$/);

      await frame.locator('[data-testid="icap-fields-columns"]').click();
      await searchFor('verdict: error');
      const headers = (await frame.locator('.ll-header [role="columnheader"]').allInnerTexts()).map((h) => h.trim());
      assert.deepEqual(headers.slice(0, 4), ['Mode', 'Verdict', 'Threat', 'URL']);
      assert.equal(headers.filter((h) => /verdict/i.test(h)).length, 1, headers.join(' | '));
      assert.equal(headers.at(-1), 'Line');
      const line = frame.locator('.ll-row:visible').filter({ hasText: /HEUR:Trojan\.Win32\.Generic/ }).first();
      await line.waitFor({ timeout: 20_000 });
      assert.equal((await line.locator('.ll-mode').innerText()).trim(), 'blocking_simple');
      assert.equal((await line.locator('.ll-threat').innerText()).trim(), 'HEUR:Trojan.Win32.Generic');
      assert.equal((await line.locator('.ll-verdict').innerText()).trim(), 'error');
      await saveScreenshot(p, '23-16-icap-log-columns');

      // 4: a bad regular expression leaves nothing of the previous filter on screen.
      await frame.locator('[data-testid="icap-regex"]').click();
      await search.fill('Trojan(');
      await waitFor('the filter error', async () => ((await frame.locator('.filter-error').isVisible()) ? true : undefined), 20_000);
      await waitFor('no stale rows', async () => ((await frame.locator('.ll-row:visible').count()) === 0 ? true : undefined), 20_000);
      assert.equal(await frame.locator('[data-testid="icap-count"]').count(), 0);
      assert.equal((await frame.locator('[data-testid="icap-grep"]').innerText()).trim(), '');
      assert.match(await frame.locator('.empty').innerText(), /filter is not valid/);
      await saveScreenshot(p, '23-4-invalid-filter');
      await search.fill('Trojan\\.');
      await waitFor('lines and a count again', async () => ((await frame.locator('[data-testid="icap-count"]').count()) > 0 && (await frame.locator('.ll-row:visible').count()) > 0 ? true : undefined), 20_000);
      assert.match(await frame.locator('[data-testid="icap-grep"]').innerText(), /grep/);
      await search.fill('');
    });
  });

  test('10. the walkthrough\'s ICAP step: command links, no npx; the documentation link opens the shipped guide', async (t) => {
    await scenario(t, () => page, '23-10-walkthrough', async () => {
      const p = page!;
      await runCommand(p, 'KDS: Open Getting Started');
      const walkthrough = p.locator('.gettingStartedContainer');
      await walkthrough.getByText('See ICAP blocking in action').first().click();
      const md = webviewFrame(p);
      const body = await waitFor('the ICAP step page', async () => {
        const b = (await md.locator('body').innerText().catch(() => '')).trim();
        return /ICAP blocking/.test(b) && /Probe the ICAP service/.test(b) ? b : undefined;
      }, 30_000);
      assert.doesNotMatch(body + (await walkthrough.innerText()), /npx|docs\/icap-kit\.md/);
      const hrefs = await md.locator('a').evaluateAll((as) => as.map((a) => (a as unknown as { getAttribute(n: string): string | null }).getAttribute('href') ?? ''));
      for (const command of ['kds.probeIcap', 'kds.setIcapMode', 'kds.viewIcapLog', 'kds.captureIcapTraffic', 'kds.openDocumentation']) {
        assert.ok(hrefs.some((h) => h.startsWith(`command:${command}`)), `${command} in ${hrefs.join(' ')}`);
      }
      await saveScreenshot(p, '23-10-walkthrough-icap-step');
      await md.locator('a', { hasText: 'the ICAP troubleshooting kit' }).click();
      await waitFor('the guide in a Markdown preview', async () => ((await p.locator('.tabs-container .tab', { hasText: /icap-kit\.md/ }).count()) > 0 ? true : undefined), 30_000);
      const preview = webviewFrame(p);
      await waitFor('its heading', async () => (/ICAP troubleshooting kit/.test(await preview.locator('body').innerText().catch(() => '')) ? true : undefined), 30_000);
      assert.ok(readdirSync(join(host.cs.extensionsDir)).some((d) => existsSync(join(host.cs.extensionsDir, d, 'docs', 'icap-kit.md'))), 'the guide is in the installed extension');
    });
  });
});
