import { readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';
import * as vscode from 'vscode';
import { parseIcapUri } from '../../icap/icapMessage';
import { type DiscoverResult, IcapProber, type ProbeReport, type ProbeStep, discover } from '../../icap/icapProbe';
import type { Conclusion } from '../../icap/probeConclusion';
import { probeLogSearch } from '../../icap/probeMarker';
import { saveProbeReport } from '../../icap/probeReportFile';
import {
  type DiscoverRow,
  type IcapProbeMessage,
  type IcapProbeRequest,
  type IcapProbeRow,
  type IcapProbeStrings,
  type ProbeForm,
  type ProbeService,
  icapProbePanelType,
  parseIcapProbeRequest,
} from '../../webviewProtocol/icapProbe';
import type { KdsServices } from '../services';
import { logPathToOpen } from './icapLogPanel';
import { type PanelHost, registerWebviewPanel } from './webviewPanel';

/**
 * "KDS: Probe ICAP Service": a form (the service URL; RESPMOD, REQMOD or discovery of the
 * service paths; EICAR on or off; a file of one's own) over the probe of src/icap/icapProbe.ts,
 * run locally or on the connected Central Node (`kds icap probe --jsonl` with the installed
 * engine). Each step shows as it completes, then the conclusion and its next step, and a button
 * that opens the ICAP log viewer on the probe's own requests. docs/icap-kit.md.
 */

const FORM_KEY = 'kds.icapProbe.form';
/** A file of one's own is sent whole from memory: this much at most. */
const MAX_FILE_BYTES = 64 * 1024 * 1024;

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
    conclusion: t('Conclusion'),
    options: t('OPTIONS'),
    noAnswer: t('no answer'),
    url: t('ICAP service'),
    urlHelp: t('icap://HOST[:PORT]/SERVICE — KATA listens for ICAP on port 1344'),
    what: t('What to test'),
    whatRespmod: t('RESPMOD: a web server\'s answer, as the proxy passes it on'),
    whatReqmod: t('REQMOD: a browser\'s request, as the proxy passes it on'),
    whatDiscover: t('Discover the service paths this server answers'),
    eicar: t('Send the EICAR test file (KATA should detect it)'),
    file: t('A file of your own to send'),
    noFile: t('none'),
    chooseFile: t('Choose File…'),
    clearFile: t('Clear'),
    probe: t('Probe'),
    next: t('Next step'),
    showLog: t('Show in ICAP Log'),
    showLogHelp: t("Opens KATA's preprocessor_icap.log filtered to this probe's requests"),
    mode: t('Mode the server names: {0}'),
    discovering: t('Trying the service paths seen in the field on {0}…'),
    colPath: t('Service path'),
    colMethods: t('Methods'),
    probeThis: t('Probe This Service'),
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

function discoverRow(r: DiscoverResult): DiscoverRow {
  return { path: r.path, uri: r.uri, ...(r.status !== undefined && { status: r.status }), ...(r.methods !== undefined && { methods: r.methods }), ...(r.error !== undefined && { error: r.error }) };
}

/** The method a URL's path names (the embedded KATA's /respmod and /reqmod), else RESPMOD. */
function serviceOfUrl(url: string): ProbeService {
  return /\/(kata_)?req(mod)?$/i.test(parseIcapUri(url)?.service ?? '') ? 'reqmod' : 'respmod';
}

type Connection = NonNullable<NonNullable<KdsServices['centralNode']>['connection']>;

class ProbeController {
  private ready = false;
  private running = false;
  private pendingRun = false;
  private file: { name: string; content: Buffer } | undefined;
  /** The last run's messages, shown again when the page reloads (the tab was hidden). */
  private shown: IcapProbeMessage[] = [];
  private lastReport: { report: ProbeReport; onCn: boolean } | undefined;
  private cancel: (() => void) | undefined;

  constructor(
    private readonly s: KdsServices,
    private readonly host: PanelHost<IcapProbeMessage>,
    private form: ProbeForm,
  ) {}

  /** The command ran with a URL: show it in the form and probe it. */
  runUrl(url: string): void {
    this.form = { ...this.form, url, service: serviceOfUrl(url) };
    if (this.ready) {
      void this.host.post({ type: 'form', form: this.form });
      void this.start();
    } else this.pendingRun = true;
  }

  async onRequest(r: IcapProbeRequest): Promise<void> {
    switch (r.type) {
      case 'ready':
        this.ready = true;
        await this.host.post({ type: 'init', strings: strings(), locale: vscode.env.language, form: this.form, ...(this.file && { fileName: this.file.name }) });
        for (const m of this.shown) await this.host.post(m);
        if (this.pendingRun) {
          this.pendingRun = false;
          await this.start();
        }
        return;
      case 'run': {
        const uri = parseIcapUri(r.url.trim());
        if (!uri || uri.tls) {
          await this.host.post({ type: 'error', message: uri?.tls ? vscode.l10n.t('icaps:// (ICAP over TLS) is not supported by the probe yet; use icap://.') : vscode.l10n.t('Not an icap://HOST[:PORT]/SERVICE URL.') });
          return;
        }
        this.form = { url: uri.href, service: r.service, eicar: r.eicar };
        await this.s.context.globalState.update(FORM_KEY, this.form);
        return this.start();
      }
      case 'chooseFile':
        return this.chooseFile();
      case 'clearFile':
        this.file = undefined;
        await this.host.post({ type: 'file' });
        return;
      case 'showLog':
        return this.showLog();
    }
  }

  private async chooseFile(): Promise<void> {
    const picked = await vscode.window.showOpenDialog({ canSelectMany: false, canSelectFiles: true, canSelectFolders: false, openLabel: vscode.l10n.t('Send This File'), title: vscode.l10n.t('A file to send to the ICAP service') });
    const path = picked?.[0]?.scheme === 'file' ? picked[0].fsPath : undefined;
    if (!path) return;
    const size = (await stat(path)).size;
    if (size > MAX_FILE_BYTES) {
      await this.host.post({ type: 'error', message: vscode.l10n.t('{0} is larger than {1} MiB: the probe sends files up to that size.', basename(path), MAX_FILE_BYTES / 1024 / 1024) });
      return;
    }
    this.file = { name: basename(path), content: await readFile(path) };
    await this.host.post({ type: 'file', fileName: this.file.name });
  }

  private post(m: IcapProbeMessage): void {
    this.shown.push(m);
    void this.host.post(m);
  }

  private async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.shown = [];
    this.lastReport = undefined;
    const conn = this.s.centralNode?.connection?.workspace ? this.s.centralNode.connection : undefined;
    const form = this.form;
    try {
      this.post({ type: 'start', uri: form.url, where: conn ? conn.label : vscode.l10n.t('this computer'), discover: form.service === 'discover' });
      if (form.service === 'discover') {
        const uri = parseIcapUri(form.url)!;
        const found = conn ? await this.remoteDiscover(conn, uri.host, uri.port) : await this.localDiscover(uri.host, uri.port);
        this.post({ type: 'done', ...this.discoverConclusion(found), canShowLog: false });
      } else {
        const report = conn ? await this.remote(conn, form) : await this.local(form);
        this.lastReport = { report, onCn: !!conn };
        await saveProbeReport(join(this.s.context.globalStorageUri.fsPath, 'icap-probe-latest.json'), report).catch((e: Error) => this.s.log.warn(`[probe] ${e.message}`));
        this.post({ type: 'done', conclusion: report.conclusion.text, next: report.conclusion.next ?? '', exitCode: report.exitCode, ...(report.mode && { mode: report.mode }), canShowLog: report.steps.some((x) => x.method !== 'OPTIONS' && x.status !== undefined) });
        // The walkthrough's "see ICAP blocking in action" step ticks once a probe has run to its end.
        void vscode.commands.executeCommand('setContext', 'kds.icapProbed', true);
      }
    } catch (err) {
      this.post({ type: 'error', message: (err as Error).message });
    } finally {
      this.running = false;
    }
  }

  private discoverConclusion(d: { found: string[]; fatal?: Conclusion }): { conclusion: string; next: string; exitCode: number } {
    if (d.fatal) return { conclusion: d.fatal.text, next: d.fatal.next, exitCode: 1 };
    if (d.found.length) {
      return {
        conclusion: vscode.l10n.t('{0} service path(s) answer OPTIONS: {1}', d.found.length, d.found.join(', ')),
        next: vscode.l10n.t("Probe each with Probe This Service, and check that the proxy's icap_service lines name these paths."),
        exitCode: 0,
      };
    }
    return {
      conclusion: vscode.l10n.t('the server speaks ICAP but none of the known service paths answered OPTIONS with 200'),
      next: vscode.l10n.t('Look up the service paths in the KATA web console (Sensor servers, ICAP integration with proxy server) and probe that path.'),
      exitCode: 1,
    };
  }

  private local(form: ProbeForm): Promise<ProbeReport> {
    const uri = parseIcapUri(form.url)!;
    const prober = new IcapProber(uri, {
      eicar: form.eicar,
      method: form.service === 'reqmod' ? 'REQMOD' : 'RESPMOD',
      ...(this.file && { file: this.file }),
      onStep: (step) => this.post({ type: 'step', row: rowOf(step) }),
    });
    this.cancel = undefined;
    return prober.probe();
  }

  private async localDiscover(host: string, port: number): Promise<{ found: string[]; fatal?: Conclusion }> {
    const { results, fatal } = await discover(host, port, { onResult: (r) => this.post({ type: 'discover', row: discoverRow(r) }) });
    return { found: results.filter((r) => r.status === 200).map((r) => r.uri), ...(fatal && { fatal }) };
  }

  /** `kds icap probe … --jsonl` on the CN with the installed engine; a file of one's own goes through standard input. */
  private async remote(conn: Connection, form: ProbeForm): Promise<ProbeReport> {
    const args = [form.url, '--method', form.service === 'reqmod' ? 'reqmod' : 'respmod', ...(form.eicar ? ['--eicar'] : []), ...(this.file ? ['--file', '-', '--file-name', this.file.name] : []), '--jsonl'];
    let report: ProbeReport | undefined;
    await this.runOnCn(conn, args, this.file?.content, (m) => {
      if (m.type === 'step' && m.step) this.post({ type: 'step', row: rowOf(m.step as ProbeStep) });
      if (m.type === 'report' && m.report) report = m.report as ProbeReport;
    });
    if (!report) throw new Error(vscode.l10n.t('The probe on the Central Node gave no report.'));
    return report;
  }

  private async remoteDiscover(conn: Connection, host: string, port: number): Promise<{ found: string[]; fatal?: Conclusion }> {
    let found: string[] = [];
    let fatal: Conclusion | undefined;
    const target = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    await this.runOnCn(conn, ['--discover', target, '--jsonl'], undefined, (m) => {
      if (m.type === 'discover' && m.result) this.post({ type: 'discover', row: discoverRow(m.result as DiscoverResult) });
      if (m.type === 'discovered') {
        found = Array.isArray(m.found) ? (m.found as unknown[]).filter((x): x is string => typeof x === 'string') : [];
        // An older engine sends the failure as a line of text.
        const f = m.fatal as Conclusion | string | undefined;
        if (typeof f === 'string') fatal = { kind: 'error', text: f, next: '' };
        else if (f && typeof f.text === 'string') fatal = f;
      }
    });
    return { found, ...(fatal && { fatal }) };
  }

  private async runOnCn(conn: Connection, args: string[], stdin: Buffer | undefined, onLine: (m: Record<string, unknown> & { type: string }) => void): Promise<void> {
    const engine = await conn.engineArgv();
    const session = await conn.rs.whenConnected();
    const proc = session.spawn([...engine, 'icap', 'probe', ...args]);
    this.cancel = () => proc.kill('TERM');
    let stderr = '';
    let lines = 0;
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    proc.stdin.on('error', () => undefined);
    proc.stdin.end(stdin ?? '');
    const rl = createInterface({ input: proc.stdout });
    rl.on('line', (line) => {
      try {
        const m = JSON.parse(line) as Record<string, unknown> & { type: string };
        lines++;
        onLine(m);
      } catch {
        // not a JSON line (an engine without --jsonl prints usage): reported below
      }
    });
    const exit = await proc.exit;
    this.cancel = undefined;
    if (!lines) throw new Error(vscode.l10n.t('The probe on the Central Node failed (exit code {0}): {1}', exit.code ?? exit.signal ?? '?', stderr.trim().slice(0, 500)));
  }

  /** The ICAP log viewer on the probe's own requests: this computer's log, or the Central Node's. */
  private async showLog(): Promise<void> {
    const last = this.lastReport;
    if (!last) return;
    const scanIds = last.report.steps.map((x) => x.scanId).filter((x): x is string => !!x);
    const filter = { text: probeLogSearch(last.report.run, scanIds), regex: true, matchCase: false };
    if (last.onCn) {
      await vscode.commands.executeCommand('kds.remote.openIcapLog', { filter });
      return;
    }
    const path = logPathToOpen(false, () => this.s.demo.current?.emulator.icap?.logPath);
    await vscode.commands.executeCommand('kds.viewIcapLog', { ...(path && { path }), filter });
  }

  dispose(): void {
    this.cancel?.();
  }
}

export function registerIcapProbePanel(s: KdsServices): { probe(url?: string): Promise<void> } {
  let controller: ProbeController | undefined;
  const initialForm = (): ProbeForm => {
    const saved = s.context.globalState.get<ProbeForm>(FORM_KEY);
    const url = saved?.url ?? s.demo.current?.emulator.icap?.respmodUrl ?? 'icap://127.0.0.1:1344/respmod';
    return { url, service: saved?.service ?? serviceOfUrl(url), eicar: saved?.eicar ?? true };
  };
  const panel = registerWebviewPanel<IcapProbeRequest, IcapProbeMessage>(s.context, s.log, {
    viewType: icapProbePanelType,
    bundle: 'icapProbe',
    title: () => vscode.l10n.t('KDS ICAP Probe'),
    parse: parseIcapProbeRequest,
    create: (host) => {
      controller = new ProbeController(s, host, initialForm());
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
      panel.open();
      const chosen = url && parseIcapUri(url) ? parseIcapUri(url)!.href : undefined;
      if (chosen) controller?.runUrl(chosen);
    },
  };
}
