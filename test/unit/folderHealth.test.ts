import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KdsLogger } from '../../src/common/log';
import { FolderHealth } from '../../src/engine/folderHealth';

function health(guard: (dir: string) => Promise<string | undefined>): FolderHealth {
  return new FolderHealth({ share: 'default', logger: new KdsLogger({ sinks: [] }), guard, emit: () => undefined });
}

test('the deliveries of one poll share one check of their destination', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kds-health-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  let checks = 0;
  const h = health(async () => {
    checks++;
    return undefined;
  });
  const answers = await Promise.all(Array.from({ length: 50 }, () => h.destinationProblem(dir)));
  assert.deepEqual(new Set(answers), new Set([undefined]));
  assert.equal(checks, 1);
  // Within the second after it passed, no check at all; after a failed delivery, a new one.
  assert.equal(await h.destinationProblem(dir), undefined);
  assert.equal(checks, 1);
  h.doubt(dir);
  await Promise.all([h.destinationProblem(dir), h.destinationProblem(dir)]);
  assert.equal(checks, 2);
});

test('a destination found unusable is checked again by the next delivery; a check that throws is not kept', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kds-health-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  let answer: string | Error | undefined = 'share not mounted';
  let checks = 0;
  const h = health(async () => {
    checks++;
    if (answer instanceof Error) throw answer;
    return answer;
  });
  assert.deepEqual(await Promise.all([h.destinationProblem(dir), h.destinationProblem(dir)]), ['share not mounted', 'share not mounted']);
  assert.equal(checks, 1);
  answer = new Error('guard failed');
  await assert.rejects(h.destinationProblem(dir), /guard failed/);
  answer = undefined;
  assert.equal(await h.destinationProblem(dir), undefined);
  assert.equal(checks, 3);
  // The folder itself is still checked after the guard: a missing folder is a problem.
  assert.match((await h.destinationProblem(join(dir, 'gone'))) ?? '', /./);
});
