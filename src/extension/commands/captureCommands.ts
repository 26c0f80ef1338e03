import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { analyzeCaptureFile, defaultIcapPort } from '../../capture/analyzeCapture';
import type { CaptureHost } from '../../capture/captureHost';
import { LocalCaptureHost } from '../../capture/localCaptureHost';
import { SshCaptureHost } from '../../capture/sshCaptureHost';
import { CaptureError, runCapture } from '../../capture/tcpdumpRunner';
import type { IcapTrafficPanel } from '../panels/icapTrafficPanel';
import { type KdsServices } from '../services';
import { registerCommand } from '../commandHost';
import { CaptureClock } from '../../viewModel/captureClock';
import { tn } from '../../common/l10n';

/** The capture being run, so the status bar's item (and kds.stopCapture / kds.extendCapture) can end or extend it. */
let running: { controller: AbortController; clock: CaptureClock; update(): void } | undefined;

/** How long to capture: the setting's duration first, then longer ones, then no limit. */
async function chooseDuration(settingS: number, maxMb: number): Promise<number | undefined> {
  const minutes = (s: number) => (s % 60 === 0 ? tMinutes(s / 60) : vscode.l10n.t('{0} s', s));
  const choices = [settingS, 60, 300, 900].filter((v, i, all) => v > 0 && all.indexOf(v) === i);
  const items = [
    ...choices.map((d) => ({ label: minutes(d), description: d === settingS ? vscode.l10n.t('kds.capture.durationSeconds') : '', seconds: d })),
    {
      label: vscode.l10n.t('Until I stop it'),
      description: maxMb ? vscode.l10n.t('stops at {0} MB in any case', maxMb) : '',
      seconds: 0,
    },
  ];
  if (!settingS) items.unshift(items.pop()!);
  const picked = await vscode.window.showQuickPick(items, {
    title: vscode.l10n.t('Capture ICAP traffic for how long?'),
    placeHolder: vscode.l10n.t('You can extend or stop it at any time from the status bar'),
  });
  return picked?.seconds;
}

function tMinutes(n: number): string {
  return tn(n, '{0} minute', '{0} minutes');
}

/** Stop now, or more time: what the status bar item and KDS: Extend ICAP Capture offer. */
async function captureActions(): Promise<void> {
  const r = running;
  if (!r) {
    void vscode.window.showInformationMessage(vscode.l10n.t('No ICAP capture is running.'));
    return;
  }
  const items = [
    { label: '$(debug-stop) ' + vscode.l10n.t('Stop and Analyze'), id: 'stop', seconds: 0 },
    { label: '$(add) ' + vscode.l10n.t('1 more minute'), id: 'extend', seconds: 60 },
    { label: '$(add) ' + vscode.l10n.t('5 more minutes'), id: 'extend', seconds: 300 },
    { label: '$(add) ' + vscode.l10n.t('15 more minutes'), id: 'extend', seconds: 900 },
    { label: '$(circle-large-outline) ' + vscode.l10n.t('No time limit (until I stop it)'), id: 'unlimited', seconds: 0 },
  ];
  const picked = await vscode.window.showQuickPick(items, { title: vscode.l10n.t('ICAP capture: {0}', r.clock.label(Date.now())) });
  if (!picked || running !== r) return;
  if (picked.id === 'stop') r.controller.abort();
  else if (picked.id === 'unlimited') r.clock.unlimited();
  else r.clock.extend(picked.seconds, Date.now());
  r.update();
}

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
  const stopItem = vscode.window.createStatusBarItem('kds.capture', vscode.StatusBarAlignment.Left, 50);
  stopItem.name = vscode.l10n.t('KDS ICAP capture');
  stopItem.command = 'kds.extendCapture';
  s.context.subscriptions.push(stopItem);

  registerCommand(s, 'kds.stopCapture', () => running?.controller.abort());
  registerCommand(s, 'kds.extendCapture', () => captureActions());

  registerCommand(s, 'kds.captureIcapTraffic', async () => {
    if (running) {
      void vscode.window.showInformationMessage(vscode.l10n.t('A capture is already running: stop it first.'));
      return;
    }
    const where = await chooseHost(s);
    if (!where) return;
    const o = settings();
    const durationS = await chooseDuration(o.durationS, o.maxMb);
    if (durationS === undefined) return;
    const dir = join(s.context.globalStorageUri.fsPath, 'captures');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const out = join(dir, `icap-capture-${new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)}.pcap`);
    const controller = new AbortController();
    const clock = new CaptureClock(Date.now(), durationS);
    // tcpdump runs without a time limit of its own: the clock (extended or lifted at any time) stops it.
    let last: { packets: number | null; bytes: number } | undefined;
    let report: ((message: string) => void) | undefined;
    const update = () => {
      const now = Date.now();
      if (clock.expired(now) && !controller.signal.aborted) controller.abort();
      const left = clock.label(now);
      stopItem.text = `$(debug-stop) ${vscode.l10n.t('ICAP capture · {0}', left)}`;
      stopItem.tooltip = vscode.l10n.t('Capturing ICAP traffic (port {0}) on {1}: {2}. Click to stop it (and analyze) or to extend it.', o.port, where.origin, left);
      if (!report) return;
      // Short: the status bar shows this when the notification is hidden.
      if (!last) report(vscode.l10n.t('listening · {0}', left));
      else if (last.packets === null) report(vscode.l10n.t('{0} KB · {1}', Math.round(last.bytes / 1024), left));
      else report(vscode.l10n.t('{0} packet(s) · {1} KB · {2}', last.packets, Math.round(last.bytes / 1024), left));
    };
    running = { controller, clock, update };
    const tick = setInterval(update, 1000);
    void vscode.commands.executeCommand('setContext', 'kds.capturing', true);
    update();
    stopItem.show();
    try {
      const result = await vscode.window.withProgress(
        {
          location: vscode.ProgressLocation.Notification,
          title: vscode.l10n.t('Capturing ICAP traffic on {0} (port {1}, {2}; Cancel stops and analyzes)', where.origin, o.port, o.iface === 'any' ? vscode.l10n.t('all interfaces') : o.iface),
          cancellable: true,
        },
        (progress, token) => {
          token.onCancellationRequested(() => controller.abort());
          report = (message) => progress.report({ message });
          update();
          return runCapture(
            where.host,
            { iface: o.iface, port: o.port, maxMb: o.maxMb || undefined, out, signal: controller.signal },
            {
              listening: () => update(),
              progress: (p) => {
                last = { packets: p.packets, bytes: p.bytes };
                update();
              },
            },
          );
        },
      );
      s.log.info(`[capture] ${result.host}: ${result.packets} packets, ${result.bytes} bytes, ${result.stoppedBy}; ${result.command.join(' ')}`);
      const analysis = await analyzeCaptureFile(result.file, { port: o.port });
      panel.show({ analysis, pcap: result.file, origin: where.origin });
    } catch (e) {
      if (e instanceof CaptureError) throw new Error(e.message);
      throw e;
    } finally {
      clearInterval(tick);
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
        return analyzeCaptureFile(file, {
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
