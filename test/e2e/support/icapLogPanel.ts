/**
 * The ICAP log panel (webview/icapLog) as the e2e scenarios drive it: its match count, the
 * "blocking_advanced mode + verdict lines only" filter, and the grep count it must equal.
 */
import { execFileSync } from 'node:child_process';
import type { FrameLocator } from 'playwright-core';
import { waitFor } from './wait';
import { choose } from './workbench';

/** What `grep -F 'blocking_advanced mode' FILE | grep -F -c verdict` counts. */
export function grepBlockingVerdictCount(file: string): number {
  return Number(execFileSync('bash', ['-c', `grep -F 'blocking_advanced mode' "$1" | grep -F -c verdict || true`, 'grep', file], { encoding: 'utf8' }).trim());
}

/** Waits for the panel's count to be done (and equal to `value` when given) and returns it. */
export function icapCountSettler(frame: FrameLocator): (what: string, value?: number) => Promise<number> {
  const count = frame.locator('[data-testid="icap-count"]');
  return async (what, value) =>
    waitFor(what, async () => {
      if (!(await count.count())) return undefined;
      const state = await count.first().getAttribute('data-state');
      const n = Number((await count.first().innerText()).trim());
      return state === 'done' && (value === undefined || n === value) ? n : undefined;
    }, 30_000);
}

/** Chooses blocking_advanced mode and checks "verdict lines only", like a person. */
export async function showBlockingVerdictLinesOnly(frame: FrameLocator): Promise<void> {
  await choose(frame, '[data-testid="icap-mode"]', 'blocking_advanced');
  const verdictOnly = frame.locator('[data-testid="icap-verdict-only"]');
  if ((await verdictOnly.getAttribute('aria-checked')) !== 'true') await verdictOnly.click();
  await waitFor('"verdict lines only" to be checked', async () => ((await verdictOnly.getAttribute('aria-checked')) === 'true' ? true : undefined));
}
