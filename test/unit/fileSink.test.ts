import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { FileSink, KdsLogger, formatJson } from '../../src/common/log';
import { tempDir } from '../helpers/tempDirs';

const names = (path: string) =>
  readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { file: string }).file);

test('log file, coalesced: the lines of one turn are written at its end, whole and in order; flush, reopen and close write what waits', async () => {
  const dir = tempDir();
  const path = join(dir, 'kds.log');
  const sink = new FileSink(path, formatJson, true);
  const log = new KdsLogger({ sinks: [sink.write] });
  log.info('routed', 'moved to output', { file: 'a' });
  log.info('routed', 'moved to output', { file: 'b' });
  assert.equal(readFileSync(path, 'utf8'), '', 'nothing within the turn');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(names(path), ['a', 'b']);
  log.info('routed', 'moved to output', { file: 'c' });
  sink.flush();
  assert.deepEqual(names(path), ['a', 'b', 'c'], 'flush() (what the service does on exit) writes at once');
  log.info('routed', 'moved to output', { file: 'd' });
  renameSync(path, `${path}.1`);
  sink.reopen();
  assert.deepEqual(names(`${path}.1`), ['a', 'b', 'c', 'd'], 'lines logged before logrotate stay in the rotated file');
  log.info('routed', 'moved to output', { file: 'e' });
  sink.close();
  assert.deepEqual(names(path), ['e']);
  log.info('routed', 'moved to output', { file: 'f' });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(names(path), ['e'], 'nothing after close');
});

test('log file, not coalesced: every line is in the file when log() returns', () => {
  const dir = tempDir();
  const path = join(dir, 'kds.log');
  const sink = new FileSink(path, formatJson);
  const log = new KdsLogger({ sinks: [sink.write] });
  log.info('routed', 'moved to output', { file: 'a' });
  assert.deepEqual(names(path), ['a']);
  sink.close();
});
