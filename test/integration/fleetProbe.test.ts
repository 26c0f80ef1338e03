/**
 * Looking at several Central Nodes at once (centralNode/fleetProbe.ts, `kds fleet status`)
 * against OpenSSH's sshd on 127.0.0.1: a CN with KDS (the engine of this checkout, run there as
 * the SSH user, reports `kds status --summary`), a bare one, one whose engine predates --summary,
 * a closed port, and a "black hole" that accepts TCP and never speaks — which must not hold the
 * others up. Then host keys that are not trusted, a refused key, sudo that wants a password.
 */
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { type Server, createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type CentralNodeEntry, cnId, parseEntry } from '../../src/centralNode/fleetList';
import { SshFleetConnector, probeEntry, probeFleet } from '../../src/centralNode/fleetProbe';
import { EventStreamWriter } from '../../src/engine/eventStream';
import type { CnProbe } from '../../src/viewModel/fleetStatus';
import { runFleet } from '../../src/cli/fleetCommand';
import { TestSshd, freePort, keygen, sshdUnavailable } from '../helpers/sshd';
import { sshdClient, uidOf } from '../helpers/sshSessionForTests';

const skip = sshdUnavailable();
const repo = join(__dirname, '..', '..');
const engine = [process.execPath, join(repo, 'bin/kds.js')];

/** Everything under `path` becomes the SSH user's, as on a CN where KDS runs as that user. */
function chownTree(path: string, uid: number): void {
  chownSync(path, uid, uid);
  if (statSync(path).isDirectory()) for (const e of readdirSync(path)) chownTree(join(path, e), uid);
}

function entry(raw: Record<string, unknown>): CentralNodeEntry {
  const e = parseEntry(raw);
  if ('problem' in e) throw new Error(e.problem);
  return e;
}

