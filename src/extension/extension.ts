import { existsSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import * as vscode from 'vscode';
import { initL10n, tn } from '../common/l10n';
import type { FolderKind } from '../viewModel/contracts';
import { registerExcludeCommands } from './commands/excludeCommands';
import { registerItemCommands } from './commands/itemCommands';
import { registerQuarantineCommands } from './commands/quarantineCommands';
import { registerScanningCommands, startScanning } from './commands/scanningCommands';
import { registerSetupCommands } from './commands/setupCommands';
import { registerSupportCommands } from './commands/supportCommands';
import { FolderModels } from './folderModels';
import { FolderTreeProvider } from './folderTreeProvider';
import { ItemDecorations } from './itemDecorations';
import { LocalEngine, configuredLogLevel } from './localEngine';
import { registerConfigEditorPanel } from './panels/configEditorPanel';
import { registerIcapLogPanel } from './panels/icapLogPanel';
import { registerIcapProbePanel } from './panels/icapProbePanel';
import { registerIcapTrafficPanel } from './panels/icapTrafficPanel';
import { registerCaptureCommands } from './commands/captureCommands';
import { VerdictsService, registerVerdictsPanel } from './panels/verdictsPanel';
import { type KdsServices } from './services';
import { registerCommand, showError } from './commandHost';
import { KdsStatusBar } from './statusBar';
import { approvalHint, elsewhereText } from '../viewModel/statusSummary';
import { formatSince } from './statusBar';
import type { ConfigBanner } from '../viewModel/configFollow';
import { capMessage } from '../viewModel/viewCap';
import { ActiveEngine } from './centralNode/activeEngine';
import { registerCentralNode } from './centralNode/remoteCommands';
import { registerEmbeddedIcapMode } from './embeddedIcapMode';
import { registerDocsCommand } from './docsCommand';

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
    const status = engine.status;
    void vscode.commands.executeCommand('setContext', 'kds.configsFound', active.mode === 'local' && status.kind === 'none' && !!status.found?.length);
    void vscode.commands.executeCommand('setContext', 'kds.running', active.running);
    void vscode.commands.executeCommand('setContext', 'kds.elsewhere', active.mode === 'local' && !!engine.elsewhere);
    const count = models.items('qrnt').length;
    // The walkthrough ticks its steps on these (what succeeded), not on a command being started.
    const snap = active.snapshot();
    void vscode.commands.executeCommand('setContext', 'kds.approval', snap.approval);
    void vscode.commands.executeCommand('setContext', 'kds.inQuarantine', count > 0);
    const certPem = engine.viewConfig?.cert_pem;
    void vscode.commands.executeCommand('setContext', 'kds.hasClientCertificate', !!certPem && existsSync(certPem));
    views.qrnt.badge = count > 0 ? { value: count, tooltip: tn(count, '{0} file in quarantine', '{0} files in quarantine') } : undefined;
    refreshInputMessage();
  };
  // A tree view's message hides its welcome content, and the welcome content for these states
  // carries the buttons (Start Scanning, Manage Workspace Trust): show the message only above rows.
  const refreshInputMessage = () => {
    const snap = active.snapshot();
    // A configuration the views do not show as it is (invalid, not applied yet) is said above each view.
    const banner = active.mode === 'remote' ? undefined : configBannerText(engine.banner);
    // Another process scans this configuration: every view says so (its files are shown as it reports them).
    const other = active.mode === 'remote' ? undefined : engine.elsewhere;
    const elsewhere = other ? elsewhereText({ pid: other.pid, since: formatSince(other.since) }) : undefined;
    const withElsewhere = (cap: string | undefined) => (elsewhere ? [elsewhere, cap].filter(Boolean).join(' ') : cap);
    views.out.message = banner ?? withElsewhere(capMessage(models.items('out').length));
    views.qrnt.message = banner ?? withElsewhere(capMessage(models.items('qrnt').length));
    views.in.message = banner
      ? banner
      : elsewhere
        ? withElsewhere(engine.elsewhereHasStream ? inputCapMessage(models) : vscode.l10n.t('It writes no event stream here, so the states of the files in input are not shown.'))
      : models.items('in').length === 0
        ? inputCapMessage(models)
        : (snap.approval === 'pending' || snap.approval === 'rejected') && snap.identity
          ? approvalHint(snap.identity, { wrap: true })
          : !vscode.workspace.isTrusted
          ? vscode.l10n.t('Scanning is off: this workspace is not trusted.')
          : active.configState === 'ok' && !active.running
            ? active.mode === 'remote'
              ? vscode.l10n.t('The KDS service on {0} is not running.', active.remoteLabel ?? '')
              : vscode.l10n.t('Scanning is stopped.')
            : inputCapMessage(models);
  };
  context.subscriptions.push(
    active.onDidChangeState(refreshChrome),
    models.onDidChange((f) => {
      if (f === 'qrnt') refreshChrome();
      else refreshInputMessage();
    }),
    new KdsStatusBar(engine, models, active, () => {
      const icap = services.demo.current?.emulator.icap;
      return icap ? { url: icap.url, mode: icap.mode() } : undefined;
    }),
  );
  services.centralNode = registerCentralNode(services, active);

  registerScanningCommands(services);
  registerQuarantineCommands(services);
  registerExcludeCommands(services);
  registerSetupCommands(services);
  registerItemCommands(services);
  registerDocsCommand(services);

  const verdicts = new VerdictsService(active, models);
  context.subscriptions.push(verdicts);
  const verdictsPanel = registerVerdictsPanel(context, log, verdicts);
  registerCommand(services, 'kds.openVerdicts', () => verdictsPanel.open());
  const icapLogPanel = registerIcapLogPanel(context, log, () => services.demo.current?.emulator.icap?.logPath);
  registerCommand(services, 'kds.viewIcapLog', (arg?: unknown) => icapLogPanel.show(arg));
  const icapProbe = registerIcapProbePanel(services);
  registerCommand(services, 'kds.probeIcap', (url?: unknown) => icapProbe.probe(typeof url === 'string' ? url : undefined));
  registerCaptureCommands(services, registerIcapTrafficPanel(context, log));
  const icapMode = registerEmbeddedIcapMode(services);
  context.subscriptions.push(active.onDidChangeState(() => void icapMode.refresh()));
  registerSupportCommands(services, icapLogPanel);
  const configEditor = registerConfigEditorPanel(services);
  // In Central Node mode the configuration is the CN's: its file, validated by the engine's parser on save.
  registerCommand(services, 'kds.editConfiguration', () => (active.centralNode ? vscode.commands.executeCommand('kds.remote.openConfiguration') : configEditor.open()));

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
  // A configuration made elsewhere in the workspace (npm start in a terminal) is offered without a reload of the window.
  const discovery = vscode.workspace.createFileSystemWatcher('**/kata_dir_scanner.conf', false, true, false);
  const rediscover = () => {
    if (engine.status.kind === 'none') void engine.reload();
  };
  context.subscriptions.push(discovery, discovery.onDidCreate(rediscover), discovery.onDidDelete(rediscover));

  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('kds.logLevel')) engine.setLogLevel(configuredLogLevel());
      if (e.affectsConfiguration('kds.configPath')) {
        watchConfig();
        // While scanning, the views stay with the running engine and a restart is offered.
        void reloadAndOfferRestart(services);
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
    await services.centralNode?.disconnect(true).catch(() => undefined);
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
  // Another process scans this configuration: the views follow it; starting is the person's choice.
  const other = await s.engine.checkElsewhere();
  if (other) {
    s.log.info(`[autoStart] not started: pid ${other.pid} scans this configuration (${other.command ?? other.kind})`);
    return;
  }
  try {
    await startScanning(s);
  } catch (err) {
    await showError(s, err);
  }
}

