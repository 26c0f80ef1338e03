import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import * as vscode from 'vscode';
import { pluralTemplates } from '../../common/l10n';
import { byteUnitTemplates } from '../../viewModel/itemLooks';
import { type ByteSource, DEFAULT_ICAP_LOG_PATH, LocalFileSource, defaultIcapLogPath } from '../../icapLog/byteSource';
import type { TimeOptions } from '../../icapLog/lineTime';
import { IcapLogFilterError, compileFilter, grepCommandLine, grepPipeline } from '../../icapLog/logFilter';
import { IcapLogViewerSession, toLogFilter, toViewLine } from '../../icapLog/viewerSession';
import {
  type IcapLogMessage,
  type IcapLogRequest,
  type IcapLogStrings,
  type IcapLogViewFilter,
  defaultIcapLogViewFilter,
  icapLogPanelType,
  parseIcapLogRequest,
} from '../../webviewProtocol/icapLog';
import { type PanelController, type PanelHost, registerWebviewPanel } from './webviewPanel';

/**
 * "KDS: View ICAP Log": a webview over one local preprocessor_icap.log (see docs/icap-log.md).
 * The session logic (paging, follow, counting, cancellation) is src/icapLog/viewerSession.ts;
 * this file only maps its events to messages and asks VS Code for files and the clipboard.
 */

export interface IcapLogPanel {
  /** Opens the panel on `path` (a string or a file Uri); without one: kds.icapLogPath, the default log, else a file picker. */
  show(arg?: unknown): Promise<void>;
}

/** The machine's zone offset: times without a zone in a local log are local times. */
function timeOptions(): TimeOptions {
  return { zoneOffsetMinutes: -new Date().getTimezoneOffset() };
}

/**
 * What the panel shows: a local file, or (remote mode) a Central Node's log read over SSH. The
 * source is a factory because a session is rebuilt on every open, filter change or rotation.
 */
interface LogTarget {
  /** Shown in the panel. */
  label: string;
  /** The file as the grep command line should name it (on the machine that holds it). */
  grepPath: string;
  source: () => ByteSource;
  /** Only local targets can be reopened from the webview's saved state after a reload. */
  local: boolean;
  /** A filter to start with (kata-logs opens its result with the search ICAP). */
  filter?: Partial<IcapLogViewFilter>;
  /** A Central Node's log: tells when its connection went away (the panel stops and says so) and came back (it resumes). */
  connection?: ConnectionBinding;
}

/** What a remote target's connection tells the panel. */
export interface ConnectionBinding {
  onDidChange(listener: (connected: boolean) => void): vscode.Disposable;
}

function localTarget(path: string): LogTarget {
  return { label: path, grepPath: path, source: () => new LocalFileSource(path), local: true };
}

/** The command's argument: a path, a file Uri, `{ path, filter }`, or `{ byteSource, label, path? }` from remote mode. */
function targetOf(arg: unknown): LogTarget | undefined {
  if (typeof arg === 'string' && arg) return localTarget(arg);
  const f = arg as { path?: unknown; filter?: unknown; byteSource?: unknown } | undefined;
  if (f && typeof f.path === 'string' && f.path && f.byteSource === undefined && typeof f.filter === 'object' && f.filter) {
    return { ...localTarget(f.path), filter: f.filter as Partial<IcapLogViewFilter> };
  }
  if (arg instanceof vscode.Uri) return arg.scheme === 'file' ? localTarget(arg.fsPath) : undefined;
  const r = arg as { byteSource?: unknown; label?: unknown; path?: unknown; connection?: unknown; filter?: unknown } | undefined;
  if (r && typeof r.byteSource === 'function' && typeof r.label === 'string') {
    const source = r.byteSource as () => ByteSource;
    const connection = typeof (r.connection as ConnectionBinding | undefined)?.onDidChange === 'function' ? (r.connection as ConnectionBinding) : undefined;
    const filter = typeof r.filter === 'object' && r.filter ? (r.filter as Partial<IcapLogViewFilter>) : undefined;
    return { label: r.label, grepPath: typeof r.path === 'string' ? r.path : r.label, source, local: false, ...(connection && { connection }), ...(filter && { filter }) };
  }
  return undefined;
}

/** `kds.icapLogPath`, absolute (relative = to the first workspace folder); undefined when empty. */
function configuredLogPath(): string | undefined {
  const value = (vscode.workspace.getConfiguration('kds').get<string>('icapLogPath') ?? '').trim();
  if (!value) return undefined;
  if (isAbsolute(value)) return value;
  const folder = vscode.workspace.workspaceFolders?.[0];
  return folder?.uri.scheme === 'file' ? resolve(folder.uri.fsPath, value) : undefined;
}

