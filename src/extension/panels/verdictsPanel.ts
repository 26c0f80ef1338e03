import * as vscode from 'vscode';
import { pluralTemplates } from '../../common/l10n';
import type { FileStage } from '../../engine/events';
import type { FolderItem } from '../../viewModel/contracts';
import { byteUnitTemplates, stageLook, verdictLook } from '../../viewModel/itemLooks';
import { VerdictHistory } from '../../viewModel/verdictHistory';
import { type VerdictAction, type VerdictsMessage, type VerdictsRequest, type VerdictsStrings, parseVerdictsRequest, verdictsPanelType } from '../../webviewProtocol/verdicts';
import type { VerdictRow } from '../../webviewProtocol/verdictsQuery';
import type { FolderModels } from '../folderModels';
import type { ActiveEngine } from '../centralNode/activeEngine';
import { type PanelController, type PanelDefinition, type PanelHost, type RegisteredPanel, registerWebviewPanel } from './webviewPanel';

/** Rows per `reset` message: 100 000 rows go as 20 messages of a few MB rather than one huge one. */
const resetChunk = 5000;

/**
 * The verdict history for the current configuration, alive from activation (so the log lines
 * and state changes of files handled before the panel opens are kept).
 */
export class VerdictsService implements vscode.Disposable {
  readonly history = new VerdictHistory();
  private historyKey: string | undefined;
  private readonly resets = new vscode.EventEmitter<void>();
  /** Fires when the history was rebuilt (another state_dir): panels send the full table again. */
  readonly onDidReset = this.resets.event;
  private readonly disposables: Array<{ dispose(): void }> = [];

  /** Follows the active engine: the local one, or the connected Central Node (its journal over SFTP and its event stream). */
  constructor(
    private readonly active: ActiveEngine,
    private readonly models: FolderModels,
  ) {
    const offEvent = active.onEvent((e) => this.history.onEngineEvent(e));
    const offLog = active.onLogRecord((r) => this.history.onLogRecord(r));
    this.disposables.push(
      { dispose: offEvent },
      { dispose: offLog },
      active.onDidChangeState(() => this.reloadIfMoved()),
      models.onDidChange((f) => {
        if (f === 'qrnt') this.updateThreats();
        // A release or deletion changes both folders; the audit says which file went where.
        if (f === 'qrnt' || f === 'out') void this.applyAudit();
      }),
      this.resets,
    );
    this.reloadIfMoved();
  }

  /** The file a row stands for, as the trees' commands expect it (a FolderItem), when it still exists. */
  itemFor(row: VerdictRow, folder: 'in' | 'out' | 'qrnt' | undefined = folderOf(row)): FolderItem | undefined {
    if (!folder) return undefined;
    const item = this.models.get(folder, row.name, row.share);
    if (!item) return undefined;
    if (item.sha256 && row.sha256 && item.sha256 !== row.sha256) return undefined; // another version of the same name
    return item;
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
    this.history.dispose();
  }

  /** The shares of the engine shown, for the table's Share column and filter. */
  shares(): string[] {
    return this.active.shares().map((x) => x.name);
  }

  private reloadIfMoved(): void {
    // Another state_dir, or other shares (the panel shows or hides its Share column).
    const key = `${this.active.historyKey}|${this.shares().join('/')}`;
    if (key === this.historyKey) return;
    this.historyKey = key;
    this.history.clear();
    // Files in input now (the CN's come from its stream's snapshot), then the journal's finished scans.
    for (const file of this.active.snapshot().files) this.history.onEngineEvent({ type: 'file', file });
    this.updateThreats();
    this.resets.fire();
    const source = this.active.history();
    if (!source) return;
    void source().then(
      ({ finished, audit }) => {
        if (this.historyKey !== key) return;
        this.history.loadJournal(finished);
        this.history.applyQuarantineAudit(audit);
        this.updateThreats();
        this.resets.fire();
      },
      () => undefined, // An unreadable journal only means no history from before this session.
    );
  }

  /** Releases and deletions (local, or on the CN) from the quarantine audit of the engine shown. */
  private async applyAudit(): Promise<void> {
    const key = this.historyKey;
    const source = this.active.history();
    if (!source) return;
    const { audit } = await source().catch(() => ({ audit: [] }));
    if (key === this.historyKey) this.history.applyQuarantineAudit(audit);
  }

  private updateThreats(): void {
    const threats = new Map<string, string>();
    for (const item of this.models.items('qrnt')) if (item.sha256 && item.threat) threats.set(item.sha256.toLowerCase(), item.threat);
    this.history.setThreatLookup((sha) => threats.get(sha.toLowerCase()));
  }
}

