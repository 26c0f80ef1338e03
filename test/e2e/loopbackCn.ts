/**
 * A "Central Node" on this machine for the remote e2e scenario, the way
 * test/integration/remoteSetup.test.ts stands one in: the private sshd (test/helpers/sshd.ts)
 * with the test user kds-test, a prefix folder owned by kds-test holding what a CN has under /
 * (mnt/in, mnt/out, mnt/qrnt, opt/kata-dir-scanner/… with the client certificate and
 * kata_dir_scanner.conf), the embedded KATA on 127.0.0.1 (auto-approval), and the service
 * `node bin/kds.js run --config …` started here as kds-test (there is no systemd). Everything
 * started here is stopped by the id it was started with.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, chownSync, constants, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type RunningEmulator, startEmulator } from '../../src/emulator/server';
import { writeClientCertificate } from '../../src/pki/clientCertificateFiles';
import { type FreshCn, startFreshCn } from '../helpers/freshCn';
import { TestSshd, keygen, keygenFingerprint } from '../helpers/sshd';
import { repoRoot } from './support/codeServer';
import { waitFor } from './support/wait';

export interface LoopbackCn {
  sshd: TestSshd;
  emulator: RunningEmulator;
  /** The folder standing in for / on the CN. */
  prefix: string;
  configPath: string;
  inDir: string;
  outDir: string;
  qrntDir: string;
  stateDir: string;
  /** Private key authorized for kds-test (no passphrase). */
  identityFile: string;
  /** `SHA256:…` of the sshd's host key, as the Trust modal must show it. */
  hostFingerprint: string;
  /** The service's stderr so far (diagnostics). */
  serviceLog(): string;
  /** Puts a file into the CN's input folder the way an upload would: written aside, owned by kds-test, renamed in. */
  drop(name: string, content: string): void;
  stop(): Promise<void>;
}

function chownTree(path: string, uid: number, gid: number): void {
  chownSync(path, uid, gid);
  if (statSync(path).isDirectory()) for (const e of readdirSync(path)) chownTree(join(path, e), uid, gid);
}

