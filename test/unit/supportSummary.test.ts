/**
 * Issue 23, points 2 and 13: the KATA version KDS finds (only KATA's and KEDR's packages count;
 * nothing found leaves the field empty and says so; a corrected version replaces the found one
 * everywhere), and summary.md written like a ticket (the form's labels, an unbroken checklist, a
 * truthful contents table).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, test } from 'node:test';
import type { HostAccess, HostExec } from '../../src/support/hostAccess';
import { SecretScrubber } from '../../src/support/secretScrub';
import { type Discovery, compose, prefillNotes } from '../../src/support/supportBundle';
import { CHECKLIST, factsWithAnswers, prefill, renderSummary } from '../../src/support/supportSummary';
import { type SystemFacts, gatherFacts, kataPackages, parsePackageList, versionLine } from '../../src/support/systemFacts';

const dir = mkdtempSync(join(tmpdir(), 'kds-summary-unit-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A Debian host whose dpkg-query lists `packages` (name, version, maintainer). */
function fakeHost(packages: string | undefined): HostAccess {
  const ok = (s: string): HostExec => ({ code: 0, stdout: Buffer.from(s), stderr: Buffer.alloc(0) });
  const fail: HostExec = { code: 127, stdout: Buffer.alloc(0), stderr: Buffer.from('not found') };
  return {
    where: 'admin@cn.example:22',
    async exec(argv: string[]) {
      const [cmd, arg] = argv;
      if (cmd === '/bin/uname') return ok(arg === '-n' ? 'cn1' : '6.1.0-18-amd64');
      if (cmd === '/bin/cat' && arg === '/etc/os-release') return ok('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n');
      if (cmd === '/bin/cat' && arg === '/proc/cpuinfo') return ok('processor\t: 0\nmodel name\t: Intel Xeon\nprocessor\t: 1\nmodel name\t: Intel Xeon\n');
      if (cmd === '/bin/cat' && arg === '/proc/meminfo') return ok('MemTotal:       16303412 kB\n');
      if (cmd === '/usr/bin/dpkg-query') return packages === undefined ? fail : ok(packages);
      return fail;
    },
    async stat() {
      return undefined;
    },
    async readdir() {
      return [];
    },
    read: () => Readable.from([]),
    owner: async () => '0:0',
    isRoot: async () => true,
  };
}

/** The packages of the reviewer's Central Node: apt's, Kata Containers', Network Agent — none of them KATA. */
const notKata = [
  'apt\t2.6.1\tAPT Development Team <deity@lists.debian.org>',
  'apt-transport-https\t2.6.1\tAPT Development Team <deity@lists.debian.org>',
  'kata-containers\t3.2.0\tKata Containers <kata-dev@lists.katacontainers.io>',
  'kata-runtime\t3.2.0\tKata Containers <kata-dev@lists.katacontainers.io>',
  'klnagent64\t15.0.0.1\tAO Kaspersky Lab <support@kaspersky.com>',
  'kesl\t12.0.0.6672\tAO Kaspersky Lab <support@kaspersky.com>',
].join('\n');

test('KATA version: apt-*, Kata Containers, Network Agent and other Kaspersky products do not count', () => {
  const found = kataPackages(parsePackageList(notKata));
  assert.deepEqual(found, { kata: [], kedr: [] });
});

test("KATA version: KATA's and KEDR's packages, named so and made by Kaspersky (name or maintainer)", () => {
  const list = [
    notKata,
    'kata-cn\t6.0.1-123\tAO Kaspersky Lab <support@kaspersky.com>',
    'kata-sensor\t6.0.1-123\tKaspersky Lab',
    'kaspersky-anti-targeted-attack-web\t6.0.0\t',
    'kedr-agent-server\t6.0.1-7\tAO Kaspersky Lab',
  ].join('\n');
  const found = kataPackages(parsePackageList(list));
  assert.deepEqual(found.kata.map((p) => p.name), ['kata-cn', 'kata-sensor', 'kaspersky-anti-targeted-attack-web']);
  assert.deepEqual(found.kedr.map((p) => p.name), ['kedr-agent-server']);
  assert.equal(versionLine(found.kata), '6.0.1-123 (kata-cn, kata-sensor); 6.0.0 (kaspersky-anti-targeted-attack-web)');
});

