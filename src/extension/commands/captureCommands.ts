import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { defaultIcapPort } from '../../capture/analyzeCapture';
import { analyzeCaptureIsolated } from '../../capture/isolatedAnalysis';
import type { CaptureHost } from '../../capture/captureHost';
import { LocalCaptureHost } from '../../capture/localCaptureHost';
import { SshCaptureHost } from '../../capture/sshCaptureHost';
import { CaptureError, runCapture } from '../../capture/tcpdumpRunner';
import type { IcapTrafficPanel } from '../panels/icapTrafficPanel';
import { type KdsServices } from '../services';
import { registerCommand } from '../commandHost';

/** The capture being run, so the status bar's Stop (and kds.stopCapture) can end it. */
let running: AbortController | undefined;

function settings() {
  const c = vscode.workspace.getConfiguration('kds.capture');
  return {
    iface: c.get<string>('interface', 'any') || 'any',
    port: c.get<number>('port', defaultIcapPort),
    durationS: c.get<number>('durationSeconds', 60),
    maxMb: c.get<number>('maxMegabytes', 100),
  };
}

async function chooseHost(s: KdsServices): Promise<{ host: CaptureHost; origin: string } | undefined> {
  const conn = s.centralNode?.connection?.workspace ? s.centralNode.connection : undefined;
  if (!conn) return { host: new LocalCaptureHost(), origin: vscode.l10n.t('this computer') };
  const local = { label: vscode.l10n.t('This computer'), description: vscode.l10n.t('tcpdump here (needs root)') };
  const cn = { label: vscode.l10n.t('Central Node {0}', conn.label), description: vscode.l10n.t('tcpdump on the CN over SSH (sudo)') };
  const pick = await vscode.window.showQuickPick([cn, local], { title: vscode.l10n.t('Capture ICAP traffic where?') });
  if (!pick) return undefined;
  if (pick === local) return { host: new LocalCaptureHost(), origin: vscode.l10n.t('this computer') };
  const session = await conn.rs.whenConnected();
  return { host: new SshCaptureHost(session, conn.needsSudo() ? conn.sudoOption() : false), origin: conn.label };
}

export function registerCaptureCommands(s: KdsServices, panel: IcapTrafficPanel): void {
  const stopItem = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 50);
  stopItem.text = `$(debug-stop) ${vscode.l10n.t('Stop ICAP capture')}`;
  stopItem.command = 'kds.stopCapture';
  s.context.subscriptions.push(stopItem);

  registerCommand(s, 'kds.stopCapture', () => running?.abort());

  registerCommand(s, 'kds.captureIcapTraffic', async () => {
    if (running) {
      void vscode.window.showInformationMessage(vscode.l10n.t('A capture is already running: stop it first.'));
      return;
    }
    const where = await chooseHost(s);
    if (!where) return;
    const o = settings();
    const dir = join(s.context.globalStorageUri.fsPath, 'captures');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const out = join(dir, `icap-capture-${new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)}.pcap`);
    const controller = new AbortController();
    running = controller;
    void vscode.commands.executeCommand('setContext', 'kds.capturing', true);
    stopItem.show();
    try {
      const result = await vscode.window.withProgress(
        {
          location: vscode.ProgressLocation.Notification,
          title: vscode.l10n.t('Capturing ICAP traffic (port {0}, {1}) on {2}', o.port, o.iface, where.origin),
          cancellable: true,
        },
        (progress, token) => {
          token.onCancellationRequested(() => controller.abort());
          return runCapture(
            where.host,
            { iface: o.iface, port: o.port, durationS: o.durationS || undefined, maxMb: o.maxMb || undefined, out, signal: controller.signal },
            {
              listening: () => progress.report({ message: vscode.l10n.t('listening — Cancel stops and analyzes') }),
              progress: (p) =>
                progress.report({
                  message:
                    p.packets === null
                      ? vscode.l10n.t('{0} KB, {1} s — Cancel stops and analyzes', Math.round(p.bytes / 1024), Math.round(p.elapsedMs / 1000))
                      : vscode.l10n.t('{0} packet(s), {1} KB, {2} s — Cancel stops and analyzes', p.packets, Math.round(p.bytes / 1024), Math.round(p.elapsedMs / 1000)),
                }),
            },
          );
        },
      );
      s.log.info(`[capture] ${result.host}: ${result.packets} packets, ${result.bytes} bytes, ${result.stoppedBy}; ${result.command.join(' ')}`);
      const analysis = await analyzeCaptureIsolated(result.file, { port: o.port });
      panel.show({ analysis, pcap: result.file, origin: where.origin });
    } catch (e) {
      if (e instanceof CaptureError) throw new Error(e.message);
      throw e;
    } finally {
      running = undefined;
      stopItem.hide();
      void vscode.commands.executeCommand('setContext', 'kds.capturing', false);
    }
  });

  registerCommand(s, 'kds.analyzeCaptureFile', async (arg?: unknown) => {
    let path = arg instanceof vscode.Uri && arg.scheme === 'file' ? arg.fsPath : undefined;
    if (!path) {
      const picked = await vscode.window.showOpenDialog({
        canSelectMany: false,
        title: vscode.l10n.t('Analyze a capture file'),
        openLabel: vscode.l10n.t('Analyze'),
        filters: { [vscode.l10n.t('Packet captures')]: ['pcap', 'pcapng', 'cap', 'dmp'], [vscode.l10n.t('All files')]: ['*'] },
      });
      path = picked?.[0]?.fsPath;
    }
    if (!path) return;
    const file = path;
    const analysis = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: vscode.l10n.t('Analyzing {0}', file), cancellable: true },
      (progress, token) => {
        const controller = new AbortController();
        token.onCancellationRequested(() => controller.abort());
        let last = 0;
        // In a child process with its own memory limit: no capture can exhaust the extension host.
        return analyzeCaptureIsolated(file, {
          signal: controller.signal,
          onProgress: (done, total) => {
            const pct = total ? Math.floor((done / total) * 100) : 100;
            progress.report({ increment: pct - last, message: `${pct}%` });
            last = pct;
          },
        });
      },
    );
    panel.show({ analysis, pcap: file, origin: file });
  });
}
