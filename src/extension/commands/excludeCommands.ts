import * as vscode from 'vscode';
import { tn } from '../../common/l10n';
import type { ExcludeListStore } from '../../viewModel/engineActions';
import { newPatternWarning, suggestExcludes, validateNewPattern } from '../../viewModel/excludeEditing';
import { editExcludeList, readExcludeEntries } from '../excludeQuickPick';
import { type KdsServices, isFolderItem, missingEngine, requireTrust } from '../services';
import { registerCommand } from '../commandHost';
import { shareArgument } from '../shareArgument';

/**
 * The exclude list of a share of the engine the views show (a connected Central Node's, else the
 * local one): the share of the item or share node the command was invoked on, the only share, or
 * one the user picks. Undefined when the pick was cancelled.
 */
async function store(s: KdsServices, arg: unknown): Promise<ExcludeListStore | undefined> {
  const shares = s.active?.shares() ?? [];
  if (shares.length === 0) return missingEngine(s);
  const share = await shareArgument(shares, arg, vscode.l10n.t('The exclude list of which share?'));
  return share ? (s.active?.excludeList(share.name) ?? missingEngine(s)) : undefined;
}

/** The list as a file: local, or kds-cn:/path on the connected Central Node (validated on save). */
function openRaw(s: KdsServices, list: ExcludeListStore): () => Thenable<unknown> {
  return () =>
    s.active?.centralNode ? vscode.commands.executeCommand('kds.remote.openExcludeList', { kind: 'share', share: list.share }) : vscode.window.showTextDocument(vscode.Uri.file(list.label));
}

export function registerExcludeCommands(s: KdsServices): void {
  registerCommand(s, 'kds.editExcludeList', async (arg?: unknown) => {
    requireTrust();
    const list = await store(s, arg);
    if (!list) return;
    await editExcludeList(list, openRaw(s, list));
  });

  registerCommand(s, 'kds.addToExcludeList', async (arg?: unknown) => {
    requireTrust();
    const list = await store(s, arg);
    if (!list) return;
    const existing = (await readExcludeEntries(list)).map((e) => e.pattern);
    const opts = { caseSensitive: list.caseSensitive };
    let pattern: string | undefined;
    if (isFolderItem(arg) && arg.folder === 'in') {
      // A suggestion the list already has (in any case, for a case-insensitive list) is not offered.
      const picks = suggestExcludes(arg.name)
        .map((p, i) => ({ label: p, description: i === 0 ? vscode.l10n.t('this file only') : vscode.l10n.t('every file with this extension') }))
        .filter((p) => !validateNewPattern(p.label, existing, opts));
      if (picks.length === 0) {
        void vscode.window.showInformationMessage(vscode.l10n.t('The exclude list already has an entry for "{0}".', arg.name));
        return;
      }
      pattern = (await vscode.window.showQuickPick(picks, { placeHolder: vscode.l10n.t('Exclude "{0}" by its name or by a mask', arg.name) }))?.label;
    } else {
      pattern = await vscode.window.showInputBox({
        prompt: vscode.l10n.t('File name or mask to add to the exclude list'),
        placeHolder: '*.tmp',
        validateInput: (v) => {
          if (!v.trim()) return undefined;
          const problem = validateNewPattern(v.trim(), existing, opts);
          if (problem) return problem;
          const warning = newPatternWarning(v, opts);
          return warning ? { message: warning, severity: vscode.InputBoxValidationSeverity.Warning } : undefined;
        },
      });
      pattern = pattern?.trim();
    }
    if (!pattern) return;
    const problem = validateNewPattern(pattern, existing, opts);
    if (problem) {
      void vscode.window.showWarningMessage(problem);
      return;
    }
    await list.edit({ add: pattern });
    void vscode.window.setStatusBarMessage(vscode.l10n.t('"{0}" added to the exclude list', pattern), 4000);
  });

  registerCommand(s, 'kds.removeFromExcludeList', async (arg?: unknown) => {
    requireTrust();
    const list = await store(s, arg);
    if (!list) return;
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
      entries.map((e) => ({ label: e.pattern, description: tn(e.matches, 'matches {0} file now in input', 'matches {0} files now in input'), picked: preselect.includes(e.pattern) })),
      { canPickMany: true, placeHolder: vscode.l10n.t('Entries to remove from the exclude list') },
    );
    if (!picked?.length) return;
    for (const p of picked) await list.edit({ remove: p.label });
    void vscode.window.setStatusBarMessage(tn(picked.length, '{0} entry removed from the exclude list', '{0} entries removed from the exclude list'), 4000);
  });
}
