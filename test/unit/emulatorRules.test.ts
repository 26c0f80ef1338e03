import { test } from 'node:test';
import assert from 'node:assert/strict';
import { zipSync } from 'fflate';
import { EICAR, isEicarTestFile } from '../../src/emulator/eicar';
import { findEicarInZip, zipLimits } from '../../src/emulator/zipScan';
import { drawFault, parseFaults, FaultSpecError } from '../../src/emulator/faults';
import { decodeDetectsToken, documentedScanId, encodeDetectsToken } from '../../src/emulator/apiRoutes';
import { testMarkerOf } from '../../src/emulator/detection';
import { canonicalFingerprint } from '../../src/emulator/systemsRegistry';

const eicar = Buffer.from(EICAR, 'latin1');

test('EICAR: the 68-byte string alone, or followed by white space up to 128 bytes, is the test file', () => {
  assert.equal(eicar.length, 68);
  assert.ok(isEicarTestFile(eicar));
  assert.ok(isEicarTestFile(Buffer.from(EICAR + '\r\n')));
  assert.ok(isEicarTestFile(Buffer.from(EICAR + ' \t\r\n\x1a')));
  assert.ok(isEicarTestFile(Buffer.from(EICAR + ' '.repeat(128 - 68))));
});

test('EICAR: other trailing bytes, more than 128 bytes, or a prefix are not the test file', () => {
  assert.ok(!isEicarTestFile(Buffer.from(EICAR + 'x')));
  assert.ok(!isEicarTestFile(Buffer.from(EICAR + '\n\0')));
  assert.ok(!isEicarTestFile(Buffer.from(EICAR + ' '.repeat(128 - 68 + 1))));
  assert.ok(!isEicarTestFile(Buffer.from(' ' + EICAR)));
  assert.ok(!isEicarTestFile(eicar.subarray(0, 67)));
  assert.ok(!isEicarTestFile(Buffer.concat([Buffer.alloc(4096, 'a'), eicar, Buffer.alloc(4096, 'b')])));
  assert.ok(!isEicarTestFile(Buffer.alloc(0)));
});

test('ZIP: EICAR is found in an entry and in a nested archive, not deeper than the limit', () => {
  const flat = zipSync({ 'readme.txt': Buffer.from('hello'), 'dir/eicar.com': eicar });
  assert.equal(findEicarInZip(flat), 'dir/eicar.com');
  const stored = zipSync({ 'eicar.com': [eicar, { level: 0 }] });
  assert.equal(findEicarInZip(stored), 'eicar.com');
  const nested = zipSync({ 'inner.zip': zipSync({ 'eicar.com': eicar }) });
  assert.equal(findEicarInZip(nested), 'inner.zip/eicar.com');
  assert.equal(zipLimits.maxDepth, 2);
  const tooDeep = zipSync({ 'a.zip': zipSync({ 'b.zip': zipSync({ 'eicar.com': eicar }) }) });
  assert.equal(findEicarInZip(tooDeep), undefined);
  assert.equal(findEicarInZip(zipSync({ 'clean.txt': Buffer.from('nothing here') })), undefined);
  assert.equal(findEicarInZip(zipSync({ 'padded.com': Buffer.from(EICAR + 'tail') })), undefined);
});

test('ZIP: damaged archives and oversized entries are skipped, not fatal', () => {
  const good = zipSync({ 'eicar.com': eicar });
  assert.equal(findEicarInZip(good.subarray(0, good.length - 10)), undefined);
  assert.equal(findEicarInZip(Buffer.from('PK\x03\x04 definitely not a zip file at all')), undefined);
  // A big entry (declared size above the limit) is not extracted; the small one still is.
  const big = zipSync({ 'big.bin': new Uint8Array(zipLimits.maxEntryBytes + 1), 'eicar.com': eicar });
  assert.equal(findEicarInZip(big), 'eicar.com');
});

test('fault spec: strict parsing', () => {
  assert.deepEqual(parseFaults('429=0.1,500=0.05,reset=0.02,latency=200'), { p429: 0.1, p500: 0.05, pReset: 0.02, latencyMs: 200 });
  assert.deepEqual(parseFaults(''), { p429: 0, p500: 0, pReset: 0, latencyMs: 0 });
  assert.deepEqual(parseFaults('reset=1'), { p429: 0, p500: 0, pReset: 1, latencyMs: 0 });
  for (const bad of ['429', '429=', '429=1.5', '429=-0.1', '429=abc', 'latency=1.5', 'latency=-1', 'teapot=0.1', '429=0.5,429=0.1', '429=0.6,500=0.6', '429=0.1,,500=0.1', 'latency=999999']) {
    assert.throws(() => parseFaults(bad), FaultSpecError, bad);
  }
});

test('fault draw: one draw, cumulative probabilities', () => {
  const plan = parseFaults('429=0.25,500=0.25,reset=0.25');
  assert.equal(drawFault(plan, () => 0.1), '429');
  assert.equal(drawFault(plan, () => 0.3), '500');
  assert.equal(drawFault(plan, () => 0.6), 'reset');
  assert.equal(drawFault(plan, () => 0.9), undefined);
  assert.equal(drawFault(parseFaults('429=1'), () => 0.999999), '429');
  assert.equal(drawFault(parseFaults(''), () => 0), undefined);
});

test('scans/state array shape: digits become a number only when lossless', () => {
  assert.equal(documentedScanId('1'), 1);
  assert.equal(documentedScanId('0'), 0);
  assert.equal(documentedScanId('007'), '007');
  assert.equal(documentedScanId('12345678901234567890'), '12345678901234567890');
  assert.equal(documentedScanId('a1'), 'a1');
  assert.equal(documentedScanId('1-2'), '1-2');
});

test('detects cursor: hex of {"offset": n} like the vendor example', () => {
  assert.equal(encodeDetectsToken(0), '7b226f6666736574223a20307d');
  assert.equal(decodeDetectsToken('7b226f6666736574223a20307d'), 0);
  assert.equal(decodeDetectsToken(encodeDetectsToken(42)), 42);
  for (const bad of ['', 'zz', '7b', Buffer.from('{"offset": -1}').toString('hex'), Buffer.from('{"offset": "1"}').toString('hex'), Buffer.from('[]').toString('hex')]) {
    assert.equal(decodeDetectsToken(bad), undefined, bad);
  }
});

test('test markers are recognised at the start only', () => {
  assert.equal(testMarkerOf(Buffer.from('KDS-TEST-ERROR and more')), 'error');
  assert.equal(testMarkerOf(Buffer.from('KDS-TEST-TIMEOUT')), 'timeout');
  assert.equal(testMarkerOf(Buffer.from('KDS-TEST-SLOW\n')), 'slow');
  assert.equal(testMarkerOf(Buffer.from(' KDS-TEST-ERROR')), undefined);
  assert.equal(testMarkerOf(Buffer.from('')), undefined);
});

test('fingerprints: any spelling becomes AA:BB:…, anything else is refused', () => {
  const hex = 'ab'.repeat(32);
  const canonical = Array(32).fill('AB').join(':');
  assert.equal(canonicalFingerprint(hex), canonical);
  assert.equal(canonicalFingerprint(canonical.toLowerCase()), canonical);
  assert.equal(canonicalFingerprint(`SHA256:${hex}`), canonical);
  assert.equal(canonicalFingerprint('ab:cd'), undefined);
});
