import { readdir, readFile } from 'node:fs/promises';
import type { Logger } from '../common/log';
import type { KdsConfig, ShareConfig } from '../engine/config';
import { deleteFromQuarantine, quarantineAuditFile, releaseFromQuarantine } from '../engine/quarantineActions';
import { applyExcludeEdit } from './excludeEditing';

/**
 * What the commands change on the engine the views show, whichever it is: the exclude list and
 * the quarantine. One interface, two back ends — the local engine here, a Central Node in
 * extension/centralNode/cnOps.ts — so a command never branches on the mode.
 */

export interface ExcludeListStore {
  /** The share whose list this is. */
  readonly share: string;
  /** Where the list is (shown in titles): a local path or user@host:/path. */
  readonly label: string;
  readonly caseSensitive: boolean;
  /** The list's text; a missing list is empty. */
  read(): Promise<string>;
  /**
   * Adds and/or removes one entry (comments and other lines kept), writes atomically, and makes
   * the engine use it. Rejects with a message for the user when any of that failed.
   */
  edit(edit: { add?: string; remove?: string }): Promise<void>;
  /** Names of the regular files in input now (for the entries' match counts). */
  inputNames(): Promise<string[]>;
}

export interface QuarantineStore {
  /** The share whose quarantine this is. */
  readonly share: string;
  /** Where released files go (for the confirmation's text). */
  readonly outDir: string;
  release(name: string, user: string, reason?: string): Promise<{ path: string; sha256: string }>;
  delete(name: string, user: string, reason?: string): Promise<{ path: string; sha256: string }>;
}

async function localInputNames(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { withFileTypes: true })).filter((d) => d.isFile()).map((d) => d.name);
  } catch {
    return [];
  }
}

/** A share's exclude list of the local engine; `onChanged` makes the engine re-read it (a rescan). */
export function localExcludeList(config: KdsConfig, share: ShareConfig, onChanged: () => void): ExcludeListStore {
  return {
    share: share.name,
    label: share.exclude_list,
    caseSensitive: config.exclude_case_sensitive,
    read: () =>
      readFile(share.exclude_list, 'utf8').catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return '';
        throw err;
      }),
    async edit(edit) {
      await applyExcludeEdit(share.exclude_list, edit);
      onChanged();
    },
    inputNames: () => localInputNames(share.in_dir),
  };
}

/** Release and delete in a share's quarantine here, logged to the engine's log and audited beside its journal. */
export function localQuarantine(config: KdsConfig, share: ShareConfig, logger: Logger): QuarantineStore {
  const request = (name: string, user: string, reason?: string) => ({
    share: share.name,
    qrntDir: share.qrnt_dir,
    name,
    user,
    logger,
    auditFile: quarantineAuditFile(config.state_dir),
    ...(reason && { reason }),
  });
  return {
    share: share.name,
    outDir: share.out_dir,
    release: (name, user, reason) => releaseFromQuarantine({ ...request(name, user, reason), outDir: share.out_dir }),
    delete: (name, user, reason) => deleteFromQuarantine(request(name, user, reason)),
  };
}
