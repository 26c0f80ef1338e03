import { resolve } from 'node:path';
import { t } from '../common/l10n';
import { type CaptureAnalysis, analyzeCaptureFile, defaultIcapPort } from '../capture/analyzeCapture';
import { analysisText } from '../capture/analysisText';
import type { CaptureHost } from '../capture/captureHost';
import { LocalCaptureHost } from '../capture/localCaptureHost';
import { CaptureError, type CaptureOptions, type CaptureProgress, runCapture } from '../capture/tcpdumpRunner';
import { ExitCode } from '../common/exitCode';
import { type CliCommand, type CommandIo, UsageError, parseOptions, stdio } from './command';

const help = `Usage: kds capture [--iface IFACE|any] [--port 1344] [--duration S] [--packets N] [--max-mb M] [--out FILE.pcap] [--json]
       kds capture analyze FILE [--port N] [--json]

Captures ICAP traffic with tcpdump on this computer (run as root), then lists the ICAP
transactions and what is wrong with them (docs/capture.md). On a Central Node: kds remote capture.

Capture:
  --iface IFACE          interface to listen on (default any)
  --port N               ICAP port (default 1344)
  --duration S           stop after S seconds (default 60; 0 = until Ctrl-C)
  --packets N            stop after N packets
  --max-mb M             stop when the file reaches M megabytes (default 100)
  --out FILE             where the capture is saved (default icap-capture-<time>.pcap here)
  --no-analyze           only capture
Ctrl-C stops the capture cleanly; the file is kept and analyzed.

Analyze (pcap or pcapng; Ethernet, Linux cooked v1/v2, loopback, raw IP; IPv4 and IPv6):
  --port N               only this TCP port (default: every connection that carries ICAP, and 1344)
  --slow-ms N            answers slower than this are reported (default 5000)
  --json                 one JSON object: {"transactions": [...], "diagnosis": [...], ...}

Exit codes: 0 done, 1 the capture failed or the file is not a capture, 2 wrong arguments.`;

export const command: CliCommand = {
  name: 'capture',
  summary: 'Capture ICAP traffic with tcpdump and analyze pcap/pcapng files',
  help,
  run: (argv) => runCaptureCommand(argv, stdio),
};

/** Options shared by kds capture and kds remote capture (there --port is SSH's: use --icap-port). */
export const captureOptionSpec = {
  iface: { type: 'string' },
  'icap-port': { type: 'string' },
  duration: { type: 'string' },
  packets: { type: 'string' },
  'max-mb': { type: 'string' },
  out: { type: 'string' },
  json: { type: 'boolean', default: false },
  'no-analyze': { type: 'boolean', default: false },
  'slow-ms': { type: 'string' },
} as const;

export interface CaptureValues {
  iface?: string;
  'icap-port'?: string;
  duration?: string;
  packets?: string;
  'max-mb'?: string;
  out?: string;
  json?: boolean;
  'no-analyze'?: boolean;
  'slow-ms'?: string;
}

function numberOption(name: string, v: string | undefined, fallback?: number): number | undefined {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new UsageError(t('{0} must be a positive number (got {1})', name, v));
  return n;
}

function portOption(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new UsageError(t('{0} must be a TCP port number (got {1})', name, v));
  return n;
}