export function registerVerdictsPanel(context: vscode.ExtensionContext, log: vscode.LogOutputChannel, service: VerdictsService): RegisteredPanel {
  const def: PanelDefinition<VerdictsRequest, VerdictsMessage> = {
    viewType: verdictsPanelType,
    bundle: 'verdicts',
    title: () => vscode.l10n.t('KDS Verdicts'),
    parse: parseVerdictsRequest,
    create: (host) => new VerdictsController(host, service),
  };
  return registerWebviewPanel(context, log, def);
}

class VerdictsController implements PanelController<VerdictsRequest> {
  private offChange: (() => void) | undefined;
  private readonly offReset: vscode.Disposable;

  constructor(
    private readonly host: PanelHost<VerdictsMessage>,
    private readonly service: VerdictsService,
  ) {
    this.offReset = service.onDidReset(() => {
      if (!this.offChange) return;
      // Other shares: the table's columns change, so the page starts over.
      if (service.shares().join('/') !== this.sentShares) void this.sendInit();
      this.sendAll();
    });
  }

  async onRequest(r: VerdictsRequest): Promise<void> {
    const history = this.service.history;
    switch (r.type) {
      case 'ready':
        // Also sent after the webview was hidden and shown again (its page reloads): send everything again.
        await this.sendInit();
        this.sendAll();
        this.offChange ??= history.onChange(() => {
          const { upserted, removed } = history.takeChanges();
          if (upserted.length || removed.length) void this.host.post({ type: 'update', upserted, removed });
        });
        return;
      case 'details':
        await this.host.post({ type: 'details', id: r.id, details: history.details(r.id) });
        return;
      case 'action':
        await this.act(r.action, r.id);
        return;
    }
  }

  dispose(): void {
    this.offChange?.();
    this.offReset.dispose();
  }

  private sentShares: string | undefined;

  private sendInit(): Thenable<unknown> {
    const shares = this.service.shares();
    this.sentShares = shares.join('/');
    return this.host.post({
      type: 'init',
      strings: verdictsStrings(),
      stateLabels: stateLabels(),
      locale: vscode.env.language,
      byteUnits: byteUnitTemplates(),
      canReveal: canRevealInOs(),
      shares,
    });
  }

  private sendAll(): void {
    const history = this.service.history;
    history.clearChanges();
    const rows = history.rows();
    for (let i = 0; i < rows.length || i === 0; i += resetChunk) {
      void this.host.post({ type: 'reset', rows: rows.slice(i, i + resetChunk), last: i + resetChunk >= rows.length });
    }
  }

  /** Runs the same commands as the tree items' context menus, with the argument they expect. */
  private async act(action: VerdictAction, id: string): Promise<void> {
    const history = this.service.history;
    const row = history.row(id);
    if (!row) return;
    switch (action) {
      case 'rescan':
        await vscode.commands.executeCommand('kds.rescan');
        return;
      case 'release': {
        const item = this.service.itemFor(row, 'qrnt');
        if (!item) {
          void vscode.window.showInformationMessage(vscode.l10n.t('"{0}" is no longer in quarantine.', row.name));
          return;
        }
        await vscode.commands.executeCommand('kds.releaseFromQuarantine', item);
        return;
      }
      case 'copyHash': {
        const item = this.service.itemFor(row) ?? (row.sha256 ? this.detachedItem(row) : undefined);
        if (item) await vscode.commands.executeCommand('kds.copySha256', { ...item, sha256: item.sha256 ?? row.sha256 });
        return;
      }
      case 'reveal': {
        if (!canRevealInOs()) return;
        const item = this.service.itemFor(row) ?? this.detachedItem(row);
        if (!item) {
          void vscode.window.showInformationMessage(vscode.l10n.t('"{0}" is no longer where KDS put it.', row.name));
          return;
        }
        await vscode.commands.executeCommand('kds.revealInOs', item);
        return;
      }
    }
  }

  /** A FolderItem for a file the models do not list (released, deleted, moved): from the history alone. */
  private detachedItem(row: VerdictRow): FolderItem | undefined {
    const path = this.service.history.placedPath(row.id);
    if (!path && !row.sha256) return undefined;
    return { folder: folderOf(row) ?? 'in', ...(row.share !== undefined && { share: row.share }), name: row.name, path: path ?? '', size: row.size, mtimeMs: row.time, sha256: row.sha256, verdict: row.verdict, scanId: this.service.history.scanIdOf(row.id) };
  }
}