/**
 * The log to open without an argument: `kds.icapLogPath` when it exists, else the running embedded
 * KATA's preprocessor_icap.log (the demo), else KATA's default (undefined: ask).
 */
export function logPathToOpen(warn: boolean, embedded?: () => string | undefined): string | undefined {
  const configured = configuredLogPath();
  if (configured && existsSync(configured)) return configured;
  if (configured && warn) void vscode.window.showWarningMessage(vscode.l10n.t('The ICAP log {0} (setting kds.icapLogPath) does not exist.', configured));
  const demo = embedded?.();
  if (demo && existsSync(demo)) return demo;
  return defaultIcapLogPath();
}

async function pickLogFile(): Promise<string | undefined> {
  const picked = await vscode.window.showOpenDialog({
    canSelectMany: false,
    canSelectFiles: true,
    canSelectFolders: false,
    openLabel: vscode.l10n.t('Open ICAP Log'),
    title: vscode.l10n.t('Open an ICAP log file'),
    filters: { [vscode.l10n.t('Log files')]: ['log', 'txt'], [vscode.l10n.t('All files')]: ['*'] },
  });
  return picked?.[0]?.fsPath;
}

/** `embeddedLog`: the embedded KATA's ICAP log while it runs (opened by default, see logPathToOpen). */
export function registerIcapLogPanel(context: vscode.ExtensionContext, log: vscode.LogOutputChannel, embeddedLog?: () => string | undefined): IcapLogPanel {
  let live: IcapLogController | undefined;
  let pendingTarget: LogTarget | undefined;
  const panel = registerWebviewPanel<IcapLogRequest, IcapLogMessage>(context, log, {
    viewType: icapLogPanelType,
    bundle: 'icapLog',
    title: () => vscode.l10n.t('KDS ICAP Log'),
    parse: parseIcapLogRequest,
    create: (host) => {
      const c = new IcapLogController(host, log, pendingTarget, () => {
        if (live === c) live = undefined;
      });
      pendingTarget = undefined;
      live = c;
      return c;
    },
  });
  return {
    async show(arg?: unknown) {
      let target = targetOf(arg);
      // `{ filter }` alone (the ICAP probe's Show in ICAP Log): the log opened by default, with that filter.
      const f = arg as { filter?: unknown; path?: unknown; byteSource?: unknown } | undefined;
      const onlyFilter = !target && f && typeof f.filter === 'object' && f.filter && f.path === undefined && f.byteSource === undefined ? (f.filter as Partial<IcapLogViewFilter>) : undefined;
      if (!target && (!live || onlyFilter)) {
        const path = logPathToOpen(true, embeddedLog) ?? (await pickLogFile());
        if (!path) return;
        target = { ...localTarget(path), ...(onlyFilter && { filter: onlyFilter }) };
      }
      if (live) {
        if (target) live.openTarget(target);
      } else pendingTarget = target;
      panel.open();
    },
  };
}

class IcapLogController implements PanelController<IcapLogRequest> {
  private session: IcapLogViewerSession | undefined;
  private target: LogTarget | undefined;
  private filter: IcapLogViewFilter = defaultIcapLogViewFilter;
  private follow = false;
  private ready = false;
  private connectionWatch: vscode.Disposable | undefined;

  constructor(
    private readonly host: PanelHost<IcapLogMessage>,
    private readonly log: vscode.LogOutputChannel,
    /** The log the command asked for (wins over the webview's restored one). */
    private requestedTarget: LogTarget | undefined,
    private readonly onDispose: () => void,
  ) {}

  /** The command ran again with a file while the panel is open. */
  openTarget(target: LogTarget): void {
    if (this.ready && target.filter) {
      // A filter to start with: the page is initialised again with it and answers with `view`.
      this.requestedTarget = target;
      void this.onRequest({ type: 'ready' });
    } else if (this.ready) this.open(target);
    else this.requestedTarget = target;
  }