describe('fleet status over real sshd', { skip, timeout: 240_000 }, () => {
  let sshd: TestSshd;
  let knownHosts: string;
  let keyPath: string;
  let base: string;
  let installed: { configPath: string; state: string };
  let blackHole: Server;
  let blackHolePort = 0;
  const held: Array<{ destroy(): void }> = [];

  before(async () => {
    sshd = await TestSshd.start();
    const client = sshdClient(sshd, 'id_fleet');
    knownHosts = client.knownHostsPath;
    keyPath = client.keyPath;
    base = mkdtempSync(join(tmpdir(), 'kds-fleet-'));
    chmodSync(base, 0o755);
    const uid = uidOf(sshd.user);
    // A CN with KDS: configuration, folders, a journal of today, an event stream, a log — all the SSH user's.
    const cn = join(base, 'cn');
    const [opt, inDir, outDir, qrntDir, state] = ['opt/kata-dir-scanner', 'mnt/in', 'mnt/out', 'mnt/qrnt', 'opt/kata-dir-scanner/kds-state'].map((d) => join(cn, d)) as [string, string, string, string, string];
    for (const d of [opt, inDir, outDir, qrntDir, state]) mkdirSync(d, { recursive: true });
    const configPath = join(opt, 'kata_dir_scanner.conf');
    writeFileSync(configPath, JSON.stringify({ in_dir: inDir, out_dir: outDir, qrnt_dir: qrntDir, cert_pem: join(opt, 'cert.pem'), cert_key: join(opt, 'server.key'), kata_cn_addr: '127.0.0.1', system_id: 'sys-fleet', state_dir: state, log_file: join(cn, 'kds.log') }));
    writeFileSync(join(inDir, 'waiting.txt'), 'w');
    writeFileSync(join(qrntDir, 'eicar.com'), 'x');
    const now = Date.now();
    const ops = [
      { op: 'intent', scanId: 'a', name: 'clean.txt', size: 1, mtimeMs: 1, ino: 1, at: now - 3000 },
      { op: 'verdict', scanId: 'a', state: 'not detected', destination: 'out', at: now - 2000 },
      { op: 'done', scanId: 'a', outcome: 'routed', at: now - 1000 },
      { op: 'intent', scanId: 'b', name: 'eicar.com', size: 1, mtimeMs: 1, ino: 2, at: now - 3000 },
      { op: 'verdict', scanId: 'b', state: 'detect', destination: 'qrnt', at: now - 2000 },
      { op: 'done', scanId: 'b', outcome: 'routed', at: now - 1000 },
    ];
    writeFileSync(join(state, 'journal.jsonl'), ops.map((o) => JSON.stringify(o)).join('\n') + '\n');
    const w = EventStreamWriter.open(state, { snapshot: () => ({ running: true, approval: 'approved', files: [] }), heartbeatMs: 0 });
    w.append({ type: 'approval', state: 'approved', systemId: 'sys-fleet', fingerprint256: 'AB:CD' });
    w.close();
    writeFileSync(join(cn, 'kds.log'), `${new Date(now).toISOString()} WARN  delivery-failed "could not move the file out of input (EBUSY): busy; it is retried" file=x\n`);
    // The engine runs: its lock names a live process (this test's).
    writeFileSync(join(state, 'lock'), `${process.pid}\n`);
    chownTree(cn, uid);
    installed = { configPath, state };
    // An engine from before --summary: what parseArgs says about an unknown option, exit code 2.
    const old = join(base, 'old-kds');
    writeFileSync(
      old,
      `#!/bin/sh\ncase "$*" in\n  --version) echo 0.0.9 ;;\n  *--summary*) echo "Unknown option '--summary'." >&2; exit 2 ;;\n  *--json*) echo '{"pending":[{"file":"a"},{"file":"b"}],"skipped":[],"recent":[]}' ;;\n  *) exit 1 ;;\nesac\n`,
      { mode: 0o755 },
    );
    blackHole = createServer((sock) => held.push(sock));
    await new Promise<void>((r) => blackHole.listen(0, '127.0.0.1', () => r()));
    blackHolePort = (blackHole.address() as { port: number }).port;
  });

  after(async () => {
    for (const s of held) s.destroy();
    await new Promise((r) => blackHole?.close(r));
    await sshd?.dispose();
    if (base) rmSync(base, { recursive: true, force: true });
  });

  const common = () => ({ host: '127.0.0.1', user: sshd.user, identityFile: keyPath, useAgent: false, sudo: 'never', knownHostsFiles: [knownHosts] });
  const connector = () =>
    new SshFleetConnector({
      auth: (e) => ({ ...(e.identityFile && { privateKeyPath: e.identityFile }) }),
      hostKeys: (e) => ({ knownHostsFiles: e.knownHostsFiles, onUnknown: async () => false }),
      sudo: async () => true,
    });

  test('four CNs, two at a time: each gets its own answer, and the one that never answers does not hold the others', async () => {
    // Two entries must differ in user@host:port: the bare CN is the same sshd reached as localhost.
    writeFileSync(knownHosts, `[127.0.0.1]:${sshd.port} ${sshd.hostPublicKey()}\n[localhost]:${sshd.port} ${sshd.hostPublicKey()}\n`);
    const cns = {
      kds: entry({ ...common(), name: 'with KDS', port: sshd.port, configPath: installed.configPath, engineCommand: engine }),
      hole: entry({ ...common(), name: 'black hole', port: blackHolePort }),
      bare: entry({ ...common(), name: 'bare', host: 'localhost', port: sshd.port, configPath: join(base, 'nothing/kata_dir_scanner.conf') }),
      closed: entry({ ...common(), name: 'closed', port: await freePort() }),
    };
    const c = connector();
    const order: string[] = [];
    const results = await probeFleet([cns.hole, cns.kds, cns.bare, cns.closed], c, { concurrency: 2, timeoutMs: 15_000, onResult: (e) => order.push(e.name) });
    await c.closeAll();
    const r = (e: CentralNodeEntry) => results.get(cnId(e))!;
    assert.equal(order[order.length - 1], 'black hole', `the silent CN ends last, after the others: ${order.join(', ')}`);
    assert.equal(r(cns.hole).outcome, 'unreachable');
    assert.match(r(cns.hole).reason!, /no answer within 15 s/);
    assert.equal(r(cns.closed).outcome, 'unreachable');
    assert.match(r(cns.closed).reason!, /ECONNREFUSED/);
    assert.equal(r(cns.bare).outcome, 'not-installed');

    const ok = r(cns.kds) as CnProbe;
    assert.equal(ok.outcome, 'ok', JSON.stringify(ok));
    const st = ok.status!;
    assert.ok(st, `kds status --summary answered: ${ok.statusProblem}`);
    assert.equal(st.service.running, true, 'the lock holder lives');
    assert.equal(st.service.approval, 'approved');
    assert.equal(st.service.systemId, 'sys-fleet');
    assert.equal(st.shares.length, 1);
    assert.deepEqual([st.shares[0]!.name, st.shares[0]!.waiting, st.shares[0]!.outToday, st.shares[0]!.qrntToday, st.shares[0]!.inQuarantine], ['default', 1, 1, 1, 1]);
    assert.equal(st.lastProblem?.event, 'delivery-failed');
  });

  test('an engine from before --summary: its version and what its kds status --json tells', async () => {
    const c = connector();
    const old = await probeEntry(entry({ ...common(), name: 'old engine', port: sshd.port, configPath: installed.configPath, engineCommand: [join(base, 'old-kds')] }), c, { timeoutMs: 60_000 });
    await c.closeAll();
    assert.equal(old.outcome, 'ok', JSON.stringify(old));
    assert.equal(old.engineVersion, '0.0.9');
    assert.equal(old.legacyPending, 2);
    assert.match(old.statusProblem!, /older than this KDS/);
  });

  test('the session stays open between rounds; the service stopping shows in the next one', async () => {
    const cn = entry({ ...common(), name: 'with KDS', port: sshd.port, configPath: installed.configPath, engineCommand: engine });
    const c = connector();
    try {
      assert.equal((await probeEntry(cn, c, { timeoutMs: 60_000 })).status?.service.running, true);
      assert.ok(c.isOpen(cn));
      // More rounds than sshd's MaxSessions (10) allows channels at once: none may be left open.
      for (let round = 0; round < 11; round++) assert.equal((await probeEntry(cn, c, { timeoutMs: 60_000 })).outcome, 'ok', `round ${round}`);
      rmSync(join(installed.state, 'lock'));
      const second = await probeEntry(cn, c, { timeoutMs: 60_000 });
      assert.equal(second.status?.service.running, false);
      assert.ok(c.isOpen(cn), 'the same session was used');
    } finally {
      writeFileSync(join(installed.state, 'lock'), `${process.pid}\n`);
      await c.closeAll();
    }
  });

  test('an unknown host key and a refused key are reported as such, nothing is asked', async () => {
    const c = new SshFleetConnector({
      auth: (e) => ({ privateKeyPath: e.identityFile! }),
      hostKeys: () => ({ knownHostsFiles: [], onUnknown: async () => false }),
      sudo: async () => true,
    });
    const unknown = await probeEntry(entry({ ...common(), name: 'new', port: sshd.port }), c, { timeoutMs: 30_000 });
    assert.equal(unknown.outcome, 'host-key');
    assert.match(unknown.reason!, /not accepted/);
    const stranger = join(base, 'id_stranger');
    keygen(stranger);
    const refused = await probeEntry(entry({ ...common(), name: 'stranger', port: sshd.port, identityFile: stranger }), connector(), { timeoutMs: 30_000 });
    assert.equal(refused.outcome, 'auth');
    await c.closeAll();
  });

  test('sudo that wants a password KDS does not have: the engine\'s version, and why there are no counts', async () => {
    // A user of its own: no sudo rights at all (sudoers of kds-test change under other test files).
    const other = await TestSshd.start({ user: 'kds-fleet' });
    try {
      const client = sshdClient(other, 'id_fleet_sudo');
      const cn = entry({ name: 'sudo', host: '127.0.0.1', port: other.port, user: other.user, identityFile: client.keyPath, useAgent: false, sudo: 'auto', knownHostsFiles: [client.knownHostsPath], configPath: installed.configPath, engineCommand: engine });
      const c = connector();
      const p = await probeEntry(cn, c, { timeoutMs: 60_000 });
      await c.closeAll();
      assert.equal(p.outcome, 'ok', JSON.stringify(p));
      assert.match(p.statusProblem!, /sudo on the Central Node needs a password/);
      assert.match(p.engineVersion!, /^\d+\.\d+\.\d+/);
    } finally {
      await other.dispose();
    }
  });

  test('kds fleet status --file: the table and --json, strict host keys, the exit code', async () => {
    const file = join(base, 'fleet.json');
    writeFileSync(
      file,
      JSON.stringify([
        { ...common(), name: 'with KDS', port: sshd.port, configPath: installed.configPath, engineCommand: engine },
        { ...common(), name: 'bare', host: 'localhost', port: sshd.port, configPath: join(base, 'nothing.conf') },
        { name: 'broken', host: 'x', port: 0 },
      ]),
    );
    const env = { XDG_CONFIG_HOME: join(base, 'xdg'), HOME: base, PATH: process.env.PATH };
    let out = '';
    let err = '';
    const io = { out: (s: string) => void (out += s), err: (s: string) => void (err += s) };
    const code = await runFleet(['status', '--file', file, '--timeout', '60'], io, env);
    assert.equal(code, 2, 'a wrong entry in the file is a usage error, after the others were looked at');
    assert.match(out, /^Central Node\s+Address\s+State/m);
    // A file quarantined within the hour: quarantine is growing.
    assert.match(out, /with KDS\s+kds-test@127\.0\.0\.1:\d+\s+attention\s+\d+\.\d+\.\d+\s+running\s+approved\s+1\s+1\s+1\n\s+! Share default: quarantine is growing \(1 file in the last hour\)\./);
    assert.match(out, /bare\s+\S+\s+not installed\n\s+! KDS is not installed: use Set Up\./);
    assert.match(out, /Entry 3 \(broken\) is not used: "port" must be a TCP port number/);
    assert.match(out, /2 of 2 Central Nodes need attention\./);
    assert.equal(err, '');

    // Nothing quarantined lately, a CN that runs and is approved: all fine, exit code 0.
    const journal = join(installed.state, 'journal.jsonl');
    const kept = readFileSync(journal, 'utf8').split('\n').filter((l) => !l.includes('"b"'));
    writeFileSync(journal, kept.join('\n'));
    writeFileSync(file, JSON.stringify([{ ...common(), name: 'with KDS', port: sshd.port, configPath: installed.configPath, engineCommand: engine }]));
    out = '';
    assert.equal(await runFleet(['status', '--file', file, '--json'], io, env), 0);
    const j = JSON.parse(out) as { nodes: Array<{ name: string; health: string; probe: CnProbe }> };
    assert.equal(j.nodes[0]!.health, 'ok');
    assert.equal(j.nodes[0]!.probe.status?.shares[0]?.name, 'default');

    // Without the known_hosts entry the key is unknown: refused, never asked.
    writeFileSync(file, JSON.stringify([{ ...common(), knownHostsFiles: [], name: 'with KDS', port: sshd.port, configPath: installed.configPath, engineCommand: engine }]));
    out = '';
    assert.equal(await runFleet(['status', '--file', file], io, env), 1);
    assert.match(out, /host key of 127\.0\.0\.1:\d+ .* was not accepted/);
  });
});
