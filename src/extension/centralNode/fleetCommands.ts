import { homedir } from 'node:os';
import * as vscode from 'vscode';
import { visibleText } from '../../common/displayText';
import { KdsLogger } from '../../common/log';
import { type CentralNodeEntry, cnId, cnLabel, entryToSetting, localUserName, nameProblem, parseEntry, parseUserHost } from '../../centralNode/fleetList';
import { type CommandHost, registerCommand } from '../commandHost';
import { configuredLogLevel, writeToChannel } from '../localEngine';
import { CnConnection, cnSettingsFromEntry, secretKey } from './cnConnection';
import type { FleetElement, FleetView } from './fleetView';
import type { CentralNodeController } from './remoteCommands';
import { setupCentralNode } from './setupCentralNode';

/** The Central Node a command was invoked on: the tree row, else one the user picks. */
async function entryArgument(fleet: FleetView, arg: unknown, placeHolder: string, only: (e: CentralNodeEntry) => boolean = () => true): Promise<CentralNodeEntry | undefined> {
  const el = arg as FleetElement | undefined;
  if (el && el.kind === 'cn') return el.entry;
  const choices = fleet.entries.filter(only);
  if (!choices.length) {
    void vscode.window.showInformationMessage(vscode.l10n.t('No saved Central Node to choose from: add one first.'));
    return undefined;
  }
  const picked = await vscode.window.showQuickPick(
    choices.map((e) => ({ label: visibleText(e.name), description: cnLabel(e), entry: e })),
    { placeHolder },
  );
  return picked?.entry;
}

/** Writes kds.centralNodes at the User level (a workspace never holds it). */
async function saveList(raw: unknown[]): Promise<void> {
  await vscode.workspace.getConfiguration('kds').update('centralNodes', raw, vscode.ConfigurationTarget.Global);
}

/** Where the entry is in the list as written: by its name and user@host:port. */
function rawIndexOf(raw: unknown[], e: CentralNodeEntry): number {
  return raw.findIndex((r) => {
    const p = parseEntry(r);
    return !('problem' in p) && p.name === e.name && cnId(p) === cnId(e);
  });
}

function uniqueNameProblem(fleet: FleetView, name: string, except?: CentralNodeEntry): string | undefined {
  const p = nameProblem(name);
  if (p) return p;
  const taken = fleet.entries.some((e) => e !== except && fleet.isSaved(e) && e.name.toLowerCase() === name.trim().toLowerCase());
  return taken ? vscode.l10n.t('Another saved Central Node is called "{0}".', name.trim()) : undefined;
}

/**
 * Add Central Node…: user@host[:port], a name, how to sign in (agent, a key file, a password asked
 * when connecting); then one connection checks the host key with the usual modal and the
 * credentials, before the entry is saved to kds.centralNodes (User settings).
 */
async function addCentralNode(s: CommandHost, fleet: FleetView): Promise<void> {
  const title = vscode.l10n.t('Add Central Node');
  const where = await vscode.window.showInputBox({
    title,
    prompt: vscode.l10n.t('The Central Node as user@host or user@host:port (SSH)'),
    placeHolder: 'admin@kata-cn.example:22',
    ignoreFocusOut: true,
    validateInput: (v) => (parseUserHost(v) ? undefined : vscode.l10n.t('Write user@host or user@host:port')),
  });
  if (!where) return;
  const uh = parseUserHost(where)!;
  const user = uh.user ?? localUserName();
  const port = uh.port ?? 22;
  if (fleet.entries.some((e) => cnId(e) === `${user}@${uh.host}:${port}` && fleet.isSaved(e))) {
    throw new Error(vscode.l10n.t('{0} is saved already.', `${user}@${uh.host}:${port}`));
  }
  const name = await vscode.window.showInputBox({
    title,
    prompt: vscode.l10n.t('A name for it in the Central Nodes view'),
    value: uh.host,
    ignoreFocusOut: true,
    validateInput: (v) => uniqueNameProblem(fleet, v),
  });
  if (name === undefined) return;
  const agent = process.env.SSH_AUTH_SOCK;
  const how = await vscode.window.showQuickPick(
    [
      { label: '$(key) ' + vscode.l10n.t('A private key file…'), detail: vscode.l10n.t('Its passphrase, if any, is asked when connecting and kept only if you agree'), id: 'key' as const },
      { label: '$(shield) ' + vscode.l10n.t('The SSH agent'), detail: agent ? vscode.l10n.t('SSH_AUTH_SOCK is {0}', agent) : vscode.l10n.t('SSH_AUTH_SOCK is not set here; on Windows the OpenSSH agent or Pageant is looked for'), id: 'agent' as const },
      { label: '$(lock) ' + vscode.l10n.t('A password'), detail: vscode.l10n.t('Asked when connecting; kept in VS Code\'s secret storage only if you agree'), id: 'password' as const },
    ],
    { title, placeHolder: vscode.l10n.t('How KDS signs in to {0}', `${user}@${uh.host}`), ignoreFocusOut: true },
  );
  if (!how) return;
  let identityFile: string | undefined;
  if (how.id === 'key') {
    const files = await vscode.window.showOpenDialog({ title: vscode.l10n.t('The private key for {0}', `${user}@${uh.host}`), canSelectFiles: true, canSelectMany: false, defaultUri: vscode.Uri.file(`${homedir()}/.ssh`), openLabel: vscode.l10n.t('Use This Key') });
    if (!files?.length) return;
    identityFile = files[0]!.fsPath;
  }
  const parsed = parseEntry({ name: name.trim(), host: uh.host, port, user, ...(identityFile && { identityFile }), useAgent: how.id === 'agent' });
  if ('problem' in parsed) throw new Error(parsed.problem);
  const entry = parsed;
  const label = cnLabel(entry);
  const logger = new KdsLogger({ level: configuredLogLevel(), sinks: [(r) => writeToChannel(s.log, r, label)] });
  const conn = new CnConnection(s.context, cnSettingsFromEntry(entry), logger, s.log);
  try {
    await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: vscode.l10n.t('Connecting to {0} to check its host key…', label), cancellable: true }, (_p, token) => conn.verify(token));
  } catch (err) {
    if (err instanceof vscode.CancellationError) return;
    const save = vscode.l10n.t('Save Anyway');
    const answer = await vscode.window.showWarningMessage(vscode.l10n.t('KDS could not connect to {0}.', label), { modal: true, detail: (err as Error).message + '\n\n' + vscode.l10n.t('Save it anyway? The Central Nodes view will say what is wrong until it answers.') }, save);
    if (answer !== save) return;
  }
  await saveList([...fleet.savedRaw(), entryToSetting(entry)]);
  fleet.reload();
  void vscode.window.setStatusBarMessage(vscode.l10n.t('KDS: {0} saved as "{1}"', label, visibleText(entry.name)), 5000);
}

