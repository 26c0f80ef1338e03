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
