import { test } from 'node:test';
import assert from 'node:assert/strict';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { cnId, cnLabel, defaultCnConfigPath, entryToSetting, parseCentralNodeList, parseEntry, parseUserHost } from '../../src/centralNode/fleetList';

test('an entry gets the defaults of kds.remote.*: port 22, agent, sudo auto, the standard configuration and unit', () => {
  const e = parseEntry({ name: ' HQ ', host: 'cn1.example', user: 'admin', identityFile: '~/.ssh/id_ed25519', knownHostsFiles: ['~/kh'] });
  assert.ok(!('problem' in e));
  assert.deepEqual(e, {
    name: 'HQ',
    host: 'cn1.example',
    port: 22,
    user: 'admin',
    identityFile: join(homedir(), '.ssh/id_ed25519'),
    useAgent: true,
    sudo: 'auto',
    knownHostsFiles: [join(homedir(), 'kh')],
    configPath: defaultCnConfigPath,
    serviceName: 'kata-dir-scanner',
  });
  assert.equal(cnId(e), 'admin@cn1.example:22');
  assert.equal(cnLabel(e), 'admin@cn1.example');
  assert.equal(cnLabel({ ...e, port: 2222 }), 'admin@cn1.example:2222');
  assert.deepEqual(entryToSetting(e), { name: 'HQ', host: 'cn1.example', user: 'admin', identityFile: join(homedir(), '.ssh/id_ed25519'), knownHostsFiles: [join(homedir(), 'kh')] });
  const back = parseEntry(entryToSetting(e));
  assert.deepEqual(back, e, 'what is saved reads back the same');
});

test('a wrong entry says what is wrong and is left out; the others stay', () => {
  const list = parseCentralNodeList([
    { name: 'ok', host: '10.0.0.1', user: 'root' },
    { name: 'bad port', host: 'h', port: 70000 },
    { host: 'no-name' },
    { name: 'dash', host: '-oProxyCommand=evil' },
    { name: 'user', host: 'h2', user: '-x' },
    { name: 'unit', host: 'h3', serviceName: '--now' },
    { name: 'typo', host: 'h4', hots: 'x' },
    { name: 'rel', host: 'h5', configPath: 'relative.conf' },
    { name: 'OK', host: 'h6' },
    { name: 'again', host: '10.0.0.1', user: 'root' },
    { name: 'ctl\u202e', host: 'h7' },
    'a string',
  ]);
  assert.deepEqual(list.entries.map((e) => e.name), ['ok']);
  const problems = Object.fromEntries(list.invalid.map((i) => [i.index, i.problem]));
  assert.match(problems[1]!, /port/);
  assert.match(problems[2]!, /"name" is missing/);
  assert.match(problems[3]!, /not a host name/);
  assert.match(problems[4]!, /"user"/);
  assert.match(problems[5]!, /serviceName/);
  assert.match(problems[6]!, /unknown key\(s\): hots/);
  assert.match(problems[7]!, /absolute path/);
  assert.match(problems[8]!, /another entry has the name "OK"/, 'names are unique regardless of case');
  assert.match(problems[9]!, /another entry connects to root@10\.0\.0\.1:22/);
  assert.match(problems[10]!, /control characters/);
  assert.match(problems[11]!, /must be an object/);
});

test('the list is the setting\'s array, or a settings.json object holding it; anything else is one problem', () => {
  const one = [{ name: 'a', host: 'h' }];
  assert.equal(parseCentralNodeList({ 'kds.centralNodes': one }).entries.length, 1);
  assert.equal(parseCentralNodeList({ kds: { centralNodes: one } }).entries.length, 1);
  assert.deepEqual(parseCentralNodeList(undefined), { entries: [], invalid: [] });
  assert.match(parseCentralNodeList({ 'kds.centralNodes': 'x' }).invalid[0]!.problem, /JSON array/);
});

test('user@host[:port] as typed in Add Central Node', () => {
  assert.deepEqual(parseUserHost('admin@cn1.example:2222'), { user: 'admin', host: 'cn1.example', port: 2222 });
  assert.deepEqual(parseUserHost('cn1'), { host: 'cn1' });
  assert.deepEqual(parseUserHost('root@[::1]:22'), { user: 'root', host: '::1', port: 22 });
  assert.equal(parseUserHost('a@b@c'), undefined);
  assert.equal(parseUserHost('h:99999'), undefined);
  assert.equal(parseUserHost('-oProxyCommand=x'), undefined);
  assert.equal(parseUserHost('with space'), undefined);
});