async function removeCentralNode(s: CommandHost, fleet: FleetView, rc: CentralNodeController, arg: unknown): Promise<void> {
  const el = arg as FleetElement | undefined;
  const raw = fleet.savedRaw();
  if (el?.kind === 'invalid') {
    raw.splice(el.invalid.index, 1);
    await saveList(raw);
    return;
  }
  const e = await entryArgument(fleet, arg, vscode.l10n.t('Central Node to remove'), (x) => fleet.isSaved(x));
  if (!e) return;
  if (!fleet.isSaved(e)) throw new Error(vscode.l10n.t('{0} comes from the kds.remote settings: clear kds.remote.host to remove it.', visibleText(e.name)));
  const remove = vscode.l10n.t('Remove');
  const answer = await vscode.window.showWarningMessage(
    vscode.l10n.t('Remove "{0}" ({1}) from the saved Central Nodes?', visibleText(e.name), cnLabel(e)),
    { modal: true, detail: vscode.l10n.t('Its stored password is forgotten. Nothing changes on the Central Node.') },
    remove,
  );
  if (answer !== remove) return;
  const i = rawIndexOf(raw, e);
  if (i < 0) return;
  raw.splice(i, 1);
  if (rc.activeId === cnId(e)) await rc.disconnect();
  await saveList(raw);
  await s.context.secrets.delete(secretKey.password(e));
  // A passphrase is the key file's: kept while another Central Node uses the same file.
  if (e.identityFile && !fleet.entries.some((x) => x !== e && x.identityFile === e.identityFile)) await s.context.secrets.delete(secretKey.passphrase(e.identityFile));
  fleet.reload();
}

async function renameCentralNode(fleet: FleetView, arg: unknown): Promise<void> {
  const e = await entryArgument(fleet, arg, vscode.l10n.t('Central Node to rename'), (x) => fleet.isSaved(x));
  if (!e) return;
  if (!fleet.isSaved(e)) throw new Error(vscode.l10n.t('{0} comes from the kds.remote settings: add it as a saved Central Node to name it.', visibleText(e.name)));
  const name = await vscode.window.showInputBox({
    title: vscode.l10n.t('Rename Central Node'),
    prompt: vscode.l10n.t('The new name of {0}', cnLabel(e)),
    value: e.name,
    ignoreFocusOut: true,
    validateInput: (v) => (v.trim() === e.name ? undefined : uniqueNameProblem(fleet, v, e)),
  });
  if (name === undefined || name.trim() === e.name) return;
  const raw = fleet.savedRaw();
  const i = rawIndexOf(raw, e);
  if (i < 0) return;
  raw[i] = { ...(raw[i] as Record<string, unknown>), name: name.trim() };
  await saveList(raw);
  fleet.reload();
}

export function registerFleetCommands(s: CommandHost, fleet: FleetView, rc: CentralNodeController): void {
  registerCommand(s, 'kds.centralNodes.add', () => addCentralNode(s, fleet));
  registerCommand(s, 'kds.centralNodes.remove', (arg?: unknown) => removeCentralNode(s, fleet, rc, arg));
  registerCommand(s, 'kds.centralNodes.rename', (arg?: unknown) => renameCentralNode(fleet, arg));
  registerCommand(s, 'kds.centralNodes.refresh', () => fleet.monitor.refresh());
  registerCommand(s, 'kds.centralNodes.openSettings', () => vscode.commands.executeCommand('workbench.action.openSettingsJson', { revealSetting: { key: 'kds.centralNodes' } }));
  registerCommand(s, 'kds.centralNodes.connect', async (arg?: unknown) => {
    const e = await entryArgument(fleet, arg, vscode.l10n.t('Central Node to connect to'));
    if (e) await rc.connect(e);
  });
  registerCommand(s, 'kds.centralNodes.disconnect', () => rc.disconnect());
  registerCommand(s, 'kds.centralNodes.setUp', async (arg?: unknown) => {
    const e = await entryArgument(fleet, arg, vscode.l10n.t('Central Node to set up'));
    if (!e) return;
    if (rc.activeId !== cnId(e)) await rc.connect(e);
    // Connecting failed or was cancelled: nothing to set up.
    if (rc.activeId !== cnId(e)) return;
    await setupCentralNode(s, rc);
  });
}
