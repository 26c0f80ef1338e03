/**
 * Scenario 8 of issue 6: KDS in Russian in a real VS Code (code-server 4.100.3, headless Chromium).
 *
 * What switches the language here: code-server `--locale ru` alone does NOT — VS Code adopts a
 * display language only when a language pack for it is installed, and otherwise resolves to
 * "en" (vscode.env.language = "en", package.nls.json used). No Russian language pack is
 * available offline, so the test installs a stand-in language pack with an EMPTY translation of
 * VS Code's own strings (support/codeServer.ts languagePackStub): VS Code's workbench stays in
 * English, and every Russian string asserted below comes from KDS's own package.nls.ru.json
 * (view and command titles, welcome content) and l10n/bundle.l10n.ru.json (status bar).
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import type { DemoSetup } from '../../src/demo/demoSetup';
import { skipReason } from './support/codeServer';
import { demoWorkspace } from './support/fixtures';
import { closeQuickInput, openKdsContainer, quickInput, runCommand, saveScreenshot, scenario, statusBarText, viewTitles, waitFor, webviewFrame, welcomeText } from './support/workbench';
import { WorkbenchHost } from './support/workbenchHost';

const skip = skipReason();

describe('KDS in Russian (code-server --locale ru + a stand-in language pack)', { skip, timeout: 300_000 }, () => {
  const host = new WorkbenchHost();
  let page: Page | undefined;
  let demo: DemoSetup | undefined;

  before(async () => {
    host.newBase('kds-e2e-ru-');
    await host.start({ locale: 'ru', languagePackStub: true });
  });

  after(() => host.stop(page, async () => demo?.emulator.close().catch(() => undefined)));

  test('8. view titles, welcome content, a command title and the status bar appear in Russian', async (t) => {
    const ws = join(host.base, 'ws-ru');
    mkdirSync(ws);
    demo = await demoWorkspace(ws);
    writeFileSync(join(ws, 'readme.txt'), 'ru\n');
    page = await host.open(ws, { locale: 'ru-RU' });
    await scenario(t, () => page, '8-russian', async () => {
      const p = page!;
      await openKdsContainer(p);
      const titles = await waitFor('the three KDS views', async () => {
        const shown = (await viewTitles(p)).map((s) => s.toLowerCase());
        return shown.length === 3 ? shown : undefined;
      });
      assert.deepEqual(titles, ['входная папка', 'выходная папка', 'карантин']);
      const status = await waitFor('the KDS status bar entry', async () => (await statusBarText(p)) || undefined, 30_000);
      assert.equal(status, 'KDS остановлен');
      assert.equal(await welcomeText(p, 'Выходная папка'), 'Чистых файлов пока нет.');

      // A command title in the palette (the category stays "KDS").
      await p.keyboard.press('F1');
      const widget = quickInput(p);
      await widget.waitFor({ state: 'visible' });
      await widget.locator('input.input').fill('>KDS: Начать');
      const row = widget.locator('.quick-input-list .monaco-list-row').filter({ has: p.locator('.label-name', { hasText: /^KDS: Начать сканирование$/ }) });
      await row.first().waitFor({ state: 'visible' });
      await saveScreenshot(p, '8-russian-palette');
      await closeQuickInput(p);
    });
  });

  test('8b (issue 15 item 13). The walkthrough in Russian only: no English beside it', async (t) => {
    await scenario(t, () => page, '8b-russian-walkthrough', async () => {
      const p = page!;
      await runCommand(p, 'Открыть руководство «Начало работы»');
      const page0 = p.locator('.gettingStartedContainer');
      await waitFor('the KDS walkthrough in Russian', async () => (/Начало работы с KDS/.test(await page0.innerText()) ? true : undefined), 30_000);
      // The step's page (a markdown webview) and the steps: Russian, not "Create the configuration / …".
      const text = await page0.innerText();
      assert.match(text, /Создайте конфигурацию/);
      assert.doesNotMatch(text, /Create the configuration|Client certificate|Generate a client certificate/);
      // The step's markdown is a webview (two iframes deep, like the KDS panels).
      const md = webviewFrame(p);
      const body = await waitFor('the step page', async () => {
        const b = (await md.locator('body').innerText().catch(() => '')).trim();
        return b.length > 20 ? b : undefined;
      }, 30_000);
      t.diagnostic(body.slice(0, 120));
      assert.match(body, /[А-Яа-яЁё]/);
      assert.doesNotMatch(body, /\b(the|and|with|KDS reads)\b/);
    });
  });
});
