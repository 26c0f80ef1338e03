import { t } from '../common/l10n';
import { type CaptureHost, type HostProcess, supportsPrint, tcpdumpVersion } from './captureHost';

export interface CaptureOptions {
  /** Interface name, or "any". */
  iface: string;
  port: number;
  /** Seconds; 0 or undefined = until stopped. */
  durationS?: number;
  packets?: number;
  maxMb?: number;
  /** Local file the capture ends up in. */
  out: string;
  /** Aborting stops the capture cleanly (Ctrl-C, the Stop button). */
  signal?: AbortSignal;
}

export interface CaptureProgress {
  /** Packets so far; null when this tcpdump cannot tell while it writes (older than 4.99). */
  packets: number | null;
  bytes: number;
  elapsedMs: number;
}

export interface CaptureEvents {
  /** tcpdump said "listening on": traffic sent from now on is in the file. */
  listening?(): void;
  progress?(p: CaptureProgress): void;
}

export type StopReason = 'duration' | 'packets' | 'size' | 'user' | 'exited';

export interface CaptureResult {
  file: string;
  host: string;
  packets: number;
  bytes: number;
  stoppedBy: StopReason;
  /** The command run, for the record (docs, support bundle). */
  command: string[];
  /** tcpdump's own closing lines ("N packets captured", "… dropped by kernel"). */
  tcpdumpSummary: string;
}

/** Refusals and failures with a message meant for the user. */
export class CaptureError extends Error {}

const ifacePattern = /^[A-Za-z0-9_.:@-]{1,64}$/;

/** Checks the options a user typed; throws CaptureError with the reason. */
export function checkCaptureOptions(o: CaptureOptions): void {
  if (!ifacePattern.test(o.iface) || o.iface.startsWith('-')) throw new CaptureError(t('"{0}" is not an interface name.', o.iface));
  if (!Number.isInteger(o.port) || o.port < 1 || o.port > 65535) throw new CaptureError(t('--port must be a TCP port number (got {0})', String(o.port)));
  for (const [name, v] of [['--duration', o.durationS], ['--packets', o.packets], ['--max-mb', o.maxMb]] as const) {
    if (v !== undefined && (!Number.isFinite(v) || v < 0)) throw new CaptureError(t('{0} must be a positive number (got {1})', name, String(v)));
  }
}

/** tcpdump's argv: the fixed options of the issue plus the bounds tcpdump enforces itself. */
export function tcpdumpArgv(tcpdump: string, o: CaptureOptions, file: string, asRoot: boolean, livePrint = true): string[] {
  return [
    tcpdump,
    '-nn',
    '-i',
    o.iface,
    '-s',
    '0',
    // -U writes each packet as it comes; --immediate-mode hands it over at once (with TPACKET_V3
    // packets otherwise wait in a kernel block, and those still there at SIGINT are lost).
    '-U',
    '--immediate-mode',
    // A 32 MiB kernel buffer: 64 KiB loopback packets overflow the default one.
    '-B',
    '32768',
    // One line per packet on stdout while writing the file: the live count (tcpdump 4.99+;
    // older ones capture the same, the progress then shows the file size only).
    ...(livePrint ? ['-l', '--print', '-q'] : []),
    // tcpdump drops to its own user before opening the file; keep root to write into our folder.
    ...(asRoot ? ['-Z', 'root'] : []),
    ...(o.packets ? ['-c', String(Math.floor(o.packets))] : []),
    '-w',
    file,
    'port',
    String(o.port),
  ];
}

function waitListening(p: HostProcess, stderr: () => string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new CaptureError(t('tcpdump did not start within {0} s: {1}', timeoutMs / 1000, stderr().trim()))), timeoutMs);
    const check = () => {
      if (/listening on/i.test(stderr())) done();
    };
    const done = (e?: Error) => {
      clearTimeout(timer);
      p.stderr.off('data', check);
      if (e) reject(e);
      else resolve();
    };
    p.stderr.on('data', check);
    p.exit.then((x) => done(new CaptureError(t('tcpdump stopped at once (exit {0}): {1}', String(x.code), stderr().trim()))));
    check();
  });
}