/** A restart prompt still waiting for an answer: a newer change does not stack a second one. */
let restartPrompt: Thenable<unknown> | undefined;

async function reloadAndOfferRestart(s: KdsServices): Promise<void> {
  const { status, decision } = await s.engine.reloadAndDecide();
  if (!s.engine.running) return;
  if (decision.warnInvalid && status.kind === 'invalid') {
    void vscode.window.showWarningMessage(vscode.l10n.t('The KDS configuration has errors; scanning continues with the settings it started with. {0}', status.error));
    return;
  }
  if (!decision.offerRestart || restartPrompt) return;
  const restart = vscode.l10n.t('Restart Scanning');
  const prompt = vscode.window.showInformationMessage(
    vscode.l10n.t('The KDS configuration changed. Restart scanning to apply it? Until then, scanning and the views keep the settings it started with.'),
    restart,
  );
  restartPrompt = prompt;
  const answer = await prompt;
  restartPrompt = undefined;
  if (answer !== restart) return;
  await s.engine.stop();
  await startScanning(s).catch((err) => showError(s, err));
}

function inputCapMessage(models: FolderModels): string | undefined {
  return capMessage(models.items('in').length);
}

/** The banner above the views for a configuration they do not show as it is (see ConfigFollower). */
function configBannerText(banner: ConfigBanner | undefined): string | undefined {
  if (!banner) return undefined;
  switch (banner.kind) {
    case 'invalid':
      return banner.showing === 'running'
        ? vscode.l10n.t('{0} — scanning continues with the settings it started with; the views show its folders.', banner.error)
        : banner.showing === 'last-valid'
          ? vscode.l10n.t('{0} — the views show the folders of the last valid configuration.', banner.error)
          : banner.error;
    case 'restart-pending':
      return vscode.l10n.t('The configuration changed: restart scanning to apply it. Until then the views show the folders scanning uses ({0}).', banner.path);
    case 'missing':
      return vscode.l10n.t('kds.configPath names {0}, which does not exist; scanning continues with {1}.', banner.path ?? '', banner.runningPath);
  }
}
