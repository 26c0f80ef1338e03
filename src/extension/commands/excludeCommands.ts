import * as vscode from 'vscode';
import { tn } from '../../common/l10n';
import { applyExcludeEdit, newPatternWarning, suggestExcludes, validateNewPattern } from '../../viewModel/excludeEditing';
import { editExcludeList, readExcludeEntries } from '../excludeQuickPick';
import { remoteExcludeEdit, remoteExcludeEntries } from '../centralNode/remoteCommands';
import { type KdsServices, activeConfig, isFolderItem, registerCommand, requireTrust } from '../services';

export function registerExcludeCommands(s: KdsServices): void {
  const changed = () => {
    // The engine re-reads exclude_list.txt on every rescan; no restart needed.
    s.engine.requestRescan();
  };

  registerCommand(s, 'kds.editExcludeList', async () => {
    requireTrust();
    // On a Central Node: its exclude list, validated on save and re-read by the service (reload).
    if (s.active?.remote) {
      await vscode.commands.executeCommand('kds.remote.openExcludeList');
      return;
    }
    await editExcludeList(activeConfig(s), changed);
  });

  registerCommand(s, 'kds.addToExcludeList', async (arg?: unknown) => {
    requireTrust();
    const remote = s.active?.remote && s.remote;
    const config = remote ? undefined : activeConfig(s);
    const existing = remote ? await remoteExcludeEntries(remote) : (await readExcludeEntries(config!)).map((e) => e.pattern);
    const opts = { caseSensitive: (s.active?.remote?.config ?? config)?.exclude_case_sensitive };
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
    if (remote) await remoteExcludeEdit(remote, { add: pattern });
    else {
      await applyExcludeEdit(config!.exclude_list, { add: pattern });
      changed();
    }
    void vscode.window.setStatusBarMessage(vscode.l10n.t('"{0}" added to the exclude list', pattern), 4000);
  });

  registerCommand(s, 'kds.removeFromExcludeList', async (arg?: unknown) => {
    requireTrust();
    const remote = s.active?.remote && s.remote;
    const config = remote ? undefined : activeConfig(s);
    const entries = remote ? (await remoteExcludeEntries(remote)).map((pattern) => ({ pattern, matches: 0 })) : await readExcludeEntries(config!);
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
    for (const p of picked) {
      if (remote) await remoteExcludeEdit(remote, { remove: p.label });
      else await applyExcludeEdit(config!.exclude_list, { remove: p.label });
    }
    if (!remote) changed();
    void vscode.window.setStatusBarMessage(tn(picked.length, '{0} entry removed from the exclude list', '{0} entries removed from the exclude list'), 4000);
  });
}
