/**
 * Issue 19, point 7: VS Code analyzes captures in a child process with its own heap limit
 * (src/capture/isolatedAnalysis.ts). The child gives the same analysis as in-process, a cancel
 * ends it at once, and a capture too much for its limit ends the child, not the caller.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { analyzeCaptureFile } from '../../src/capture/analyzeCapture';
import { analyzeCaptureIsolated } from '../../src/capture/isolatedAnalysis';
import { initL10n } from '../../src/common/l10n';
import { Conversation, icap, pcapFile } from '../helpers/captureWriter';
import { writeLongHeads, writeManySyns } from '../helpers/hostileCaptures';
import { tempDir } from '../helpers/tempDirs';

const dir = tempDir('kds-capture-isolated-');

test('the child gives the analysis the extension host would have made, in the caller\'s language, with progress', async () => {
  const c = new Conversation({ addr: '10.0.0.2', port: 40000 }, { addr: '10.0.0.9', port: 1344 }).handshake();
  c.send(0, icap.options('10.0.0.9')).send(1, icap.optionsAnswer());
  const [whole] = icap.respmod('10.0.0.9', 'http://example/eicar.com', Buffer.from('X5O!P%@AP'), null);
  c.send(0, whole).send(1, icap.blocked('EICAR-Test-File')).close();
  const path = join(dir, 'small.pcap');
  writeFileSync(path, pcapFile(1, c.frames('ethernet')));
  let progress = 0;
  const isolated = await analyzeCaptureIsolated(path, { onProgress: () => progress++ });
  assert.deepEqual(isolated, await analyzeCaptureFile(path));
  assert.ok(progress >= 1);
  initL10n('ru');
  try {
    const ru = await analyzeCaptureIsolated(path, { locale: 'ru' });
    assert.deepEqual(ru, await analyzeCaptureFile(path));
    assert.notDeepEqual(ru.diagnosis, isolated.diagnosis, 'the diagnosis is in Russian');
  } finally {
    initL10n('en');
  }
});

test('a cancel kills the child at once', async () => {
  const path = join(dir, 'syns.pcap');
  writeManySyns(path, 130_000);
  const controller = new AbortController();
  // Cancelled at the child's first progress message, whichever it is: progress is reported by the
  // clock, so a fast run may send only the last one (done = total), and even that one comes before
  // the result, so the cancel always lands while the child still has its answer to give.
  const run = analyzeCaptureIsolated(path, { signal: controller.signal, onProgress: () => controller.abort(new Error('cancelled by the user')) });
  await assert.rejects(run, /cancelled by the user/);
});

test('a capture that needs more than the child\'s heap limit ends the child with a clear error; the caller goes on', async () => {
  const path = join(dir, 'details.pcap');
  // Thousands of transactions whose header text is kept: far more than a 24 MB heap holds.
  writeLongHeads(path, 8 << 20, 60);
  await assert.rejects(analyzeCaptureIsolated(path, { heapMb: 24 }), /needed more memory than its limit \(24 MB\)/);
  // The caller is unharmed and can analyze again with room enough.
  const a = await analyzeCaptureIsolated(path);
  assert.ok(a.totalTransactions > 1000, String(a.totalTransactions));
});

test('point 7: the captures that exhausted the analysis before its bounds (300 000 one-SYN connections, 16 000-line ICAP heads) fit a 128 MB heap', async () => {
  // Before the bounds these needed 924 MiB and 509 MiB, and a 128 MB heap ended in "heap out of memory".
  const syns = join(dir, 'syns-300k.pcap');
  writeManySyns(syns, 300_000);
  const a = await analyzeCaptureIsolated(syns, { heapMb: 128 });
  assert.equal(a.connections, 300_000);
  assert.ok(a.findings.some((f) => f.code === 'syn-unanswered'), a.findings.map((f) => f.code).join());
  const heads = join(dir, 'heads-20m.pcap');
  writeLongHeads(heads, 20 << 20, 16_000);
  const b = await analyzeCaptureIsolated(heads, { heapMb: 128, port: 1344 });
  assert.ok(b.totalTransactions >= 300, String(b.totalTransactions));
  assert.equal(b.bounds.messagesWithDroppedLines, b.transactions.length);
});
