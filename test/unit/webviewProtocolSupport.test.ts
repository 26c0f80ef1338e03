/** The "KDS: Create Support Request" panel's protocol: what the page may post to the host. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CHECKLIST_KEYS } from '../../src/support/supportSummary';
import { maxAnswerLength, parseSupportRequest } from '../../src/webviewProtocol/supportRequest';

test('support request panel protocol: only known fields, bounded answers, known languages', () => {
  const ok = { type: 'prepare', answers: { traffic: '1 Gbit/s', description: 'x' }, language: 'ru', kataLogs: true, collect: false };
  assert.deepEqual(parseSupportRequest(ok, CHECKLIST_KEYS), ok);
  assert.equal(parseSupportRequest({ ...ok, answers: { evil: 'x' } }, CHECKLIST_KEYS), undefined);
  assert.equal(parseSupportRequest({ ...ok, answers: { traffic: 'x'.repeat(maxAnswerLength + 1) } }, CHECKLIST_KEYS), undefined);
  assert.equal(parseSupportRequest({ ...ok, language: 'de' }, CHECKLIST_KEYS), undefined);
  assert.equal(parseSupportRequest({ ...ok, extra: 1 }, CHECKLIST_KEYS), undefined);
  assert.deepEqual(parseSupportRequest({ type: 'write' }, CHECKLIST_KEYS), { type: 'write' });
  assert.equal(parseSupportRequest({ type: 'removeFile', path: '' }, CHECKLIST_KEYS), undefined);
  assert.equal(parseSupportRequest({ type: 'shell', cmd: 'rm' }, CHECKLIST_KEYS), undefined);
});
