import * as vscode from 'vscode';
import type { FileStage, Verdict } from '../engine/events';
import type { FolderItem, FolderKind } from '../viewModel/contracts';

/**
 * Tree items carry their state in a custom-scheme resource URI (`kds-item:/qrnt/<name>?verdict=detect`)
 * so that one FileDecorationProvider can colour and badge every item of the three views.
 */
export const kdsItemScheme = 'kds-item';

export interface KdsItemState {
  folder: FolderKind;
  name: string;
  stage?: FileStage;
  verdict?: Verdict;
}

export function itemUri(item: FolderItem): vscode.Uri {
  const query = new URLSearchParams();
  if (item.stage) query.set('stage', item.stage);
  if (item.verdict) query.set('verdict', item.verdict);
  return vscode.Uri.from({ scheme: kdsItemScheme, path: `/${item.folder}/${item.name}`, query: query.toString() });
}

export function parseItemUri(uri: vscode.Uri): KdsItemState | undefined {
  if (uri.scheme !== kdsItemScheme) return undefined;
  const m = /^\/(in|out|qrnt)\/(.+)$/.exec(uri.path);
  if (!m) return undefined;
  const query = new URLSearchParams(uri.query);
  return {
    folder: m[1] as FolderKind,
    name: m[2]!,
    stage: (query.get('stage') ?? undefined) as FileStage | undefined,
    verdict: (query.get('verdict') ?? undefined) as Verdict | undefined,
  };
}
