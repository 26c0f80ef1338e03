import * as vscode from 'vscode';
import type { ShareConfig } from '../engine/config';
import type { FolderItem } from '../viewModel/contracts';
import { isShareNode } from '../viewModel/shareNodes';

/**
 * The share a command acts on: the share of the tree item or share node it was invoked on, the
 * only share, or (several shares, from the command palette) one the user picks. Undefined when
 * there is no configuration or the pick was cancelled.
 */
export async function shareArgument(shares: readonly ShareConfig[], arg: unknown, placeHolder: string): Promise<ShareConfig | undefined> {
  const named = isShareNode(arg) ? arg.share : typeof arg === 'object' && arg !== null ? (arg as FolderItem).share : undefined;
  const chosen = typeof named === 'string' ? shares.find((x) => x.name === named) : undefined;
  if (chosen) return chosen;
  if (shares.length <= 1) return shares[0];
  const picked = await vscode.window.showQuickPick(
    shares.map((share) => ({ label: share.name, description: share.in_dir, share })),
    { placeHolder },
  );
  return picked?.share;
}