test('gatherFacts: no KATA package → the field stays empty, the facts and the form say why', async () => {
  const facts = await gatherFacts(fakeHost(notKata));
  assert.equal(facts.kataVersion, undefined);
  assert.equal(facts.kataVersionMissing, 'no-kata-package');
  const answers = prefill(facts, '1.0.0', undefined);
  assert.equal(answers.kataVersion, undefined, 'nothing is offered as the default');
  const d: Discovery = { where: 'admin@cn.example:22', facts, kdsVersion: '1.0.0', prefill: answers, scrubber: new SecretScrubber(), notes: [] };
  assert.match(prefillNotes(d).kataVersion ?? '', /KDS found no KATA or KEDR package on admin@cn\.example:22: enter the version the KATA web console shows/);
  const md = renderSummary({ answers, language: 'en', kdsVersion: '1.0.0', createdAt: new Date('2024-05-01T10:00:00Z'), facts, contents: [], notIncluded: [], scrubbed: 0 });
  assert.match(md, /- \*\*KATA version:\*\* \(not given\)/);
  assert.match(md, /- \*\*KATA version:\*\* not found: none of the installed packages is KATA's or KEDR's/);
  assert.doesNotMatch(md, /apt-transport-https/);

  const none = await gatherFacts(fakeHost(undefined));
  assert.equal(none.kataVersionMissing, 'no-package-tool');
});

test('gatherFacts: KATA packages prefill the version (KEDR\'s too), with where it came from', async () => {
  const facts = await gatherFacts(fakeHost(`${notKata}\nkata-cn\t6.0.1-123\tAO Kaspersky Lab\nkedr-agent-server\t6.0.1-7\tAO Kaspersky Lab`));
  assert.equal(facts.kataVersion, '6.0.1-123 (kata-cn)');
  assert.equal(facts.kataVersionSource, 'dpkg-query');
  const answers = prefill(facts, '1.0.0', undefined);
  assert.equal(answers.kataVersion, '6.0.1-123 (kata-cn)');
  assert.equal(answers.kedrVersion, '6.0.1-7 (kedr-agent-server)');
});

test('a corrected KATA version replaces the found one in summary.md (checklist and facts) and facts.json', async () => {
  const facts = await gatherFacts(fakeHost(`kata-cn\t6.0.1-123\tAO Kaspersky Lab`));
  const d: Discovery = { where: 'admin@cn.example:22', facts, kdsVersion: '1.0.0', prefill: prefill(facts, '1.0.0', undefined), scrubber: new SecretScrubber(), notes: [] };
  const staging = mkdtempSync(join(dir, 'stage-'));
  const { entries } = await compose(d, { sources: [], notes: [], evidence: { captures: [] } }, { kataVersion: '7.0.2.531' }, 'en', staging);
  const summary = entries.find((e) => e.name === 'summary.md')!.data!.toString('utf8');
  assert.match(summary, /- \*\*KATA version:\*\* 7\.0\.2\.531\n/);
  assert.match(summary, /- \*\*KATA version:\*\* 7\.0\.2\.531 \(entered by the person filing this request\)/);
  assert.doesNotMatch(summary, /6\.0\.1-123/, 'the found version does not contradict the answer');
  const json = JSON.parse(entries.find((e) => e.name === 'facts.json')!.data!.toString('utf8')) as SystemFacts;
  assert.equal(json.kataVersion, '7.0.2.531');
  assert.equal(json.kataVersionSource, 'user');
  // An answer equal to what was found keeps the source.
  assert.equal(factsWithAnswers(facts, { kataVersion: facts.kataVersion! })!.kataVersionSource, 'dpkg-query');
});

