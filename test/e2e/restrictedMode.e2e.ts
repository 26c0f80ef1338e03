/**
 * Issue 19 point 1 in a real VS Code (code-server 4.100.3 + headless Chromium) with workspace
 * trust on: a folder opened for the first time is in Restricted Mode. The repository's own
 * `.vscode/settings.json` names a host and an engine command (nested spelling, which VS Code still
 * applies in Restricted Mode); KDS says it ignores them. The User settings name a Central Node (a
 * TCP listener here that counts connections): **Connect to Central Node** and **Set Up Central
 * Node** refuse with the reason and **Manage Workspace Trust**, and nothing connects. Every
 * assertion reads the workbench's DOM.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { type AddressInfo, type Server, type Socket, createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { skipReason } from './support/codeServer';
import { allStatusBarTexts, openKdsContainer, runCommand, scenario, waitFor, waitForNotification } from './support/workbench';
import { WorkbenchHost } from './support/workbenchHost';

const skip = skipReason();
const refusal = /Central Node commands are off in an untrusted workspace/;

describe('KDS Central Node commands in Restricted Mode (code-server + Chromium, workspace trust on)', { skip, timeout: 300_000 }, () => {
  const host = new WorkbenchHost();
  let page: Page | undefined;
  let listener: Server | undefined;
  const sockets: Socket[] = [];
  let connections = 0;

  before(async () => {
    host.newBase('kds-e2e-restricted-');
    // Where the User settings say the Central Node is: anything that connects is counted.
    listener = createServer((s) => {
      connections++;
      sockets.push(s);
      s.destroy();
    });
    await new Promise<void>((ok, fail) => {
      listener!.once('error', fail);
      listener!.listen(0, '127.0.0.1', () => ok());
    });
    const port = (listener.address() as AddressInfo).port;
    await host.start({
      dir: join(host.base, 'code-server'),
      workspaceTrust: true,
      settings: {
        'kds.remote.host': '127.0.0.1',
        'kds.remote.port': port,
        'kds.remote.user': 'root',
        'kds.remote.useAgent': false,
        'kds.remote.sudo': 'never',
        // The Restricted Mode banner would take the palette helper's click on the title bar; the status bar still says it.
        'security.workspace.trust.banner': 'never',
      },
    });
  });

  after(async () => {
    await host.stop(page, async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((ok) => (listener ? listener.close(() => ok()) : ok()));
    });
  });

  test('19.1 a Restricted Mode window refuses every Central Node command and ignores the workspace\'s kds.remote.*', async (t) => {
    const ws = join(host.base, 'ws-untrusted');
    mkdirSync(join(ws, '.vscode'), { recursive: true });
    const pwned = join(host.base, 'workspace-engine-command-ran');
    writeFileSync(
      join(ws, '.vscode', 'settings.json'),
      `{\n  "kds": { "remote": { "host": "203.0.113.9", "engineCommand": ["/bin/sh", "-c", "touch ${pwned}"] } }\n}\n`,
    );
    page = await host.open(ws);
    await scenario(t, () => page, '19-1-restricted-mode', async () => {
      const p = page!;
      await openKdsContainer(p);
      // The premise: VS Code has this folder in Restricted Mode.
      const bar = await waitFor('the Restricted Mode status bar entry', async () => {
        const texts = await allStatusBarTexts(p);
        return texts.some((x) => /Restricted Mode/.test(x)) ? texts : undefined;
      }, 60_000);
      t.diagnostic(`status bar: ${JSON.stringify(bar)}`);

      const told = await waitForNotification(p, /KDS ignores .*kds\.remote\.(host|engineCommand)/, 60_000);
      for (const k of ['kds.remote.host', 'kds.remote.engineCommand']) assert.ok(told.includes(k), `${k} named: ${told}`);
      t.diagnostic(`said: ${told}`);

      await runCommand(p, 'KDS: Connect to Central Node');
      const said = await waitForNotification(p, refusal, 30_000);
      t.diagnostic(`Connect: ${said}`);
      const toast = p.locator('.notifications-toasts .notification-toast').filter({ hasText: refusal });
      const manage = toast.locator('.monaco-button').filter({ hasText: /^Manage Workspace Trust$/ });
      assert.equal(await manage.count(), 1, 'the refusal offers Manage Workspace Trust');

      // Set Up Central Node (it would connect first, then run the set-up as root) refuses the same way.
      await runCommand(p, 'Notifications: Clear All Notifications');
      await waitFor('the notifications to clear', async () => ((await toast.count()) === 0 ? true : undefined), 10_000);
      await runCommand(p, 'KDS: Set Up Central Node');
      t.diagnostic(`Set Up: ${await waitForNotification(p, refusal, 30_000)}`);

      // Manage Workspace Trust opens VS Code's Workspace Trust editor.
      await toast.locator('.monaco-button').filter({ hasText: /^Manage Workspace Trust$/ }).first().click();
      await waitFor('the Workspace Trust editor', async () => ((await p.locator('.tabs-container .tab').filter({ hasText: 'Workspace Trust' }).count()) > 0 ? true : undefined), 30_000);

      assert.equal(connections, 0, 'nothing connected to the Central Node named in the User settings');
      assert.ok(!existsSync(pwned), 'the workspace\'s kds.remote.engineCommand never ran');
    });
  });
});
