import * as vscode from 'vscode';
import { visibleText } from '../common/displayText';
import type { FolderItem, FolderKind } from '../viewModel/contracts';
import { itemTooltipMarkdown } from '../viewModel/itemTooltip';
import { type ShareNode, isShareNode, shareNodeLook, shareNodeTooltipMarkdown } from '../viewModel/shareNodes';
import { formatAge, formatSize, stageLook, verdictLook } from '../viewModel/itemLooks';
import type { FolderModels } from './folderModels';
import { itemUri } from './kdsUri';
import { capItems, viewItemCap } from '../viewModel/viewCap';

const refreshDebounceMs = 300;
/** Ages ("3 min") go stale; re-render visible trees this often. */
const ageTickMs = 60_000;

/**
 * A tree row: a file (the item itself, so commands receive a FolderItem), or, with several
 * shares, a share's node whose children are that share's files.
 */
export type KdsTreeElement = FolderItem | ShareNode;

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

  /** The shares' nodes (several shares), or the newest rows up to viewItemCap; the view's message says how many there are in all. */
  getChildren(element?: KdsTreeElement): KdsTreeElement[] {
    if (element && !isShareNode(element)) return [];
    if (!element && this.models.shares().length > 1) return this.models.shareNodes(this.folder);
    const items = element ? this.models.items(this.folder, element.share) : this.items();
    // The models keep their lists newest first already; a copy is sorted only when small.
    const sorted = items.length <= viewItemCap ? [...items].sort((a, b) => newest(b) - newest(a) || a.name.localeCompare(b.name)) : items;
    return capItems(sorted).shown;
  }

  getParent(element: KdsTreeElement): KdsTreeElement | undefined {
    if (isShareNode(element) || this.models.shares().length < 2) return undefined;
    return this.models.shareNodes(this.folder).find((n) => n.share === element.share);
  }

  getTreeItem(element: KdsTreeElement): vscode.TreeItem {
    if (isShareNode(element)) return shareRow(element);
    const item = element;
    // A name may hold newlines or a right-to-left override (invoice<U+202E>gpj.exe): shown as escapes.
    const row = new vscode.TreeItem(visibleText(item.name), vscode.TreeItemCollapsibleState.None);
    row.id = `${item.folder}/${item.share ?? ''}/${item.name}`;
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
  resolveTreeItem(row: vscode.TreeItem, element: KdsTreeElement): vscode.TreeItem {
    row.tooltip = markdown(isShareNode(element) ? shareNodeTooltipMarkdown(element) : itemTooltipMarkdown(element, (ms) => new Date(ms).toLocaleString(vscode.env.language)));
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

function markdown(text: string): vscode.MarkdownString {
  const md = new vscode.MarkdownString(text, false);
  md.supportHtml = false;
  md.isTrusted = false;
  return md;
}

/** A share's node: expanded at first, its counts and health as the description; `kdsShare:<folder>` for the menus. */
function shareRow(node: ShareNode): vscode.TreeItem {
  const look = shareNodeLook(node);
  const row = new vscode.TreeItem(look.label, vscode.TreeItemCollapsibleState.Expanded);
  row.id = `${node.folder}/share/${node.share}`;
  row.description = look.description;
  row.iconPath = new vscode.ThemeIcon(look.icon, look.color ? new vscode.ThemeColor(look.color) : undefined);
  row.contextValue = `kdsShare:${node.folder}`;
  return row;
}
