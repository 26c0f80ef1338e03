import { createInterface } from 'node:readline';
import * as vscode from 'vscode';
import { parseIcapUri } from '../../icap/icapMessage';
import { IcapProber, type ProbeReport, type ProbeStep } from '../../icap/icapProbe';
import {
  type IcapProbeMessage,
  type IcapProbeRequest,
  type IcapProbeRow,
  type IcapProbeStrings,
  icapProbePanelType,
  parseIcapProbeRequest,
} from '../../webviewProtocol/icapProbe';
import type { KdsServices } from '../services';
import { type PanelHost, registerWebviewPanel } from './webviewPanel';

/**
 * "KDS: Probe ICAP Service": asks for an icap:// URL (remembering the last ones), runs the probe of
 * src/icap/icapProbe.ts locally, or on the connected Central Node (`kds icap probe --jsonl` with
 * the installed engine), and shows each step as it completes. docs/icap-kit.md.
 */

const RECENT_KEY = 'kds.icapProbe.recent';
const MAX_RECENT = 10;

function strings(): IcapProbeStrings {
  const t = vscode.l10n.t;
  return {
    title: t('KDS ICAP Probe'),
    running: t('Probing {0}…'),
    where: t('Runs on: {0}'),
    colStep: t('Step'),
    colStatus: t('ICAP status'),
    colVerdict: t('Verdict headers'),
    colMessage: t('HTTP message'),
    colTimes: t('First byte / total'),
    rawHeaders: t('Details and raw ICAP headers'),
    warnings: t('Warnings'),
    noVerdict: t('(no verdict headers)'),
    again: t('Probe Again'),
    failure: t('Failure'),
    ok: t('OK'),
    conclusion: t('Conclusion'),
    options: t('OPTIONS'),
    noAnswer: t('no answer'),
  };
}

function modification(step: ProbeStep): string {
  switch (step.modification) {
    case 'unchanged-204':
      return vscode.l10n.t('unchanged (204 No Content)');
    case 'unchanged-echo':
      return vscode.l10n.t('returned unchanged');
    case 'blocked':
      return vscode.l10n.t('replaced: HTTP {0} (blocked)', step.httpStatus ?? '?');
    case 'modified':
      return vscode.l10n.t('modified by the service');
    default:
      return step.method === 'OPTIONS' ? '' : vscode.l10n.t('not returned');
  }
}

/** A probe step as the webview shows it (plain data). */
export function rowOf(step: ProbeStep): IcapProbeRow {
  const o = step.options;
  const options = o
    ? [
        `ISTag: ${o.istag ?? '—'}`,
        `Methods: ${o.methods ?? '—'}`,
        `Service: ${o.service ?? '—'}`,
        `Preview: ${o.preview ?? '—'}`,
        `Transfer-Preview: ${o.transferPreview ?? '—'}`,
        `Transfer-Ignore: ${o.transferIgnore ?? '—'}`,
        `Transfer-Complete: ${o.transferComplete ?? '—'}`,
        `Allow 204: ${o.allow204 ? 'yes' : 'no'}`,
        `Max-Connections: ${o.maxConnections ?? '—'}`,
        `Options-TTL: ${o.optionsTtl ?? '—'}`,
        `Encapsulated: ${o.encapsulated ?? '—'}`,
      ]
    : [];
  const transport =
    step.method === 'OPTIONS'
      ? ''
      : [
          step.previewBytes !== undefined ? vscode.l10n.t('preview {0} bytes', step.previewBytes) + (step.ieof ? ', ieof' : step.continued ? ', 100 Continue' : '') : vscode.l10n.t('no preview'),
          step.newConnection ? vscode.l10n.t('new connection') : vscode.l10n.t('connection reused'),
        ].join('; ');
  return {
    title: vscode.l10n.t(step.title),
    outcome: step.outcome,
    ...(step.status !== undefined && { status: step.status, reason: step.reason ?? '' }),
    verdict: Object.entries(step.verdict).map(([k, v]) => `${k}: ${v.replace(/\n/g, ' / ')}`),
    message: modification(step),
    ...(step.ttfbMs !== undefined && { ttfbMs: step.ttfbMs, totalMs: step.totalMs }),
    transport,
    ...(step.rawHead !== undefined && { rawHead: step.rawHead }),
    options,
    warnings: step.warnings,
    ...(step.error !== undefined && { error: step.error }),
  };
}

