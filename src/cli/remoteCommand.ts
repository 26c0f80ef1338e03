import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { t } from '../common/l10n';
import { packageRoot } from '../common/packageRoot';
import { DEFAULT_ICAP_LOG_PATH } from '../icapLog/byteSource';
import { findSshAgent } from '../ssh/agentChoice';
import { defaultKnownHostsFiles, defaultTrustStorePath } from '../ssh/hostKeyVerifier';
import { type Answer, StepFailed, probeFacts, runSetupPlan } from '../centralNode/remoteInstall';
import { SetupInputError, prepareSetup, setupSummary } from '../centralNode/setupInputs';
import type { EngineKind } from '../centralNode/engineChoice';
import { megabytes } from '../centralNode/engineUpload';
import { type FolderKey, type ShareParams, layout } from '../centralNode/setupPlan';
import { findEngine, remoteIsRoot, unitNameProblem } from '../centralNode/cnOps';
import { type RemoteExit, SshSession } from '../ssh/sshSession';
import type { SudoOption } from '../ssh/sudoPrompt';
import type { HostKeyPolicy, SshAuth } from '../ssh/sshTarget';
import { SshCaptureHost } from '../capture/sshCaptureHost';
import { captureCli, captureOptionSpec } from './captureCommand';
import { type CliCommand, UsageError, parseOptions, stdio } from './command';
import { terminalText } from '../common/displayText';
import { escapingStream } from './terminalOutput';
import { ExitCode } from '../common/exitCode';
import { parseListenAddress } from '../common/listenAddress';


const help = `Usage: kds remote <setup|status|start|stop|logs|icap-log|icap-probe|capture> --host HOST [options]

Sets up and runs KDS on a KATA Central Node over SSH (docs/remote.md).

  setup      installs KDS on the CN step by step; each step shows the exact commands and asks first:
             1 shares (mount points, credentials file, fstab, mount -a, writability),
             2 client certificate (made here, uploaded with mode 0600),
             3 engine, configuration and exclude list in /opt/kata-dir-scanner,
             4 the kata-dir-scanner.service unit (daemon-reload, enable, start, status),
             5 the integration request sent from the CN (approve it in the KATA console).
             Running it again changes only what differs; an upgrade keeps the configuration,
             exclude list and journal and rolls back if the new engine does not start.
  status     systemctl status and "kds status --json" on the CN
  start|stop systemctl start|stop on the CN
  logs       follows the service log (tail -F log_file; --journal: journalctl -u)
  icap-log   prints or follows ${DEFAULT_ICAP_LOG_PATH}
  icap-probe runs "kds icap probe" ON the CN with the other arguments, e.g.
             kds remote icap-probe --host CN icap://SENSOR:1344/respmod --eicar
             (what matters is often whether the CN or proxy side reaches the ICAP server,
             not this machine); same output and exit codes as kds icap probe
  capture    captures ICAP traffic on the CN with its tcpdump (as root, through sudo), downloads the
             file, removes it from the CN and analyzes it (docs/capture.md)

Connection:
  --host HOST            the Central Node (required)
  --port N               SSH port (default 22)
  --user NAME            SSH user (default: $USER)
  --identity FILE        private key (otherwise the SSH agent: SSH_AUTH_SOCK, on Windows
                         the OpenSSH agent's pipe or Pageant; then password)
  --known-hosts FILE     known_hosts to trust (default: ~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts)
  --accept-new-host-key  trust an unknown host key without asking (first contact in scripts; off by default)
  --password-stdin       read the SSH password (also used for sudo) from the first line of standard input;
                         the environment variable KDS_SSH_PASSWORD does the same

Set-up:
  --config FILE          the local kata_dir_scanner.conf to install (its folders and files are rewritten
                         to /mnt/in, /mnt/out, /mnt/qrnt and /opt/kata-dir-scanner; other keys are kept)
  --share-host HOST      file server of the CIFS shares (without it the shares step is left out)
  --share-in NAME, --share-out NAME, --share-qrnt NAME   share names (default in, out, qrnt)
  --share-user NAME      share user; the password is asked, or taken from KDS_SHARE_PASSWORD
  --share-domain NAME    share domain (optional)
  --share-cifs NAME=IN,OUT,QRNT   CIFS shares of the configuration's share NAME (its "shares" entry),
                         mounted on /mnt/NAME/in, out, qrnt (default NAME-in, NAME-out, NAME-qrnt); repeatable
  --add-shares           on a CN already set up: add the shares of --config the installed configuration
                         lacks (mounts, folders, exclude lists, configuration entries, service restart)
                         and change nothing else (engine, certificate, integration, the other shares)
  --in-dir DIR, --out-dir DIR, --qrnt-dir DIR   instead of shares: folders on the CN to scan
                         (created when missing, checked for writing); all three together
  --engine auto|sea|deb|js  sea: the single executable (Node.js inside) taken out of the engine
                         package on the CN; deb: that package installed with apt-get; js: the
                         bundled JavaScript run by the CN's Node.js >= 18. auto: the package's way
                         when it is installed, else js when the CN has Node.js >= 18, else sea
  --replace-config       replace an installed configuration (default: keep it)
  --new-certificate      make and upload a new client certificate even if the CN has one
  --metrics-listen ADDR  serve Prometheus metrics and health from the CN's service: a port (127.0.0.1 only),
                         ADDRESS:PORT or a Unix socket path; "" for none (asked on a terminal when not given;
                         written into a new or replaced configuration; docs/monitoring.md)
  --yes                  run every step without asking
  --prefix DIR           (tests) a folder on the CN standing in for /; mount and systemctl are skipped

Logs:
  --lines N              lines to print first (default 50)
  --no-follow            print and exit
  --journal              logs: read journalctl -u kata-dir-scanner instead of the log file

Capture (the options of kds capture; --port is SSH's here, so the ICAP port is --icap-port):
  --iface IFACE|any  --icap-port N (1344)  --duration S (60)  --packets N  --max-mb M (100)
  --out FILE  --no-analyze  --slow-ms N  --json

Exit codes: 0 done, 1 a step or remote command failed, 2 wrong arguments.`;