export async function startLoopbackCn(base: string): Promise<LoopbackCn> {
  const stops: Array<() => Promise<unknown> | unknown> = [];
  const stop = async () => {
    for (const s of stops.reverse()) await Promise.resolve(s()).catch(() => undefined);
  };
  try {
    chmodSync(base, 0o755); // kds-test (sshd session, service) must reach the prefix
    const sshd = await TestSshd.start();
    stops.push(() => sshd.dispose());
    const identityFile = join(base, 'id_cn');
    sshd.authorize(keygen(identityFile));
    const emulator = await startEmulator({ host: '127.0.0.1', port: 0, dataDir: join(base, 'kata'), autoApprove: true, verdictDelayMs: 50 });
    stops.push(() => emulator.close());

    const uid = Number(execFileSync('/usr/bin/id', ['-u', sshd.user], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('/usr/bin/id', ['-g', sshd.user], { encoding: 'utf8' }).trim());
    const prefix = join(base, 'cn');
    const opt = join(prefix, 'opt/kata-dir-scanner');
    const [inDir, outDir, qrntDir, stateDir, staging] = ['mnt/in', 'mnt/out', 'mnt/qrnt', 'opt/kata-dir-scanner/kds-state', 'staging'].map((d) => join(prefix, d)) as [string, string, string, string, string];
    for (const d of [inDir, outDir, qrntDir, stateDir, staging]) mkdirSync(d, { recursive: true });
    await writeClientCertificate(opt, { commonName: 'kds-e2e-cn', days: 30, force: false });
    writeFileSync(join(opt, 'kata_ca.pem'), emulator.caPem);
    writeFileSync(join(opt, 'exclude_list.txt'), '*.skip\n');
    const configPath = join(opt, 'kata_dir_scanner.conf');
    writeFileSync(
      configPath,
      JSON.stringify(
        {
          in_dir: inDir + '/',
          out_dir: outDir + '/',
          qrnt_dir: qrntDir + '/',
          cert_pem: join(opt, 'cert.pem'),
          cert_key: join(opt, 'server.key'),
          kata_cn_addr: '127.0.0.1',
          kata_cn_port: emulator.port,
          kata_ca: join(opt, 'kata_ca.pem'),
          system_id: randomUUID(),
          exclude_list: join(opt, 'exclude_list.txt'),
          state_dir: stateDir,
          log_file: join(prefix, 'kata-dir-scanner.log'),
          stable_ms: 300,
          poll_interval_s: 1,
        },
        null,
        2,
      ) + '\n',
      { mode: 0o600 },
    );
    chownTree(prefix, uid, gid);

    // The CN's service, as kds-test (what systemd would start as root on a real CN).
    let stderr = '';
    const service: ChildProcess = spawn(process.execPath, [join(repoRoot, 'bin/kds.js'), 'run', '--config', configPath], {
      uid,
      gid,
      cwd: prefix,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', KDS_LOCALE: 'en' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    service.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    stops.push(async () => {
      if (service.exitCode !== null || service.signalCode !== null) return;
      const gone = new Promise((r) => service.once('exit', r));
      service.kill('SIGTERM');
      const timer = setTimeout(() => service.kill('SIGKILL'), 10_000);
      await gone;
      clearTimeout(timer);
    });
    await waitFor('the CN service to write its event stream', () => {
      if (service.exitCode !== null) throw new Error(`the CN service exited with ${service.exitCode}: ${stderr}`);
      return existsSync(join(stateDir, 'events.jsonl'));
    }, 30_000);

    return {
      sshd,
      emulator,
      prefix,
      configPath,
      inDir,
      outDir,
      qrntDir,
      stateDir,
      identityFile,
      hostFingerprint: keygenFingerprint(sshd.hostKeyPath + '.pub'),
      serviceLog: () => stderr,
      drop(name, content) {
        const aside = join(staging, name);
        writeFileSync(aside, content, { mode: 0o644 });
        chownSync(aside, uid, gid);
        renameSync(aside, join(inDir, name));
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Where KATA keeps the ICAP preprocessor's log on a Central Node (what "View Central Node ICAP Log" opens). */
export const CN_ICAP_LOG = '/var/log/kaspersky/services/preprocessor_icap/preprocessor_icap.log';

export interface PlacedIcapLog {
  path: string;
  /** Removes exactly what was created: the file, then the folders that did not exist before (deepest first). */
  remove(): void;
}

/**
 * The loopback CN is this machine: puts a copy of `fixture` at {@link CN_ICAP_LOG} (mode 0644,
 * folders 0755, so kds-test reads it over SFTP), as root. Returns undefined — and touches nothing —
 * when that path already exists (a real log is never overwritten) or when not root.
 */
export function placeCnIcapLog(fixture: string): PlacedIcapLog | undefined {
  if (process.getuid?.() !== 0 || existsSync(CN_ICAP_LOG)) return undefined;
  const missing: string[] = [];
  for (let d = dirname(CN_ICAP_LOG); !existsSync(d); d = dirname(d)) missing.unshift(d);
  const created: string[] = []; // folders made here, outermost first
  let fileCreated = false;
  const remove = () => {
    if (fileCreated) {
      try {
        unlinkSync(CN_ICAP_LOG);
      } catch {
        /* already gone */
      }
      fileCreated = false;
    }
    for (const d of created.splice(0).reverse()) {
      try {
        rmdirSync(d); // only if empty: never removes what someone else put there meanwhile
      } catch {
        /* not empty or gone */
      }
    }
  };
  try {
    for (const d of missing) {
      mkdirSync(d);
      created.push(d);
      chmodSync(d, 0o755);
    }
    copyFileSync(fixture, CN_ICAP_LOG, constants.COPYFILE_EXCL);
    fileCreated = true;
    chmodSync(CN_ICAP_LOG, 0o644);
  } catch (err) {
    remove();
    throw err;
  }
  return { path: CN_ICAP_LOG, remove };
}

/**
 * A Central Node that has never seen KDS, the way an administrator starts: no Node.js (the sshd
 * listens from a private mount namespace where /usr/bin/node is gone, test/helpers/freshCn.ts),
 * the test user kds-test, an empty prefix folder (owned by kds-test) standing in for / — no
 * opt/kata-dir-scanner, no mnt folders, no service — and the embedded KATA (auto-approval) the
 * set-up will point it at. `startService` runs the installed unit's own ExecStart in that
 * namespace, as kds-test (there is no systemd here).
 */
export interface BareLoopbackCn {
  sshd: TestSshd;
  /** The CN's namespace: its files and its missing Node.js. */
  cn: FreshCn;
  emulator: RunningEmulator;
  prefix: string;
  /** Where the set-up installs the configuration (kds.remote.configPath). */
  configPath: string;
  identityFile: string;
  hostFingerprint: string;
  /** Runs the ExecStart= of <prefix>/etc/systemd/system/kata-dir-scanner.service as kds-test in the CN; resolves when its event stream exists. */
  startService(stateDir: string): Promise<void>;
  serviceLog(): string;
  /** Puts a file into `dir` on the CN: written aside, owned by kds-test, renamed in. */
  drop(dir: string, name: string, content: string): void;
  stop(): Promise<void>;
}

export async function startBareLoopbackCn(base: string): Promise<BareLoopbackCn> {
  const stops: Array<() => Promise<unknown> | unknown> = [];
  const stop = async () => {
    for (const s of stops.reverse()) await Promise.resolve(s()).catch(() => undefined);
  };
  try {
    chmodSync(base, 0o755);
    const cn = await startFreshCn();
    stops.push(() => cn.stop());
    const sshd = cn.sshd;
    const identityFile = join(base, 'id_cn');
    sshd.authorize(keygen(identityFile));
    const emulator = await startEmulator({ host: '127.0.0.1', port: 0, dataDir: join(base, 'kata'), autoApprove: true, verdictDelayMs: 50 });
    stops.push(() => emulator.close());
    const { uid, gid } = cn.user;
    const prefix = join(base, 'cn');
    const staging = join(base, 'staging');
    mkdirSync(prefix, { mode: 0o755 });
    mkdirSync(staging, { mode: 0o755 });
    chownSync(prefix, uid, gid);
    chownSync(staging, uid, gid);
    const configPath = join(prefix, 'opt/kata-dir-scanner/kata_dir_scanner.conf');
    let stderr = '';
    return {
      sshd,
      cn,
      emulator,
      prefix,
      configPath,
      identityFile,
      hostFingerprint: keygenFingerprint(sshd.hostKeyPath + '.pub'),
      serviceLog: () => stderr,
      async startService(stateDir) {
        const unit = readFileSync(join(prefix, 'etc/systemd/system/kata-dir-scanner.service'), 'utf8');
        const execStart = /^ExecStart=(.*)$/m.exec(unit)?.[1];
        if (!execStart) throw new Error(`no ExecStart= in the installed unit:\n${unit}`);
        // The shell unquotes the unit's words as systemd would (the paths here hold no $ or %).
        const [cmd, ...args] = cn.root.argv(['sh', '-c', 'eval "set -- $1"; exec "$@"', 'kds-exec-start', execStart], { uid, gid });
        const service: ChildProcess = spawn(cmd!, args, { cwd: prefix, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', KDS_LOCALE: 'en' }, stdio: ['ignore', 'ignore', 'pipe'] });
        service.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
        stops.push(async () => {
          if (service.exitCode !== null || service.signalCode !== null) return;
          const gone = new Promise((r) => service.once('exit', r));
          service.kill('SIGTERM');
          const timer = setTimeout(() => service.kill('SIGKILL'), 10_000);
          await gone;
          clearTimeout(timer);
        });
        await waitFor('the installed service to write its event stream', () => {
          if (service.exitCode !== null) throw new Error(`the installed service exited with ${service.exitCode}: ${stderr}`);
          return existsSync(join(stateDir, 'events.jsonl'));
        }, 30_000);
      },
      drop(dir, name, content) {
        const aside = join(staging, name);
        writeFileSync(aside, content, { mode: 0o644 });
        chownSync(aside, uid, gid);
        renameSync(aside, join(dir, name));
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
