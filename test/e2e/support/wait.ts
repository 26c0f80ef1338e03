/**
 * Polls `probe` until it returns something other than undefined (or false); fails after
 * `deadlineMs` with what was awaited and the last value/error seen. Pauses stay under a second.
 */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, deadlineMs = 15_000): Promise<T> {
  const end = Date.now() + deadlineMs;
  let pause = 50;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value as T;
      last = value;
    } catch (err) {
      if (err instanceof FatalWait) throw err;
      last = err;
    }
    if (Date.now() > end) {
      const detail = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`timed out after ${deadlineMs} ms waiting for ${what} (last: ${detail})`);
    }
    await new Promise((r) => setTimeout(r, pause));
    pause = Math.min(pause * 2, 500);
  }
}

/** Thrown from a probe to stop waiting at once. */
export class FatalWait extends Error {}