export const command: CliCommand = {
  name: 'remote',
  summary: 'Set up and run KDS on a KATA Central Node over SSH',
  help,
  run,
};

/** The connection options of `kds remote`, shared by every command that acts on a Central Node. */
export const connectionOptions = {
  host: { type: 'string' },
  port: { type: 'string' },
  user: { type: 'string' },
  identity: { type: 'string' },
  'known-hosts': { type: 'string' },
  'accept-new-host-key': { type: 'boolean', default: false },
  'password-stdin': { type: 'boolean', default: false },
} as const;

const options = {
  ...connectionOptions,
  config: { type: 'string' },
  'share-host': { type: 'string' },
  'share-in': { type: 'string' },
  'share-out': { type: 'string' },
  'share-qrnt': { type: 'string' },
  'share-user': { type: 'string' },
  'share-domain': { type: 'string' },
  'share-cifs': { type: 'string', multiple: true },
  'add-shares': { type: 'boolean', default: false },
  'in-dir': { type: 'string' },
  'out-dir': { type: 'string' },
  'qrnt-dir': { type: 'string' },
  engine: { type: 'string' },
  'replace-config': { type: 'boolean', default: false },
  'new-certificate': { type: 'boolean', default: false },
  'metrics-listen': { type: 'string' },
  yes: { type: 'boolean', default: false },
  prefix: { type: 'string' },
  lines: { type: 'string' },
  'no-follow': { type: 'boolean', default: false },
  journal: { type: 'boolean', default: false },
  name: { type: 'string' },
  ...captureOptionSpec,
} as const;

type Values = ReturnType<typeof parseOptions<typeof options>>['values'];

const print = (line: string) => process.stdout.write(line + '\n');

async function readStdinLine(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) {
    chunks.push(c as Buffer);
    if (Buffer.concat(chunks).includes(0x0a)) break;
  }
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
}

