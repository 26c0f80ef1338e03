import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UploadCancel } from '../../src/engine/uploadCancel';

test('an upload cancel tells each listener once, with its reason, as an AbortSignal does', () => {
  const c = new UploadCancel();
  const heard: string[] = [];
  const a = () => heard.push('a');
  const b = () => heard.push('b');
  c.addEventListener('abort', a);
  c.addEventListener('abort', b);
  c.removeEventListener('abort', b);
  assert.equal(c.aborted, false);
  c.abort();
  c.abort(new Error('again'));
  assert.deepEqual(heard, ['a']);
  assert.equal(c.aborted, true);
  assert.equal((c.reason as Error).name, 'AbortError', 'no reason: an AbortError, like AbortController.abort()');
  // A listener added after the abort is never called (the event has happened).
  c.addEventListener('abort', () => heard.push('late'));
  assert.deepEqual(heard, ['a']);
  const d = new UploadCancel();
  const why = new Error('file changed');
  d.abort(why);
  assert.equal(d.reason, why);
});
