import * as vscode from 'vscode';
import { statusSummary } from '../viewModel/statusSummary';
import type { FolderModels } from './folderModels';
import type { LocalEngine } from './localEngine';
import type { ActiveEngine } from './centralNode/activeEngine';

const debounceMs = 500;

/** Scanning state and counts (pending, in quarantine now); a click opens the Verdicts panel, the tooltip links both. */
export class KdsStatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private pending?: NodeJS.Timeout;
  private readonly subscriptions: vscode.Disposable[] = [];
  private readonly unsubscribe: () => void;

  constructor(
    private readonly engine: LocalEngine,
    private readonly models: FolderModels,
    /** When given, the counts follow the active engine (a connected Central Node, else the local one). */
    private readonly active?: ActiveEngine,
    /** The embedded KATA's ICAP server while it runs (shown in the tooltip). */
    private readonly embeddedIcap?: () => { url: string; mode: string } | undefined,
  ) {
    this.item = vscode.window.createStatusBarItem('kds.status', vscode.StatusBarAlignment.Left, 50);
    this.item.name = vscode.l10n.t('KDS scanning state');
    this.item.command = 'kds.openVerdicts';
    this.subscriptions.push((active ?? engine).onDidChangeState(() => this.schedule()), models.onDidChange(() => this.schedule()));
    this.unsubscribe = (active ?? engine).onEvent(() => this.schedule());
    this.update();
  }

  private schedule(): void {
    if (this.pending) return;
    this.pending = setTimeout(() => {
      this.pending = undefined;
      this.update();
    }, debounceMs);
  }

  update(): void {
    if (!this.active?.centralNode && this.engine.status.kind === 'none') {
      this.item.hide();
      return;
    }
    const snap = (this.active ?? this.engine).snapshot();
    const other = this.active?.mode === 'remote' ? undefined : this.engine.elsewhere;
    const summary = statusSummary({
      running: snap.running,
      approval: snap.approval,
      files: snap.files,
      inQuarantine: this.models.items('qrnt').length,
      identity: snap.identity,
      ...(other && { elsewhere: { pid: other.pid, since: formatSince(other.since) } }),
    });
    this.item.text = summary.text;
    const tooltip = new vscode.MarkdownString(undefined, true);
    tooltip.appendText(summary.tooltip);
    const icap = this.embeddedIcap?.();
    if (icap) {
      tooltip.appendText('\n' + vscode.l10n.t('Embedded KATA ICAP server: {0} ({1} mode)', icap.url, icap.mode));
    }
    tooltip.appendMarkdown(`\n\n[$(list-flat) ${vscode.l10n.t('Open Verdicts')}](command:kds.openVerdicts) · [$(shield) ${vscode.l10n.t('Show Quarantine')}](command:kds.quarantine.focus)`);
    if (icap) tooltip.appendMarkdown(` · [$(output) ${vscode.l10n.t('View ICAP Log')}](command:kds.viewIcapLog)`);
    tooltip.isTrusted = { enabledCommands: ['kds.openVerdicts', 'kds.quarantine.focus', 'kds.viewIcapLog'] };
    this.item.tooltip = tooltip;
    this.item.backgroundColor = summary.warning ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
    this.item.show();
  }

  dispose(): void {
    if (this.pending) clearTimeout(this.pending);
    this.unsubscribe();
    for (const s of this.subscriptions) s.dispose();
    this.item.dispose();
  }
}

/** When another process took its lock: the time alone today, else date and time. */
export function formatSince(since: Date): string {
  const today = new Date().toDateString() === since.toDateString();
  return today ? since.toLocaleTimeString(vscode.env.language) : since.toLocaleString(vscode.env.language);
}