/** Asks on the terminal without echo; undefined without a terminal. */
async function askHidden(prompt: string): Promise<string | undefined> {
  if (!process.stdin.isTTY) return undefined;
  process.stderr.write(prompt);
  return new Promise((resolvePw) => {
    const stdin = process.stdin;
    let value = '';
    stdin.setRawMode(true);
    stdin.resume();
    const onData = (d: Buffer) => {
      for (const ch of d.toString('utf8')) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') {
          stdin.setRawMode(false);
          stdin.pause();
          stdin.off('data', onData);
          process.stderr.write('\n');
          resolvePw(value);
          return;
        }
        if (ch === '\u0003') {
          stdin.setRawMode(false);
          process.stderr.write('\n');
          process.exit(130);
        }
        if (ch === '\u007f') value = value.slice(0, -1);
        else value += ch;
      }
    };
    stdin.on('data', onData);
  });
}

export async function askLine(question: string): Promise<string | undefined> {
  if (!process.stdin.isTTY) return undefined;
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return await rl.question(question);
  } finally {
    rl.close();
  }
}

/** The connection options every Central Node command shares (kds remote, collect, kata-logs, support-bundle). */
export type ConnectionValues = Pick<Values, 'host' | 'port' | 'user' | 'identity' | 'known-hosts' | 'accept-new-host-key' | 'password-stdin'>;