  async onRequest(r: IcapLogRequest): Promise<void> {
    switch (r.type) {
      case 'ready': {
        // Also after the tab was hidden and shown (the page reloads): the webview answers with `view`.
        this.ready = false;
        const shown = (this.requestedTarget ?? this.target)?.label;
        const filter = this.requestedTarget?.filter ? { ...defaultIcapLogViewFilter, ...this.requestedTarget.filter } : undefined;
        await this.host.post({ type: 'init', strings: icapLogStrings(), locale: vscode.env.language, byteUnits: byteUnitTemplates(), ...(shown ? { path: shown } : {}), ...(filter ? { filter } : {}) });
        return;
      }
      case 'view': {
        this.ready = true;
        this.filter = r.filter;
        this.follow = r.follow;
        const restored = r.path && isAbsolute(r.path) ? r.path : undefined;
        const fallback = restored ?? logPathToOpen(false);
        const target = this.requestedTarget ?? (this.target && !this.target.local ? this.target : undefined) ?? (fallback ? localTarget(fallback) : undefined);
        this.requestedTarget = undefined;
        if (target) this.open(target);
        else this.postFile();
        return;
      }
      case 'filter':
        this.setFilter(r.filter);
        return;
      case 'follow':
        this.follow = r.on;
        this.session?.setFollow(r.on);
        return;
      case 'pageBefore':
        await this.session?.pageBefore(r.epoch, r.cursor);
        return;
      case 'openFile': {
        const path = await pickLogFile();
        if (path) this.open(localTarget(path));
        return;
      }
      case 'copyGrep': {
        if (!this.target) return;
        await vscode.env.clipboard.writeText(grepCommandLine(toLogFilter(this.filter), this.target.grepPath));
        vscode.window.setStatusBarMessage(vscode.l10n.t('The grep command was copied to the clipboard.'), 4000);
        return;
      }
    }
  }

  dispose(): void {
    this.connectionWatch?.dispose();
    this.session?.dispose();
    this.session = undefined;
    this.onDispose();
  }

  /** A Central Node's log: stop reading when its connection closes (saying so), read again when it is back. */
  private watchConnection(target: LogTarget): void {
    this.connectionWatch?.dispose();
    this.connectionWatch = target.connection?.onDidChange((connected) => {
      if (this.target !== target) return;
      if (connected) {
        if (!this.session) this.open(target);
        return;
      }
      this.session?.dispose();
      this.session = undefined;
      void this.host.post({ type: 'error', message: vscode.l10n.t('The connection to {0} is closed: the log is not read until you connect again.', target.label) });
    });
  }

  private postFile(): void {
    const spec = toLogFilter(this.filter);
    const msg: IcapLogMessage = {
      type: 'file',
      grep: grepCommandLine(spec, this.target?.grepPath ?? 'preprocessor_icap.log'),
      grepTimeOmitted: grepPipeline(spec).timeRangeOmitted,
      follow: this.follow,
    };
    if (this.target) msg.path = this.target.label;
    void this.host.post(msg);
  }

  private setFilter(filter: IcapLogViewFilter): void {
    const spec = toLogFilter(filter, timeOptions());
    try {
      if (this.session) this.session.setFilter(spec);
      else compileFilter(spec);
    } catch (err) {
      if (err instanceof IcapLogFilterError) {
        void this.host.post({ type: 'filterError', field: err.field, message: err.message });
        return;
      }
      throw err;
    }
    this.filter = filter;
    this.postFile();
  }

  private open(target: LogTarget): void {
    this.session?.dispose();
    this.session = undefined;
    if (this.target !== target || !this.connectionWatch) this.watchConnection(target);
    this.target = target;
    const time = timeOptions();
    const post = (m: IcapLogMessage) => void this.host.post(m);
    const events = {
      page: (p: { epoch: number; kind: 'tail' | 'before'; lines: Parameters<typeof toViewLine>[0][]; startCursor: number; atStart: boolean; size: number }) =>
        post({ type: 'page', epoch: p.epoch, kind: p.kind, lines: p.lines.map((l) => toViewLine(l, time)), startCursor: p.startCursor, atStart: p.atStart, size: p.size }),
      append: (a: { epoch: number; lines: Parameters<typeof toViewLine>[0][]; skippedBytes?: number; size: number }) =>
        post({ type: 'append', epoch: a.epoch, lines: a.lines.map((l) => toViewLine(l, time)), size: a.size, ...(a.skippedBytes ? { skippedBytes: a.skippedBytes } : {}) }),
      reset: (kind: 'rotated' | 'truncated', epoch: number) => post({ type: 'append', epoch, lines: [], reset: kind, size: 0 }),
      count: (c: { epoch: number; state: 'running' | 'done' | 'error'; matched: number; lines: number; done: number; total: number; error?: unknown }) => {
        const { error, ...rest } = c;
        post(error === undefined ? { type: 'count', ...rest } : { type: 'count', ...rest, error: error instanceof Error ? error.message : String(error) });
      },
      error: (err: unknown) => {
        const message = err instanceof Error ? err.message : String(err);
        this.log.warn(`[icap log] ${message}`);
        post({ type: 'error', message });
      },
    };
    let session: IcapLogViewerSession;
    try {
      session = new IcapLogViewerSession(target.source(), toLogFilter(this.filter, time), events);
    } catch (err) {
      if (!(err instanceof IcapLogFilterError)) throw err;
      // A restored filter that no longer compiles: show the error, open without it.
      post({ type: 'filterError', field: err.field, message: err.message });
      this.filter = defaultIcapLogViewFilter;
      session = new IcapLogViewerSession(target.source(), toLogFilter(this.filter, time), events);
    }
    this.session = session;
    this.postFile();
    session.start().then(
      () => {
        if (this.session === session) session.setFollow(this.follow);
      },
      (err: unknown) => {
        if (this.session === session) events.error(err);
      },
    );
  }
}

