import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as vscode from 'vscode';
import { run } from '../../centralNode/cnOps';
import { canRevealInOs } from '../panels/verdictsPanel';
import { type KdsServices, itemArgument } from '../services';
import { registerCommand } from '../commandHost';

export function registerItemCommands(s: KdsServices): void {
  registerCommand(s, 'kds.revealInOs', async (arg?: unknown) => {
    const item = await itemArgument(s, arg, ['in', 'out', 'qrnt'], vscode.l10n.t('Choose the file to reveal'));
    if (!item) return;
    // A Central Node's file is not on this machine: say where it is and copy its path there.
    const label = s.active?.centralNode?.label;
    if (label) {
      await vscode.env.clipboard.writeText(item.path);
      void vscode.window.showInformationMessage(vscode.l10n.t('{0} is on the Central Node {1}: {2} (path copied).', item.name, label, item.path));
      return;
    }
    // Hidden from the menus and the palette where it cannot work; a keybinding may still reach here.
    if (!canRevealInOs()) {
      const copy = vscode.l10n.t('Copy Path');
      if ((await vscode.window.showInformationMessage(vscode.l10n.t('Reveal in OS is not available here (VS Code for the Web or a remote window). The file is at {0}', item.path), copy)) === copy) {
        await vscode.env.clipboard.writeText(item.path);
      }
      return;
    }
    await vscode.commands.executeCommand('revealFileInOS', vscode.Uri.file(item.path));
  });
  registerCommand(s, 'kds.copySha256', async (arg?: unknown) => {
    const item = await itemArgument(s, arg, ['in', 'out', 'qrnt'], vscode.l10n.t('Choose the file whose SHA-256 to copy'));
    if (!item) return;
    const hash = s.active?.centralNode && s.centralNode ? () => remoteHash(s, item.path) : () => hashFile(item.path);
    const sha256 = item.sha256 ?? (await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: vscode.l10n.t('Hashing {0}…', item.name) }, hash));
    await vscode.env.clipboard.writeText(sha256);
    void vscode.window.setStatusBarMessage(vscode.l10n.t('SHA-256 of {0} copied', item.name), 4000);
  });
}

/** sha256sum on the connected Central Node (sudo when the SSH user may not read the file). */
async function remoteHash(s: KdsServices, path: string): Promise<string> {
  const conn = s.centralNode!.require();
  const r = await run(conn.cn(), ['sha256sum', '--', path], conn.needsSudo());
  const sha = r.stdout.toString('utf8').trim().split(/\s+/)[0] ?? '';
  if (r.code !== 0 || !/^[0-9a-f]{64}$/.test(sha)) throw new Error(r.stderr.toString('utf8').trim() || `sha256sum ${path}: exit code ${r.code}`);
  return sha;
}

function hashFile(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}