export async function connect(v: ConnectionValues): Promise<{ session: SshSession; sudo: SudoOption }> {
  if (!v.host) throw new UsageError(t('--host HOST is required'));
  const port = v.port === undefined ? 22 : Number(v.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(t('--port must be a TCP port number (got {0})', v.port ?? ''));
  const user = v.user ?? process.env.USER ?? process.env.LOGNAME ?? process.env.USERNAME;
  if (!user) throw new UsageError(t('--user NAME is required (no $USER)'));
  let password: string | undefined = process.env.KDS_SSH_PASSWORD || undefined;
  if (v['password-stdin']) password = await readStdinLine();
  const askedPassword = async () => password ?? (password = await askHidden(t('Password for {0}@{1}: ', user, v.host!)));
  const auth: SshAuth = {
    ...(!v.identity && { agent: () => findSshAgent() }),
    ...(v.identity && { privateKeyPath: resolve(v.identity), passphrase: () => askHidden(t('Passphrase for {0}: ', v.identity!)) }),
    password: askedPassword,
    keyboardInteractive: async (_name, _instructions, prompts) => {
      const answers: string[] = [];
      for (const p of prompts) {
        const a = /password/i.test(p.prompt) ? await askedPassword() : p.echo ? await askLine(p.prompt) : await askHidden(p.prompt);
        if (a === undefined) return undefined;
        answers.push(a);
      }
      return answers;
    },
  };
  const hostKeys: HostKeyPolicy = {
    knownHostsFiles: v['known-hosts'] ? [resolve(v['known-hosts'])] : defaultKnownHostsFiles(),
    trustStorePath: defaultTrustStorePath(),
    async onUnknown(info) {
      if (v['accept-new-host-key']) {
        process.stderr.write(t('Trusting the new host key of {0}:{1}: {2} {3}', info.host, info.port, info.algorithm, info.sha256) + '\n');
        return true;
      }
      const answer = await askLine(t('The host key of {0}:{1} is not known.\n{2} key fingerprint is {3}.\nTrust it and continue (yes/no)? ', info.host, info.port, info.algorithm, info.sha256));
      return answer?.trim().toLowerCase() === 'yes';
    },
  };
  const session = await SshSession.connect({ host: v.host, port, user }, auth, hostKeys);
  const sudo: SudoOption = password !== undefined || process.stdin.isTTY ? { password: askedPassword } : true;
  return { session, sudo };
}

async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const subs = ['setup', 'status', 'start', 'stop', 'logs', 'icap-log', 'icap-probe', 'capture'];
  if (!sub || !subs.includes(sub)) throw new UsageError(t('Name one of: {0}', subs.join(', ')));
  let probeArgs: string[] = [];
  if (sub === 'icap-probe') {
    const split = splitProbeArgs(rest);
    rest.splice(0, rest.length, ...split.remote);
    probeArgs = split.probe;
    if (probeArgs.length === 0) throw new UsageError(t('Give the icap:// URL (or --discover HOST) to probe from the Central Node.'));
  }
  const { values: v } = parseOptions(rest, options);
  if (v.prefix !== undefined && !v.prefix.startsWith('/')) throw new UsageError(t('--prefix must be an absolute folder on the CN'));
  if (sub === 'setup' && !v.config) throw new UsageError(t('--config FILE is required for setup'));
  const engine = (v.engine ?? 'auto') as EngineKind | 'auto';
  if (!['auto', 'sea', 'deb', 'js'].includes(engine)) throw new UsageError(t('--engine must be auto, sea, deb or js'));
  const unitName = v.name ?? 'kata-dir-scanner';
  const nameProblem = unitNameProblem(unitName);
  if (nameProblem) throw new UsageError(t('--name {0}', nameProblem));

  // Local inputs are checked before connecting.
  let shares: ShareParams | undefined;
  let folders: Record<FolderKey, string> | undefined;
  let metricsListen: string | undefined = v['metrics-listen'];
  const shareCifsNames: Record<string, Record<FolderKey, string>> = {};
  if (sub === 'setup') {
    const dirs = [v['in-dir'], v['out-dir'], v['qrnt-dir']];
    if (dirs.some((d) => d !== undefined)) {
      if (!dirs.every((d) => d !== undefined && d.startsWith('/'))) throw new UsageError(t('--in-dir, --out-dir and --qrnt-dir go together, each an absolute folder on the CN'));
      if (v['share-host']) throw new UsageError(t('Either --share-host or --in-dir/--out-dir/--qrnt-dir, not both'));
      folders = { in: v['in-dir']!, out: v['out-dir']!, qrnt: v['qrnt-dir']! };
    }
    try {
      await readFile(v.config!, 'utf8');
    } catch (err) {
      process.stderr.write(t('Cannot read {0}: {1}', v.config!, (err as Error).message) + '\n');
      return ExitCode.usage;
    }
    if (v['add-shares'] && (folders || v['replace-config'] || v['new-certificate'])) {
      throw new UsageError(t('--add-shares changes only the added shares: it does not go with --in-dir/--out-dir/--qrnt-dir, --replace-config or --new-certificate'));
    }
    for (const spec of v['share-cifs'] ?? []) {
      const m = /^([A-Za-z0-9][A-Za-z0-9_-]{0,31})=([^,]+),([^,]+),([^,]+)$/.exec(spec);
      if (!m) throw new UsageError(t('--share-cifs takes NAME=IN,OUT,QRNT (the CIFS share names of the share NAME), got {0}', spec));
      shareCifsNames[m[1]!] = { in: m[2]!, out: m[3]!, qrnt: m[4]! };
    }
    if (v['share-host']) {
      if (!v['share-user']) throw new UsageError(t('--share-user NAME is required with --share-host'));
      const password = process.env.KDS_SHARE_PASSWORD ?? (await askHidden(t('Password of the share user {0}: ', v['share-user'])));
      if (password === undefined) throw new UsageError(t('The share password is needed: set KDS_SHARE_PASSWORD or run on a terminal'));
      shares = {
        host: v['share-host'],
        names: { in: v['share-in'] ?? 'in', out: v['share-out'] ?? 'out', qrnt: v['share-qrnt'] ?? 'qrnt' },
        user: v['share-user'],
        password,
        ...(v['share-domain'] && { domain: v['share-domain'] }),
      };
    }
    if (metricsListen === undefined && !v.yes && process.stdin.isTTY) {
      metricsListen = (await askLine(t('Serve Prometheus metrics from the CN\'s service? Address (e.g. 127.0.0.1:9464, a port, or a Unix socket path; empty: keep the configuration\'s): '))) ?? '';
      // Empty: as the local configuration says.
      if (metricsListen.trim() === '') metricsListen = undefined;
    }
    if (metricsListen !== undefined && metricsListen.trim() !== '') {
      const parsed = parseListenAddress(metricsListen);
      if ('problem' in parsed) throw new UsageError(t('--metrics-listen {0}: {1}', metricsListen, parsed.problem));
    }
  }

  let conn;
  try {
    conn = await connect(v);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    process.stderr.write(t('Cannot connect: {0}', (err as Error).message) + '\n');
    return ExitCode.failure;
  }
  const { session, sudo } = conn;
  try {
    switch (sub) {
      case 'setup':
        return await setup(session, sudo, v, { shares, shareCifsNames, folders, engine, unitName, metricsListen });
      case 'capture':
        return await captureCli(new SshCaptureHost(session, sudo), v, stdio, v.host!);
      default:
        return await operate(sub, session, sudo, v, unitName, probeArgs);
    }
  } finally {
    await session.close();
  }
}

