import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, relative } from 'node:path';
import * as vscode from 'vscode';
import { originalTemplate } from '../../engine/config';
import { type StateDirOwner, stopStateDirOwner } from '../../engine/stateDirOwner';
import { formatSince } from '../statusBar';
import { workspaceRelative } from '../../viewModel/configDiscovery';
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
    else {
      s.engine.requestRescan();
      await s.engine.pollElsewhere();
    }
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
  const other = await s.engine.checkElsewhere();
  if (other && !(await takeOverFrom(s, other))) return;
  await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: vscode.l10n.t('KDS: starting the scanner…') }, () => s.engine.start());
  const config = s.engine.config;
  if (config) void vscode.window.setStatusBarMessage(vscode.l10n.t('KDS: scanning {0}', config.shares.map((x) => x.in_dir).join(', ')), 5000);
}

/** Points kds.configPath at `file` (relative to the first workspace folder when inside it), loads and opens it. */
async function useConfiguration(s: KdsServices, file: string): Promise<void> {
  const root = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  const rel = root ? relative(root, file) : '';
  const value = root && rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file;
  const target = vscode.workspace.workspaceFolders?.length ? vscode.ConfigurationTarget.Workspace : vscode.ConfigurationTarget.Global;
  await vscode.workspace.getConfiguration('kds').update('configPath', value, target);
  await s.engine.reload();
  await vscode.window.showTextDocument(vscode.Uri.file(file));
}

/** Why KDS cannot stop the other process itself, and what the person can do instead. */
function whyNotStoppable(other: StateDirOwner): string {
  switch (other.kind) {
    case 'service':
      return vscode.l10n.t('It runs as the systemd service {0}: stop it with "systemctl stop {0}", then start scanning here.', other.unit ?? '');
    case 'vscode':
      return vscode.l10n.t('It is another VS Code window: stop scanning there, then start it here.');
    case 'kds':
      return vscode.l10n.t('It belongs to another user: stop it as that user, then start scanning here.');
    case 'unknown':
      return vscode.l10n.t('KDS cannot tell what that process is, so it does not stop it: stop it where it was started.');
  }
}

/**
 * Start Scanning while another process scans this configuration: watch it (the views already
 * follow it), or — only for a `kds run` / `kds demo` this user started — stop it (SIGTERM, after a
 * modal confirmation naming its command line) and start here. True when this window may start now.
 */
async function takeOverFrom(s: KdsServices, other: StateDirOwner): Promise<boolean> {
  const since = formatSince(other.since);
  const what = other.pid
    ? vscode.l10n.t('KDS is already scanning this configuration in another process (pid {0}, since {1}).', other.pid, since)
    : vscode.l10n.t('KDS is already scanning this configuration in another process (since {0}).', since);
  const watch = vscode.l10n.t('Watch It');
  const stop = vscode.l10n.t('Stop It and Start Here');
  const note = other.canStop ? vscode.l10n.t('The views show what it does.') : whyNotStoppable(other) + ' ' + vscode.l10n.t('The views show what it does.');
  const answer = await vscode.window.showInformationMessage(`${what} ${note}`, ...(other.canStop ? [watch, stop] : [watch]));
  if (answer === watch) await vscode.commands.executeCommand('kds.input.focus');
  if (answer !== stop) return false;
  const confirm = vscode.l10n.t('Stop and Start Here');
  const demo = /\bdemo\b/.test(other.command ?? '');
  const detail = [
    vscode.l10n.t('Command line: {0}', other.command ?? '?'),
    vscode.l10n.t('KDS sends it SIGTERM, as Ctrl-C would: it finishes the files in progress, then exits. Then scanning starts in this window.'),
    ...(demo ? [vscode.l10n.t('It is "kds demo": its embedded KATA stops too, so files wait in input until a KATA answers again (KDS: Start Embedded KATA starts one here).')] : []),
  ].join('\n\n');
  const sure = await vscode.window.showWarningMessage(vscode.l10n.t('Stop the KDS process {0}?', other.pid), { modal: true, detail }, confirm);
  if (sure !== confirm) return false;
  const config = s.engine.viewConfig ?? s.engine.config;
  if (!config) return false;
  const outcome = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: vscode.l10n.t('Waiting for the KDS process {0} to finish its work in progress…', other.pid) },
    () => stopStateDirOwner(config.state_dir, other),
  );
  s.log.info(`[scanning] stopping pid ${other.pid} (${other.command ?? '?'}): ${outcome}`);
  if (outcome === 'stopped') {
    await s.engine.checkElsewhere();
    return true;
  }
  const message =
    outcome === 'changed'
      ? vscode.l10n.t('The state folder is now held by another process than the one you confirmed; nothing was stopped. Run Start Scanning again.')
      : outcome === 'timeout'
        ? vscode.l10n.t('The KDS process {0} is still finishing its work after a minute; scanning was not started here. Run Start Scanning again once it has stopped.', other.pid)
        : whyNotStoppable(other);
  void vscode.window.showWarningMessage(message);
  return false;
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
  // kata_dir_scanner.conf files elsewhere in the workspace (kds-demo/ from npm start, say) come first.
  const status = s.engine.status;
  const roots = (vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.fsPath);
  const found = (status.kind === 'none' ? (status.found ?? []) : []).map((file) => ({
    label: '$(file) ' + workspaceRelative(roots, file),
    description: vscode.l10n.t('found in the workspace'),
    id: 'found',
    file,
  }));
  const separator = (label: string) => ({ label, kind: vscode.QuickPickItemKind.Separator, id: '' });
  const options = [
    ...(found.length ? [separator(vscode.l10n.t('Found in the workspace')), ...found, separator(vscode.l10n.t('Other'))] : []),
    ...(path ? [create, choose, demo] : [choose]),
  ];
  const picked = await vscode.window.showQuickPick(options, {
    placeHolder: found.length ? vscode.l10n.t('Use a configuration found in the workspace, or make one') : vscode.l10n.t('There is no KDS configuration yet'),
  });
  if (!picked) return;
  if (picked.id === 'found' && 'file' in picked && typeof picked.file === 'string') {
    await useConfiguration(s, picked.file);
    return;
  }
  if (picked.id === 'demo') {
    await vscode.commands.executeCommand('kds.startEmbeddedKata');
    return;
  }
  if (picked.id === 'choose') {
    const uris = await vscode.window.showOpenDialog({ canSelectMany: false, openLabel: vscode.l10n.t('Use This Configuration'), filters: { [vscode.l10n.t('KDS configuration')]: ['conf', 'json'] } });
    if (!uris?.[0]) return;
    await useConfiguration(s, uris[0].fsPath);
    return;
  }
  if (!path) return;
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, JSON.stringify(originalTemplate, null, 2) + '\n', { flag: 'wx' });
  await s.engine.reload();
  await vscode.window.showTextDocument(vscode.Uri.file(path));
  void vscode.window.showInformationMessage(vscode.l10n.t('Fill in system_id, the folders and the certificate paths; the editor checks the file against the KDS schema.'));
}
