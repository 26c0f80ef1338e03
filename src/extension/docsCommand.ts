import { readFile, readdir } from 'node:fs/promises';
import * as vscode from 'vscode';
import { registerCommand } from './commandHost';
import type { KdsServices } from './services';

/** A page of docs/ by its name: letters, digits and dashes only (a link's argument is not a path). */
const docName = /^[a-z0-9-]+$/;

async function titleOf(file: vscode.Uri): Promise<string> {
  const text = await readFile(file.fsPath, 'utf8').catch(() => '');
  return /^#\s+(.+)$/m.exec(text)?.[1]?.trim() ?? '';
}

/**
 * **KDS: Open Documentation** — the user guides in docs/, shipped in the .vsix, opened in VS
 * Code's Markdown preview: the walkthrough's and the notifications' links work for someone who
 * has only the .vsix (no repository, no `kds` on the PATH). A command link names the page:
 * `command:kds.openDocumentation?%5B%22icap-kit%22%5D`.
 */
export function registerDocsCommand(s: KdsServices): void {
  registerCommand(s, 'kds.openDocumentation', async (arg?: unknown) => {
    const root = vscode.Uri.joinPath(s.context.extensionUri, 'docs');
    let name = typeof arg === 'string' && docName.test(arg) ? arg : undefined;
    if (!name) {
      const files = (await readdir(root.fsPath).catch(() => [] as string[])).filter((f) => f.endsWith('.md')).sort();
      const items = await Promise.all(files.map(async (f) => ({ label: (await titleOf(vscode.Uri.joinPath(root, f))) || f, description: f, name: f.slice(0, -3) })));
      const picked = await vscode.window.showQuickPick(items, { title: vscode.l10n.t('KDS documentation'), matchOnDescription: true });
      name = picked?.name;
    }
    if (!name) return;
    const page = vscode.Uri.joinPath(root, `${name}.md`);
    await vscode.commands.executeCommand('markdown.showPreview', page);
  });
}