test('summary.md reads like a ticket: the form\'s labels, the checklist unbroken, Description and Steps after it, a truthful contents table', async () => {
  const facts: SystemFacts = { host: 'admin@cn:22', hostname: 'cn1', os: 'Debian GNU/Linux 12', kernel: '6.1.0', hardwareModel: 'Dell Inc. PowerEdge R640', cpu: 'Intel Xeon', cpuCount: 32, memory: '125.6 GiB', kataVersionMissing: 'no-kata-package' };
  const d: Discovery = { where: 'admin@cn:22', facts, kdsVersion: '1.2.3', prefill: prefill(facts, '1.2.3', undefined), scrubber: new SecretScrubber(), notes: [] };
  const staging = mkdtempSync(join(dir, 'stage-'));
  const answers = { traffic: '200 Mbit/s', description: 'No ICAP detections.\nThe proxy sends traffic.', steps: '1. download a .deb through the proxy\n2. grep ICAP in log-history', contact: 'Ivan, +7 000' };
  for (const language of ['en', 'ru'] as const) {
    const { entries } = await compose(d, { sources: [{ name: 'kds/kds.log', about: 'KDS log', data: 'x'.repeat(3000) }], notes: ['kata-collect was not found'], evidence: { captures: [] } }, answers, language, staging);
    const md = entries[0]!.data!.toString('utf8');
    assert.equal(entries[0]!.name, 'summary.md');
    // No raw keys anywhere: the facts carry the labels of the form.
    for (const key of ['kataVersionSource', 'kataVersionMissing', 'cpuCount', 'hardwareModel', 'hostname']) assert.doesNotMatch(md, new RegExp(`\\b${key}\\b`), `${language}: ${key}`);
    assert.match(md, language === 'en' ? /- \*\*Logical processors:\*\* 32/ : /- \*\*Логических процессоров:\*\* 32/);
    // The checklist is one list: every single-line field, Contact included, before the first heading after it.
    const list = md.slice(md.indexOf('## ' + (language === 'en' ? 'Checklist' : 'Контрольный список')));
    const block = list.split('\n\n')[1]!.split('\n');
    const singles = CHECKLIST.filter((f) => !f.multiline).map((f) => f.text[language].label);
    assert.deepEqual(block.map((l) => /^- \*\*(.+?):\*\*/.exec(l)?.[1]), singles);
    const desc = CHECKLIST.find((f) => f.key === 'description')!.text[language].label;
    const steps = CHECKLIST.find((f) => f.key === 'steps')!.text[language].label;
    assert.match(md, new RegExp(`## ${desc}\\n\\nNo ICAP detections\\.\\nThe proxy sends traffic\\.\\n\\n## ${steps}\\n\\n1\\. download a \\.deb through the proxy\\n2\\. grep ICAP in log-history\\n`));
    assert.ok(md.indexOf(`## ${desc}`) > md.indexOf(language === 'en' ? '**Contact:**' : '**Контакт:**'), 'Contact is inside the checklist, not hanging after the headings');
    // The contents table: every other entry with its real size, never "summary.md | 0".
    assert.doesNotMatch(md, /\| summary\.md \|/);
    assert.match(md, language === 'en' ? /\| kds\/kds\.log \| 2\.9 KiB \| KDS log \|/ : /\| kds\/kds\.log \| 2,9 КиБ \| KDS log \||\| kds\/kds\.log \| 2\.9 КиБ \| KDS log \|/);
    assert.match(md, /\| facts\.json \| \d+/);
    assert.match(md, /- kata-collect was not found/);
    // Where it was gathered and when, in the first lines.
    assert.match(md.split('\n')[2]!, /KDS 1\.2\.3.*2024|KDS 1\.2\.3.*admin@cn:22/);
  }
});

test('summary.md is read back from the preview as it will be written (the entry is the scrubbed text)', async () => {
  const d: Discovery = { where: 'this computer', kdsVersion: '1.0.0', prefill: {}, scrubber: new SecretScrubber(), notes: [] };
  d.scrubber.addSecret('Sup3rSecretPassw0rd');
  const staging = mkdtempSync(join(dir, 'stage-'));
  const { entries } = await compose(d, { sources: [], notes: [], evidence: { captures: [] } }, { description: 'the password is Sup3rSecretPassw0rd' }, 'en', staging);
  const md = entries[0]!.data!.toString('utf8');
  assert.doesNotMatch(md, /Sup3rSecretPassw0rd/);
  assert.equal(entries[0]!.size, Buffer.byteLength(md));
});
