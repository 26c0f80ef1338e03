/**
 * Exponential backoff with "equal jitter": half the delay is fixed, half random, so a crowd of
 * files retrying after the same 429 spreads out without ever retrying immediately.
 */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.max(0, Math.min(attempt, 30)));
  return Math.round(exp / 2 + (exp / 2) * random());
}
