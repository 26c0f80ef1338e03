/**
 * Several Central Nodes in one window (issue 21), in the real VS Code (code-server + Chromium):
 * two loopback CNs behind two real sshd — "Alpha" with KDS and its service running, "Bravo" bare
 * — saved in the User setting kds.centralNodes. Their host keys are not trusted yet: the Central
 * Nodes view shows both and says so without asking anything, and none of the workspace's own
 * kds.centralNodes (12a). Add Central Node… (user@host:
 * port, a name, the key file, the host key modal) saves a third, which is renamed and removed
 * again (12b). Connect on Alpha (the host key modal once): the views follow Alpha (12c). Connect
 * on Bravo says KDS is not installed; Set Up installs it; its files, not Alpha's, are in Output
 * and Verdicts (12d). Connect on Alpha switches back (12e); View Central Node ICAP Log follows the
 * CN connected from the view (12e2). Alpha's service stops: the view and
 * the status bar say it needs attention (12f). Every assertion reads the workbench's DOM.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { sshdUnavailable } from '../helpers/sshd';
import { type BareLoopbackCn, CN_ICAP_LOG, type LoopbackCn, placeCnIcapLog, startBareLoopbackCn, startLoopbackCn } from './loopbackCn';
import { repoRoot, skipReason } from './support/codeServer';
import { EICAR } from './support/fixtures';
import {
  answerDialog,
  answerFileDialog,
  dialog,
  escapeRe,
  expandView,
  openKdsContainer,
  pane,
  pickQuickItem,
  quickInput,
  runCommand,
  saveScreenshot,
  scenario,
  statusBarEntry,
  viewRows,
  waitFor,
  waitForRow,
  webviewShowing,
} from './support/workbench';
import { WorkbenchHost } from './support/workbenchHost';

const skip = skipReason() ?? sshdUnavailable();
const VIEW = 'Central Nodes';

/** Hovers the row labelled `label` in the Central Nodes view and clicks its inline action `action`. */
async function rowAction(page: Page, label: string, action: string): Promise<void> {
  const view = await expandView(page, VIEW);
  const row = view.locator('.monaco-list-row').filter({ has: page.locator('.label-name', { hasText: new RegExp(`^${escapeRe(label)}$`) }) });
  await row.first().waitFor({ state: 'visible', timeout: 60_000 });
  await row.first().hover();
  await row.first().locator(`.actions .action-label[aria-label="${action}"]`).click();
}

/** Right-clicks the row labelled `label` in the Central Nodes view and picks `item` from its menu. */
async function rowMenu(page: Page, label: string, item: string): Promise<void> {
  const view = await expandView(page, VIEW);
  const row = view.locator('.monaco-list-row').filter({ has: page.locator('.label-name', { hasText: new RegExp(`^${escapeRe(label)}$`) }) });
  await row.first().waitFor({ state: 'visible', timeout: 60_000 });
  await row.first().click({ button: 'right' });
  const entry = page.locator('.context-view .monaco-menu .action-item .action-label').filter({ hasText: new RegExp(`^${escapeRe(item)}$`) });
  await entry.first().waitFor({ state: 'visible', timeout: 15_000 });
  // Pointing at an item focuses it; Enter runs it (a click right after the menu opened can be taken for the end of the right-click).
  await entry.first().hover();
  await page.keyboard.press('Enter');
  await page.locator('.context-view .monaco-menu').first().waitFor({ state: 'hidden', timeout: 15_000 });
}

/** The view's Refresh button (its title bar), as a person would click it. */
async function refreshView(page: Page): Promise<void> {
  const view = await expandView(page, VIEW);
  await view.locator('.pane-header').hover();
  await view.locator('.pane-header .actions .action-label[aria-label="Refresh Central Nodes"]').click();
}

