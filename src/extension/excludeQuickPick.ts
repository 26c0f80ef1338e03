import { readdir, readFile } from 'node:fs/promises';
import * as vscode from 'vscode';
import type { KdsConfig } from '../engine/config';
import { tn } from '../common/l10n';
import { applyExcludeEdit, describeExcludeList, newPatternWarning, validateNewPattern } from '../viewModel/excludeEditing';

interface EntryItem extends vscode.QuickPickItem {
  kind?: vscode.QuickPickItemKind;
  action: 'add' | 'entry' | 'invalid';
  pattern: string;
}

/** The exclude list with how many files now in input each entry matches. */
export async function readExcludeEntries(config: KdsConfig) {
  const text = await readFile(config.exclude_list, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return '';
    throw err;
  });
  const names = await inputNames(config.in_dir);
  return describeExcludeList(text, names, { caseSensitive: config.exclude_case_sensitive });
}

async function inputNames(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { withFileTypes: true })).filter((d) => d.isFile()).map((d) => d.name);
  } catch {
    return [];
  }
}

/**
 * Quick edit of exclude_list.txt: the entries with their match counts, type a name or mask to
 * add it, the trash button removes an entry. Comments in the file are kept. `onChanged` runs
 * after each write (the engine rescans and re-reads the list).
 */
export async function editExcludeList(config: KdsConfig, onChanged: () => void): Promise<void> {
  const qp = vscode.window.createQuickPick<EntryItem>();
  const removeButton: vscode.QuickInputButton = { iconPath: new vscode.ThemeIcon('trash'), tooltip: vscode.l10n.t('Remove from the exclude list') };
  const openButton: vscode.QuickInputButton = { iconPath: new vscode.ThemeIcon('go-to-file'), tooltip: vscode.l10n.t('Open exclude_list.txt') };
  qp.title = vscode.l10n.t('Exclude list: {0}', config.exclude_list);
  // A placeholder is one line that the quick pick cuts: the short request here, the why in the Add row.
  qp.placeholder = vscode.l10n.t('File name or mask to add, e.g. *.tmp');
  qp.buttons = [openButton];
  qp.ignoreFocusOut = true;
  let entries: Array<{ pattern: string; matches: number }> = [];

  const render = () => {
    const value = qp.value.trim();
    const items: EntryItem[] = [];
    if (value) {
      const opts = { caseSensitive: config.exclude_case_sensitive };
      const problem = validateNewPattern(value, entries.map((e) => e.pattern), opts);
      const warning = problem ? undefined : newPatternWarning(value, opts);
      items.push(
        problem
          ? { label: `$(error) ${value}`, detail: problem, action: 'invalid', pattern: value, alwaysShow: true }
          : warning
            ? { label: `$(warning) ${vscode.l10n.t('Add "{0}" anyway', value)}`, detail: warning, action: 'add', pattern: value, alwaysShow: true }
            : { label: `$(add) ${vscode.l10n.t('Add "{0}"', value)}`, detail: vscode.l10n.t('Files that match stay in input and are never sent to KATA'), action: 'add', pattern: value, alwaysShow: true },
      );
    }
    if (entries.length) items.push({ label: vscode.l10n.t('Current entries'), kind: vscode.QuickPickItemKind.Separator, action: 'entry', pattern: '' });
    for (const e of entries) {
      items.push({ label: e.pattern, description: tn(e.matches, 'matches {0} file now in input', 'matches {0} files now in input'), buttons: [removeButton], action: 'entry', pattern: e.pattern });
    }
    qp.items = items;
  };
  const reload = async () => {
    qp.busy = true;
    try {
      entries = await readExcludeEntries(config);
    } finally {
      qp.busy = false;
    }
    render();
  };

  const done = new Promise<void>((resolve) => {
    qp.onDidChangeValue(render);
    qp.onDidTriggerButton(async (b) => {
      if (b === openButton) {
        qp.hide();
        await vscode.window.showTextDocument(vscode.Uri.file(config.exclude_list));
      }
    });
    qp.onDidTriggerItemButton(async (e) => {
      await applyExcludeEdit(config.exclude_list, { remove: e.item.pattern });
      onChanged();
      await reload();
    });
    qp.onDidAccept(async () => {
      const picked = qp.selectedItems[0];
      if (!picked || picked.action !== 'add') return;
      await applyExcludeEdit(config.exclude_list, { add: picked.pattern });
      onChanged();
      qp.value = '';
      await reload();
    });
    qp.onDidHide(() => {
      qp.dispose();
      resolve();
    });
  });
  qp.show();
  await reload();
  await done;
}