async function setup(
  session: SshSession,
  sudo: SudoOption,
  v: Values,
  o: { shares: ShareParams | undefined; shareCifsNames: Record<string, Record<FolderKey, string>>; folders: Record<FolderKey, string> | undefined; engine: EngineKind | 'auto'; unitName: string; metricsListen: string | undefined },
): Promise<number> {
  const prefix = v.prefix || undefined;
  const l = layout(prefix, o.unitName);
  const facts = await probeFacts(session, l, prefix ? undefined : sudo);
  print(t('Central Node: {0} {1}, Node.js {2}, {3}', facts.os, facts.arch, facts.nodeVersion ?? t('none'), facts.isRoot ? 'root' : t('not root: sudo is used')));
  if (prefix) print(t('--prefix {0}: every path on the CN is under it; mount and systemctl are skipped.', prefix));

  let prepared;
  try {
    prepared = await prepareSetup({
      configPath: v.config!,
      ...(prefix && { prefix }),
      unitName: o.unitName,
      host: v.host!,
      facts,
      engine: o.engine,
      ...(o.shares && { shares: o.shares }),
      ...(Object.keys(o.shareCifsNames).length && { shareCifsNames: o.shareCifsNames }),
      ...(o.folders && { folders: o.folders }),
      ...(v['add-shares'] && { addShares: true }),
      ...(v['replace-config'] && { replaceConfig: true }),
      ...(v['new-certificate'] && { newCertificate: true }),
      ...(o.metricsListen !== undefined && { metricsListen: o.metricsListen }),
      buildPackage: buildEnginePackage,
    });
  } catch (err) {
    process.stderr.write((err as Error).message + '\n');
    return err instanceof SetupInputError && err.kind === 'input' ? ExitCode.usage : ExitCode.failure;
  }
  print(t('Engine: {0}', prepared.engineReason));
  try {
    const steps = prepared.steps;
    if (!o.shares && !o.folders) print(t('No --share-host: the shares step is left out (mount the shares by hand, see docs/service.md).'));
    print(t('system_id {0}', prepared.systemId));
    if (prepared.added) print(t('Shares to add: {0}', prepared.added.join(', ')));
    const confirm = async (): Promise<Answer> => {
      const a = await askLine(t('Run this step? [y]es / [s]kip / [q]uit: '));
      if (a === undefined) return 'quit';
      const c = a.trim().toLowerCase();
      return c === 'y' || c === 'yes' ? 'yes' : c === 's' || c === 'skip' ? 'skip' : 'quit';
    };
    if (!v.yes && !process.stdin.isTTY) {
      process.stderr.write(t('No terminal to ask on: pass --yes to run the steps.') + '\n');
      return ExitCode.usage;
    }
    // The upload's progress, a line per tenth: readable in a terminal and in a log alike.
    let shownTenth = -1;
    const uploading = (done: number, total: number) => {
      const tenth = Math.floor((done / total) * 10);
      if (tenth === shownTenth) return;
      shownTenth = tenth;
      print(t('  uploading the engine package: {0}% ({1} of {2})', tenth * 10, megabytes(done), megabytes(total)));
    };
    const result = await runSetupPlan(session, steps, { print, confirm, uploading }, {
      prefixMode: !!prefix,
      isRoot: facts.isRoot,
      sudo,
      yes: v.yes,
      upgrade: facts.installedEngineSha256 !== undefined,
    });
    print('');
    print(t('Done: {0}. Not run: {1}.', result.ran.join(', ') || '-', result.skipped.join(', ') || '-'));
    const summary = setupSummary(result.outcomes, prepared);
    for (const line of summary.done) print(`  ${line}`);
    if (summary.left.length) print(t('Left to do:'));
    for (const line of summary.left) print(`  ${line}`);
    return result.skipped.length && steps.find((s) => s.blocked) ? ExitCode.failure : ExitCode.ok;
  } catch (err) {
    const where = err instanceof StepFailed ? `${err.step.title}: ` : '';
    process.stderr.write(t('Set-up stopped: {0}{1}', where, (err as Error).message) + '\n');
    return ExitCode.failure;
  } finally {
    await prepared.dispose();
  }
}

