import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as vscode from 'vscode';
import { canRevealInOs } from '../panels/verdictsPanel';
import { type KdsServices, itemArgument, registerCommand } from '../services';

export function registerItemCommands(s: KdsServices): void {
  registerCommand(s, 'kds.revealInOs', async (arg?: unknown) => {
    const item = await itemArgument(s, arg, ['in', 'out', 'qrnt'], vscode.l10n.t('Choose the file to reveal'));
    if (!item) return;
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
    const sha256 = item.sha256 ?? (await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: vscode.l10n.t('Hashing {0}…', item.name) }, () => hashFile(item.path)));
    await vscode.env.clipboard.writeText(sha256);
    void vscode.window.setStatusBarMessage(vscode.l10n.t('SHA-256 of {0} copied', item.name), 4000);
  });
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
