/**
 * One look at each saved Central Node over SSH, for the Central Nodes view and `kds fleet
 * status` alike: reachable, KDS installed, `systemctl is-active`, and `kds status --summary` run
 * by the installed engine (one command that reads the journal, event stream, log and folders on
 * the CN). An engine older than --summary is still shown: its version and what its
 * `kds status --json` tells. Nothing here asks a person anything: credentials and sudo passwords
 * are what the caller already has, an unknown host key is refused (and reported).
 */
import { t } from '../common/l10n';
import type { NodeStatus } from '../engine/nodeStatus';
import type { Logger } from '../common/log';
import { HostKeyChangedError, HostKeyNotTrustedError, SshAuthError, SshConnectError, SshError, SshTimeoutError, SudoError } from '../ssh/sshErrors';
import { SshSession } from '../ssh/sshSession';
import type { SftpFiles } from '../ssh/sftpFiles';
import type { SudoOption } from '../ssh/sudoPrompt';
import type { HostKeyPolicy, SshAuth } from '../ssh/sshTarget';
import type { CnProbe, UnitState } from '../viewModel/fleetStatus';
import { type CnContext, findEngine, isPermissionDenied, remoteIsRoot, run } from './cnOps';
import { type CentralNodeEntry, cnId } from './fleetList';

/** What a probe needs of a connected CN. */
export type ProbeSession = Pick<SshSession, 'exec' | 'sftp'>;

const commandTimeoutMs = 30_000;

/**
 * One SFTP channel per session for every probe on it: a session kept open between rounds (or
 * borrowed from the connected CN) would otherwise gain a channel per round until sshd's
 * MaxSessions refuses the next one.
 */
const sftpOf = new WeakMap<ProbeSession, Promise<SftpFiles>>();
function sharedSftp(session: ProbeSession): Promise<SftpFiles> {
  let p = sftpOf.get(session);
  if (!p) {
    p = session.sftp();
    sftpOf.set(session, p);
    p.catch(() => {
      if (sftpOf.get(session) === p) sftpOf.delete(session);
    });
  }
  return p;
}

/**
 * Looks at a CN over an open session. `sudo` is how root is reached without asking (a stored
 * password, or `sudo -n`); undefined runs everything as the SSH user.
 */
export async function probeSession(session: ProbeSession, entry: CentralNodeEntry, sudo: SudoOption | undefined, now: () => number = Date.now): Promise<CnProbe> {
  const isRoot = await remoteIsRoot(session);
  // Under a set-up prefix (tests) the files are the SSH user's: nothing runs as root.
  const asRoot = !isRoot && entry.sudo !== 'never' && !entry.setupPrefix;
  const c: CnContext = { shell: async () => session, files: () => sharedSftp(session), ...(asRoot && sudo !== undefined && { sudo }) };
  const sftp = await sharedSftp(session);
  try {
    if (!(await sftp.exists(entry.configPath))) return { at: now(), outcome: 'not-installed' };
  } catch (err) {
    // A configuration the SSH user may not look at (root's 0700 folder) is there as far as we know.
    if (!isPermissionDenied(err)) throw err;
  }
  let engine: string[];
  try {
    engine = await findEngine(c, entry.configPath, entry.engineCommand, { runsAsRoot: (asRoot && sudo !== undefined) || (isRoot && !entry.setupPrefix) });
  } catch (err) {
    if (/is not installed/.test((err as Error).message)) return { at: now(), outcome: 'not-installed' };
    throw err;
  }
  const unit = await unitState(c, entry.serviceName);
  const probe: CnProbe = { at: 0, outcome: 'ok', unit };
  const summary = await run(c, [...engine, 'status', `--config=${entry.configPath}`, '--summary'], asRoot, { timeoutMs: commandTimeoutMs }).catch((err: unknown) => err as Error);
  const sudoRefused = (r: { code: number | null; stderr: Buffer }) => asRoot && r.code === 1 && /^sudo: .*(password|terminal)/m.test(r.stderr.toString('utf8'));
  if (summary instanceof Error || sudoRefused(summary)) {
    if (summary instanceof Error && !(summary instanceof SudoError)) throw summary;
    probe.statusProblem = t('sudo on the Central Node needs a password KDS does not have: connect to it once and let KDS remember the password to see the counts.');
    probe.engineVersion = await engineVersion(c, engine);
  } else if (summary.code === 0) {
    const status = parseSummary(summary.stdout.toString('utf8'));
    if (status) probe.status = status;
    else probe.statusProblem = t('The engine on the Central Node printed no status it understands.');
  } else if (summary.code === 2 && /summary/i.test(summary.stderr.toString('utf8'))) {
    // An engine from before --summary: what it can tell.
    probe.engineVersion = await engineVersion(c, engine);
    probe.statusProblem = t('The engine on the Central Node ({0}) is older than this KDS and cannot report counts: run Set Up to upgrade it.', probe.engineVersion ?? '?');
    const legacy = await run(c, [...engine, 'status', `--config=${entry.configPath}`, '--json', '--recent', '0'], asRoot, { timeoutMs: commandTimeoutMs }).catch(() => undefined);
    const pending = legacyPending(legacy?.code === 0 ? legacy.stdout.toString('utf8') : '');
    if (pending !== undefined) probe.legacyPending = pending;
  } else {
    const text = (summary.stderr.toString('utf8').trim() || summary.stdout.toString('utf8').trim()).split('\n').slice(-3).join(' ');
    probe.statusProblem = t('kds status failed on the Central Node (exit code {0}): {1}', String(summary.code ?? summary.signal ?? '?'), text.slice(0, 400));
    probe.engineVersion = await engineVersion(c, engine);
  }
  probe.at = now();
  return probe;
}