/**
 * In a checkout (scripts/ and tsx are there) the engine package is built the first time a
 * set-up needs it, as `npm run package:deb` would; an installed KDS has none to build.
 */
async function buildEnginePackage(): Promise<void> {
  const root = packageRoot();
  const script = join(root, 'scripts', 'build-deb.ts');
  if (!existsSync(script) || !existsSync(join(root, 'node_modules', 'tsx'))) return;
  print(t('Building the engine package for Central Nodes without Node.js (npm run package:deb; once, about a minute)…'));
  const code = await new Promise<number | null>((done) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
    child.once('error', () => done(null));
    child.once('exit', (c) => done(c));
  });
  if (code !== 0) print(t('Building the engine package failed (exit code {0}); see above.', code ?? '?'));
}

/** Streams a remote command to this terminal until it ends or Ctrl-C; resolves with how it ended. */
async function stream(session: SshSession, argv: string[], sudo?: SudoOption): Promise<RemoteExit> {
  const proc = session.spawn(argv, sudo ? { sudo } : {});
  // Logs and the remote probe carry what others wrote (URLs, a server's headers): escaped for the terminal.
  proc.stdout.pipe(escapingStream()).pipe(process.stdout);
  proc.stderr.pipe(escapingStream()).pipe(process.stderr);
  const stop = () => proc.kill('TERM');
  process.once('SIGINT', stop);
  try {
    return await proc.exit;
  } finally {
    process.off('SIGINT', stop);
  }
}

/** A followed log (tail -F, journalctl -f) ends with Ctrl-C: that is success. */
async function follow(session: SshSession, argv: string[], sudo: SudoOption | undefined): Promise<number> {
  const x = await stream(session, argv, sudo);
  return x.code === 0 || x.signal ? ExitCode.ok : ExitCode.failure;
}

/** Separates the SSH connection options of `kds remote` from the arguments meant for `kds icap probe`. */
export function splitProbeArgs(argv: string[]): { remote: string[]; probe: string[] } {
  const remote: string[] = [];
  const probe: string[] = [];
  const table = options as Record<string, { type: string }>;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const m = /^--([^=]+)(=.*)?$/.exec(a);
    const spec = m ? table[m[1]!] : undefined;
    if (!m || !spec || ['timeout', 'json'].includes(m[1]!)) {
      probe.push(a);
      // A probe option's value goes with it.
      if (m && !m[2] && ['file', 'url', 'preview', 'timeout', 'discover'].includes(m[1]!) && i + 1 < argv.length) probe.push(argv[++i]!);
      continue;
    }
    remote.push(a);
    if (spec.type === 'string' && !m[2] && i + 1 < argv.length) remote.push(argv[++i]!);
  }
  return { remote, probe };
}

/** Runs `kds icap probe` with the installed engine on the CN, passing its output and exit code through. */
async function remoteProbe(session: SshSession, exec: string[], probeArgs: string[]): Promise<number> {
  if (probeArgs.some((a) => a === '--file' || a.startsWith('--file='))) {
    // The file is read where the probe runs: on the CN.
    print(t('Note: --file names a file on the Central Node.'));
  }
  const x = await stream(session, [...exec, 'icap', 'probe', ...probeArgs]);
  return x.code === 0 || x.code === 1 || x.code === 2 ? x.code : ExitCode.failure;
}

