import * as vscode from 'vscode';
import type { ExcludeListStore } from '../../viewModel/engineActions';
import { suggestExcludes, validateNewPattern } from '../../viewModel/excludeEditing';
import { editExcludeList, readExcludeEntries } from '../excludeQuickPick';
import { type KdsServices, isFolderItem, missingEngine, registerCommand, requireTrust } from '../services';

/** The exclude list of the engine the views show (a connected Central Node's, else the local one). */
function store(s: KdsServices): ExcludeListStore {
  return s.active?.excludeList() ?? missingEngine(s);
}

/** The list as a file: local, or kds-cn:/path on the connected Central Node (validated on save). */
function openRaw(s: KdsServices): () => Thenable<unknown> {
  return () => (s.active?.remote ? vscode.commands.executeCommand('kds.remote.openExcludeList') : vscode.window.showTextDocument(vscode.Uri.file(s.active?.config?.exclude_list ?? s.engine.config!.exclude_list)));
}

export function registerExcludeCommands(s: KdsServices): void {
  registerCommand(s, 'kds.editExcludeList', async () => {
    requireTrust();
    await editExcludeList(store(s), openRaw(s));
  });

  registerCommand(s, 'kds.addToExcludeList', async (arg?: unknown) => {
    requireTrust();
    const list = store(s);
    const existing = (await readExcludeEntries(list)).map((e) => e.pattern);
    let pattern: string | undefined;
    if (isFolderItem(arg) && arg.folder === 'in') {
      const picks = suggestExcludes(arg.name).map((p, i) => ({
        label: p,
        description: i === 0 ? vscode.l10n.t('this file only') : vscode.l10n.t('every file with this extension'),
        detail: validateNewPattern(p, existing),
      }));
      pattern = (await vscode.window.showQuickPick(picks, { placeHolder: vscode.l10n.t('Exclude "{0}" by its name or by a mask', arg.name) }))?.label;
    } else {
      pattern = await vscode.window.showInputBox({
        prompt: vscode.l10n.t('File name or mask to add to the exclude list'),
        placeHolder: '*.tmp',
        validateInput: (v) => (v.trim() ? validateNewPattern(v.trim(), existing) : undefined),
      });
      pattern = pattern?.trim();
    }
    if (!pattern) return;
    const problem = validateNewPattern(pattern, existing);
    if (problem) {
      void vscode.window.showWarningMessage(problem);
      return;
    }
    await list.edit({ add: pattern });
    void vscode.window.setStatusBarMessage(vscode.l10n.t('"{0}" added to the exclude list', pattern), 4000);
  });

  registerCommand(s, 'kds.removeFromExcludeList', async (arg?: unknown) => {
    requireTrust();
    const list = store(s);
    const entries = await readExcludeEntries(list);
    if (entries.length === 0) {
      void vscode.window.showInformationMessage(vscode.l10n.t('The exclude list is empty.'));
      return;
    }
    let preselect: string[] = [];
    if (isFolderItem(arg) && arg.folder === 'in') {
      const mine = new Set(suggestExcludes(arg.name));
      preselect = entries.filter((e) => mine.has(e.pattern)).map((e) => e.pattern);
    }
    const picked = await vscode.window.showQuickPick(
      entries.map((e) => ({ label: e.pattern, description: vscode.l10n.t('matches {0} file(s) now in input', e.matches), picked: preselect.includes(e.pattern) })),
      { canPickMany: true, placeHolder: vscode.l10n.t('Entries to remove from the exclude list') },
    );
    if (!picked?.length) return;
    for (const p of picked) await list.edit({ remove: p.label });
    void vscode.window.setStatusBarMessage(vscode.l10n.t('{0} entries removed from the exclude list', picked.length), 4000);
  });
}