async function unitState(c: CnContext, serviceName: string): Promise<UnitState> {
  const unit = serviceName.endsWith('.service') ? serviceName : `${serviceName}.service`;
  try {
    const r = await run(c, ['systemctl', 'is-active', '--', unit], false, { timeoutMs: 10_000 });
    const word = r.stdout.toString('utf8').trim().split('\n')[0]?.trim() ?? '';
    if (word === 'active' || word === 'reloading' || word === 'refreshing') return 'active';
    if (word === 'activating') return 'activating';
    if (word === 'inactive' || word === 'deactivating') return 'inactive';
    if (word === 'failed') return 'failed';
  } catch {
    // no systemd, or no answer in time
  }
  return 'none';
}

async function engineVersion(c: CnContext, engine: string[]): Promise<string | undefined> {
  const r = await run(c, [...engine, '--version'], false, { timeoutMs: commandTimeoutMs }).catch(() => undefined);
  const v = r?.code === 0 ? r.stdout.toString('utf8').trim().split('\n')[0]?.trim() : undefined;
  return v ? v.replace(/^kds\s+/i, '').slice(0, 40) : undefined;
}

/** The last line of `kds status --summary` that is a status object; undefined when none is. */
export function parseSummary(stdout: string): NodeStatus | undefined {
  const lines = stdout.trim().split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    try {
      const v = JSON.parse(lines[i]!) as Partial<NodeStatus>;
      if (v && typeof v === 'object' && typeof v.version === 'string' && v.service && typeof v.service === 'object' && Array.isArray(v.shares)) {
        return { ...v, shares: v.shares.filter((s) => s && typeof s.name === 'string' && Array.isArray(s.folders)) } as NodeStatus;
      }
    } catch {
      // not this line
    }
  }
  return undefined;
}

/** `kds status --json` of an older engine: how many entries are pending. */
export function legacyPending(stdout: string): number | undefined {
  try {
    const v = JSON.parse(stdout) as { pending?: unknown };
    return Array.isArray(v.pending) ? v.pending.length : undefined;
  } catch {
    return undefined;
  }
}

/** How a failed probe is told: whose move it is (the network, a person's trust, credentials). */
export function failedProbe(err: unknown, at: number): CnProbe {
  const reason = (err as Error)?.message ?? String(err);
  if (err instanceof HostKeyNotTrustedError || err instanceof HostKeyChangedError) return { at, outcome: 'host-key', reason };
  if (err instanceof SshAuthError) return { at, outcome: 'auth', reason };
  if (err instanceof SshConnectError || err instanceof SshTimeoutError || (err instanceof SshError && err.retryable)) return { at, outcome: 'unreachable', reason };
  return { at, outcome: 'error', reason };
}

/** Where probes get their SSH sessions: kept open between rounds, or opened per round. */
export interface FleetConnector {
  /** An open session to the CN (reused while it stays open). */
  open(entry: CentralNodeEntry): Promise<ProbeSession>;
  /** Closes the CN's session (after a failure or a timeout, or when nobody looks any more). */
  drop(entry: CentralNodeEntry): Promise<void>;
  /** How sudo is answered for this CN without asking a person. */
  sudo(entry: CentralNodeEntry): Promise<SudoOption>;
}

/**
 * Probes one CN within `timeoutMs` (connecting included); a CN that does not answer in time is
 * reported unreachable and its session dropped, so a hung command never holds the next round.
 */