function stamp(d = new Date()): string {
  return d.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

async function runCaptureCommand(argv: string[], io: CommandIo): Promise<number> {
  if (argv[0] === 'analyze') {
    const { values: v, positionals } = parseOptions(argv.slice(1), { port: { type: 'string' }, json: { type: 'boolean', default: false }, 'slow-ms': { type: 'string' } }, true);
    if (positionals.length !== 1) throw new UsageError(t('Name one capture file: kds capture analyze FILE'));
    return analyzeCli(positionals[0]!, { port: portOption('--port', v.port), slowMs: numberOption('--slow-ms', v['slow-ms']), json: v.json }, io);
  }
  const { values: v } = parseOptions(argv, { ...captureOptionSpec, port: { type: 'string' } });
  return captureCli(new LocalCaptureHost(), { ...v, 'icap-port': v.port ?? v['icap-port'] }, io, 'local');
}

export async function analyzeCli(file: string, o: { port?: number; slowMs?: number; json?: boolean }, io: CommandIo): Promise<number> {
  let a: CaptureAnalysis;
  try {
    a = await analyzeCaptureFile(resolve(file), { port: o.port, slowMs: o.slowMs });
  } catch (e) {
    io.err(t('Cannot read {0}: {1}', file, (e as Error).message) + '\n');
    return ExitCode.failure;
  }
  io.out(o.json ? JSON.stringify(a, null, 2) + '\n' : analysisText(a));
  return a.problems.some((p) => p.code === 'not-a-capture') ? ExitCode.failure : ExitCode.ok;
}

/** Shown while capturing: on a terminal one line rewritten in place. */
function progressPrinter(io: CommandIo, tty: boolean): { show(p: CaptureProgress): void; end(): void } {
  let last = 0;
  return {
    show(p) {
      const line =
        p.packets === null
          ? t('{0} KB, {1} s — Ctrl-C stops', Math.round(p.bytes / 1024), Math.round(p.elapsedMs / 1000))
          : t('{0} packet(s), {1} KB, {2} s — Ctrl-C stops', p.packets, Math.round(p.bytes / 1024), Math.round(p.elapsedMs / 1000));
      if (tty) io.err(`\r${line}\u001b[K`);
      else if (p.elapsedMs - last >= 10_000) {
        last = p.elapsedMs;
        io.err(line + '\n');
      }
    },
    end() {
      if (tty) io.err('\n');
    },
  };
}

/** "Capturing TCP port 1344 on all network interfaces of this computer…" (tcpdump's `any` is not a word to print). */
export function captureStartLine(port: number, iface: string, host: string): string {
  return iface === 'any' ? t('Capturing TCP port {0} on all network interfaces of {1}…', port, host) : t('Capturing TCP port {0} on interface {1} of {2}…', port, iface, host);
}

/** The capture part of kds capture and kds remote capture: one path for both hosts. */
export async function captureCli(host: CaptureHost, v: CaptureValues, io: CommandIo, where: string): Promise<number> {
  const port = portOption('--port', v['icap-port']) ?? defaultIcapPort;
  const durationS = numberOption('--duration', v.duration, 60);
  const packets = numberOption('--packets', v.packets);
  const maxMb = numberOption('--max-mb', v['max-mb'], 100);
  const slowMs = numberOption('--slow-ms', v['slow-ms']);
  const out = resolve(v.out ?? `icap-capture-${where.replace(/[^A-Za-z0-9.-]+/g, '_')}-${stamp()}.pcap`);
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.on('SIGINT', onSigint);
  const options: CaptureOptions = { iface: v.iface ?? 'any', port, durationS: durationS || undefined, packets, maxMb: maxMb || undefined, out, signal: controller.signal };
  io.err(captureStartLine(port, options.iface, host.label) + '\n');
  const progress = progressPrinter(io, !v.json && !!process.stderr.isTTY);
  let result;
  try {
    result = await runCapture(host, options, { listening: () => io.err(t('tcpdump is listening.') + '\n'), progress: (p) => progress.show(p) });
  } catch (e) {
    progress.end();
    if (e instanceof CaptureError) {
      io.err(e.message + '\n');
      return ExitCode.failure;
    }
    throw e;
  } finally {
    process.off('SIGINT', onSigint);
  }
  progress.end();
  const why = { duration: t('time is up'), packets: t('packet count reached'), size: t('size limit reached'), user: t('stopped'), exited: t('tcpdump ended') }[result.stoppedBy];
  io.err(t('Saved {0}: {1} packet(s), {2} bytes ({3}).', result.file, result.packets, result.bytes, why) + '\n');
  if (v['no-analyze']) return ExitCode.ok;
  const a = await analyzeCaptureFile(result.file, { port, slowMs });
  io.out(v.json ? JSON.stringify({ capture: result, ...a }, null, 2) + '\n' : '\n' + analysisText(a));
  return ExitCode.ok;
}