/** Asks for the URL: the recent ones first, or a new one (validated). */
async function askUrl(s: KdsServices): Promise<string | undefined> {
  const recent = s.context.globalState.get<string[]>(RECENT_KEY, []);
  let url: string | undefined;
  if (recent.length) {
    const other = vscode.l10n.t('Another ICAP service…');
    const picked = await vscode.window.showQuickPick([...recent, other], { title: vscode.l10n.t('ICAP service to probe') });
    if (picked === undefined) return undefined;
    if (picked !== other) url = picked;
  }
  url ??= await vscode.window.showInputBox({
    title: vscode.l10n.t('ICAP service to probe'),
    prompt: vscode.l10n.t('icap://HOST[:PORT]/SERVICE, e.g. icap://10.0.0.9:1344/respmod'),
    value: s.demo.current?.emulator.icap?.respmodUrl ?? 'icap://',
    validateInput: (v) => (parseIcapUri(v) && !v.trim().toLowerCase().startsWith('icaps:') ? undefined : vscode.l10n.t('Not an icap://HOST[:PORT]/SERVICE URL.')),
  });
  if (!url) return undefined;
  url = parseIcapUri(url)!.href;
  await s.context.globalState.update(RECENT_KEY, [url, ...recent.filter((r) => r !== url)].slice(0, MAX_RECENT));
  return url;
}

class ProbeController {
  private ready = false;
  private url: string | undefined;
  private running = false;
  private cancel: (() => void) | undefined;

  constructor(
    private readonly s: KdsServices,
    private readonly host: PanelHost<IcapProbeMessage>,
  ) {}

  run(url: string): void {
    this.url = url;
    if (this.ready) void this.start();
  }

  async onRequest(r: IcapProbeRequest): Promise<void> {
    if (r.type === 'ready') {
      this.ready = true;
      await this.host.post({ type: 'init', strings: strings(), locale: vscode.env.language });
      if (this.url) await this.start();
    } else if (r.type === 'again' && this.url) await this.start();
  }

  private async start(): Promise<void> {
    if (this.running || !this.url) return;
    this.running = true;
    const url = this.url;
    const conn = this.s.centralNode?.connection?.workspace ? this.s.centralNode.connection : undefined;
    try {
      await this.host.post({ type: 'start', uri: url, where: conn ? conn.label : vscode.l10n.t('this computer') });
      const report = conn ? await this.remote(conn, url) : await this.local(url);
      await this.host.post({ type: 'done', conclusion: report.conclusion.text, exitCode: report.exitCode });
      // The walkthrough's "see ICAP blocking in action" step ticks once a probe has run to its end.
      void vscode.commands.executeCommand('setContext', 'kds.icapProbed', true);
    } catch (err) {
      await this.host.post({ type: 'error', message: (err as Error).message });
    } finally {
      this.running = false;
    }
  }

  private local(url: string): Promise<ProbeReport> {
    const uri = parseIcapUri(url)!;
    return new IcapProber(uri, { eicar: true, onStep: (step) => void this.host.post({ type: 'step', row: rowOf(step) }) }).probe();
  }

  /** `kds icap probe --jsonl` on the CN with the installed engine; each line a step, the last the report. */
  private async remote(conn: NonNullable<NonNullable<KdsServices['centralNode']>['connection']>, url: string): Promise<ProbeReport> {
    const engine = await conn.engineArgv();
    const session = await conn.rs.whenConnected();
    const proc = session.spawn([...engine, 'icap', 'probe', url, '--eicar', '--jsonl']);
    this.cancel = () => proc.kill('TERM');
    let report: ProbeReport | undefined;
    let stderr = '';
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const lines = createInterface({ input: proc.stdout });
    lines.on('line', (line) => {
      try {
        const m = JSON.parse(line) as { type: string; step?: ProbeStep; report?: ProbeReport };
        if (m.type === 'step' && m.step) void this.host.post({ type: 'step', row: rowOf(m.step) });
        if (m.type === 'report' && m.report) report = m.report;
      } catch {
        // not a JSON line (an engine without --jsonl prints usage): reported below
      }
    });
    const exit = await proc.exit;
    this.cancel = undefined;
    if (!report) throw new Error(vscode.l10n.t('The probe on the Central Node failed (exit code {0}): {1}', exit.code ?? exit.signal ?? '?', stderr.trim().slice(0, 500)));
    return report;
  }

  dispose(): void {
    this.cancel?.();
  }
}

export function registerIcapProbePanel(s: KdsServices): { probe(url?: string): Promise<void> } {
  let controller: ProbeController | undefined;
  const panel = registerWebviewPanel<IcapProbeRequest, IcapProbeMessage>(s.context, s.log, {
    viewType: icapProbePanelType,
    bundle: 'icapProbe',
    title: () => vscode.l10n.t('KDS ICAP Probe'),
    parse: parseIcapProbeRequest,
    create: (host) => {
      controller = new ProbeController(s, host);
      const mine = controller;
      return {
        onRequest: (r) => mine.onRequest(r),
        dispose: () => {
          mine.dispose();
          if (controller === mine) controller = undefined;
        },
      };
    },
  });
  return {
    async probe(url?: string) {
      const chosen = url && parseIcapUri(url) ? parseIcapUri(url)!.href : await askUrl(s);
      if (!chosen) return;
      panel.open();
      controller?.run(chosen);
    },
  };
}
