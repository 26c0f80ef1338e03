/**
 * Remote mode in a real VS Code (code-server 4.100.3 + headless Chromium): "KDS: Connect to
 * Central Node" to a loopback CN (private sshd on 127.0.0.1, the service `kds run` started here
 * as the SSH user, the embedded KATA), the unknown host key accepted in the modal, an EICAR file
 * and a clean one dropped into the CN's input folder: Quarantine shows the EICAR with its verdict
 * and threat name, Output the clean file. Every assertion reads the workbench's DOM.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { sshdUnavailable } from '../helpers/sshd';
import { type LoopbackCn, startLoopbackCn } from './loopbackCn';
import { type CodeServer, freshDir, removeDir, skipReason, startCodeServer } from './support/codeServer';
import { EICAR } from './support/fixtures';
import {
  allStatusBarTexts,
  answerDialog,
  closeQuickInput,
  closeWorkbench,
  escapeRe,
  launchBrowser,
  openKdsContainer,
  openWorkbench,
  quickInput,
  quickPickRows,
  runCommand,
  scenario,
  viewRows,
  waitFor,
  waitForRow,
} from './support/workbench';

const skip = skipReason() ?? sshdUnavailable();

/** The palette's rows for `>text` (closed again afterwards). */
async function paletteRows(page: Page, text: string): Promise<string[]> {
  await closeQuickInput(page);
  await page.keyboard.press('F1');
  const widget = quickInput(page);
  await widget.waitFor({ state: 'visible' });
  await widget.locator('input.input').fill(`>${text}`);
  // The list filters synchronously after input; give it one bounded settle.
  const rows = await waitFor(`palette rows for "${text}"`, async () => {
    const r = await quickPickRows(page);
    return r.length > 0 ? r : undefined;
  }, 5_000).catch(() => [] as string[]);
  await closeQuickInput(page);
  return rows;
}

describe('KDS remote mode in a real VS Code (code-server + Chromium + loopback CN)', { skip, timeout: 300_000 }, () => {
  let base: string;
  let cn: LoopbackCn | undefined;
  let cs: CodeServer | undefined;
  let browser: Browser | undefined;
  let page: Page | undefined;

  before(async () => {
    base = freshDir('kds-e2e-remote-');
    cn = await startLoopbackCn(base);
    cs = await startCodeServer(join(base, 'code-server'), {
      settings: {
        'kds.remote.host': '127.0.0.1',
        'kds.remote.port': cn.sshd.port,
        'kds.remote.user': cn.sshd.user,
        'kds.remote.identityFile': cn.identityFile,
        'kds.remote.useAgent': false,
        'kds.remote.configPath': cn.configPath,
        'kds.remote.sudo': 'never',
        // No known_hosts entry for the sshd: the unknown key is shown in the modal and accepted there.
        'kds.remote.knownHostsFiles': [],
      },
    });
    browser = await launchBrowser();
  });

  after(async () => {
    if (page) await closeWorkbench(page);
    await browser?.close().catch(() => undefined);
    await cs?.stop();
    await cn?.stop();
    if (base) removeDir(base);
  });

  test('10. connect to the loopback CN (host key accepted in the modal), see its quarantine fill', async (t) => {
    const ws = join(base, 'ws-remote');
    mkdirSync(ws);
    const started = Date.now();
    page = await openWorkbench(browser!, cs!.folderUrl(ws));
    await scenario(t, () => page, '10-remote-quarantine', async () => {
      const p = page!;
      const c = cn!;
      await openKdsContainer(p);
      await runCommand(p, 'KDS: Connect to Central Node');

      // The host key is unknown: the modal names it by its SHA256 fingerprint; trust it.
      const shown = await answerDialog(p, new RegExp(`host key of 127\\.0\\.0\\.1:${c.sshd.port} is not known[\\s\\S]*${escapeRe(c.hostFingerprint)}`), 'Trust and Connect');
      t.diagnostic(`host key modal: ${JSON.stringify(shown)}`);

      const label = `${c.sshd.user}@127.0.0.1:${c.sshd.port}`;
      await waitFor(`the status bar to show ${label}`, async () => (await allStatusBarTexts(p)).find((s) => s.includes(label)), 30_000);

      // kds.running follows the CN's service (its event stream says running): Stop Scanning is offered, Start is not.
      const rows = await waitFor('"Stop Scanning" in the palette (kds.running from the CN)', async () => {
        const r = await paletteRows(p, 'KDS: S');
        return r.some((x) => /Stop Scanning/.test(x)) ? r : undefined;
      }, 20_000);
      assert.ok(!rows.some((x) => /Start Scanning/.test(x)), `Start Scanning is hidden while the CN scans: ${JSON.stringify(rows)}`);

      c.drop('clean.txt', 'a perfectly clean file on the CN\n');
      c.drop('eicar.com', EICAR);

      const clean = await waitForRow(p, 'Output', 'clean.txt', /not detected/, 60_000);
      const bad = await waitForRow(p, 'Quarantine', 'eicar.com', /detect/, 60_000);
      assert.doesNotMatch(bad.description, /not detected/);
      assert.match(clean.description, /not detected/);
      // The threat name comes from the CN's service (its KATA client) through the event stream.
      const named = await waitForRow(p, 'Quarantine', 'eicar.com', /EICAR-Test-File/, 30_000);
      t.diagnostic(`Quarantine: ${named.text}; Output: ${clean.text}`);
      const input = await viewRows(p, 'Input');
      assert.ok(!input.some((r) => r.label === 'clean.txt' || r.label === 'eicar.com'), `both left the CN's Input: ${JSON.stringify(input)}`);
      assert.ok(existsSync(join(c.outDir, 'clean.txt')) && existsSync(join(c.qrntDir, 'eicar.com')), 'the files are on the CN where the views say');
      t.diagnostic(`scenario took ${Date.now() - started} ms`);
    });
  });
});
