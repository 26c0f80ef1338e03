import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import * as vscode from 'vscode';
import { originalTemplate } from '../../engine/config';
import { type KdsServices } from '../services';
import { registerCommand } from '../commandHost';

export function registerScanningCommands(s: KdsServices): void {
  registerCommand(s, 'kds.startScanning', () => startScanning(s));
  registerCommand(s, 'kds.stopScanning', async () => {
    // Remote mode: the scanner is the Central Node's service.
    if (s.active?.mode === 'remote' && s.centralNode) {
      await s.centralNode.serviceAction('stop');
      return;
    }
    await s.engine.stop();
    void vscode.window.setStatusBarMessage(vscode.l10n.t('KDS: scanning stopped'), 3000);
  });
  registerCommand(s, 'kds.rescan', async () => {
    // Remote mode: the CN's service rescans on its own; read its event stream and list its folders now.
    const remote = s.active?.centralNode;
    if (remote) await remote.source.poll().catch(() => 0);
    else s.engine.requestRescan();
    await s.models.refresh();
  });
  registerCommand(s, 'kds.showLog', () => s.log.show());
  registerCommand(s, 'kds.openConfiguration', () => (s.active?.centralNode ? vscode.commands.executeCommand('kds.remote.openConfiguration') : openConfiguration(s)));
}

export async function startScanning(s: KdsServices): Promise<void> {
  // Remote mode: start the Central Node's service (systemctl), not the local engine.
  if (s.active?.mode === 'remote' && s.centralNode) {
    if (s.active.running) {
      void vscode.window.showInformationMessage(vscode.l10n.t('The KDS service on {0} is already running.', s.active.centralNode!.label));
      return;
    }
    await s.centralNode.serviceAction('start');
    return;
  }
  if (s.engine.running) {
    void vscode.window.showInformationMessage(vscode.l10n.t('KDS is already scanning.'));
    return;
  }
  await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: vscode.l10n.t('KDS: starting the scanner…') }, () => s.engine.start());
  const config = s.engine.config;
  if (config) void vscode.window.setStatusBarMessage(vscode.l10n.t('KDS: scanning {0}', config.in_dir), 5000);
}

/** Opens kata_dir_scanner.conf; when there is none, offers to create one or pick an existing file. */
export async function openConfiguration(s: KdsServices): Promise<void> {
  const path = s.engine.configPath();
  if (path && existsSync(path)) {
    await vscode.window.showTextDocument(vscode.Uri.file(path));
    return;
  }
  const create = { label: '$(new-file) ' + vscode.l10n.t('Create kata_dir_scanner.conf in the workspace'), id: 'create' };
  const choose = { label: '$(folder-opened) ' + vscode.l10n.t('Choose an existing configuration file…'), id: 'choose' };
  const demo = { label: '$(beaker) ' + vscode.l10n.t('Start the embedded KATA and a demo set-up'), id: 'demo' };
  const options = path ? [create, choose, demo] : [choose];
  const picked = await vscode.window.showQuickPick(options, { placeHolder: vscode.l10n.t('There is no KDS configuration yet') });
  if (!picked) return;
  if (picked.id === 'demo') {
    await vscode.commands.executeCommand('kds.startEmbeddedKata');
    return;
  }
  if (picked.id === 'choose') {
    const uris = await vscode.window.showOpenDialog({ canSelectMany: false, openLabel: vscode.l10n.t('Use This Configuration'), filters: { [vscode.l10n.t('KDS configuration')]: ['conf', 'json'] } });
    if (!uris?.[0]) return;
    const target = vscode.workspace.workspaceFolders?.length ? vscode.ConfigurationTarget.Workspace : vscode.ConfigurationTarget.Global;
    await vscode.workspace.getConfiguration('kds').update('configPath', uris[0].fsPath, target);
    await s.engine.reload();
    await vscode.window.showTextDocument(uris[0]);
    return;
  }
  if (!path) return;
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, JSON.stringify(originalTemplate, null, 2) + '\n', { flag: 'wx' });
  await s.engine.reload();
  await vscode.window.showTextDocument(vscode.Uri.file(path));
  void vscode.window.showInformationMessage(vscode.l10n.t('Fill in system_id, the folders and the certificate paths; the editor checks the file against the KDS schema.'));
}
