/**
 * KDS: Capture ICAP Traffic in a real VS Code (code-server + Chromium): a local tcpdump on lo
 * (settings kds.capture.*) while c-icap-client talks to a private c-icap, stopped with
 * "KDS: Stop ICAP Capture", then the ICAP Traffic panel: the diagnosis, one row per transaction
 * (as many as tshark decodes), the filter, and a row expanded to its raw ICAP headers.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { type CIcapServer, icapClient, needTools, startCIcap, tools } from '../helpers/icapPeers';
import { skipReason } from './support/codeServer';
import { openKdsContainer, runCommand, scenario, waitFor, waitForNotification, webviewShowing } from './support/workbench';
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
      JSON.stringify({ 'kds.capture.interface': 'lo', 'kds.capture.port': server?.port ?? 1344, 'kds.capture.durationSeconds': 0 }, null, 2) + '\n',
    );
    page = await host.open(ws);
    // The KDS container on screen: the extension's contributions (its commands) are loaded.
    await openKdsContainer(page);
  });

  after(() => host.stop(page, async () => server?.stop()));

  test('Capture ICAP Traffic: live count, Stop, the ICAP Traffic panel with diagnosis, filter and raw headers', async (t) => {
    if (!needTools(t, ['tcpdump', 'cIcap', 'cIcapClient'], true)) return;
    await scenario(t, () => page, 'capture-icap', async () => {
      await runCommand(page!, 'KDS: Capture ICAP Traffic');
      await waitForNotification(page!, /listening|packet\(s\)/, 60_000);
      await icapClient(server!.port, ['-s', 'echo']);
      await icapClient(server!.port, ['-s', 'no-such-service']).catch(() => '');
      await waitForNotification(page!, /[1-9]\d* packet\(s\)/, 30_000);
      await runCommand(page!, 'KDS: Stop ICAP Capture');
      const frame = await webviewShowing(page!, 'tr.tx-row');
      const rows = frame.locator('tr.tx-row');
      await waitFor('two transactions', async () => ((await rows.count()) === 2 ? true : undefined), 30_000);
      const texts = await rows.allInnerTexts();
      assert.match(texts[0]!, /OPTIONS[\s\S]*icap:\/\/127\.0\.0\.1\/echo[\s\S]*200 OK/);
      assert.match(texts[1]!, /OPTIONS[\s\S]*no-such-service[\s\S]*404/);
      const diagnosis = await frame.locator('.diagnosis li').allInnerTexts();
      assert.ok(diagnosis.some((d) => /404/.test(d)), diagnosis.join('\n'));
      await frame.locator('.filter input, vscode-text-field.filter').first().click();
      await page!.keyboard.type('no-such');
      await waitFor('the filter to leave one row', async () => ((await rows.count()) === 1 ? true : undefined), 10_000);
      await rows.first().click();
      const detail = await frame.locator('.detail pre').allInnerTexts();
      assert.ok(detail.some((d) => /^OPTIONS icap:\/\/127\.0\.0\.1\/no-such-service ICAP\/1\.0/.test(d)), detail.join('\n---\n'));
      assert.ok(detail.some((d) => /^ICAP\/1\.0 404/.test(d)), detail.join('\n---\n'));
    });
  });
});
