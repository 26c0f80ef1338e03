/**
 * Issue 23, points 8 and 14, in a real VS Code (code-server + Chromium): KDS: Probe ICAP Service
 * against the embedded KATA's ICAP server — the form (RESPMOD / REQMOD / discover, EICAR on or off,
 * a file of one's own), each conclusion with its next step, the mode the server names, Show in ICAP
 * Log opening the log viewer on the probe's own requests — laid out with the toolkit's controls and
 * the other panels' spacing. Screenshots: test-results/23-*.png.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FrameLocator, Page } from 'playwright-core';
import type { DemoSetup } from '../../src/demo/demoSetup';
import { skipReason } from './support/codeServer';
import { demoWorkspace } from './support/fixtures';
import { icapCountSettler } from './support/icapLogPanel';
import { answerFileDialog, choose, runCommand, saveScreenshot, scenario, statusBarText, waitFor, webviewShowing } from './support/workbench';
import { WorkbenchHost } from './support/workbenchHost';

const skip = skipReason();

describe('Issue 23: the ICAP Probe panel in a real VS Code (code-server + Chromium)', { skip, timeout: 600_000 }, () => {
  const host = new WorkbenchHost();
  let page: Page | undefined;
  let demo: DemoSetup | undefined;
  let ws = '';
  let frame: FrameLocator;

  before(async () => {
    host.newBase('kds-e2e-probe-');
    await host.start();
    ws = join(host.base, 'ws-probe');
    demo = await demoWorkspace(ws);
    // The ICAP log the viewer opens here is the embedded KATA's (as kds.icapLogPath names it).
    mkdirSync(join(ws, '.vscode'), { recursive: true });
    writeFileSync(join(ws, '.vscode', 'settings.json'), JSON.stringify({ 'kds.icapLogPath': demo.emulator.icap!.logPath }, null, 2) + '\n');
    writeFileSync(join(ws, 'my-sample.txt'), 'A document of my own, sent through the probe.\n');
    page = await host.open(ws);
    await waitFor('"KDS stopped" in the status bar', async () => /KDS stopped/.test(await statusBarText(page!)) || undefined, 120_000);
  });

  after(() => host.stop(page, async () => demo?.emulator.close().catch(() => undefined)));

  const conclusion = () => frame.locator('[data-testid="probe-conclusion"]');
  const next = () => frame.locator('[data-testid="probe-next"]');

  /** Presses Probe and waits for the conclusion that follows. */
  async function probeAndWait(what: string, expected: RegExp): Promise<string> {
    await frame.locator('[data-testid="probe-run"]').click();
    return waitFor(`the conclusion (${what})`, async () => {
      const text = (await conclusion().innerText()).trim();
      return /^Conclusion: /.test(text) && expected.test(text) ? text : undefined;
    }, 60_000).catch(async (e: Error) => {
      throw new Error(`${e.message}; the panel said: ${JSON.stringify(await conclusion().innerText())}`);
    });
  }

  async function checkEicar(on: boolean): Promise<void> {
    const box = frame.locator('[data-testid="probe-eicar"]');
    if (((await box.getAttribute('aria-checked')) === 'true') !== on) await box.click();
    await waitFor(`EICAR ${on ? 'on' : 'off'}`, async () => (((await box.getAttribute('aria-checked')) === 'true') === on ? true : undefined));
  }

  test('14. The panel: the toolkit\'s controls, a heading set off from the edge like the other panels', async (t) => {
    await scenario(t, () => page, '23-14-probe-panel', async () => {
      await runCommand(page!, 'KDS: Probe ICAP Service');
      frame = await webviewShowing(page!, '[data-testid="probe-run"]');
      const tags = await Promise.all(['probe-run', 'probe-show-log', 'probe-what', 'probe-eicar', 'probe-url'].map((id) => frame.locator(`[data-testid="${id}"]`).evaluate((el) => el.tagName.toLowerCase())));
      assert.deepEqual(tags, ['vscode-button', 'vscode-button', 'vscode-dropdown', 'vscode-checkbox', 'vscode-text-field']);
      // The heading is not flush against the left edge of the panel.
      const iframe = await page!.locator('iframe.webview:visible').first().boundingBox();
      const h1 = await frame.locator('h1').boundingBox();
      assert.ok(iframe && h1, 'both on screen');
      t.diagnostic(`heading ${Math.round(h1.x - iframe.x)} px from the panel's left edge`);
      assert.ok(h1.x - iframe.x >= 12, `heading at ${h1.x - iframe.x} px`);
      // The toolkit's buttons keep their <button> in a shadow root: none in the page itself.
      assert.equal(await frame.locator('body').evaluate((b) => b.querySelectorAll('button').length), 0, 'no plain browser buttons');
    });
  });

  test('8. REQMOD without EICAR, then RESPMOD with EICAR: each conclusion with its next step and the mode the server names', async (t) => {
    await scenario(t, () => page, '23-8-probe-reqmod-respmod', async () => {
      const url = demo!.emulator.icap!.respmodUrl;
      await frame.locator('[data-testid="probe-url"] input').fill(url);
      await choose(frame, '[data-testid="probe-what"]', 'reqmod');
      // The embedded KATA's path follows the method picked.
      await waitFor('the URL to name /reqmod', async () => ((await frame.locator('[data-testid="probe-url"] input').inputValue()).endsWith('/reqmod') ? true : undefined));
      await checkEicar(false);
      const reqmod = await probeAndWait('REQMOD', /reachable: answers OPTIONS, REQMOD as an ICAP service/);
      t.diagnostic(reqmod);
      assert.match(await next().innerText(), /^Next step: Probe again with EICAR/);
      const steps = await frame.locator('[data-testid="probe-step"]').allInnerTexts();
      assert.deepEqual(steps.map((s) => s.split('\t')[0]!.split('\n')[0]), ['OPTIONS', 'REQMOD: GET request']);
      assert.match(await frame.locator('[data-testid="probe-mode"]').innerText(), /Mode the server names: blocking_simple/);

      await choose(frame, '[data-testid="probe-what"]', 'respmod');
      await checkEicar(true);
      const blocked = await probeAndWait('RESPMOD + EICAR', /detects EICAR and blocks it \(HTTP 403\) — the server says it is in blocking_simple mode/);
      t.diagnostic(blocked);
      assert.match(await next().innerText(), /^Next step: The ICAP side works\./);
    });
  });

  test('8. Monitoring mode: "EICAR was not blocked" with what to check, and Show in ICAP Log opens the log on the probe\'s requests', async (t) => {
    await scenario(t, () => page, '23-8-probe-monitoring-log', async () => {
      demo!.emulator.icap!.setMode('monitoring', 'e2e');
      const text = await probeAndWait('monitoring', /EICAR was not blocked — the server says it is in monitoring mode/);
      t.diagnostic(text);
      assert.match(await next().innerText(), /^Next step: Expected in monitoring mode: KATA never changes traffic; the detection shows in the KATA console \(Alerts\) and in preprocessor_icap\.log/);
      const showLog = frame.locator('[data-testid="probe-show-log"]');
      await waitFor('Show in ICAP Log enabled', async () => ((await showLog.getAttribute('disabled')) === null ? true : undefined));
      await showLog.click();
      const log = await webviewShowing(page!, '[data-testid="icap-grep"]');
      const grep = await waitFor('the viewer filtered to the probe', async () => {
        const g = await log.locator('[data-testid="icap-grep"]').innerText();
        return /kds-probe\\\.invalid\/r-[0-9a-f]{8}\//.test(g) ? g : undefined;
      }, 30_000);
      t.diagnostic(`grep: ${grep}`);
      const run = /r-([0-9a-f]{8})\//.exec(grep)![1]!;
      // The viewer's count is the lines of this run: its accepted lines and its verdict lines.
      const lines = readFileSync(demo!.emulator.icap!.logPath, 'utf8').split('\n');
      const accepted = lines.filter((l) => l.includes(`kds-probe.invalid/r-${run}/`));
      assert.ok(accepted.length >= 2 && accepted.every((l) => /accepted in monitoring mode/.test(l)), accepted.join('\n'));
      const n = await icapCountSettler(log)('the count of the probe\'s lines');
      assert.ok(n > accepted.length, `${n} lines shown: the accepted lines and the verdicts of the run's scans`);
      demo!.emulator.icap!.setMode('blocking_simple', 'e2e');
    });
  });

  test('8. Discover the service paths, then probe one it found', async (t) => {
    await scenario(t, () => page, '23-8-probe-discover', async () => {
      await runCommand(page!, 'KDS: Probe ICAP Service');
      frame = await webviewShowing(page!, '[data-testid="probe-run"]');
      await choose(frame, '[data-testid="probe-what"]', 'discover');
      const found2 = await probeAndWait('discover', /2 service path\(s\) answer OPTIONS: icap:\/\/127\.0\.0\.1:\d+\/respmod, icap:\/\/127\.0\.0\.1:\d+\/reqmod/);
      t.diagnostic(found2);
      assert.match(await next().innerText(), /Probe each with Probe This Service/);
      assert.equal(await frame.locator('[data-testid="probe-path"]').count(), 20, 'every path tried is listed');
      await saveScreenshot(page!, '23-8-probe-discover-paths');
      const found = frame.locator('[data-testid="probe-path"]').filter({ hasText: /^respmod/ });
      assert.match(await found.innerText(), /ICAP 200\s+RESPMOD/);
      await found.locator('vscode-button').click();
      await waitFor('the probe of the path found', async () => (/^Conclusion: .*detects EICAR and blocks it/.test(await conclusion().innerText()) ? true : undefined), 60_000);
      assert.equal(await frame.locator('[data-testid="probe-what"]').evaluate((el) => (el as unknown as { value: string }).value), 'respmod');
    });
  });

  test('8. A file of one\'s own, chosen in VS Code\'s open dialog, is sent as a RESPMOD', async (t) => {
    await scenario(t, () => page, '23-8-probe-own-file', async () => {
      // code-server's open dialog is a quick input holding a path.
      await frame.locator('vscode-button').filter({ hasText: /^\s*Choose File…\s*$/ }).click();
      await answerFileDialog(page!, join(ws, 'my-sample.txt'));
      await waitFor('the file named in the form', async () => ((await frame.locator('[data-testid="probe-file"]').innerText()).includes('my-sample.txt') ? true : undefined), 20_000);
      await probeAndWait('with the file', /detects EICAR and blocks it/);
      const steps = await frame.locator('[data-testid="probe-step"]').allInnerTexts();
      assert.ok(steps.some((s) => /^RESPMOD: HTTP response with my-sample\.txt/.test(s) && /ICAP 204/.test(s)), steps.join('\n'));
    });
  });
});
