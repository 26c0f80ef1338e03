import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * A full garbage collection on request, after a burst of work whose intermediate objects all die
 * at its end (the first rescan of 100 000 waiting files, a listing of them, the snapshot written
 * for followers). V8 promotes much of such a burst to its old generation and then, in a process
 * that goes quiet, may leave it there for minutes: the service would hold twice what it uses.
 * Collecting once right after the burst gives the memory back at once. Rate-limited, so a
 * service under a steady stream of bursts spends at most one full collection per interval.
 */
const minIntervalMs = 20_000;
let collect: (() => void) | undefined | null;
let lastAt = 0;

function collector(): (() => void) | undefined {
  if (collect === undefined) {
    try {
      setFlagsFromString('--expose-gc');
      collect = runInNewContext('gc') as () => void;
    } catch {
      collect = null;
    }
  }
  return collect ?? undefined;
}

/** Collects now unless it did so less than 20 s ago (or `always`); true when it did. */
export function releaseBurstGarbage(always = false): boolean {
  const now = Date.now();
  if (!always && now - lastAt < minIntervalMs) return false;
  const gc = collector();
  if (!gc) return false;
  lastAt = now;
  gc();
  return true;
}

/**
 * For the service process only (never the VS Code extension host it shares with others): V8's
 * "optimize for size" mode keeps the young generation small and grows the heap less eagerly ahead
 * of need, which is what a service holding tens of thousands of waiting files wants; it also
 * collects three times as often, which costs a quarter of the CPU per file while files flow. The
 * service turns it on while it holds many files and off again when they are gone.
 */
export function preferSmallHeap(on: boolean): void {
  try {
    setFlagsFromString(on ? '--optimize-for-size' : '--no-optimize-for-size');
  } catch {
    // An embedder without V8 flags: the defaults are fine, only larger.
  }
}
