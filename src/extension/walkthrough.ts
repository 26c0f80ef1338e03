import * as vscode from 'vscode';

export const walkthroughId = 'gettingStarted';

/**
 * Opens the KDS walkthrough. `workbench.action.openWalkthrough` only reveals an already open
 * Welcome / walkthrough editor when that editor shows another walkthrough (code-server opens its
 * own at first start), so those editors are closed first: they hold nothing to lose, and the
 * command then opens a fresh one on the KDS walkthrough.
 */
export async function openWalkthrough(extensionId: string): Promise<void> {
  const pages = vscode.window.tabGroups.all.flatMap((g) => g.tabs).filter(isWelcomePage);
  if (pages.length) await vscode.window.tabGroups.close(pages, true);
  await vscode.commands.executeCommand('workbench.action.openWalkthrough', `${extensionId}#${walkthroughId}`, false);
}

/** VS Code's Welcome page (also the walkthrough editor): no API input type; its title is "Welcome" or "Walkthrough: …" (English, Russian). */
function isWelcomePage(tab: vscode.Tab): boolean {
  if (tab.input !== undefined) return false;
  return /^(Welcome|Walkthrough: |Добро пожаловать|Пошаговое руководство: )/.test(tab.label);
}
