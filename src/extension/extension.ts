import { basename, dirname } from 'node:path';
import * as vscode from 'vscode';
import { initL10n } from '../common/l10n';
import type { FolderKind } from '../viewModel/contracts';
import { registerExcludeCommands } from './commands/excludeCommands';
import { registerItemCommands } from './commands/itemCommands';
import { registerQuarantineCommands } from './commands/quarantineCommands';
import { registerScanningCommands, startScanning } from './commands/scanningCommands';
import { registerSetupCommands } from './commands/setupCommands';
import { FolderModels } from './folderModels';
import { FolderTreeProvider } from './folderTreeProvider';
import { ItemDecorations } from './itemDecorations';
import { LocalEngine, configuredLogLevel } from './localEngine';
import { registerConfigEditorPanel } from './panels/configEditorPanel';
import { registerIcapLogPanel } from './panels/icapLogPanel';
import { registerIcapProbePanel } from './panels/icapProbePanel';
import { VerdictsService, registerVerdictsPanel } from './panels/verdictsPanel';
import { type KdsServices, registerCommand, showError } from './services';
import { KdsStatusBar } from './statusBar';
import { approvalHint } from '../viewModel/statusSummary';
import { ActiveEngine } from './centralNode/activeEngine';
import { registerRemote } from './centralNode/remoteCommands';

/** Set by activate() so deactivate() can let the engine finish its journal; nothing else is module state. */
let shutdown: (() => Promise<void>) | undefined;

/**
 * Builds everything once, synchronously, and pushes it to context.subscriptions; the
 * configuration is loaded afterwards, so activation never waits on the disk or the network.
 */
export function activate(context: vscode.ExtensionContext): void {
  initL10n(vscode.env.language);
  const log = vscode.window.createOutputChannel('KDS', { log: true });
  const engine = new LocalEngine(log);
  // Local mode unless a Central Node is connected: views, status bar and commands follow `active`.
  const active = new ActiveEngine(engine);
  const models = new FolderModels(engine, active);
  const services: KdsServices = { context, engine, models, log, demo: {}, active };
  context.subscriptions.push(log, engine, active, models, new ItemDecorations());

  const views = {} as Record<FolderKind, vscode.TreeView<unknown>>;
  for (const [folder, id] of [['in', 'kds.input'], ['out', 'kds.output'], ['qrnt', 'kds.quarantine']] as const) {
    const provider = new FolderTreeProvider(folder, models);
    const view = vscode.window.createTreeView(id, { treeDataProvider: provider, canSelectMany: true, showCollapseAll: false });
    views[folder] = view as vscode.TreeView<unknown>;
    context.subscriptions.push(provider, view);
  }

  const refreshChrome = () => {
    void vscode.commands.executeCommand('setContext', 'kds.configState', active.configState);
    void vscode.commands.executeCommand('setContext', 'kds.running', active.running);
    const count = models.items('qrnt').length;
    views.qrnt.badge = count > 0 ? { value: count, tooltip: vscode.l10n.t('{0} file(s) in quarantine', count) } : undefined;
    refreshInputMessage();
  };
  // A tree view's message hides its welcome content, and the welcome content for these states
  // carries the buttons (Start Scanning, Manage Workspace Trust): show the message only above rows.
  const refreshInputMessage = () => {
    const status = engine.status;
    const snap = active.snapshot();
    views.in.message =
      models.items('in').length === 0
        ? undefined
        : (snap.approval === 'pending' || snap.approval === 'rejected') && snap.identity
          ? approvalHint(snap.identity, { wrap: true })
          : !vscode.workspace.isTrusted
          ? vscode.l10n.t('Scanning is off: this workspace is not trusted.')
          : status.kind === 'ok' && !engine.running
            ? vscode.l10n.t('Scanning is stopped.')
            : undefined;
  };
  context.subscriptions.push(
    active.onDidChangeState(refreshChrome),
    models.onDidChange((f) => {
      if (f === 'qrnt') refreshChrome();
      else if (f === 'in') refreshInputMessage();
    }),
    new KdsStatusBar(engine, models, active, () => {
      const icap = services.demo.current?.emulator.icap;
      return icap ? { url: icap.url, mode: icap.mode() } : undefined;
    }),
  );
  services.remote = registerRemote(services, active);

  registerScanningCommands(services);
  registerQuarantineCommands(services);
  registerExcludeCommands(services);
  registerSetupCommands(services);
  registerItemCommands(services);

  const verdicts = new VerdictsService(engine, models);
  context.subscriptions.push(verdicts);
  const verdictsPanel = registerVerdictsPanel(context, log, verdicts);
  registerCommand(services, 'kds.openVerdicts', () => verdictsPanel.open());
  const icapLogPanel = registerIcapLogPanel(context, log, () => services.demo.current?.emulator.icap?.logPath);
  registerCommand(services, 'kds.viewIcapLog', (arg?: unknown) => icapLogPanel.show(arg));
  const icapProbe = registerIcapProbePanel(services);
  registerCommand(services, 'kds.probeIcap', (url?: unknown) => icapProbe.probe(typeof url === 'string' ? url : undefined));
  const configEditor = registerConfigEditorPanel(services);
  registerCommand(services, 'kds.editConfiguration', () => configEditor.open());

  // The configuration file: reload when it changes on disk or kds.configPath points elsewhere.
  let watcher: vscode.FileSystemWatcher | undefined;
  const watchConfig = () => {
    watcher?.dispose();
    const path = engine.configPath();
    if (!path) return;
    watcher = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(vscode.Uri.file(dirname(path)), basename(path)));
    const changed = () => void reloadAndOfferRestart(services);
    watcher.onDidCreate(changed);
    watcher.onDidChange(changed);
    watcher.onDidDelete(changed);
  };
  context.subscriptions.push({ dispose: () => watcher?.dispose() });
  watchConfig();

  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('kds.logLevel')) engine.setLogLevel(configuredLogLevel());
      if (e.affectsConfiguration('kds.configPath')) {
        watchConfig();
        void engine.reload();
      }
    }),
    vscode.workspace.onDidChangeWorkspaceFolders(() => {
      watchConfig();
      void engine.reload();
    }),
    vscode.workspace.onDidGrantWorkspaceTrust(() => {
      refreshChrome();
      void autoStart(services);
    }),
  );

  shutdown = async () => {
    await services.remote?.disconnect(true).catch(() => undefined);
    await engine.stop();
  };
  refreshChrome();
  void engine.reload().then(() => autoStart(services));
}

export async function deactivate(): Promise<void> {
  await shutdown?.();
  shutdown = undefined;
}

async function autoStart(s: KdsServices): Promise<void> {
  if (!vscode.workspace.getConfiguration('kds').get<boolean>('autoStart')) return;
  if (!vscode.workspace.isTrusted || s.engine.status.kind !== 'ok' || s.engine.running) return;
  try {
    await startScanning(s);
  } catch (err) {
    await showError(s, err);
  }
}

async function reloadAndOfferRestart(s: KdsServices): Promise<void> {
  const status = await s.engine.reload();
  if (!s.engine.running) return;
  if (status.kind !== 'ok') {
    void vscode.window.showWarningMessage(vscode.l10n.t('The KDS configuration changed and has errors; scanning continues with the previous settings.'));
    return;
  }
  const restart = vscode.l10n.t('Restart Scanning');
  if ((await vscode.window.showInformationMessage(vscode.l10n.t('The KDS configuration changed. Restart scanning to apply it?'), restart)) === restart) {
    await s.engine.stop();
    await startScanning(s).catch((err) => showError(s, err));
  }
}
