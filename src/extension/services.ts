import { userInfo } from 'node:os';
import * as vscode from 'vscode';
import { ConfigError } from '../engine/config';
import type { DemoSetup } from '../demo/demoSetup';
import type { FolderItem, FolderKind } from '../viewModel/contracts';
import { formatSize } from '../viewModel/itemLooks';
import type { FolderModels } from './folderModels';
import { UntrustedWorkspaceError } from './localEngine';
import type { CommandHost } from './commandHost';
import type { ActiveEngine } from './centralNode/activeEngine';
import type { CentralNodeController } from './centralNode/remoteCommands';

/** What command modules need; built once in activate() and handed down. */
export interface KdsServices extends CommandHost {
  models: FolderModels;
  /** Local engine or connected Central Node: what the views and commands act on. */
  active?: ActiveEngine;
  /** The Central Node connection (remote mode). */
  centralNode?: CentralNodeController;
  /** The embedded KATA started by "Start Embedded KATA", if any. */
  demo: { current?: DemoSetup };
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

/** Why the active engine cannot act: a Central Node without KDS (Set Up), or no local configuration. Always throws. */
export function missingEngine(s: KdsServices): never {
  if (s.active?.notInstalled) {
    s.centralNode?.require();
    throw new Error(vscode.l10n.t('KDS is not installed on the Central Node {0}: run "KDS: Set Up Central Node" first.', s.active.notInstalled.label));
  }
  requireConfig(s);
  throw new Error(vscode.l10n.t('No KDS configuration: create kata_dir_scanner.conf or set kds.configPath.'));
}

/**
 * The configuration the views show and their commands act on: the connected Central Node's, else
 * the local engine's view (the running engine's until a restart; the last valid one while the
 * file is invalid), else the file's (requireConfig, which explains what is missing).
 */
export function activeConfig(s: KdsServices) {
  return s.active?.centralNode?.config ?? s.engine.viewConfig ?? requireConfig(s);
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
  const several = s.models.shares().length > 1;
  if (candidates.length === 0) {
    void vscode.window.showInformationMessage(vscode.l10n.t('There are no files to choose from.'));
    return undefined;
  }
  const picked = await vscode.window.showQuickPick(
    candidates.map((item) => ({
      label: item.name,
      // With several shares the same name may be in two of them: the share comes first.
      description: `${several && item.share ? `[${item.share}] ` : ''}${formatSize(item.size)}${item.verdict ? ' · ' + item.verdict : item.stage ? ' · ' + item.stage : ''}`,
      detail: item.threat,
      item,
    })),
    { placeHolder, matchOnDescription: true },
  );
  return picked?.item;
}

export function isFolderItem(v: unknown): v is FolderItem {
  return typeof v === 'object' && v !== null && typeof (v as FolderItem).name === 'string' && typeof (v as FolderItem).folder === 'string' && typeof (v as FolderItem).path === 'string';
}
