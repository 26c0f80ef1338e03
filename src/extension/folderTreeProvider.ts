import * as vscode from 'vscode';
import { visibleText } from '../common/displayText';
import type { FolderItem, FolderKind } from '../viewModel/contracts';
import { itemTooltipMarkdown } from '../viewModel/itemTooltip';
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
    // A name may hold newlines or a right-to-left override (invoice<U+202E>gpj.exe): shown as escapes.
    const row = new vscode.TreeItem(visibleText(item.name), vscode.TreeItemCollapsibleState.None);
    row.id = `${item.folder}/${item.name}`;
    row.resourceUri = itemUri(item);
    const look = item.folder === 'in' ? (item.stage ? stageLook(item.stage) : undefined) : verdictLook(item.verdict);
    const parts = [formatSize(item.size), formatAge(item.mtimeMs)];
    if (look) parts.push(look.label);
    if (item.threat) parts.push(visibleText(item.threat));
    if (item.released) parts.push(vscode.l10n.t('released by {0}', visibleText(item.released.by)));
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
  const md = new vscode.MarkdownString(itemTooltipMarkdown(item, (ms) => new Date(ms).toLocaleString(vscode.env.language)), false);
  md.supportHtml = false;
  md.isTrusted = false;
  return md;
}
