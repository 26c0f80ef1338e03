import * as vscode from 'vscode';
import { RemoteAuthError } from '../centralNode/connectAdvice';
import { ConfigError } from '../engine/config';
import { type LocalEngine, UntrustedWorkspaceError } from './localEngine';

/**
 * The little that registering a command and reporting its failure need: the Central Node
 * commands take this rather than all of KdsServices, so they do not depend on the services
 * that hold them.
 */
export interface CommandHost {
  context: vscode.ExtensionContext;
  engine: LocalEngine;
  log: vscode.LogOutputChannel;
}

/** Registers a command whose failures become a notification (with a way forward) instead of a silent rejection. */
export function registerCommand(s: CommandHost, id: string, handler: (...args: any[]) => unknown): void {
  s.context.subscriptions.push(
    vscode.commands.registerCommand(id, async (...args: unknown[]) => {
      try {
        return await handler(...args);
      } catch (err) {
        await showError(s, err);
        return undefined;
      }
    }),
  );
}

/**
 * Central Node commands run programs as root there (sudo, or a root SSH user): none of them in an
 * untrusted workspace (Restricted Mode), whose files anyone who wrote the repository controls.
 */
export function requireTrustForCentralNode(): void {
  if (!vscode.workspace.isTrusted) {
    throw new UntrustedWorkspaceError(
      vscode.l10n.t('Central Node commands are off in an untrusted workspace: they run commands as root on the Central Node. Trust the workspace first.'),
    );
  }
}

export async function showError(s: CommandHost, err: unknown): Promise<void> {
  const message = err instanceof Error ? err.message : String(err);
  s.log.error(message);
  if (err instanceof UntrustedWorkspaceError) {
    const manage = vscode.l10n.t('Manage Workspace Trust');
    if ((await vscode.window.showWarningMessage(message, manage)) === manage) await vscode.commands.executeCommand('workbench.trust.manage');
    return;
  }
  if (err instanceof ConfigError) {
    const open = vscode.l10n.t('Open Configuration');
    if ((await vscode.window.showErrorMessage(message, open)) === open) await vscode.commands.executeCommand('kds.openConfiguration');
    return;
  }
  if (err instanceof RemoteAuthError) {
    const settings = vscode.l10n.t('Open Settings');
    if ((await vscode.window.showErrorMessage(message, settings)) === settings) await vscode.commands.executeCommand('workbench.action.openSettings', 'kds.remote');
    return;
  }
  const showLog = vscode.l10n.t('Show Log');
  if ((await vscode.window.showErrorMessage(message, showLog)) === showLog) s.log.show();
}