/**
 * Runs one bounded capture on a host: tcpdump -nn -i IFACE -s 0 -w FILE port P into a private
 * temporary folder, stopped by time, packet count, size or the caller, then copies the file to
 * `out` and removes the temporary folder, whatever happened.
 */
export async function runCapture(host: CaptureHost, o: CaptureOptions, events: CaptureEvents = {}): Promise<CaptureResult> {
  checkCaptureOptions(o);
  const tcpdump = await host.findTcpdump();
  if (!tcpdump) {
    throw new CaptureError(
      t('tcpdump is not installed on {0} (looked for a root-owned /usr/sbin/tcpdump, /usr/bin/tcpdump, /sbin/tcpdump, /bin/tcpdump). Install the tcpdump package: apt-get install tcpdump, or dnf/yum install tcpdump.', host.label),
    );
  }
  const asRoot = await host.runsAsRoot();
  const version = tcpdumpVersion((await host.run([tcpdump, '--version']).catch(() => ({ output: '' }))).output);
  const dir = await host.makeTempDir();
  const file = `${dir}/capture.pcap`;
  const livePrint = supportsPrint(version);
  const argv = tcpdumpArgv(tcpdump, o, file, asRoot, livePrint);
  let stoppedBy: StopReason = 'exited';
  let packets = 0;
  let bytes = 0;
  const started = Date.now();
  try {
    const p = host.start(argv);
    let err = '';
    p.stderr.on('data', (d: Buffer) => {
      if (err.length < 64 * 1024) err += d.toString('utf8');
    });
    let partial = '';
    p.stdout.on('data', (d: Buffer) => {
      const text = partial + d.toString('latin1');
      const lines = text.split('\n');
      partial = lines.pop()!;
      packets += lines.length;
    });
    const exited = p.exit.then(() => true);
    try {
      await waitListening(p, () => err, 30_000);
    } catch (e) {
      await host.kill(p).catch(() => undefined);
      throw e;
    }
    events.listening?.();
    let stopping: Promise<void> | undefined;
    const stop = (why: StopReason) => {
      if (stopping) return;
      stoppedBy = why;
      stopping = host.interrupt(p).catch(() => undefined);
    };
    const onAbort = () => stop('user');
    if (o.signal?.aborted) stop('user');
    o.signal?.addEventListener('abort', onAbort, { once: true });
    const durationTimer = o.durationS ? setTimeout(() => stop('duration'), o.durationS * 1000) : undefined;
    const limit = o.maxMb ? o.maxMb * 1024 * 1024 : undefined;
    // Size and progress every half second until tcpdump exits.
    let ended = false;
    void exited.then(() => (ended = true));
    while (!ended) {
      await Promise.race([exited, new Promise((r) => setTimeout(r, 500))]);
      bytes = (await host.fileSize(file).catch(() => undefined)) ?? bytes;
      events.progress?.({ packets: livePrint ? packets : null, bytes, elapsedMs: Date.now() - started });
      if (limit && bytes >= limit) stop('size');
      if (stopping && !ended) {
        // A tcpdump that ignores SIGINT for 15 s is killed: the file holds what was written.
        const gone = await Promise.race([exited, new Promise<boolean>((r) => setTimeout(() => r(false), 15_000))]);
        if (!gone) await host.kill(p);
        await exited;
        break;
      }
    }
    if (durationTimer) clearTimeout(durationTimer);
    o.signal?.removeEventListener('abort', onAbort);
    const x = await p.exit;
    if (!stopping) stoppedBy = o.packets ? 'packets' : 'exited';
    const summary = err
      .split('\n')
      .filter((l) => /packets? (captured|received|dropped)/.test(l))
      .join('\n');
    const counted = /(\d+) packets? captured/.exec(summary);
    if (counted) packets = Number(counted[1]);
    if (stoppedBy === 'exited' && x.code !== 0) throw new CaptureError(t('tcpdump failed (exit {0}): {1}', String(x.code), err.trim()));
    bytes = (await host.fileSize(file)) ?? 0;
    events.progress?.({ packets, bytes, elapsedMs: Date.now() - started });
    await host.fetch(file, o.out);
    return { file: o.out, host: host.label, packets, bytes, stoppedBy, command: argv, tcpdumpSummary: summary };
  } finally {
    await host.removeTempDir(dir).catch(() => undefined);
  }
}
