import { markdownCode, markdownText } from '../common/displayText';
import { t } from '../common/l10n';
import type { FolderItem } from './contracts';
import { formatSize, stageLook, verdictLook } from './itemLooks';

/**
 * The Markdown of a tree row's tooltip. A file name, a path, a threat name and the user who
 * released a file come from others (share users, KATA): every one of them is plain text here —
 * newlines and bidi/C1 controls shown as escapes, Markdown punctuation escaped, code spans fenced
 * longer than any backtick run — so a name like `a\n\n[x](https://…)` can form no link, image,
 * heading or HTML. The caller renders it with HTML and commands off.
 */
export function itemTooltipMarkdown(item: FolderItem, time: (ms: number) => string): string {
  const rows: Array<[string, string]> = [[t('Path'), markdownCode(item.path)], [t('Size'), markdownText(`${formatSize(item.size)} (${item.size})`)]];
  if (item.folder === 'in' && item.stage) rows.push([t('State'), markdownText(stageLook(item.stage).label) + (item.stageReason ? ` — ${markdownText(item.stageReason)}` : '')]);
  if (item.folder !== 'in') rows.push([t('Verdict'), markdownText(verdictLook(item.verdict).label)]);
  // KATA's own word only where it says more than the verdict ("detect" is what "detected" shows).
  if (item.folder !== 'in' && item.rawState !== undefined && item.rawState.trim().toLowerCase() !== (item.verdict ?? '')) rows.push([t('KATA state'), markdownCode(item.rawState)]);
  if (item.threat) rows.push([t('Threat'), markdownText(item.threat)]);
  if (item.sha256) rows.push(['SHA-256', markdownCode(item.sha256)]);
  if (item.scanId) rows.push(['scanId', markdownCode(item.scanId)]);
  rows.push([t('Modified'), markdownText(time(item.mtimeMs))]);
  if (item.submittedAt) rows.push([t('Submitted'), markdownText(time(item.submittedAt))]);
  if (item.routedAt) rows.push([t('Moved'), markdownText(time(item.routedAt))]);
  if (item.released) rows.push([t('Released from quarantine'), markdownText(t('by {0}, {1}', item.released.by, time(item.released.at)))]);
  return `**${markdownText(item.name)}**\n\n` + rows.map(([k, v]) => `${markdownText(k)}: ${v}`).join('  \n');
}