async function operate(sub: string, session: SshSession, sudo: SudoOption, v: Values, unitName: string, probeArgs: string[] = []): Promise<number> {
  const prefix = v.prefix || undefined;
  const l = layout(prefix, unitName);
  const root = await remoteIsRoot(session);
  // Under --prefix the files belong to the SSH user: nothing needs sudo.
  const asRoot = root || prefix ? undefined : sudo;
  const lines = String(Math.max(0, Number.parseInt(v.lines ?? '50', 10) || 50));
  const name = `${unitName}.service`;
  const show = async (argv: string[], useSudo: boolean, okCodes = [0]) => {
    print(`$ ${useSudo && asRoot ? 'sudo ' : ''}${argv.join(' ')}`);
    const r = await session.exec(argv, useSudo && asRoot ? { sudo: asRoot } : {});
    process.stdout.write(terminalText(r.stdout.toString('utf8')));
    process.stderr.write(terminalText(r.stderr.toString('utf8')));
    return r.code !== null && okCodes.includes(r.code);
  };
  switch (sub) {
    case 'status': {
      let ok = true;
      if (prefix) print(t('--prefix: systemctl status skipped.'));
      else ok = (await show(['systemctl', 'status', '--no-pager', '--lines=10', '--', name], false, [0, 3])) && ok;
      let exec: string[] | undefined;
      try {
        exec = await findEngine({ shell: async () => session, files: () => session.sftp() }, l.config, undefined, { runsAsRoot: !prefix });
      } catch (err) {
        // Not installed, or installed where root should not run it (trustedExecutable.ts): say which.
        print(/is not installed/.test((err as Error).message) ? t('KDS is not installed in {0}.', l.installDir) : (err as Error).message);
        return ExitCode.failure;
      }
      if (!exec) {
        print(t('KDS is not installed in {0}.', l.installDir));
        return ExitCode.failure;
      }
      ok = (await show([...exec, 'status', '--config', l.config, '--json'], true)) && ok;
      return ok ? ExitCode.ok : ExitCode.failure;
    }
    case 'start':
    case 'stop':
      if (prefix) {
        print(t('--prefix: there is no systemd to {0} the service with; start the installed engine directly.', sub));
        return ExitCode.usage;
      }
      return (await show(['systemctl', sub, '--', name], true)) && (await show(['systemctl', 'status', '--no-pager', '--lines=5', '--', name], false, [0, 3])) ? ExitCode.ok : ExitCode.failure;
    case 'logs': {
      if (v.journal) return follow(session, ['journalctl', `--unit=${name}`, '-n', lines, '--no-pager', ...(v['no-follow'] ? [] : ['-f'])], asRoot);
      // The log_file of the installed configuration.
      let logFile = l.logFile;
      try {
        const cfgText = (await session.exec(['cat', '--', l.config], asRoot ? { sudo: asRoot } : {})).stdout.toString('utf8');
        const lf = (JSON.parse(cfgText) as { log_file?: unknown }).log_file;
        if (typeof lf === 'string' && lf.startsWith('/')) logFile = lf;
      } catch {
        // the default place
      }
      return follow(session, ['tail', '-n', lines, ...(v['no-follow'] ? [] : ['-F']), '--', logFile], asRoot);
    }
    case 'icap-probe': {
      // Under --prefix nothing runs as root, so the engine need not be root's alone.
      const exec = await findEngine({ shell: async () => session, files: () => session.sftp() }, l.config, undefined, { runsAsRoot: !prefix }).catch(() => undefined);
      if (!exec) {
        print(t('KDS is not installed in {0}.', l.installDir));
        return ExitCode.failure;
      }
      return remoteProbe(session, exec, probeArgs);
    }
    case 'icap-log': {
      const path = prefix ? join(prefix, DEFAULT_ICAP_LOG_PATH) : DEFAULT_ICAP_LOG_PATH;
      const readable = (await session.exec(['test', '-r', path])).code === 0;
      return follow(session, ['tail', '-n', lines, ...(v['no-follow'] ? [] : ['-F']), '--', path], readable ? undefined : asRoot);
    }
  }
  return ExitCode.usage;
}
