import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import * as vscode from 'vscode';
import type { CaptureAnalysis } from '../../capture/analyzeCapture';
import { trafficView } from './trafficView';
import {
  type IcapTrafficMessage,
  type IcapTrafficRequest,
  type IcapTrafficStrings,
  icapTrafficPanelType,
  parseIcapTrafficRequest,
} from '../../webviewProtocol/icapTraffic';
import { type PanelController, type PanelHost, registerWebviewPanel } from './webviewPanel';

/** What the panel shows: an analysis, the pcap it came from, and where it was captured. */
export interface TrafficShown {
  analysis: CaptureAnalysis;
  pcap: string;
  /** "this computer", "user@cn:22" or the file's own path. */
  origin: string;
}

export interface IcapTrafficPanel {
  show(shown: TrafficShown): void;
}

/** Wireshark where its installers put it; undefined when it is not installed. */
export function findWireshark(): string | undefined {
  const candidates =
    process.platform === 'win32'
      ? [join(process.env.ProgramFiles ?? 'C:\\Program Files', 'Wireshark', 'Wireshark.exe')]
      : process.platform === 'darwin'
        ? ['/Applications/Wireshark.app/Contents/MacOS/Wireshark']
        : ['/usr/bin/wireshark', '/usr/local/bin/wireshark', '/snap/bin/wireshark'];
  return candidates.find((c) => existsSync(c));
}

function strings(): IcapTrafficStrings {
  return {
    title: vscode.l10n.t('ICAP Traffic'),
    summary: vscode.l10n.t('Summary'),
    diagnosis: vscode.l10n.t('Diagnosis'),
    transactions: vscode.l10n.t('Transactions'),
    filterPlaceholder: vscode.l10n.t('Filter: method, URI, status, address, verdict…'),
    savePcap: vscode.l10n.t('Save pcap…'),
    openWireshark: vscode.l10n.t('Open in Wireshark'),
    noTransactions: vscode.l10n.t('No ICAP transaction in this capture.'),
    noMatch: vscode.l10n.t('No transaction matches the filter.'),
    shownOf: vscode.l10n.t('{0} of {1} shown'),
    colTime: vscode.l10n.t('Time (UTC)'),
    colClient: vscode.l10n.t('Client → server'),
    colServer: vscode.l10n.t('Server'),
    colMethod: vscode.l10n.t('Method'),
    colUri: vscode.l10n.t('Service URI'),
    colStatus: vscode.l10n.t('ICAP status'),
    colFlow: vscode.l10n.t('Preview / 100 / 204'),
    colVerdict: vscode.l10n.t('Verdict headers'),
    colHttp: vscode.l10n.t('HTTP request'),
    colHttpResponse: vscode.l10n.t('HTTP response'),
    colBytes: vscode.l10n.t('Bytes sent / answered'),
    colLatency: vscode.l10n.t('Latency'),
    noAnswer: vscode.l10n.t('no answer'),
    requestHeaders: vscode.l10n.t('ICAP request headers'),
    responseHeaders: vscode.l10n.t('ICAP response headers'),
    notCaptured: vscode.l10n.t('(not in the capture)'),
    notes: vscode.l10n.t('Notes'),
    empty: vscode.l10n.t('Nothing to show yet.'),
  };
}

/** The "ICAP Traffic" webview (docs/capture.md). */
export function registerIcapTrafficPanel(context: vscode.ExtensionContext, log: vscode.LogOutputChannel): IcapTrafficPanel {
  let current: TrafficShown | undefined;
  let live: TrafficController | undefined;
  const panel = registerWebviewPanel<IcapTrafficRequest, IcapTrafficMessage>(context, log, {
    viewType: icapTrafficPanelType,
    bundle: 'icapTraffic',
    title: () => vscode.l10n.t('ICAP Traffic'),
    parse: parseIcapTrafficRequest,
    create: (host) => {
      const c = new TrafficController(host, () => current, () => {
        if (live === c) live = undefined;
      });
      live = c;
      return c;
    },
  });
  return {
    show(shown) {
      current = shown;
      live?.post();
      panel.open();
    },
  };
}

class TrafficController implements PanelController<IcapTrafficRequest> {
  private ready = false;

  constructor(
    private readonly host: PanelHost<IcapTrafficMessage>,
    private readonly shown: () => TrafficShown | undefined,
    private readonly onDispose: () => void,
  ) {}

  post(): void {
    const s = this.shown();
    if (!this.ready) return;
    if (!s) {
      void this.host.post({ type: 'error', message: vscode.l10n.t('The capture is no longer open: run KDS: Analyze Capture File… again.') });
      return;
    }
    const view = trafficView(s.analysis);
    void this.host.post({
      type: 'analysis',
      source: s.origin === s.pcap ? s.pcap : vscode.l10n.t('{0} (captured on {1})', s.pcap, s.origin),
      ...view,
      wireshark: findWireshark() !== undefined,
    });
  }

  async onRequest(r: IcapTrafficRequest): Promise<void> {
    const s = this.shown();
    switch (r.type) {
      case 'ready':
        await this.host.post({ type: 'init', strings: strings(), locale: vscode.env.language });
        this.ready = true;
        this.post();
        return;
      case 'savePcap': {
        if (!s) return;
        const target = await vscode.window.showSaveDialog({
          defaultUri: vscode.Uri.file(join(vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? homedir(), basename(s.pcap))),
          filters: { [vscode.l10n.t('Packet captures')]: ['pcap', 'pcapng'] },
          title: vscode.l10n.t('Save the capture'),
        });
        if (!target) return;
        await copyFile(s.pcap, target.fsPath);
        void vscode.window.setStatusBarMessage(vscode.l10n.t('Saved {0}', target.fsPath), 4000);
        return;
      }
      case 'openWireshark': {
        const ws = findWireshark();
        if (!s || !ws) return;
        // Wireshark is started with the file as its only argument (no shell), and left running.
        const child = spawn(ws, [s.pcap], { detached: true, stdio: 'ignore' });
        child.on('error', (e) => void vscode.window.showErrorMessage(vscode.l10n.t('Cannot start Wireshark: {0}', e.message)));
        child.unref();
        return;
      }
    }
  }

  dispose(): void {
    this.onDispose();
  }
}