describe('Several Central Nodes in one window (code-server + Chromium + two loopback sshd)', { skip, timeout: 600_000 }, () => {
  const host = new WorkbenchHost();
  let alpha: LoopbackCn | undefined;
  let bravo: BareLoopbackCn | undefined;
  let page: Page | undefined;
  let ws = '';

  before(async () => {
    const base = host.newBase('kds-e2e-fleet-');
    chmodSync(base, 0o755); // kds-test (sshd sessions, the services) must reach both CNs' folders
    mkdirSync(join(base, 'alpha'));
    mkdirSync(join(base, 'bravo'));
    alpha = await startLoopbackCn(join(base, 'alpha'));
    bravo = await startBareLoopbackCn(join(base, 'bravo'));
    // The administrator's configuration: what Set Up installs on Bravo.
    ws = join(base, 'ws-admin');
    mkdirSync(ws);
    writeFileSync(join(ws, 'kata_ca.pem'), bravo.emulator.caPem);
    writeFileSync(join(ws, 'exclude_list.txt'), '*.skip\n');
    // A repository's settings never add a Central Node (issue 19 point 1), in either spelling VS Code reads.
    mkdirSync(join(ws, '.vscode'));
    writeFileSync(
      join(ws, '.vscode/settings.json'),
      JSON.stringify({ 'kds.centralNodes': [{ name: 'Repo flat', host: '127.0.0.1', port: 1 }], kds: { centralNodes: [{ name: 'Repo nested', host: '127.0.0.1', port: 2 }] } }, null, 2) + '\n',
    );
    writeFileSync(
      join(ws, 'kata_dir_scanner.conf'),
      JSON.stringify({ in_dir: './in/', out_dir: './out/', qrnt_dir: './qrnt/', cert_pem: './cert.pem', cert_key: './server.key', kata_cn_addr: '127.0.0.1', kata_cn_port: bravo.emulator.port, kata_ca: 'kata_ca.pem', system_id: '', exclude_list: 'exclude_list.txt', stable_ms: 300, poll_interval_s: 1 }, null, 2) + '\n',
    );
    const cn = (c: { sshd: { port: number; user: string }; identityFile: string; configPath: string }) => ({ host: '127.0.0.1', port: c.sshd.port, user: c.sshd.user, identityFile: c.identityFile, useAgent: false, sudo: 'never', configPath: c.configPath });
    await host.start({
      dir: join(base, 'code-server'),
      settings: {
        'kds.autoStart': false,
        'kds.centralNodes': [
          // The loopback CN runs this checkout's engine (there is no installed one under its prefix).
          { name: 'Alpha', ...cn(alpha), engineCommand: [process.execPath, join(repoRoot, 'bin/kds.js')] },
          // Set Up puts everything under Bravo's prefix folder (there is no systemd to run it).
          { name: 'Bravo', ...cn(bravo), setupPrefix: bravo.prefix },
        ],
      },
    });
  });

  after(async () => {
    await host.stop(page, async () => alpha?.stop(), async () => bravo?.stop());
  });

  test('12a. both saved CNs are in the view, none of the workspace\'s; their unknown host keys are said, not asked about', async (t) => {
    page = await host.open(ws);
    await scenario(t, () => page, '12a-fleet-host-keys', async () => {
      const p = page!;
      await openKdsContainer(p);
      const a = await waitForRow(p, VIEW, 'Alpha', /host key not trusted/, 90_000);
      const b = await waitForRow(p, VIEW, 'Bravo', /host key not trusted/, 90_000);
      t.diagnostic(`Alpha: ${a.text}; Bravo: ${b.text}`);
      assert.deepEqual((await viewRows(p, VIEW)).map((r) => r.label), ['Alpha', 'Bravo'], 'the workspace\'s kds.centralNodes is not read');
      assert.equal(await dialog(p).count(), 0, 'no modal in the background');
      const bar = await waitFor('the Central Nodes status bar entry', async () => {
        const e = await statusBarEntry(p, 'kds.fleet');
        return /2 CNs need attention/.test(e.text) ? e : undefined;
      }, 30_000);
      t.diagnostic(`status bar: ${bar.text}`);
    });
  });

  test('12b. Add Central Node…: user@host:port, a name, the key file, the host key modal; then Rename and Remove', async (t) => {
    assert.ok(page);
    const a = alpha!;
    // kds.centralNodes is machine-scoped: code-server (a remote) keeps what the extension saves in its Machine settings.
    const saved = (): Array<Record<string, unknown>> => {
      for (const level of ['Machine', 'User']) {
        const file = join(host.base, `code-server/user-data/${level}/settings.json`);
        const list = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>)['kds.centralNodes'] : undefined;
        if (Array.isArray(list)) return list as Array<Record<string, unknown>>;
      }
      return [];
    };
    const savedNames = () => saved().map((e) => e.name);
    await scenario(t, () => page, '12b-fleet-add', async () => {
      const p = page!;
      await runCommand(p, 'KDS: Add Central Node…');
      const box = quickInput(p).locator('input.input');
      await box.waitFor({ state: 'visible' });
      // Alpha's sshd again, as localhost: another user@host:port, so another Central Node to KDS.
      await box.fill(`${a.sshd.user}@localhost:${a.sshd.port}`);
      await box.press('Enter');
      await waitFor('the name question', async () => ((await quickInput(p).innerText()).includes('A name for it') ? true : undefined), 30_000);
      await box.fill('Charlie');
      await box.press('Enter');
      await pickQuickItem(p, /A private key file/);
      // VS Code's own file dialog (in the browser: a path box): the key's path, Enter.
      await answerFileDialog(p, a.identityFile);
      const shown = await answerDialog(p, new RegExp(`host key of localhost:${a.sshd.port} is not known[\\s\\S]*${escapeRe(a.hostFingerprint)}`), 'Trust and Connect');
      t.diagnostic(`host key modal: ${JSON.stringify(shown)}`);
      await waitFor('Charlie saved in the User settings', () => (savedNames().includes('Charlie') ? true : undefined), 30_000);
      const row = await waitForRow(p, VIEW, 'Charlie', /^(?!host key not trusted|not checked yet|checking…)/, 90_000);
      t.diagnostic(`Charlie: ${row.text}`);
      assert.equal(saved()[2]!.identityFile, a.identityFile);

      await rowMenu(p, 'Charlie', 'Rename Central Node…');
      await box.waitFor({ state: 'visible' });
      await box.fill('Charlie 2');
      await box.press('Enter');
      await waitForRow(p, VIEW, 'Charlie 2', undefined, 30_000);
      assert.deepEqual(savedNames(), ['Alpha', 'Bravo', 'Charlie 2']);

      await rowMenu(p, 'Charlie 2', 'Remove Central Node');
      await answerDialog(p, /Remove "Charlie 2"/, 'Remove');
      await waitFor('Charlie 2 removed', () => (savedNames().length === 2 ? true : undefined), 30_000);
      assert.deepEqual(savedNames(), ['Alpha', 'Bravo']);
      await waitFor('Charlie 2 gone from the view', async () => ((await viewRows(p, VIEW)).some((r) => r.label === 'Charlie 2') ? undefined : true), 30_000);
    });
  });

  test('12c. Connect on Alpha: the host key modal once, then the views follow Alpha', async (t) => {
    assert.ok(page);
    const a = alpha!;
    await scenario(t, () => page, '12c-fleet-connect-alpha', async () => {
      const p = page!;
      await rowAction(p, 'Alpha', 'Connect');
      await answerDialog(p, new RegExp(`host key of 127\\.0\\.0\\.1:${a.sshd.port} is not known[\\s\\S]*${escapeRe(a.hostFingerprint)}`), 'Trust and Connect');
      a.drop('alpha-clean.txt', 'a clean file on Alpha\n');
      await waitForRow(p, 'Output', 'alpha-clean.txt', /not detected/, 90_000);
      await refreshView(p);
      const row = await waitForRow(p, VIEW, 'Alpha', /^connected · running · KDS \d+\.\d+\.\d+ · \d+ waiting · [1-9]\d* out · \d+ quarantined today$/, 90_000);
      t.diagnostic(`Alpha: ${row.text}`);
    });
  });

  test('12d. Set Up on Bravo switches to it and installs KDS; its files, not Alpha\'s, are in Output and Verdicts', async (t) => {
    assert.ok(page);
    const b = bravo!;
    await scenario(t, () => page, '12d-fleet-setup-bravo', async () => {
      const p = page!;
      await rowAction(p, 'Bravo', 'Connect');
      await answerDialog(p, new RegExp(`host key of 127\\.0\\.0\\.1:${b.sshd.port} is not known[\\s\\S]*${escapeRe(b.hostFingerprint)}`), 'Trust and Connect');
      await waitForRow(p, VIEW, 'Bravo', /^connected · KDS not installed$/, 90_000);
      await rowAction(p, 'Bravo', 'Set Up');
      await quickInput(p).waitFor({ state: 'visible', timeout: 90_000 });
      await pickQuickItem(p, /Use folders on the Central Node/);
      for (const which of ['input', 'output', 'quarantine']) {
        const box = quickInput(p);
        await waitFor(`the ${which} folder question`, async () => ((await box.innerText()).includes(`the ${which} folder`) ? true : undefined), 60_000);
        const value = await box.locator('input.input').inputValue();
        assert.ok(value.startsWith(b.prefix + '/mnt/'), `the ${which} folder is under Bravo's prefix: ${value}`);
        await box.locator('input.input').press('Enter');
      }
      // The metrics endpoint, as kds remote setup asks it: left empty (none).
      const metrics = quickInput(p);
      await waitFor('the metrics question', async () => ((await metrics.innerText()).includes('metrics') ? true : undefined), 60_000);
      await metrics.locator('input.input').press('Enter');
      for (let i = 1; ; i++) {
        const d = dialog(p);
        await d.waitFor({ state: 'visible', timeout: 120_000 });
        const text = (await d.innerText()).trim();
        if (/Set-up of .* finished/.test(text)) break;
        assert.match(text, /Step \d\/\d on kds-test@127\.0\.0\.1/);
        await answerDialog(p, /Step \d\/\d/, 'Run This Step');
        assert.ok(i < 10, 'the set-up ends');
      }
      await answerDialog(p, /finished/, 'Close');
      const conf = JSON.parse(readFileSync(b.configPath, 'utf8')) as Record<string, string>;
      // Bravo has no Node.js (like a stock CN): the single executable from the .vsix's engine package.
      assert.ok(existsSync(join(b.prefix, 'opt/kata-dir-scanner/kata-dir-scanner')), 'the engine was installed on Bravo');
      await b.startService(conf.state_dir!);
      b.drop(conf.in_dir!, 'bravo-clean.txt', 'a clean file on Bravo\n');
      b.drop(conf.in_dir!, 'bravo-eicar.com', EICAR);
      await waitForRow(p, 'Output', 'bravo-clean.txt', /not detected/, 90_000);
      await waitForRow(p, 'Quarantine', 'bravo-eicar.com', /detect/, 90_000);
      const out = await viewRows(p, 'Output');
      assert.ok(!out.some((r) => r.label === 'alpha-clean.txt'), `Output shows Bravo's folder, not Alpha's: ${JSON.stringify(out)}`);
      await runCommand(p, 'KDS: Open Verdicts');
      const frame = await webviewShowing(p, '.kds-vt-row');
      const rows = await waitFor('Bravo\'s files in Verdicts', async () => {
        const all = await frame.locator('.kds-vt-row:visible').allInnerTexts();
        return all.some((r) => r.includes('bravo-clean.txt')) && all.some((r) => r.includes('bravo-eicar.com')) ? all : undefined;
      }, 60_000);
      assert.ok(!rows.some((r) => r.includes('alpha-clean.txt')), `Verdicts lists Bravo's files only: ${JSON.stringify(rows)}`);
      await refreshView(p);
      // Installed and running now; the EICAR it just quarantined is what it says first.
      const row = await waitForRow(p, VIEW, 'Bravo', /^connected · Share default: quarantine is growing \(1 file in the last hour\)\.$/, 90_000);
      t.diagnostic(`Bravo: ${row.text}`);
    });
  });

  test('12e. Connect on Alpha switches back: Output and Verdicts are Alpha\'s again', async (t) => {
    assert.ok(page);
    await scenario(t, () => page, '12e-fleet-switch-back', async () => {
      const p = page!;
      await rowAction(p, 'Alpha', 'Connect');
      await waitForRow(p, 'Output', 'alpha-clean.txt', /not detected/, 90_000);
      const out = await viewRows(p, 'Output');
      assert.ok(!out.some((r) => r.label === 'bravo-clean.txt'), `Output is Alpha's: ${JSON.stringify(out)}`);
      await runCommand(p, 'KDS: Open Verdicts');
      const frame = await webviewShowing(p, '.kds-vt-row');
      const rows = await waitFor('Alpha\'s file in Verdicts', async () => {
        const all = await frame.locator('.kds-vt-row:visible').allInnerTexts();
        return all.some((r) => r.includes('alpha-clean.txt')) && !all.some((r) => r.includes('bravo-')) ? all : undefined;
      }, 60_000);
      t.diagnostic(`Verdicts: ${JSON.stringify(rows)}`);
    });
  });

  test('12e2. View Central Node ICAP Log follows the CN connected from the view: Alpha\'s, then Bravo\'s, then Alpha\'s again', async (t) => {
    assert.ok(page);
    // Both loopback CNs are this machine: the fixture log is placed once, as in remote.e2e.ts 10b, unless a
    // real one is there — then that one is only read (the panel's path is all this looks at); each panel names its CN's sshd port.
    const placed = existsSync(CN_ICAP_LOG) ? undefined : placeCnIcapLog(join(repoRoot, 'test/fixtures/icap/kata-preprocessor.log'));
    assert.ok(existsSync(CN_ICAP_LOG), `${CN_ICAP_LOG} is there (placed as root)`);
    try {
      await scenario(t, () => page, '12e2-fleet-icap-log', async () => {
        const p = page!;
        const showsLogOf = async (name: string, port: number) => {
          await runCommand(p, 'KDS: View Central Node ICAP Log');
          const frame = await webviewShowing(p, '[data-testid="icap-path"]');
          const text = await waitFor(`the ICAP log panel to name ${name}'s log`, async () => {
            const shown = await frame.locator('[data-testid="icap-path"]').innerText();
            return shown.includes(`127.0.0.1:${port}:`) && shown.includes(CN_ICAP_LOG) ? shown : undefined;
          }, 60_000);
          t.diagnostic(`${name}: ${text}`);
        };
        await showsLogOf('Alpha', alpha!.sshd.port);
        await rowAction(p, 'Bravo', 'Connect');
        await waitForRow(p, 'Output', 'bravo-clean.txt', /not detected/, 90_000);
        await showsLogOf('Bravo', bravo!.sshd.port);
        await saveScreenshot(p, '12e2-fleet-icap-log-bravo');
        await rowAction(p, 'Alpha', 'Connect');
        await waitForRow(p, 'Output', 'alpha-clean.txt', /not detected/, 90_000);
        await showsLogOf('Alpha', alpha!.sshd.port);
      });
    } finally {
      placed?.remove();
    }
  });

  test('12f. Alpha\'s service stops: its row and the status bar say it needs attention', async (t) => {
    assert.ok(page);
    await scenario(t, () => page, '12f-fleet-service-stopped', async () => {
      const p = page!;
      // Bravo's quarantine grew within the hour (the EICAR): Bravo alone needs attention so far.
      await refreshView(p);
      await waitForRow(p, VIEW, 'Alpha', /running/, 90_000);
      await waitFor('the status bar to count Bravo', async () => (/1 CN needs attention/.test((await statusBarEntry(p, 'kds.fleet')).text) ? true : undefined), 60_000);
      await alpha!.stopService();
      await refreshView(p);
      const row = await waitForRow(p, VIEW, 'Alpha', /The service is stopped\./, 90_000);
      t.diagnostic(`Alpha: ${row.text}`);
      const bar = await waitFor('the status bar to count Alpha', async () => {
        const e = await statusBarEntry(p, 'kds.fleet');
        return /2 CNs need attention/.test(e.text) ? e : undefined;
      }, 60_000);
      t.diagnostic(`status bar: ${bar.text} — ${bar.tooltip}`);
      await saveScreenshot(p, '12f-fleet-view');
      const bravoRow = (await viewRows(p, VIEW)).find((r) => r.label === 'Bravo');
      assert.match(bravoRow?.description ?? '', /quarantine is growing/);
      assert.ok(pane(p, VIEW));
    });
  });
});
