/**
 * The Central Node journey from VS Code, on a CN that has never seen KDS (issue 15 items 1–5,
 * issue 14's fresh set-up) and has no Node.js (issue 24): a bare loopback CN (private sshd with
 * kds-test in a mount namespace without /usr/bin/node, an empty prefix folder standing in for / —
 * no opt/kata-dir-scanner, no mnt folders, no `kds remote setup` beforehand),
 * the embedded KATA with auto-approval, and a workspace holding the administrator's
 * kata_dir_scanner.conf. "KDS: Connect to Central Node" connects and the views say KDS is not
 * installed there, with a Set Up button (11a). While the CN's C library says it is too old, Set Up
 * says so plainly and installs nothing (11a2). Set Up asks where the folders are (folders on the
 * CN, created), shows each step as "Step n/N" with its commands, makes the client certificate,
 * uploads the engine package from the .vsix and installs the single executable out of it,
 * configuration and unit, sends the integration request, and ends with a summary naming
 * system_id and the certificate's fingerprint (11b). The installed engine is started from the
 * unit's ExecStart as kds-test (no systemd here); a clean file and an EICAR dropped into the CN's input reach Output
 * and Quarantine with their verdicts, and Verdicts lists the CN's files, not the local engine's
 * (11c). Every assertion reads the workbench's DOM; screenshots go to test-results/.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { X509Certificate } from 'node:crypto';
import { freshCnUnavailable } from '../helpers/freshCn';
import { type BareLoopbackCn, startBareLoopbackCn } from './loopbackCn';
import { skipReason } from './support/codeServer';
import { EICAR } from './support/fixtures';
import {
  answerDialog,
  closeQuickInput,
  dialog,
  expandView,
  openKdsContainer,
  pickQuickItem,
  quickInput,
  runCommand,
  saveScreenshot,
  scenario,
  viewRows,
  waitFor,
  waitForNotification,
  waitForRow,
  webviewShowing,
  welcomeText,
} from './support/workbench';
import { WorkbenchHost } from './support/workbenchHost';

const skip = skipReason() ?? freshCnUnavailable();

describe('KDS Central Node journey from a bare CN (code-server + Chromium + loopback sshd)', { skip, timeout: 420_000 }, () => {
  const host = new WorkbenchHost();
  let cn: BareLoopbackCn | undefined;
  let page: Page | undefined;
  let ws = '';
  let label = '';

  before(async () => {
    const base = host.newBase('kds-e2e-cnsetup-');
    cn = await startBareLoopbackCn(base);
    label = `${cn.sshd.user}@127.0.0.1:${cn.sshd.port}`;
    // The administrator's local configuration: what Set Up installs on the CN (folders and files rewritten there).
    ws = join(base, 'ws-admin');
    mkdirSync(ws);
    writeFileSync(join(ws, 'kata_ca.pem'), cn.emulator.caPem);
    writeFileSync(join(ws, 'exclude_list.txt'), '*.skip\n');
    writeFileSync(
      join(ws, 'kata_dir_scanner.conf'),
      JSON.stringify(
        {
          in_dir: './in/',
          out_dir: './out/',
          qrnt_dir: './qrnt/',
          cert_pem: './cert.pem',
          cert_key: './server.key',
          kata_cn_addr: '127.0.0.1',
          kata_cn_port: cn.emulator.port,
          kata_ca: 'kata_ca.pem',
          system_id: '',
          exclude_list: 'exclude_list.txt',
          stable_ms: 300,
          poll_interval_s: 1,
        },
        null,
        2,
      ) + '\n',
    );
    await host.start({
      dir: join(base, 'code-server'),
      settings: {
        'kds.autoStart': false,
        'kds.remote.host': '127.0.0.1',
        'kds.remote.port': cn.sshd.port,
        'kds.remote.user': cn.sshd.user,
        'kds.remote.identityFile': cn.identityFile,
        'kds.remote.useAgent': false,
        'kds.remote.configPath': cn.configPath,
        'kds.remote.sudo': 'never',
        'kds.remote.setupPrefix': cn.prefix,
        'kds.remote.knownHostsFiles': [],
      },
    });
  });

  after(async () => {
    await host.stop(page, async () => cn?.stop());
  });

  test('11a. Connect to a CN without KDS: the views say so and offer Set Up', async (t) => {
    const c = cn!;
    assert.ok(!existsSync(join(c.prefix, 'opt')) && !existsSync(join(c.prefix, 'mnt')), 'the CN is bare');
    page = await host.open(ws);
    await scenario(t, () => page, '11a-cn-not-installed', async () => {
      const p = page!;
      await openKdsContainer(p);
      await runCommand(p, 'KDS: Connect to Central Node');
      await dialog(p).waitFor({ state: 'visible', timeout: 90_000 });
      await answerDialog(p, /host key of 127\.0\.0\.1:\d+ is not known/, 'Trust and Connect');
      const welcome = await waitFor('"KDS is not installed" in the Input view', async () => {
        const w = await welcomeText(p, 'Input');
        return /KDS is not installed on this Central Node/.test(w) ? w : undefined;
      }, 30_000);
      t.diagnostic(`Input welcome: ${welcome}`);
      const button = (await expandView(p, 'Input')).getByRole('button', { name: 'Set Up Central Node' });
      assert.equal(await button.count(), 1, 'the Set Up button is in the view');
    });
  });

  test('11a2. A CN whose C library is too old: Set Up says what is missing and installs nothing', async (t) => {
    assert.ok(page, '11a opened the workbench');
    const c = cn!;
    await c.cn.setLibc('glibc 2.17');
    try {
      await scenario(t, () => page, '11a2-cn-libc-too-old', async () => {
        const p = page!;
        await (await expandView(p, 'Input')).getByRole('button', { name: 'Set Up Central Node' }).click();
        await quickInput(p).waitFor({ state: 'visible', timeout: 90_000 });
        await pickQuickItem(p, /Use folders on the Central Node/);
        for (const which of ['input', 'output', 'quarantine']) {
          const box = quickInput(p);
          await waitFor(`the ${which} folder question`, async () => ((await box.innerText()).includes(`the ${which} folder`) ? true : undefined), 60_000);
          await box.locator('input.input').press('Enter');
        }
        const metrics = quickInput(p);
        await waitFor('the metrics question', async () => ((await metrics.innerText()).includes('metrics') ? true : undefined), 60_000);
        await metrics.locator('input.input').press('Enter');
        const message = await waitForNotification(p, /No engine fits the Central Node/, 60_000);
        t.diagnostic(message);
        assert.match(message, /glibc 2\.17; the engine \(Node\.js v\d+\.\d+\.\d+ inside\) needs glibc 2\.28 or later/);
        assert.match(message, /nothing was changed there/);
        assert.ok(!existsSync(join(c.prefix, 'opt')) && !existsSync(join(c.prefix, 'mnt')), 'nothing was installed or created');
      });
    } finally {
      await c.cn.setLibc(undefined);
    }
  });

  test('11b. Set Up from the view: folders on the CN, Step n/N modals, certificate made, summary with system_id and fingerprint', async (t) => {
    assert.ok(page, '11a opened the workbench');
    const c = cn!;
    await scenario(t, () => page, '11b-cn-setup-summary', async () => {
      const p = page!;
      await (await expandView(p, 'Input')).getByRole('button', { name: 'Set Up Central Node' }).click();
      await quickInput(p).waitFor({ state: 'visible', timeout: 90_000 });
      await pickQuickItem(p, /Use folders on the Central Node/);
      for (const which of ['input', 'output', 'quarantine']) {
        const box = quickInput(p);
        await waitFor(`the ${which} folder question`, async () => ((await box.innerText()).includes(`the ${which} folder`) ? true : undefined), 60_000);
        const value = await box.locator('input.input').inputValue();
        assert.ok(value.startsWith(c.prefix + '/mnt/'), `the default ${which} folder is the CN's /mnt one: ${value}`);
        await box.locator('input.input').press('Enter');
      }
      // The metrics endpoint, as kds remote setup asks it: left empty (none).
      const metrics = quickInput(p);
      await waitFor('the metrics question', async () => ((await metrics.innerText()).includes('metrics') ? true : undefined), 60_000);
      assert.equal(await metrics.locator('input.input').inputValue(), '');
      await metrics.locator('input.input').press('Enter');
      const steps: string[] = [];
      for (let i = 1; ; i++) {
        const box = dialog(p);
        await box.waitFor({ state: 'visible', timeout: 120_000 });
        const text = (await box.innerText()).trim();
        if (/Set-up of .* finished/.test(text)) break;
        assert.match(text, new RegExp(`Step ${i}/5 on ${label.replace(/\./g, '\\.')}`), `step ${i} is titled Step ${i}/5`);
        if (i === 3) {
          // No Node.js on the CN: the engine package from the .vsix goes up, the executable comes out of it there.
          assert.match(text, /upload kata-dir-scanner_[^ ]+_amd64\.deb \(\d+\.\d MB, SHA-256 [0-9a-f]{64}\)/);
          await saveScreenshot(p, '11b-step-3-engine-upload');
        }
        if (i === 2) {
          // A fresh CN gets a certificate: the step says so, and never that one is kept.
          assert.doesNotMatch(text, /already has a client certificate/);
          assert.match(text, /client certificate SHA-256/);
          await saveScreenshot(p, '11b-step-2-certificate');
        }
        assert.doesNotMatch(text, /kds-backup/, 'no backup of files that never existed');
        steps.push(text.split('\n').find((l) => /^Step \d\/5/.test(l)) ?? text);
        await answerDialog(p, /Step \d\/5/, 'Run This Step');
      }
      t.diagnostic(`steps: ${JSON.stringify(steps)}`);
      assert.equal(steps.length, 5);
      await saveScreenshot(p, '11b-setup-summary-dialog');
      const summary = await answerDialog(p, /finished/, 'Close');
      t.diagnostic(`summary: ${summary}`);
      const opt = join(c.prefix, 'opt/kata-dir-scanner');
      const conf = JSON.parse(readFileSync(c.configPath, 'utf8')) as Record<string, string>;
      const fp = new X509Certificate(readFileSync(join(opt, 'cert.pem'))).fingerprint256;
      assert.ok(summary.includes(conf.system_id!), 'the summary names the system_id');
      assert.ok(summary.includes(fp), 'the summary names the certificate fingerprint');
      // The embedded KATA approves at once: the summary says so, and leaves nothing to approve (issue 23, 13b).
      assert.match(summary, /KATA has approved this external system/);
      assert.doesNotMatch(summary, /Left to do|approve the integration/);
      assert.equal(statSync(join(opt, 'server.key')).mode & 0o777, 0o600);
      for (const d of ['in', 'out', 'qrnt']) assert.ok(statSync(join(c.prefix, 'mnt', d)).isDirectory(), `mnt/${d} was created`);
      assert.equal(conf.in_dir, join(c.prefix, 'mnt/in') + '/');
      assert.ok(statSync(join(opt, 'kata-dir-scanner')).mode & 0o100, 'the single executable was installed');
      assert.ok(!existsSync(join(opt, 'app')), 'not the bundled JavaScript: the CN has no Node.js');
      assert.match(readFileSync(join(c.prefix, 'etc/systemd/system/kata-dir-scanner.service'), 'utf8'), /^ExecStart=.*\/opt\/kata-dir-scanner\/kata-dir-scanner"? run --config/m);
    });
  });

  test('11c. The installed service routes files; the views and Verdicts show the CN\'s verdicts', async (t) => {
    assert.ok(page, '11a opened the workbench');
    const c = cn!;
    const conf = JSON.parse(readFileSync(c.configPath, 'utf8')) as Record<string, string>;
    await c.startService(conf.state_dir!);
    await scenario(t, () => page, '11c-cn-verdicts', async () => {
      const p = page!;
      // Set Up reloaded the CN: the views follow its (now installed) configuration.
      await waitFor('the not-installed message to go', async () => (/not installed/.test(await welcomeText(p, 'Input')) ? undefined : true), 30_000);
      c.drop(conf.in_dir!, 'clean.txt', 'a perfectly clean file on the CN\n');
      c.drop(conf.in_dir!, 'eicar.com', EICAR);
      const clean = await waitForRow(p, 'Output', 'clean.txt', /not detected/, 90_000);
      const bad = await waitForRow(p, 'Quarantine', 'eicar.com', /detect/, 90_000);
      assert.doesNotMatch(bad.description, /not detected/);
      t.diagnostic(`Output: ${clean.text}; Quarantine: ${bad.text}`);
      const input = await viewRows(p, 'Input');
      assert.ok(!input.some((r) => r.label === 'clean.txt' || r.label === 'eicar.com'), `both left the CN's input: ${JSON.stringify(input)}`);

      await runCommand(p, 'KDS: Open Verdicts');
      const frame = await webviewShowing(p, '.kds-vt-row');
      const rows = await waitFor('the CN\'s two files in Verdicts', async () => {
        const all = await frame.locator('.kds-vt-row:visible').allInnerTexts();
        return all.some((r) => r.includes('clean.txt') && /not detected/i.test(r)) && all.some((r) => r.includes('eicar.com') && !/not detected/i.test(r) && /detect/i.test(r)) ? all : undefined;
      }, 60_000);
      t.diagnostic(`Verdicts: ${JSON.stringify(rows)}`);
      assert.ok(existsSync(join(conf.out_dir!, 'clean.txt')) && existsSync(join(conf.qrnt_dir!, 'eicar.com')), 'the files are on the CN where the views say');
    });
  });

  test('11d. Edit Exclude List on the CN is the same quick pick as locally: add *.doc; the CN\'s service keeps report.doc in input', async (t) => {
    assert.ok(page, '11a opened the workbench');
    const c = cn!;
    const conf = JSON.parse(readFileSync(c.configPath, 'utf8')) as Record<string, string>;
    await scenario(t, () => page, '11d-cn-exclude-list', async () => {
      const p = page!;
      await runCommand(p, 'KDS: Edit Exclude List');
      const widget = quickInput(p);
      await widget.waitFor({ state: 'visible', timeout: 60_000 });
      // The quick pick, not the raw file: its title names the CN's list.
      await waitFor('the quick pick titled with the CN\'s list', async () => ((await widget.innerText()).includes(`${label}:${conf.exclude_list}`) ? true : undefined), 30_000);
      await widget.locator('input.input').fill('*.doc');
      await pickQuickItem(p, 'Add "*.doc"');
      const entry = widget.locator('.quick-input-list .monaco-list-row').filter({ has: p.locator('.label-name', { hasText: /^\*\.doc$/ }) });
      await entry.first().waitFor({ state: 'visible', timeout: 30_000 });
      await saveScreenshot(p, '11d-cn-exclude-quick-pick');
      await closeQuickInput(p);
      const lines = readFileSync(conf.exclude_list!, 'utf8').split(/\r?\n/);
      assert.ok(lines.includes('*.doc') && lines.includes('*.skip'), `the CN's list holds "*.doc" and keeps "*.skip": ${JSON.stringify(lines)}`);
      // The service re-reads the list on its rescans (no systemd here to reload it): the file stays, excluded.
      c.drop(conf.in_dir!, 'report.doc', 'quarterly report\n');
      await waitForRow(p, 'Input', 'report.doc', /excluded/, 60_000);
      assert.ok(existsSync(join(conf.in_dir!, 'report.doc')), 'report.doc is still in the CN\'s input');
    });
  });

  test('11e. A share added to the local configuration: Set Up offers to add it alone; three steps; the CN gains the share and keeps the rest', async (t) => {
    assert.ok(page, '11a opened the workbench');
    const c = cn!;
    const before = JSON.parse(readFileSync(c.configPath, 'utf8')) as Record<string, unknown>;
    const localPath = join(ws, 'kata_dir_scanner.conf');
    const local = JSON.parse(readFileSync(localPath, 'utf8')) as Record<string, unknown>;
    writeFileSync(localPath, JSON.stringify({ ...local, shares: [{ name: 'hr', in_dir: './hr/in/', out_dir: './hr/out/', qrnt_dir: './hr/qrnt/' }] }, null, 2) + '\n');
    writeFileSync(join(ws, 'exclude_list.hr.txt'), '*.hrskip\n');
    await scenario(t, () => page, '11e-cn-add-share', async () => {
      const p = page!;
      await runCommand(p, 'KDS: Set Up Central Node');
      await quickInput(p).waitFor({ state: 'visible', timeout: 90_000 });
      await pickQuickItem(p, /Add shares hr/);
      await waitFor('the folders question', async () => ((await quickInput(p).innerText()).includes('Use folders on the Central Node') ? true : undefined), 60_000);
      await pickQuickItem(p, /Use folders on the Central Node/);
      const steps: string[] = [];
      for (let i = 1; ; i++) {
        const box = dialog(p);
        await box.waitFor({ state: 'visible', timeout: 120_000 });
        const text = (await box.innerText()).trim();
        if (/Set-up of .* finished/.test(text)) break;
        assert.match(text, new RegExp(`Step ${i}/3 on `), `step ${i} is titled Step ${i}/3: ${text}`);
        steps.push(text.split('\n').find((l) => /^Step \d\/3/.test(l)) ?? text);
        await answerDialog(p, /Step \d\/3/, 'Run This Step');
      }
      t.diagnostic(`steps: ${JSON.stringify(steps)}`);
      assert.equal(steps.length, 3);
      assert.ok(!steps.some((s) => /certificate|Integration request/i.test(s)), 'no certificate or integration step');
      const summary = await answerDialog(p, /finished/, 'Close');
      t.diagnostic(`summary: ${summary}`);
      assert.match(summary, /shares hr as well, under the same integration .*KATA needs no new approval/);
      const after = JSON.parse(readFileSync(c.configPath, 'utf8')) as Record<string, unknown> & { shares: Array<Record<string, string>> };
      const { shares, ...rest } = after;
      assert.deepEqual(rest, before, 'every installed key is kept');
      assert.equal(shares.length, 1);
      assert.equal(shares[0]!.name, 'hr');
      assert.equal(shares[0]!.in_dir, join(c.prefix, 'mnt/hr/in') + '/');
      for (const d of ['in', 'out', 'qrnt']) assert.ok(statSync(join(c.prefix, 'mnt/hr', d)).isDirectory(), `mnt/hr/${d} was created`);
      assert.equal(readFileSync(join(c.prefix, 'opt/kata-dir-scanner/exclude_list.hr.txt'), 'utf8'), '*.hrskip\n');
      assert.match(readFileSync(join(c.prefix, 'etc/systemd/system/kata-dir-scanner.service'), 'utf8'), /mnt\/hr\/qrnt/);
    });
  });
});
