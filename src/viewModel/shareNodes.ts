import { markdownCode, markdownText } from '../common/displayText';
import { t, tn } from '../common/l10n';
import type { ShareConfig } from '../engine/config';
import type { EngineEvent } from '../engine/events';
import { type FolderState, shareOf } from '../engine/shareName';
import { ChangeNotifier } from './changeNotifier';
import type { EngineSource, FolderItem, FolderKind } from './contracts';

/**
 * With several shares, the Input, Output and Quarantine views show one node per share, its
 * files under it: the node says how many files there are, whether the share's folder is
 * usable, and (Input) which exclude list applies. With one share the views show the files
 * directly, as always.
 */
export interface ShareNode {
  kind: 'share';
  folder: FolderKind;
  share: string;
  /** This share's folder of the view's kind. */
  dir: string;
  excludeList: string;
  files: number;
  /** Input: files left there for good (excluded, too large). */
  skipped: number;
  /** Input: files KATA has or whose verdict is being acted on. */
  inProgress: number;
  /** Why the folder cannot be used now (an errno code, "the share is not mounted"); undefined when it can. */
  problem?: string;
}

const folderKey: Record<FolderKind, 'in_dir' | 'out_dir' | 'qrnt_dir'> = { in: 'in_dir', out: 'out_dir', qrnt: 'qrnt_dir' };

/** The nodes of one view, in the configuration's order of shares. */
export function shareNodes(folder: FolderKind, shares: readonly ShareConfig[], itemsOf: (share: string) => readonly FolderItem[], health: FolderHealthView): ShareNode[] {
  return shares.map((s) => {
    const items = itemsOf(s.name);
    let skipped = 0;
    let inProgress = 0;
    for (const i of items) {
      if (i.stage === 'excluded' || i.stage === 'too-large') skipped++;
      else if (i.stage === 'uploading' || i.stage === 'submitted' || i.stage === 'routing') inProgress++;
    }
    const problem = health.problem(s.name, folder);
    return { kind: 'share', folder, share: s.name, dir: s[folderKey[folder]], excludeList: s.exclude_list, files: items.length, skipped, inProgress, ...(problem !== undefined && { problem }) };
  });
}

export function isShareNode(x: unknown): x is ShareNode {
  return typeof x === 'object' && x !== null && (x as ShareNode).kind === 'share';
}

/** The node's row: the share's name, its counts (and trouble) as the description, an icon with a theme colour. */
export function shareNodeLook(node: ShareNode): { label: string; description: string; icon: string; color?: string } {
  const parts = [tn(node.files, '{0} file', '{0} files')];
  if (node.inProgress) parts.push(t('{0} with KATA', node.inProgress));
  if (node.skipped) parts.push(t('{0} skipped', node.skipped));
  if (node.problem !== undefined) parts.push(t('unavailable: {0}', node.problem));
  return {
    label: node.share,
    description: parts.join(' · '),
    icon: node.problem !== undefined ? 'warning' : 'folder-library',
    ...(node.problem !== undefined && { color: 'charts.orange' }),
  };
}

/** The node's tooltip, as Markdown of plain text (paths come from the configuration, which others may write). */
export function shareNodeTooltipMarkdown(node: ShareNode): string {
  const rows: Array<[string, string]> = [[t('Folder'), markdownCode(node.dir)]];
  rows.push([t('State'), markdownText(node.problem === undefined ? t('available') : t('unavailable: {0}', node.problem))]);
  rows.push([t('Files'), markdownText(String(node.files))]);
  if (node.folder === 'in') {
    rows.push([t('Exclude list'), markdownCode(node.excludeList)]);
    rows.push([t('With KATA or being moved'), markdownText(String(node.inProgress))]);
    rows.push([t('Excluded or too large'), markdownText(String(node.skipped))]);
  }
  return `**${markdownText(t('Share {0}', node.share))}**\n\n` + rows.map(([k, v]) => `${markdownText(k)}: ${v}`).join('  \n');
}

/**
 * Whether each share's folders are usable, as the engine last reported: its snapshot's list,
 * then its `folder` events. A folder never reported is taken as usable.
 */
export class FolderHealthView {
  private readonly state = new Map<string, FolderState>();
  private readonly notifier: ChangeNotifier;
  private readonly unsubscribe: () => void;

  constructor(source: EngineSource, coalesceMs = 100) {
    this.notifier = new ChangeNotifier(coalesceMs);
    this.unsubscribe = source.onEvent((e) => this.apply(e));
    for (const f of source.snapshot().folders ?? []) this.state.set(`${f.share}/${f.folder}`, f);
  }

  problem(share: string, folder: FolderKind): string | undefined {
    const f = this.state.get(`${share}/${folder}`);
    return f && !f.available ? (f.reason ?? t('unavailable')) : undefined;
  }

  onChange(listener: () => void): () => void {
    return this.notifier.on(listener);
  }

  dispose(): void {
    this.unsubscribe();
    this.notifier.dispose();
  }

  private apply(e: EngineEvent): void {
    if (e.type !== 'folder') return;
    const share = shareOf(e);
    const key = `${share}/${e.folder}`;
    const before = this.state.get(key);
    this.state.set(key, { share, folder: e.folder, available: e.available, path: e.path, ...(e.reason !== undefined && { reason: e.reason }) });
    if (before?.available !== e.available || before?.reason !== e.reason) this.notifier.changed();
  }
}
