import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initL10n, pluralCategory, pluralTemplates, tn } from '../../src/common/l10n';
import { formatBytes, localeNumber } from '../../src/webviewProtocol/byteSize';
import { byteUnitTemplates, formatSize } from '../../src/viewModel/itemLooks';

test('English: one and other', () => {
  initL10n('en');
  assert.equal(tn(1, '{0} file in quarantine', '{0} files in quarantine'), '1 file in quarantine');
  assert.equal(tn(0, '{0} file in quarantine', '{0} files in quarantine'), '0 files in quarantine');
  assert.equal(tn(2, '{0} file in quarantine', '{0} files in quarantine'), '2 files in quarantine');
});

test('Russian: one (1, 21), few (2–4, 22), many (5–20, 11, 0) from the bundle', () => {
  initL10n('ru');
  try {
    assert.deepEqual([1, 21, 2, 4, 22, 5, 11, 12, 20, 0].map((n) => pluralCategory(n)), ['one', 'one', 'few', 'few', 'few', 'many', 'many', 'many', 'many', 'many']);
    const q = (n: number) => tn(n, '{0} file in quarantine', '{0} files in quarantine');
    assert.equal(q(1), '1 файл в карантине');
    assert.equal(q(21), '21 файл в карантине');
    assert.equal(q(3), '3 файла в карантине');
    assert.equal(q(5), '5 файлов в карантине');
    assert.equal(q(11), '11 файлов в карантине');
    // Extra placeholders after the count.
    assert.match(tn(2, '{1} of {0} file', '{1} of {0} files', 1), /^1 из 2 файлов$/);
    // The webview gets the same forms as templates.
    const forms = pluralTemplates('x', '{0} file in quarantine', '{0} files in quarantine');
    assert.deepEqual(forms, { 'x#one': '{0} файл в карантине', 'x#few': '{0} файла в карантине', 'x#many': '{0} файлов в карантине', 'x#other': '{0} файла в карантине' });
  } finally {
    initL10n('en');
  }
});

test('a plural the bundle lacks falls back to the English forms', () => {
  initL10n('ru');
  try {
    assert.equal(tn(1, '{0} zebra', '{0} zebras'), '1 zebra');
    assert.equal(tn(3, '{0} zebra', '{0} zebras'), '3 zebras');
  } finally {
    initL10n('en');
  }
});

test('one size format: trees, Verdicts and the ICAP log viewer agree ("5 B", not "5 byte"; a unit after the ICAP file size)', () => {
  initL10n('en');
  const units = byteUnitTemplates();
  for (const n of [0, 5, 1023, 1024, 1536, 41_445, 10 * 1024 * 1024, 5 * 1024 ** 3]) assert.equal(formatBytes(n, units), formatSize(n));
  assert.equal(formatSize(5), '5 B');
  assert.equal(formatSize(41_445), '40 KiB');
  assert.equal(formatBytes(1536, units, localeNumber('en')), '1.5 KiB');
  assert.equal(formatBytes(1023, units, localeNumber('en')), '1,023 B');
  initL10n('ru');
  try {
    assert.equal(formatBytes(1536, byteUnitTemplates(), localeNumber('ru')), '1,5 КиБ');
  } finally {
    initL10n('en');
  }
});
