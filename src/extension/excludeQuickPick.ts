import * as vscode from 'vscode';
import { defaultShareName } from '../engine/shareName';
import { tn } from '../common/l10n';
import type { ExcludeListStore } from '../viewModel/engineActions';
import { describeExcludeList, newPatternWarning, validateNewPattern } from '../viewModel/excludeEditing';

interface EntryItem extends vscode.QuickPickItem {
  kind?: vscode.QuickPickItemKind;
  action: 'add' | 'entry' | 'invalid';
  pattern: string;
}

/** The exclude list with how many files now in input each entry matches (local or on a Central Node). */
export async function readExcludeEntries(store: ExcludeListStore) {
  const [text, names] = await Promise.all([store.read(), store.inputNames()]);
  return describeExcludeList(text, names, { caseSensitive: store.caseSensitive });
}

/**
 * Quick edit of exclude_list.txt, the same for the local engine and a Central Node: the entries
 * with their match counts, type a name or mask to add it, the trash button removes an entry.
 * Comments in the file are kept; the store makes the engine re-read the list. A failed write or
 * re-read is shown, not only logged. `openRaw` opens the file itself.
 */
export async function editExcludeList(store: ExcludeListStore, openRaw: () => Thenable<unknown>): Promise<void> {
  const qp = vscode.window.createQuickPick<EntryItem>();
  const removeButton: vscode.QuickInputButton = { iconPath: new vscode.ThemeIcon('trash'), tooltip: vscode.l10n.t('Remove from the exclude list') };
  const openButton: vscode.QuickInputButton = { iconPath: new vscode.ThemeIcon('go-to-file'), tooltip: vscode.l10n.t('Open exclude_list.txt') };
  qp.title = store.share === defaultShareName ? vscode.l10n.t('Exclude list: {0}', store.label) : vscode.l10n.t('Exclude list of the share {0}: {1}', store.share, store.label);
  // A placeholder is one line that the quick pick cuts: the short request here, the why in the Add row.
  qp.placeholder = vscode.l10n.t('File name or mask to add, e.g. *.tmp');
  qp.buttons = [openButton];
  qp.ignoreFocusOut = true;
  let entries: Array<{ pattern: string; matches: number }> = [];

  const render = () => {
    const value = qp.value.trim();
    const items: EntryItem[] = [];
    if (value) {
      const opts = { caseSensitive: store.caseSensitive };
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
      entries = await readExcludeEntries(store);
    } catch (err) {
      void vscode.window.showErrorMessage(vscode.l10n.t('Cannot read the exclude list {0}: {1}', store.label, (err as Error).message));
    } finally {
      qp.busy = false;
    }
    render();
  };
  const apply = async (edit: { add?: string; remove?: string }) => {
    qp.busy = true;
    try {
      await store.edit(edit);
      return true;
    } catch (err) {
      void vscode.window.showErrorMessage((err as Error).message);
      return false;
    } finally {
      qp.busy = false;
    }
  };

  const done = new Promise<void>((resolve) => {
    qp.onDidChangeValue(render);
    qp.onDidTriggerButton(async (b) => {
      if (b === openButton) {
        qp.hide();
        await openRaw();
      }
    });
    qp.onDidTriggerItemButton(async (e) => {
      await apply({ remove: e.item.pattern });
      await reload();
    });
    qp.onDidAccept(async () => {
      const picked = qp.selectedItems[0];
      if (!picked || picked.action !== 'add') return;
      if (await apply({ add: picked.pattern })) qp.value = '';
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
