import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KataApi } from './client';
import { KataError } from './errors';

const requestName = 'kds-integration-request.txt';

/**
 * The original set-up's enrolment: one tiny scan request with a fresh scanId, sent with the
 * client certificate. Any request carrying the system_id makes KATA show an integration
 * request; a scan is what the vendor's documentation suggests. Resolves when KATA accepted
 * the scan (the system is approved); a refusal rejects with KataError (401 pending, 403 rejected).
 */
export async function submitIntegrationRequest(client: KataApi): Promise<{ scanId: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'kds-enroll-'));
  try {
    const file = join(dir, requestName);
    const content = Buffer.from('KDS integration request\n');
    await writeFile(file, content);
    const scanId = randomUUID();
    await client.submit(file, { scanId, fileName: requestName, size: content.length });
    return { scanId };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface TestScanOutcome {
  /** The final state, or undefined when none arrived within the wait. */
  state?: string;
  /** Why reading the state or deleting the result failed, if it did. */
  stateError?: string;
  deleteError?: string;
}

/** Waits (bounded) for the test scan's verdict, then deletes it so no result is left in KATA. */
export async function collectTestScan(client: KataApi, scanId: string, opts: { waitMs: number; delayMs: number }): Promise<TestScanOutcome> {
  const outcome: TestScanOutcome = {};
  const deadline = Date.now() + opts.waitMs;
  while (opts.waitMs > 0) {
    try {
      const state = (await client.states()).find((s) => s.scanId === scanId)?.state;
      if (state !== undefined && state !== 'processing') {
        outcome.state = state;
        break;
      }
    } catch (err) {
      if (!(err instanceof KataError)) throw err;
      outcome.stateError = err.message;
      break;
    }
    if (Date.now() + opts.delayMs > deadline) break;
    await sleep(opts.delayMs);
  }
  try {
    await client.deleteResult(scanId);
  } catch (err) {
    if (!(err instanceof KataError)) throw err;
    outcome.deleteError = err.message;
  }
  return outcome;
}
