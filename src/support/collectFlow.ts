import { mkdir } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { t } from '../common/l10n';
import { COLLECT_TOOL, type CollectedArchive, pendingDownload, prepareDownload, removeRemoteArchive, runKataCollect } from './collectArchive';
import { kataTool } from './kataTools';
import type { HostAccess } from './hostAccess';
import { formatSize } from '../viewModel/itemLooks';
import { type DownloadResult, type DownloadState, resumableDownload } from './resumableDownload';

/** Sizes in messages, as everywhere in KDS. */
export const humanSize = formatSize;

/** `kds collect` from start to end: shared by the command line, the support bundle and VS Code. */

export interface CollectUi {
  print(line: string): void;
  progress?(done: number, total: number): void;
  confirmRemoval(state: DownloadState): Promise<boolean>;
}

export interface CollectOutcome {
  download: DownloadResult;
  state: DownloadState;
  removed: boolean;
}

export async function collect(host: HostAccess, outDir: string, ui: CollectUi, opts: { fresh?: boolean; archive?: string } = {}): Promise<CollectOutcome> {
  await mkdir(outDir, { recursive: true, mode: 0o700 });
  let state: DownloadState;
  let local: string;
  const pending = opts.fresh || opts.archive ? undefined : await pendingDownload(host, outDir);
  if (pending) {
    ({ state, local } = pending);
    ui.print(t('Continuing the unfinished download of {0} ({1}).', state.remotePath, humanSize(state.size)));
  } else {
    let collected: CollectedArchive | undefined;
    if (opts.archive) state = await prepareDownload(host, opts.archive);
    else {
      // Found first: a missing tool is said once, never after "Running…".
      const tool = await kataTool(host, COLLECT_TOOL);
      ui.print(t('Running kata-collect on {0}; this can take several minutes.', host.where));
      collected = await runKataCollect(host, undefined, tool);
      state = collected.state;
    }
    local = join(outDir, posix.basename(state.remotePath));
    ui.print(t('Archive {0}: {1} ({2} bytes), SHA-256 {3}', state.remotePath, humanSize(state.size), String(state.size), state.sha256));
  }
  const download = await resumableDownload(host, state, local, ui.progress);
  if (download.resumedFrom > 0) ui.print(t('Continued from byte {0}.', String(download.resumedFrom)));
  ui.print(t('Downloaded {0}; size and SHA-256 match the Central Node.', download.local));
  let removed = false;
  if (await ui.confirmRemoval(state)) {
    removed = await removeRemoteArchive(host, state);
    ui.print(removed ? t('Removed {0} on {1}.', state.remotePath, host.where) : t('Could not remove {0} on {1}; remove it by hand.', state.remotePath, host.where));
  } else {
    ui.print(t('{0} stays on {1}.', state.remotePath, host.where));
  }
  return { download, state, removed };
}


