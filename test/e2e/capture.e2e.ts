/**
 * KDS: Capture ICAP Traffic in a real VS Code (code-server + Chromium): a local tcpdump on lo
 * (settings kds.capture.*) while c-icap-client talks to a private c-icap, stopped with
 * "KDS: Stop ICAP Capture", then the ICAP Traffic panel: the diagnosis, one row per transaction
 * (as many as tshark decodes), the filter, and a row expanded to its raw ICAP headers.
 * Issue 23: the duration is chosen when starting and the time left is shown in the notification
 * and the status bar, where the capture is extended (point 9); the table's columns fit their
 * content, long values are cut with the whole value in a tooltip, the HTTP request and response
 * are columns of their own (point 15). Screenshots test-results/capture-*.png.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { type CIcapServer, icapClient, liveCaptureFiles, needTools, startCIcap, tools, waitForCapturedAnswers } from '../helpers/icapPeers';
import { skipReason } from './support/codeServer';
import { notifications, openKdsContainer, pickQuickItem, runCommand, saveScreenshot, scenario, statusBarEntry, waitFor, waitForNotification, webviewShowing } from './support/workbench';
import { WorkbenchHost } from './support/workbenchHost';

const skip = skipReason();

describe('ICAP capture in a real VS Code (code-server + Chromium)', { skip, timeout: 600_000 }, () => {
  const host = new WorkbenchHost();
  let page: Page | undefined;
  let server: CIcapServer | undefined;

  before(async () => {
    host.newBase('kds-e2e-capture-');
    await host.start();
    // Without c-icap the test itself says so (needTools); the window still opens.
    if (existsSync(tools.cIcap)) server = await startCIcap(host.base);
    const ws = join(host.base, 'ws-capture');
    mkdirSync(join(ws, '.vscode'), { recursive: true });
    writeFileSync(
      join(ws, '.vscode', 'settings.json'),
      JSON.stringify({ 'kds.capture.interface': 'lo', 'kds.capture.port': server?.port ?? 1344, 'kds.capture.durationSeconds': 60 }, null, 2) + '\n',
    );
    page = await host.open(ws);
    // The KDS container on screen: the extension's contributions (its commands) are loaded.
    await openKdsContainer(page);
  });

  after(() => host.stop(page, async () => server?.stop()));

  test('Capture ICAP Traffic: a chosen duration, the time left, extend; live count, Stop; the ICAP Traffic panel with diagnosis, filter, fitting columns and raw headers', async (t) => {
    if (!needTools(t, ['tcpdump', 'cIcap', 'cIcapClient'], true)) return;
    await scenario(t, () => page, 'capture-icap', async () => {
      const p = page!;
      const earlier = new Set(liveCaptureFiles());
      await runCommand(p, 'KDS: Capture ICAP Traffic');
      // 9: how long, asked when starting; the setting's duration first.
      await pickQuickItem(p, /^1 minute/);
      await waitForNotification(p, /listening · 0:[0-5]\d left|packet\(s\) · .* left/, 60_000);
      const before = await waitFor('the time left in the status bar', async () => {
        const e = await statusBarEntry(p, 'kds.capture');
        return /ICAP capture · 0:[0-5]\d left/.test(e.text) ? e.text : undefined;
      }, 30_000);
      t.diagnostic(`status bar: ${before}`);
      await saveScreenshot(p, 'capture-9-time-left');
      await runCommand(p, 'KDS: Extend or Stop ICAP Capture');
      await pickQuickItem(p, /5 more minutes/);
      const extended = await waitFor('5 more minutes in the status bar', async () => {
        const e = await statusBarEntry(p, 'kds.capture');
        return /ICAP capture · [56]:\d\d left/.test(e.text) ? e.text : undefined;
      }, 30_000);
      t.diagnostic(`extended: ${extended}; notification: ${(await notifications(p)).join(' | ')}`);

      await icapClient(server!.port, ['-s', 'echo']);
      await icapClient(server!.port, ['-s', 'no-such-service']).catch(() => '');
      const body = join(host.base, 'clean.txt');
      writeFileSync(body, 'a harmless text\n');
      await icapClient(server!.port, ['-s', 'echo', '-f', body, '-resp', 'http://198.51.100.7/downloads/a-rather-long-folder-name/clean.txt']);
      await waitForNotification(p, /[1-9]\d* packet\(s\) · \d+ KB · [56]:\d\d left/, 30_000);
      // Stop only once the capture file holds every answer (tcpdump may not yet have read the last one off its socket).
      for (const live of liveCaptureFiles().filter((f) => !earlier.has(f))) await waitForCapturedAnswers(live, server!.port, 3);
      await runCommand(p, 'KDS: Stop ICAP Capture');
      const frame = await webviewShowing(p, 'tr.tx-row');
      const rows = frame.locator('tr.tx-row');
      const respmod = rows.filter({ hasText: 'RESPMOD' }).first();
      await waitFor('the RESPMOD transaction', async () => ((await respmod.count()) > 0 ? true : undefined), 30_000);
      const texts = await rows.allInnerTexts();
      t.diagnostic(`${texts.length} rows`);
      assert.match(texts[0]!, /OPTIONS[\s\S]*icap:\/\/127\.0\.0\.1\/echo[\s\S]*200 OK/);
      assert.match(texts[1]!, /OPTIONS[\s\S]*no-such-service[\s\S]*404/);
      const diagnosis = await frame.locator('.diagnosis li').allInnerTexts();
      assert.ok(diagnosis.some((d) => /404/.test(d)), diagnosis.join('\n'));

      // 15: one line per row, columns of fixed widths, separate HTTP request and response, tooltips.
      const headers = (await frame.locator('table.tx thead th').allInnerTexts()).map((x) => x.trim());
      assert.ok(headers.includes('HTTP request') && headers.includes('HTTP response'), headers.join(' | '));
      const cells = respmod.locator('td');
      const heights = await cells.evaluateAll((tds) => tds.map((td) => (td as unknown as { getBoundingClientRect(): { height: number } }).getBoundingClientRect().height));
      const one = Math.min(...heights);
      assert.ok(heights.every((hgt) => hgt <= one + 1), `every cell one line high: ${heights.join(', ')}`);
      const uri = respmod.locator('td.uri');
      assert.equal(await uri.getAttribute('title'), 'icap://127.0.0.1/echo');
      const http = await cells.evaluateAll((tds) => tds.map((td) => (td as unknown as { title: string }).title));
      t.diagnostic(`RESPMOD row: ${http.join(' | ')}`);
      assert.ok(http.some((v) => /^GET http:\/\/198\.51\.100\.7\/downloads\/a-rather-long-folder-name\/clean\.txt HTTP\/1\.[01]$/.test(v)), 'the HTTP request line alone in its cell');
      assert.ok(http.some((v) => /^HTTP\/1\.[01] 200 OK/.test(v)), 'the HTTP status alone in its cell');
      await saveScreenshot(p, 'capture-15-traffic-table');

      await frame.locator('.filter input, vscode-text-field.filter').first().click();
      await p.keyboard.type('no-such');
      await waitFor('the filter to leave one row', async () => ((await rows.count()) === 1 ? true : undefined), 10_000);
      await rows.first().click();
      const detail = await frame.locator('.detail pre').allInnerTexts();
      assert.ok(detail.some((d) => /^OPTIONS icap:\/\/127\.0\.0\.1\/no-such-service ICAP\/1\.0/.test(d)), detail.join('\n---\n'));
      assert.ok(detail.some((d) => /^ICAP\/1\.0 404/.test(d)), detail.join('\n---\n'));
    });
  });
});
