import { userInfo } from 'node:os';
import * as vscode from 'vscode';
import { ConfigError } from '../engine/config';
import type { DemoSetup } from '../demo/demoSetup';
import type { FolderItem, FolderKind } from '../viewModel/contracts';
import { formatSize } from '../viewModel/itemLooks';
import type { FolderModels } from './folderModels';
import { type LocalEngine, UntrustedWorkspaceError } from './localEngine';
import type { ActiveEngine } from './centralNode/activeEngine';
import type { RemoteController } from './centralNode/remoteCommands';

/** What command modules need; built once in activate() and handed down. */
export interface KdsServices {
  context: vscode.ExtensionContext;
  engine: LocalEngine;
  models: FolderModels;
  log: vscode.LogOutputChannel;
  /** Local engine or connected Central Node: what the views and commands act on. */
  active?: ActiveEngine;
  /** The Central Node connection (remote mode). */
  remote?: RemoteController;
  /** The embedded KATA started by "Start Embedded KATA", if any. */
  demo: { current?: DemoSetup };
}

/** Registers a command whose failures become a notification (with a way forward) instead of a silent rejection. */
export function registerCommand(s: KdsServices, id: string, handler: (...args: any[]) => unknown): void {
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

export async function showError(s: KdsServices, err: unknown): Promise<void> {
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
  const showLog = vscode.l10n.t('Show Log');
  if ((await vscode.window.showErrorMessage(message, showLog)) === showLog) s.log.show();
}

/** Refuses an action that changes files or talks to a server in an untrusted workspace. */
export function requireTrust(): void {
  if (!vscode.workspace.isTrusted) {
    throw new UntrustedWorkspaceError(
      vscode.l10n.t('This action is off in an untrusted workspace: KDS would act on folders and a server named in this workspace\'s configuration. Trust the workspace first.'),
    );
  }
}

/** The configuration or a ConfigError telling the user what to do. */
export function requireConfig(s: KdsServices) {
  const status = s.engine.status;
  if (status.kind === 'ok') return status.config;
  if (status.kind === 'invalid') throw new ConfigError(status.error, status.path);
  throw new ConfigError(vscode.l10n.t('No KDS configuration: create kata_dir_scanner.conf or set kds.configPath.'), status.path ?? 'kata_dir_scanner.conf');
}

/**
 * The configuration the views show and their commands act on: the connected Central Node's, else
 * the local engine's view (the running engine's until a restart; the last valid one while the
 * file is invalid), else the file's (requireConfig, which explains what is missing).
 */
export function activeConfig(s: KdsServices) {
  return s.active?.remote?.config ?? s.engine.viewConfig ?? requireConfig(s);
}

/** Who does it, for the audit log. */
export function currentUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? process.env.USERNAME ?? 'unknown';
  }
}

/**
 * The item a command acts on: the tree item it was invoked on, the selection, or (from the
 * command palette) one the user picks.
 */
export async function itemArgument(s: KdsServices, arg: unknown, folders: FolderKind[], placeHolder: string): Promise<FolderItem | undefined> {
  if (isFolderItem(arg) && folders.includes(arg.folder)) return arg;
  const candidates = folders.flatMap((f) => s.models.items(f));
  if (candidates.length === 0) {
    void vscode.window.showInformationMessage(vscode.l10n.t('There are no files to choose from.'));
    return undefined;
  }
  const picked = await vscode.window.showQuickPick(
    candidates.map((item) => ({ label: item.name, description: `${formatSize(item.size)}${item.verdict ? ' · ' + item.verdict : item.stage ? ' · ' + item.stage : ''}`, detail: item.threat, item })),
    { placeHolder, matchOnDescription: true },
  );
  return picked?.item;
}

export function isFolderItem(v: unknown): v is FolderItem {
  return typeof v === 'object' && v !== null && typeof (v as FolderItem).name === 'string' && typeof (v as FolderItem).folder === 'string' && typeof (v as FolderItem).path === 'string';
}
