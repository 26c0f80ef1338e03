/**
 * When a file in input has been unchanged since: the start of its stable_ms wait.
 *
 * On a local file system the file's own ctime says when it last changed, from this machine's
 * clock: any write, rename or change of its metadata moves ctime to the present, and no writer
 * can set it back (unlike mtime, which `touch -d` sets to anything, the future included). A file
 * that was complete some time before KDS saw it (a backlog at start, a file seen by a rescan
 * rather than an event) has already served that part of its wait. Elsewhere (SMB, CIFS, NFS,
 * FUSE) the times come from another machine's clock, so the wait starts when KDS sees the file.
 */

/**
 * File times are stamped from the kernel's coarse clock, up to one tick (a jiffy: at most 10 ms)
 * behind the clock Date.now() reads: a change can be that much later than its ctime says.
 */
export const fileClockTickMs = 10;

/** What a file's stat says about its last change. */
export interface ChangeTimes {
  ctimeMs: number;
  mtimeMs: number;
}

/**
 * The moment from which the file is known unchanged: its last change plus a clock tick when its
 * times are this machine's, never later than `now` (a future mtime says nothing), and never
 * earlier than `earliest` (the settling queue is in due order: a file queued after another is
 * not due before it).
 */
export function unchangedSince(now: number, st: ChangeTimes, clockIsOurs: boolean, earliest = -Infinity): number {
  const since = clockIsOurs ? Math.min(now, Math.max(st.ctimeMs, st.mtimeMs) + fileClockTickMs) : now;
  return Math.max(since, earliest);
}

/**
 * True when the file changed after KDS saw the ctime `seenCtimeMs`. Size and mtime are compared
 * as the file's version; ctime also catches a same-size rewrite whose writer put the mtime back.
 * Compared for equality, not order, so a clock stepped back by NTP cannot hold a file forever.
 */
export function changedSinceSeen(st: ChangeTimes, seenCtimeMs: number | undefined, clockIsOurs: boolean): boolean {
  return clockIsOurs && seenCtimeMs !== undefined && st.ctimeMs !== seenCtimeMs;
}