function icapLogStrings(): IcapLogStrings {
  return {
    title: vscode.l10n.t('KDS ICAP Log'),
    openFile: vscode.l10n.t('Open File…'),
    noFile: vscode.l10n.t('No ICAP log is open. The default log {0} does not exist on this machine; open a log file.', DEFAULT_ICAP_LOG_PATH),
    filters: vscode.l10n.t('Filters'),
    mode: vscode.l10n.t('Scan mode'),
    modeAll: vscode.l10n.t('All modes'),
    modeSimple: vscode.l10n.t('Standard (blocking_simple)'),
    modeAdvanced: vscode.l10n.t('Extended (blocking_advanced)'),
    verdictOnly: vscode.l10n.t('Verdict lines only'),
    search: vscode.l10n.t('Search'),
    searchPlaceholder: vscode.l10n.t('Text or regular expression'),
    regex: vscode.l10n.t('Regular expression'),
    matchCase: vscode.l10n.t('Match case'),
    timeFrom: vscode.l10n.t('From'),
    timeTo: vscode.l10n.t('To'),
    timePlaceholder: vscode.l10n.t('e.g. 2024-05-01 10:00:00'),
    follow: vscode.l10n.t('Follow'),
    fieldsAsColumns: vscode.l10n.t('Fields as columns'),
    copyGrep: vscode.l10n.t('Copy grep command'),
    grepTimeOmitted: vscode.l10n.t('The time range has no grep equivalent: the command leaves it out.'),
    ...pluralTemplates('countDone', '{0} matching line (of {1})', '{0} matching lines (of {1})'),
    ...pluralTemplates('countRunning', 'Counting… {0} matching line so far ({1}% of the file read)', 'Counting… {0} matching lines so far ({1}% of the file read)'),
    countFailed: vscode.l10n.t('Counting failed: {0}'),
    countCancelled: vscode.l10n.t('Counting…'),
    loadingEarlier: vscode.l10n.t('Loading earlier lines…'),
    searchingEarlier: vscode.l10n.t('Searching earlier lines… {0}% of the file left'),
    startOfFile: vscode.l10n.t('Start of the file'),
    noMatches: vscode.l10n.t('No lines match the filter.'),
    rotated: vscode.l10n.t('The log was rotated: showing the new file.'),
    truncated: vscode.l10n.t('The log was truncated: showing it from the start.'),
    ...pluralTemplates('skipped', '{0} byte of new log lines arrived at once and was skipped; showing the latest lines.', '{0} bytes of new log lines arrived at once and were skipped; showing the latest lines.'),
    lineShortened: vscode.l10n.t('Line shortened: {0} of {1} bytes shown'),
    partialLine: vscode.l10n.t('The line is still being written'),
    linesLabel: vscode.l10n.t('ICAP log lines'),
    colLine: vscode.l10n.t('Line'),
    details: vscode.l10n.t('Line details'),
    close: vscode.l10n.t('Close'),
    fileSize: vscode.l10n.t('Size: {0}'),
    ...pluralTemplates('heldLimit', 'Only the newest {0} line is kept in the view; narrow the filter to see earlier ones.', 'Only the newest {0} lines are kept in the view; narrow the filter to see earlier ones.'),
    colVerdict: vscode.l10n.t('Verdict'),
    colMode: vscode.l10n.t('Mode'),
    colThreat: vscode.l10n.t('Threat'),
    colUrl: vscode.l10n.t('URL'),
    wrapLines: vscode.l10n.t('Wrap lines'),
    filterInvalid: vscode.l10n.t('The filter is not valid: no lines, count or grep command are shown until it is fixed.'),
  };
}
