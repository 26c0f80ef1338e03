import * as vscode from 'vscode';
import type { FolderItem } from '../../viewModel/contracts';
import type { QuarantineStore } from '../../viewModel/engineActions';
import { verdictLook } from '../../viewModel/itemLooks';
import { type KdsServices, currentUser, itemArgument, missingEngine, requireTrust } from '../services';
import { registerCommand } from '../commandHost';

export function registerQuarantineCommands(s: KdsServices): void {
  registerCommand(s, 'kds.releaseFromQuarantine', async (arg?: unknown, selected?: unknown[]) => {
    for (const item of await targets(s, arg, selected, vscode.l10n.t('Choose the file to release from quarantine'))) {
      if (!(await release(s, item))) break;
    }
  });
  registerCommand(s, 'kds.deleteFromQuarantine', async (arg?: unknown, selected?: unknown[]) => {
    for (const item of await targets(s, arg, selected, vscode.l10n.t('Choose the file to delete from quarantine'))) {
      if (!(await remove(s, item))) break;
    }
  });
}

/** The quarantine of the item's share, of the engine the views show (a connected Central Node's, else the local one). */
function store(s: KdsServices, item?: FolderItem): QuarantineStore {
  return s.active?.quarantine(item?.share) ?? missingEngine(s);
}

async function targets(s: KdsServices, arg: unknown, selected: unknown[] | undefined, placeHolder: string): Promise<FolderItem[]> {
  requireTrust();
  store(s);
  if (Array.isArray(selected) && selected.length > 1) return selected.filter((x): x is FolderItem => typeof x === 'object' && x !== null && (x as FolderItem).folder === 'qrnt');
  const one = await itemArgument(s, arg, ['qrnt'], placeHolder);
  return one ? [one] : [];
}

function describe(item: FolderItem): string {
  const verdict = verdictLook(item.verdict).label;
  return item.threat ? `${verdict}: ${item.threat}` : verdict;
}

/**
 * A modal warning whose only way forward is the `confirm` button; true when it was chosen. The
 * dialog's first button is the one Enter presses, so the first is the safe "Keep in Quarantine"
 * and the destructive one has to be chosen on purpose (Escape and Cancel keep the file too).
 */
async function confirmed(question: string, detail: string, confirm: string): Promise<boolean> {
  const keep = vscode.l10n.t('Keep in Quarantine');
  const answer = await vscode.window.showWarningMessage(question, { modal: true, detail }, keep, confirm);
  return answer === confirm;
}

/** "on kds@cn.example:22" when the file is on a connected Central Node, so the question names the machine. */
function where(s: KdsServices): string {
  const remote = s.active?.centralNode;
  return remote ? ' ' + vscode.l10n.t('on the Central Node {0}', remote.label) : '';
}

async function release(s: KdsServices, item: FolderItem): Promise<boolean> {
  const quarantine = store(s, item);
  const ok = await confirmed(
    vscode.l10n.t('Release "{0}" from quarantine{1}?', item.name, where(s)),
    vscode.l10n.t('KATA\'s verdict: {0}. The file will be moved to the output folder {1}, where users can open it. The release is recorded in the audit log with your user name.', describe(item), quarantine.outDir),
    vscode.l10n.t('Release'),
  );
  if (!ok) return false;
  const reason = await vscode.window.showInputBox({
    title: vscode.l10n.t('Release "{0}"', item.name),
    prompt: vscode.l10n.t('Reason for the audit log (optional); Escape cancels the release'),
    ignoreFocusOut: true,
  });
  if (reason === undefined) return false;
  // On a Central Node the installed engine does it there (`kds quarantine release`), audited on the CN.
  const done = await quarantine.release(item.name, currentUser(), reason.trim() || undefined);
  await s.models.refresh();
  void vscode.window.showInformationMessage(vscode.l10n.t('"{0}" was released to {1} (SHA-256 {2}).', item.name, done.path, done.sha256));
  return true;
}

async function remove(s: KdsServices, item: FolderItem): Promise<boolean> {
  const quarantine = store(s, item);
  const ok = await confirmed(
    vscode.l10n.t('Delete "{0}" from quarantine{1} for good?', item.name, where(s)),
    vscode.l10n.t('KATA\'s verdict: {0}. The file cannot be restored afterwards. The deletion and the file\'s SHA-256 are recorded in the audit log with your user name.', describe(item)),
    vscode.l10n.t('Delete'),
  );
  if (!ok) return false;
  const done = await quarantine.delete(item.name, currentUser());
  await s.models.refresh();
  void vscode.window.showInformationMessage(vscode.l10n.t('"{0}" was deleted from quarantine (SHA-256 {1}).', item.name, done.sha256));
  return true;
}
