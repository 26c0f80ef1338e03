/**
 * KDS in a real VS Code (code-server 4.100.3) driven through headless Chromium, like a person:
 * scenarios 1–4, 9 and 9b of issue 6. Every assertion reads the workbench's DOM. One code-server
 * serves several workspaces; each scenario group opens its own window (own extension host).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import type { DemoSetup } from '../../src/demo/demoSetup';
import { resultsDir, skipReason } from './support/codeServer';
import { EICAR, type PendingWorkspace, demoWorkspace, pendingApprovalWorkspace } from './support/fixtures';
import {
  activityBadge,
  answerDialog,
  closeQuickInput,
  closeWorkbench,
  kdsStatusItem,
  openKdsContainer,
  pickQuickItem,
  quickInput,
  runCommand,
  scenario,
  snapshotViews,
  statusBarText,
  viewRows,
  viewTitles,
  waitFor,
  waitForNotification,
  waitForRow,
  viewMessage,
  welcomeText,
} from './support/workbench';
import { WorkbenchHost } from './support/workbenchHost';

const skip = skipReason();

describe('KDS in a real VS Code (code-server + Chromium)', { skip, timeout: 600_000 }, () => {
  const host = new WorkbenchHost();
  let page: Page | undefined;
  let demo: DemoSetup | undefined;
  let pending: PendingWorkspace | undefined;

  before(async () => {
    host.newBase('kds-e2e-views-');
    await host.start();
  });

  after(() =>
    host.stop(
      page,
      async () => demo?.emulator.close().catch(() => undefined),
      async () => pending?.emulator.close().catch(() => undefined),
    ),
  );

  test('1. the KDS container shows Input, Output and Quarantine; no configuration → welcome content', async (t) => {
    const ws = join(host.base, 'ws-empty');
    mkdirSync(ws);
    writeFileSync(join(ws, 'notes.txt'), 'nothing to scan here\n');
    page = await host.open(ws);
    await scenario(t, () => page, '1-container-welcome', async () => {
      await openKdsContainer(page!);
      const titles = await waitFor('the four KDS views', async () => {
        const shown = (await viewTitles(page!)).map((s) => s.toLowerCase());
        return shown.length === 4 ? shown : undefined;
      });
      assert.deepEqual(titles, ['input', 'output', 'quarantine', 'central nodes']);
      const welcome = await waitFor('the welcome content in Input', async () => (await welcomeText(page!, 'Input')) || undefined);
      assert.match(welcome, /No KDS configuration in this workspace/);
      for (const button of ['Open or Create Configuration', 'Start Embedded KATA and Demo', 'Read the Getting Started Walkthrough']) {
        assert.ok(welcome.includes(button), `welcome shows "${button}": ${welcome}`);
      }
      assert.equal(await statusBarText(page!), '', 'no KDS status bar entry without a configuration');
    });
    await closeWorkbench(page);
    page = undefined;
  });

  test('2. Start Scanning with the embedded KATA: clean → Output, EICAR → Quarantine, badge and status bar', async (t) => {
    const ws = join(host.base, 'ws-demo');
    demo = await demoWorkspace(ws);
    page = await host.open(ws);
    await scenario(t, () => page, '2-scan-clean-and-eicar', async () => {
      const p = page!;
      await openKdsContainer(p);
      await waitFor('"Scanning is stopped." in Input', async () => /Scanning is stopped/.test(await welcomeText(p, 'Input')) || undefined);
      await runCommand(p, 'KDS: Start Scanning');
      await waitFor('the status bar to say KDS is running', async () => {
        const s = await statusBarText(p);
        return s && !/stopped/i.test(s) ? s : undefined;
      });

      // Watch Input from before the files exist, so a file seen there is on record.
      const seenInInput = new Map<string, string>();
      let watching = true;
      const watcher = (async () => {
        while (watching) {
          const views = await snapshotViews(p).catch(() => ({}) as Record<string, never>);
          for (const r of views.input ?? []) if (!seenInInput.has(r.label)) seenInInput.set(r.label, r.description);
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
      writeFileSync(join(demo!.dir, 'in', 'clean.txt'), 'a perfectly clean file\n');
      writeFileSync(join(demo!.dir, 'in', 'eicar.com'), EICAR);

      const clean = await waitForRow(p, 'Output', 'clean.txt', /not detected/, 60_000);
      const bad = await waitForRow(p, 'Quarantine', 'eicar.com', /detected/, 60_000);
      watching = false;
      await watcher;
      t.diagnostic(`seen in Input first: ${JSON.stringify([...seenInInput])}`);
      assert.ok(seenInInput.has('clean.txt'), 'clean.txt was shown in Input before it moved');
      assert.ok(seenInInput.has('eicar.com'), 'eicar.com was shown in Input before it moved');
      assert.doesNotMatch(bad.description, /not detected/);
      assert.match(clean.description, /not detected/);
      const input = await viewRows(p, 'Input');
      assert.ok(!input.some((r) => r.label === 'clean.txt' || r.label === 'eicar.com'), `both left Input: ${JSON.stringify(input)}`);

      assert.equal(await waitFor('the Quarantine badge', async () => (await activityBadge(p)) || undefined), '1');
      const status = await waitFor('the status bar to count the quarantined file', async () => {
        const s = await statusBarText(p);
        return /\b1\b/.test(s) ? s : undefined;
      });
      assert.match(status, /KDS/);
      const bug = kdsStatusItem(p).locator('.codicon-bug');
      assert.equal(await bug.count(), 1, `the quarantine count carries the bug icon: ${status}`);
      assert.ok(existsSync(join(demo!.dir, 'out', 'clean.txt')) && existsSync(join(demo!.dir, 'qrnt', 'eicar.com')), 'the files are where the views say');
    });
  });

  test('3. Edit Exclude List: add *.doc; report.doc stays in Input, excluded; the file holds the line', async (t) => {
    assert.ok(page && demo, 'scenario 2 left the demo workbench open');
    await scenario(t, () => page, '3-exclude-doc', async () => {
      const p = page!;
      await runCommand(p, 'KDS: Edit Exclude List');
      const widget = quickInput(p);
      await widget.waitFor({ state: 'visible' });
      await widget.locator('input.input').fill('*.doc');
      await pickQuickItem(p, 'Add "*.doc"');
      const entry = widget
        .locator('.quick-input-list .monaco-list-row')
        .filter({ hasText: /matches 0 file/ })
        .filter({ has: p.locator('.label-name', { hasText: /^\*\.doc$/ }) });
      await entry.first().waitFor({ state: 'visible' });
      await closeQuickInput(p);
      const lines = readFileSync(join(demo!.dir, 'exclude_list.txt'), 'utf8').split(/\r?\n/);
      assert.ok(lines.includes('*.doc'), `exclude_list.txt holds "*.doc": ${JSON.stringify(lines)}`);

      writeFileSync(join(demo!.dir, 'in', 'report.doc'), 'quarterly report\n');
      await waitForRow(p, 'Input', 'report.doc', /excluded/, 30_000);
      // It stays: for three more seconds it is still in Input, excluded, and nowhere else.
      const end = Date.now() + 3_000;
      while (Date.now() < end) {
        const views = await snapshotViews(p);
        const row = views.input?.find((r) => r.label === 'report.doc');
        assert.ok(row && /excluded/.test(row.description), `report.doc still excluded in Input: ${JSON.stringify(views.input)}`);
        assert.ok(!views.output?.some((r) => r.label === 'report.doc') && !views.quarantine?.some((r) => r.label === 'report.doc'));
        await new Promise((r) => setTimeout(r, 250));
      }
      assert.ok(existsSync(join(demo!.dir, 'in', 'report.doc')), 'report.doc is still in in/');
    });
  });

  test('4. Release from Quarantine with the modal confirmation: the file appears in Output', async (t) => {
    assert.ok(page && demo, 'scenario 2 left the demo workbench open');
    await scenario(t, () => page, '4-release', async () => {
      const p = page!;
      await runCommand(p, 'KDS: Release from Quarantine');
      await pickQuickItem(p, 'eicar.com');
      const text = await answerDialog(p, /Release "eicar\.com" from quarantine\?/, 'Release');
      assert.match(text, /detected/, `the confirmation names KATA's verdict: ${text}`);
      const widget = quickInput(p);
      await widget.waitFor({ state: 'visible' });
      await widget.locator('input.input').fill('e2e: known test file');
      await p.keyboard.press('Enter');
      await waitForNotification(p, /"eicar\.com" was released to/);
      await waitForRow(p, 'Output', 'eicar.com', undefined, 20_000);
      await waitFor('eicar.com to leave Quarantine', async () => !(await viewRows(p, 'Quarantine')).some((r) => r.label === 'eicar.com') || undefined);
      await waitFor('the Quarantine badge to clear', async () => ((await activityBadge(p)) === '' ? true : undefined));
      assert.ok(existsSync(join(demo!.dir, 'out', 'eicar.com')) && !existsSync(join(demo!.dir, 'qrnt', 'eicar.com')));
      const audit = readFileSync(join(demo!.dir, 'state', 'quarantine-audit.jsonl'), 'utf8');
      assert.match(audit, /"action":"release".*"file":"eicar\.com"|"file":"eicar\.com".*"action":"release"/);
    });
    await closeWorkbench(page!);
    page = undefined;
  });

  test('9. integration without auto-approval: awaiting approval, the fingerprint in the notification and in the console', async (t) => {
    const ws = join(host.base, 'ws-pending');
    pending = await pendingApprovalWorkspace(ws, join(host.base, 'kata-pending-data'));
    page = await host.open(ws);
    await scenario(t, () => page, '9-approval', async () => {
      const p = page!;
      const pw = pending!;
      await openKdsContainer(p);
      await waitFor('"KDS stopped" in the status bar (configuration loaded)', async () => /KDS stopped/.test(await statusBarText(p)) || undefined, 30_000);
      await runCommand(p, 'KDS: Start Scanning');
      writeFileSync(join(pw.inDir, 'waiting.txt'), 'waits for the administrator\n');
      await waitForRow(p, 'Input', 'waiting.txt', /awaiting approval/, 30_000);
      const status = await waitFor('"awaiting approval" in the status bar', async () => {
        const s = await statusBarText(p);
        return /awaiting approval/.test(s) ? s : undefined;
      });
      t.diagnostic(`status bar: ${status}`);
      // The Input view says what the administrator must accept (fingerprint in 8-byte blocks so it wraps).
      const message = await waitFor('the approval hint above the Input rows', async () => {
        const m = await viewMessage(p, 'Input');
        return m.includes(pw.systemId) ? m : undefined;
      });
      assert.ok(message.replace(/\s+/g, ' ').replace(/ (?=[0-9A-F]{2}:)/g, ':').includes(pw.fingerprint), `the Input view shows the fingerprint ${pw.fingerprint}: ${message}`);
      await runCommand(p, 'KDS: Send Integration Request');
      const note = await waitForNotification(p, /pending/, 30_000);
      assert.ok(note.includes(pw.fingerprint), `the notification shows the certificate fingerprint ${pw.fingerprint}: ${note}`);
      assert.ok(note.includes(pw.systemId), `and the system_id: ${note}`);
      await p.screenshot({ path: join(resultsDir, '9-approval-pending.png') });
    });
  });

  test('9b. the administrator clicks Accept in the embedded KATA console (browser, basic auth); scanning proceeds', async (t) => {
    assert.ok(page && pending, 'scenario 9 left the pending workspace open');
    await scenario(t, () => page, '9b-console-accept', async () => {
      const p = page!;
      const pw = pending!;
      // The administrator: the embedded KATA's console over HTTPS, logged in as admin (basic auth).
      const admin = await host.browser.newContext({ ignoreHTTPSErrors: true, httpCredentials: { username: 'admin', password: pw.emulator.adminPassword } });
      try {
        const consolePage = await admin.newPage();
        await consolePage.goto(pw.emulator.consoleUrl);
        const row = () => consolePage.locator('tr').filter({ hasText: pw.fingerprint }).filter({ hasText: pw.systemId }).first();
        await row().waitFor();
        assert.match(await row().innerText(), /pending/i);
        await consolePage.screenshot({ path: join(resultsDir, '9b-console-pending.png') });
        // A real click on the form's Accept button: Chromium posts it with the console's Origin.
        const [answer] = await Promise.all([
          consolePage.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith('/console/systems'), { timeout: 15_000 }),
          row().locator('button.accept').click(),
        ]);
        t.diagnostic(`the form's POST: ${answer.status()}, Origin ${await answer.request().headerValue('origin')}`);
        assert.equal(answer.status(), 303, 'the console accepted the form (post/redirect/get)');
        await consolePage.waitForLoadState();
        const body = await consolePage.locator('body').innerText();
        assert.doesNotMatch(body, /did not come from this console/, `the console accepted its own form: ${body.slice(0, 300)}`);
        await waitFor('the console to show the system accepted', async () => (/accepted/i.test(await row().innerText({ timeout: 1_000 })) ? true : undefined));
        assert.equal(await row().locator('button.accept').count(), 0, 'no Accept button once accepted');
        await consolePage.screenshot({ path: join(resultsDir, '9b-console-accepted.png') });
      } finally {
        await admin.close();
      }

      await waitForRow(p, 'Output', 'waiting.txt', /not detected/, 120_000);
      const after = await waitFor('the status bar to stop saying "awaiting approval"', async () => {
        const s = await statusBarText(p);
        return s && !/awaiting approval/.test(s) ? s : undefined;
      });
      t.diagnostic(`status bar after approval: ${after}`);
    });
  });
});
