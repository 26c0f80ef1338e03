/**
 * The share of a one-share configuration (the top-level in_dir, out_dir and qrnt_dir of the
 * original), and of every journal entry, event or status line written before services had
 * several shares.
 */
export const defaultShareName = 'default';

/** The share a record belongs to: one without a share comes from a one-share service, or from a KDS older than shares. */
export function shareOf(r: { share?: string | undefined }): string {
  return r.share ?? defaultShareName;
}

/** One file in one share, as a map key (names never hold '/', so a name in two shares is two keys). */
export function shareFileKey(share: string | undefined, name: string): string {
  return `${share ?? defaultShareName}/${name}`;
}

/** A folder of a share as the engine last found it (a `folder` event, or the snapshot's list of them). */
export interface FolderState {
  share: string;
  folder: 'in' | 'out' | 'qrnt';
  available: boolean;
  path: string;
  reason?: string;
}