export async function probeEntry(entry: CentralNodeEntry, connector: FleetConnector, o: { timeoutMs: number; now?: () => number }): Promise<CnProbe> {
  const now = o.now ?? Date.now;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<CnProbe>((resolve) => {
    timer = setTimeout(() => resolve({ at: now(), outcome: 'unreachable', reason: t('no answer within {0} s', Math.round(o.timeoutMs / 1000)) }), o.timeoutMs);
  });
  let finished = false;
  const work = (async () => {
    try {
      const session = await connector.open(entry);
      return await probeSession(session, entry, await connector.sudo(entry), now);
    } catch (err) {
      // A session that failed a command may be half dead: the next round opens a new one.
      await connector.drop(entry).catch(() => undefined);
      return failedProbe(err, now());
    } finally {
      finished = true;
    }
  })();
  try {
    const result = await Promise.race([work, timeout]);
    // Timed out: closing the session ends the command that hangs.
    if (!finished) await connector.drop(entry).catch(() => undefined);
    return result;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Probes every CN, at most `concurrency` at once, each within its own deadline; `onResult` hears
 * each as it ends (the view updates CN by CN, a slow one never holds the others).
 */
export async function probeFleet(
  entries: CentralNodeEntry[],
  connector: FleetConnector,
  o: { concurrency?: number; timeoutMs?: number; onResult?: (entry: CentralNodeEntry, probe: CnProbe) => void; now?: () => number } = {},
): Promise<Map<string, CnProbe>> {
  const results = new Map<string, CnProbe>();
  const queue = [...entries];
  const worker = async () => {
    for (let e = queue.shift(); e; e = queue.shift()) {
      const p = await probeEntry(e, connector, { timeoutMs: o.timeoutMs ?? 60_000, ...(o.now && { now: o.now }) });
      results.set(cnId(e), p);
      o.onResult?.(e, p);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(o.concurrency ?? 4, entries.length)) }, worker));
  return results;
}

/**
 * SSH sessions to saved CNs, one per CN, opened on demand and kept until dropped. Authentication
 * and host keys come from the caller (the CLI's strict known_hosts, the extension's stored
 * secrets); a borrowed session (the CN the views already show) is used instead of a second one.
 */
export class SshFleetConnector implements FleetConnector {
  private readonly sessions = new Map<string, Promise<SshSession>>();

  constructor(
    private readonly o: {
      auth: (entry: CentralNodeEntry) => SshAuth;
      hostKeys: (entry: CentralNodeEntry) => HostKeyPolicy;
      sudo: (entry: CentralNodeEntry) => Promise<SudoOption>;
      borrow?: (entry: CentralNodeEntry) => ProbeSession | undefined;
      logger?: Logger;
      readyTimeoutMs?: number;
    },
  ) {}

  open(entry: CentralNodeEntry): Promise<ProbeSession> {
    const borrowed = this.o.borrow?.(entry);
    if (borrowed) return Promise.resolve(borrowed);
    const id = cnId(entry);
    const cached = this.sessions.get(id);
    if (cached) {
      return cached.then((s) => {
        if (!s.isClosed) return s;
        if (this.sessions.get(id) === cached) this.sessions.delete(id);
        return this.open(entry);
      });
    }
    const opening = SshSession.connect({ host: entry.host, port: entry.port, user: entry.user }, this.o.auth(entry), this.o.hostKeys(entry), {
      readyTimeoutMs: this.o.readyTimeoutMs ?? 20_000,
      ...(this.o.logger && { logger: this.o.logger }),
    });
    this.sessions.set(id, opening);
    opening.catch(() => {
      if (this.sessions.get(id) === opening) this.sessions.delete(id);
    });
    return opening;
  }

  async drop(entry: CentralNodeEntry): Promise<void> {
    const id = cnId(entry);
    const s = this.sessions.get(id);
    this.sessions.delete(id);
    await (await s?.catch(() => undefined))?.close();
  }

  sudo(entry: CentralNodeEntry): Promise<SudoOption> {
    return this.o.sudo(entry);
  }

  /** Closes every session (the view was hidden, the command ended). */
  async closeAll(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(all.map(async (p) => (await p.catch(() => undefined))?.close()));
  }

  /** Closes the sessions of CNs no longer in the list. */
  async keepOnly(entries: CentralNodeEntry[]): Promise<void> {
    const keep = new Set(entries.map(cnId));
    for (const [id, p] of [...this.sessions]) {
      if (keep.has(id)) continue;
      this.sessions.delete(id);
      void p.then((s) => s.close(), () => undefined);
    }
  }

  /** Whether a session to the CN is open now (tests, diagnostics). */
  isOpen(entry: CentralNodeEntry): boolean {
    return this.sessions.has(cnId(entry));
  }
}
