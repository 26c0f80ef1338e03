import * as vscode from 'vscode';
import type { FolderItem, FolderKind } from '../viewModel/contracts';
import { formatAge, formatSize, stageLook, verdictLook } from '../viewModel/itemLooks';
import type { FolderModels } from './folderModels';
import { itemUri } from './kdsUri';
import { capItems, viewItemCap } from '../viewModel/viewCap';

const refreshDebounceMs = 300;
/** Ages ("3 min") go stale; re-render visible trees this often. */
const ageTickMs = 60_000;

/** A tree row: the item itself is the element, so commands receive a FolderItem. */
export type KdsTreeElement = FolderItem;

/** contextValue of an item: `kdsItem:<folder>:<stage or verdict>`, matched by the menus in package.json. */
export function contextValueOf(item: FolderItem): string {
  const state = item.folder === 'in' ? (item.stage ?? 'unknown') : (item.verdict ?? 'unknown').replace(/\s+/g, '-');
  return `kdsItem:${item.folder}:${state}`;
}

/** One provider class for the Input, Output and Quarantine views; newest first, debounced refresh. */
export class FolderTreeProvider implements vscode.TreeDataProvider<KdsTreeElement>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<KdsTreeElement | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private pending?: NodeJS.Timeout;
  private readonly tick: NodeJS.Timeout;
  private readonly subscription: vscode.Disposable;

  constructor(
    readonly folder: FolderKind,
    private readonly models: FolderModels,
  ) {
    this.subscription = models.onDidChange((f) => {
      if (f === folder) this.scheduleRefresh();
    });
    this.tick = setInterval(() => this.changed.fire(undefined), ageTickMs);
  }

  items(): FolderItem[] {
    return this.models.items(this.folder);
  }

  /** The newest rows up to viewItemCap; the view's message says how many there are in all. */
  getChildren(element?: KdsTreeElement): KdsTreeElement[] {
    if (element) return [];
    const items = this.items();
    // The models keep their lists newest first already; a copy is sorted only when small.
    const sorted = items.length <= viewItemCap ? [...items].sort((a, b) => newest(b) - newest(a) || a.name.localeCompare(b.name)) : items;
    return capItems(sorted).shown;
  }

  getParent(): undefined {
    return undefined;
  }

  getTreeItem(item: KdsTreeElement): vscode.TreeItem {
    const row = new vscode.TreeItem(item.name, vscode.TreeItemCollapsibleState.None);
    row.id = `${item.folder}/${item.name}`;
    row.resourceUri = itemUri(item);
    const look = item.folder === 'in' ? (item.stage ? stageLook(item.stage) : undefined) : verdictLook(item.verdict);
    const parts = [formatSize(item.size), formatAge(item.mtimeMs)];
    if (look) parts.push(look.label);
    if (item.threat) parts.push(item.threat);
    if (item.released) parts.push(vscode.l10n.t('released by {0}', item.released.by));
    row.description = parts.join(' · ');
    row.iconPath = new vscode.ThemeIcon(look?.icon ?? 'file', look?.color ? new vscode.ThemeColor(look.color) : undefined);
    row.contextValue = contextValueOf(item);
    return row;
  }

  /** Tooltips are built only when hovered, which keeps a folder of 10 000 files cheap. */
  resolveTreeItem(row: vscode.TreeItem, item: KdsTreeElement): vscode.TreeItem {
    row.tooltip = tooltipOf(item);
    return row;
  }

  private scheduleRefresh(): void {
    if (this.pending) return;
    this.pending = setTimeout(() => {
      this.pending = undefined;
      this.changed.fire(undefined);
    }, refreshDebounceMs);
  }

  dispose(): void {
    if (this.pending) clearTimeout(this.pending);
    clearInterval(this.tick);
    this.subscription.dispose();
    this.changed.dispose();
  }
}

function newest(item: FolderItem): number {
  return item.routedAt ?? item.mtimeMs;
}

function tooltipOf(item: FolderItem): vscode.MarkdownString {
  const md = new vscode.MarkdownString(undefined, true);
  md.supportHtml = false;
  md.isTrusted = false;
  const code = (s: string) => '`' + s.replace(/`/g, "'") + '`';
  const time = (ms: number) => new Date(ms).toLocaleString(vscode.env.language);
  md.appendMarkdown(`**${escapeMd(item.name)}**\n\n`);
  const rows: Array<[string, string]> = [[vscode.l10n.t('Path'), code(item.path)], [vscode.l10n.t('Size'), `${formatSize(item.size)} (${item.size})`]];
  if (item.folder === 'in' && item.stage) rows.push([vscode.l10n.t('State'), escapeMd(stageLook(item.stage).label) + (item.stageReason ? ` — ${escapeMd(item.stageReason)}` : '')]);
  if (item.folder !== 'in') rows.push([vscode.l10n.t('Verdict'), escapeMd(verdictLook(item.verdict).label) + (item.rawState ? ` (${code(item.rawState)})` : '')]);
  if (item.threat) rows.push([vscode.l10n.t('Threat'), escapeMd(item.threat)]);
  if (item.sha256) rows.push(['SHA-256', code(item.sha256)]);
  if (item.scanId) rows.push(['scanId', code(item.scanId)]);
  rows.push([vscode.l10n.t('Modified'), time(item.mtimeMs)]);
  if (item.submittedAt) rows.push([vscode.l10n.t('Submitted'), time(item.submittedAt)]);
  if (item.routedAt) rows.push([vscode.l10n.t('Moved'), time(item.routedAt)]);
  if (item.released) rows.push([vscode.l10n.t('Released from quarantine'), escapeMd(vscode.l10n.t('by {0}, {1}', item.released.by, time(item.released.at)))]);
  md.appendMarkdown(rows.map(([k, v]) => `${escapeMd(k)}: ${v}`).join('  \n'));
  return md;
}

function escapeMd(s: string): string {
  return s.replace(/[\\`*_{}[\]()#+\-.!<>|~]/g, '\\$&');
}