function verdictsStrings(): VerdictsStrings {
  return {
    title: vscode.l10n.t('KDS Verdicts'),
    search: vscode.l10n.t('Search'),
    searchPlaceholder: vscode.l10n.t('Search by file name, SHA-256 or threat'),
    filterVerdict: vscode.l10n.t('Filter by verdict'),
    allVerdicts: vscode.l10n.t('All verdicts'),
    counts: vscode.l10n.t('Files per verdict'),
    chartTitle: vscode.l10n.t('Verdicts per hour (last 24 hours with activity)'),
    chartEmpty: vscode.l10n.t('No verdicts yet.'),
    colTime: vscode.l10n.t('Time'),
    colName: vscode.l10n.t('File'),
    colSize: vscode.l10n.t('Size'),
    colSha256: vscode.l10n.t('SHA-256'),
    colVerdict: vscode.l10n.t('Verdict'),
    colThreat: vscode.l10n.t('Threat'),
    colDuration: vscode.l10n.t('Scan time'),
    colDestination: vscode.l10n.t('Destination'),
    colShare: vscode.l10n.t('Share'),
    filterShare: vscode.l10n.t('Filter by share'),
    allShares: vscode.l10n.t('All shares'),
    'verdict.not detected': verdictLook('not detected').label,
    'verdict.detect': verdictLook('detect').label,
    'verdict.error': verdictLook('error').label,
    'verdict.timeout': verdictLook('timeout').label,
    'verdict.unknown': verdictLook('unknown').label,
    'verdict.pending': vscode.l10n.t('no verdict'),
    'dest.out': vscode.l10n.t('output'),
    'dest.qrnt': vscode.l10n.t('quarantine'),
    'dest.released': vscode.l10n.t('released to output'),
    'dest.deleted': vscode.l10n.t('deleted'),
    details: vscode.l10n.t('File details'),
    detailsEmpty: vscode.l10n.t('This file is no longer in the history.'),
    fullSha256: vscode.l10n.t('SHA-256'),
    scanId: vscode.l10n.t('Scan ID'),
    path: vscode.l10n.t('Placed at'),
    rawState: vscode.l10n.t('KATA state'),
    stateChanges: vscode.l10n.t('State changes'),
    logLines: vscode.l10n.t('Log'),
    noLogLines: vscode.l10n.t('No log lines for this file in this session.'),
    release: vscode.l10n.t('Release from Quarantine'),
    rescan: vscode.l10n.t('Rescan'),
    copyHash: vscode.l10n.t('Copy SHA-256'),
    reveal: vscode.l10n.t('Reveal in OS'),
    close: vscode.l10n.t('Close'),
    // Plural by the total: {0} is the total, {1} the rows shown.
    ...pluralTemplates('rowsShown', '{1} of {0} file', '{1} of {0} files'),
    loading: vscode.l10n.t('Loading…'),
    sortAscending: vscode.l10n.t('sorted ascending'),
    sortDescending: vscode.l10n.t('sorted descending'),
    tableLabel: vscode.l10n.t('Files handled by KDS'),
    tabChanges: vscode.l10n.t('State changes'),
    tabLog: vscode.l10n.t('Log'),
  };
}

function stateLabels(): Record<string, string> {
  const stages: FileStage[] = ['settling', 'queued', 'excluded', 'too-large', 'unreadable', 'uploading', 'submitted', 'awaiting-approval', 'retrying', 'routing', 'missing'];
  const labels: Record<string, string> = Object.fromEntries(stages.map((s) => [s, stageLook(s).label]));
  return {
    ...labels,
    intent: vscode.l10n.t('upload started'),
    verdict: vscode.l10n.t('verdict received'),
    done: vscode.l10n.t('finished'),
    routed: vscode.l10n.t('moved to its destination'),
    removed: vscode.l10n.t('left input'),
    abandoned: vscode.l10n.t('abandoned'),
    interrupted: vscode.l10n.t('interrupted'),
    released: vscode.l10n.t('released from quarantine'),
    deleted: vscode.l10n.t('deleted from quarantine'),
  };
}

/** The folder a row's file is in now, for the tree commands; undefined once deleted. */
function folderOf(row: VerdictRow): 'in' | 'out' | 'qrnt' | undefined {
  switch (row.destination) {
    case undefined:
      return 'in';
    case 'released':
      return 'out';
    case 'deleted':
      return undefined;
    default:
      return row.destination;
  }
}

/** VS Code for the Web has no "revealFileInOS", and a Central Node's file is not on this machine. */
export function canRevealInOs(): boolean {
  return vscode.env.uiKind === vscode.UIKind.Desktop && vscode.env.remoteName === undefined;
}
