/**
 * Issue 23, point 11: the support questions on a terminal (`kds support-bundle`): a required
 * field is asked again until answered, the description and the steps take several lines, what
 * KDS found is the default, and a missing kata-collect is said once — never followed by
 * "Running kata-collect…".
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { askChecklist } from '../../src/cli/checklistQuestions';
import { collect } from '../../src/support/collectFlow';
import { LocalHostAccess } from '../../src/support/hostAccess';
import { MissingKataTool } from '../../src/support/kataTools';

const dir = mkdtempSync(join(tmpdir(), 'kds-questions-unit-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A terminal that types `typed` line by line (undefined = end of input) and keeps what was printed. */
function terminal(typed: string[]) {
  const printed: string[] = [];
  const prompts: string[] = [];
  let i = 0;
  return {
    printed,
    prompts,
    io: {
      print: (l: string) => void printed.push(l),
      ask: async (p: string) => {
        prompts.push(p);
        return i < typed.length ? typed[i++] : undefined;
      },
    },
  };
}

test('a required field is asked again after an empty Enter; "-" leaves it empty on purpose', async () => {
  const prefilled = { hardware: 'Dell R640, 125.6 GiB RAM', integrations: 'Scanner REST API (KDS 1.0.0)', problemTime: '2024-05-01T10:00:00.000Z' };
  const term = terminal([
    '', // hardware: Enter keeps what KDS found
    '', // traffic: required, nothing found → asked again
    '  ', // …and again
    '200 Mbit/s',
    'ICAP (Squid), KDS', // integrations
    '', // KATA version: required, nothing found
    '-', // …left empty on purpose
    '', // KEDR version: optional
    '', // OS: optional
    '', // problem time: keeps the default
    'No ICAP detections.', // description, line 1
    'The proxy sends traffic.', // line 2
    '', // ends the description
    '1. download a .deb through the proxy',
    '2. grep ICAP in log-history',
    '', // ends the steps
    'Ivan', // contact
  ]);
  const answers = await askChecklist(term.io, prefilled, {}, 'en', { kataVersion: 'KDS found no KATA or KEDR package on this computer: enter the version.' });
  assert.deepEqual(answers, {
    traffic: '200 Mbit/s',
    integrations: 'ICAP (Squid), KDS',
    description: 'No ICAP detections.\nThe proxy sends traffic.',
    steps: '1. download a .deb through the proxy\n2. grep ICAP in log-history',
    contact: 'Ivan',
  });
  assert.equal(term.printed.filter((l) => /This field is required/.test(l)).length, 3, 'traffic twice, KATA version once');
  assert.ok(term.printed.some((l) => /KDS found no KATA or KEDR package/.test(l)), 'why the KATA version has no default');
  assert.ok(term.prompts.includes('[Dell R640, 125.6 GiB RAM] > '), 'the found value is the default');
  assert.ok(term.prompts.includes('… '), 'continuation lines of a multi-line answer');
  assert.ok(term.printed.some((l) => /Several lines; an empty line ends them/.test(l)));
});

test('end of input stops asking and keeps what was answered; answers given beforehand are not asked', async () => {
  const term = terminal(['Dell', '10 Mbit/s']);
  const answers = await askChecklist(term.io, {}, { integrations: 'ICAP' }, 'ru');
  assert.deepEqual(answers, { integrations: 'ICAP', hardware: 'Dell', traffic: '10 Mbit/s' });
  assert.ok(term.printed.some((l) => l.includes('Модель и характеристики оборудования')));
  assert.ok(!term.printed.some((l) => l.includes('Типы интеграции')), 'a given answer is not asked');
});

test('kata-collect missing: said once, and "Running kata-collect…" is never printed', async () => {
  const saved = process.env.PATH;
  const savedDirs = process.env.KDS_KATA_TOOL_DIRS;
  process.env.PATH = '/nonexistent';
  delete process.env.KDS_KATA_TOOL_DIRS;
  const printed: string[] = [];
  try {
    await assert.rejects(
      collect(new LocalHostAccess(), join(dir, 'out'), { print: (l) => void printed.push(l), confirmRemoval: async () => false }),
      (e: unknown) => e instanceof MissingKataTool && /kata-collect was not found on this computer/.test(e.message),
    );
  } finally {
    process.env.PATH = saved;
    if (savedDirs !== undefined) process.env.KDS_KATA_TOOL_DIRS = savedDirs;
  }
  assert.deepEqual(printed.filter((l) => /Running kata-collect/.test(l)), []);
});
