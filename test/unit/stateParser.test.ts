import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normaliseState, parseStatesBody } from '../../src/kata/stateParser';

test('a state already spelt as KDS spells it is taken as it is; any other spelling is normalised', () => {
  for (const s of ['detect', 'not detected', 'processing', 'timeout', 'error']) {
    assert.equal(normaliseState(s), s);
    assert.equal(normaliseState([s]), s);
  }
  assert.equal(normaliseState(' Not_Detected '), 'not detected');
  assert.equal(normaliseState(['NOT-DETECTED']), 'not detected');
  assert.equal(normaliseState('quarantined?'), 'quarantined?', 'an unknown state is kept, never guessed');
  assert.equal(normaliseState([]), undefined);
  assert.equal(normaliseState(['  ']), undefined);
  assert.equal(normaliseState(7), '7');
});

test('several entries: any detect wins, then anything not clean, then processing; clean only when all say so', () => {
  assert.equal(normaliseState(['not detected', 'detect']), 'detect');
  assert.equal(normaliseState(['not detected', 'error', 'timeout']), 'error');
  assert.equal(normaliseState(['processing', 'not detected']), 'processing');
  assert.equal(normaliseState(['not detected', 'Not Detected']), 'not detected');
  assert.equal(normaliseState(['not detected', 'weird']), 'weird');
});

test('a state list is parsed once into scanId and normalised state', () => {
  assert.deepEqual(parseStatesBody('[{"scanId":12,"state":["not detected"]},{"scanId":"b","state":"Detect"},{"scanId":"c"},{"state":"error"}]'), [
    { scanId: '12', state: 'not detected' },
    { scanId: 'b', state: 'detect' },
  ]);
});
