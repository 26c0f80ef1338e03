import { tn } from '../common/l10n';

/**
 * A tree view with 100 000 rows makes VS Code's renderer and the extension host crawl (every row
 * is a TreeItem sent over RPC). The views show the newest rows up to this cap and say how many
 * there are; the Verdicts panel (virtualised) and the status bar count all of them.
 */
export const viewItemCap = 1000;

export interface CappedItems<T> {
  shown: T[];
  total: number;
}

/** The first `cap` of `items` (already newest first) and the total. */
export function capItems<T>(items: readonly T[], cap: number = viewItemCap): CappedItems<T> {
  return { shown: items.slice(0, cap), total: items.length };
}

/** The line above a capped view ("Showing the newest 1000 of 100000 files"); undefined when nothing is hidden. */
export function capMessage(total: number, cap: number = viewItemCap): string | undefined {
  if (total <= cap) return undefined;
  return tn(total, 'Showing the newest {1} of {0} file; the Verdicts panel lists them all.', 'Showing the newest {1} of {0} files; the Verdicts panel lists them all.', cap);
}
