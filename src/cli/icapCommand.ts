import { readFile } from 'node:fs/promises';
import { buffer as streamBuffer } from 'node:stream/consumers';
import { basename } from 'node:path';
import { t } from '../common/l10n';
import { DISCOVER_PATHS, type DiscoverResult, IcapProber, type ProbeReport, type ProbeStep, discover } from '../icap/icapProbe';
import { ICAP_DEFAULT_PORT, parseIcapUri } from '../icap/icapMessage';
import type { Conclusion } from '../icap/probeConclusion';
import { defaultProbeReportPath, saveProbeReport } from '../icap/probeReportFile';
import { ExitCode } from '../common/exitCode';
import { type CliCommand, type CommandIo, UsageError, parseOptions, stdio } from './command';

export const command: CliCommand = {
  name: 'icap',
  summary: 'Probe an ICAP service (OPTIONS, RESPMOD, REQMOD, EICAR) as a proxy would',
  help: `Usage: kds icap probe icap://HOST[:PORT]/SERVICE [options]
       kds icap probe --discover HOST[:PORT] [--timeout S] [--json]

Talks to an ICAP server the way a proxy such as Squid does: OPTIONS first (status, ISTag,
Methods, Preview, Transfer-*, Allow 204, Max-Connections, Options-TTL, with warnings), then for
the methods the service offers a RESPMOD with a harmless HTTP response and a REQMOD with a GET.
Preview, 100 Continue, ieof and 204 are handled as RFC 3507 says; one connection is reused.

Every conclusion comes with its next step. The requests carry X-KDS-Probe and name the host
kds-probe.invalid, so captures and logs tell them from the proxy's traffic. The report is kept
in XDG_STATE_HOME/kds/icap-probe-latest.json (~/.local/state/kds/…) for "kds support-bundle".

Options:
  --method M       respmod or reqmod: only that method's transactions (default: what OPTIONS offers)
  --eicar          also send the EICAR test file (RESPMOD, and a REQMOD POST); built in memory,
                   never written to disk
  --file F         also send the content of file F in a RESPMOD (a REQMOD POST with --method reqmod);
                   - reads it from standard input (--file-name names it)
  --file-name N    the name the file is sent under (default: its own name)
  --url U          the URL put in the encapsulated HTTP request
  --preview N      send a preview of N bytes (default: what the service asks for in OPTIONS)
  --no-preview     send whole bodies without preview
  --timeout S      seconds to wait for a connection or an answer (default 15)
  --discover H[:P] try the service paths seen in the field and list those that answer OPTIONS
  --json           print the report as JSON
  --jsonl          print each step as one JSON line as it completes (for the VS Code panel)
  --no-save        do not keep the report for the support request

Exit codes: 0 every step answered as an ICAP service should, 1 a failure (stated on the
conclusion line), 2 usage error. Details: docs/icap-kit.md.`,
  run: (argv) => runIcap(argv, stdio),
};

export async function runIcap(argv: string[], io: CommandIo): Promise<number> {
  const [action, ...rest] = argv;
  if (action !== 'probe') throw new UsageError(t('Unknown action "{0}". Use "kds icap probe".', action ?? ''));
  const { values, positionals } = parseOptions(
    rest,
    {
      eicar: { type: 'boolean', default: false },
      file: { type: 'string' },
      'file-name': { type: 'string' },
      method: { type: 'string' },
      'no-save': { type: 'boolean', default: false },
      url: { type: 'string' },
      preview: { type: 'string' },
      'no-preview': { type: 'boolean', default: false },
      timeout: { type: 'string' },
      discover: { type: 'string' },
      json: { type: 'boolean', default: false },
      jsonl: { type: 'boolean', default: false },
    },
    true,
  );
  let timeoutMs = 15_000;
  if (values.timeout !== undefined) {
    if (!/^\d+(\.\d+)?$/.test(values.timeout) || Number(values.timeout) <= 0 || Number(values.timeout) > 3600) {
      throw new UsageError(t('--timeout must be a number of seconds from 0 to 3600, not "{0}".', values.timeout));
    }
    timeoutMs = Number(values.timeout) * 1000;
  }

  if (values.discover !== undefined) {
    if (positionals.length) throw new UsageError(t('Give either --discover HOST[:PORT] or an icap:// URL, not both.'));
    const target = parseIcapUri(`icap://${values.discover.replace(/^icap:\/\//i, '').replace(/\/.*$/, '')}/`);
    if (!target) throw new UsageError(t('"{0}" is not HOST[:PORT].', values.discover));
    return runDiscover(target.host, target.port, timeoutMs, values.json === true, values.jsonl === true, io);
  }

  if (positionals.length !== 1) throw new UsageError(t('Give exactly one icap://HOST[:PORT]/SERVICE URL.'));
  const uri = parseIcapUri(positionals[0]!);
  if (!uri) throw new UsageError(t('"{0}" is not an icap://HOST[:PORT]/SERVICE URL.', positionals[0]!));
  if (uri.tls) throw new UsageError(t('icaps:// (ICAP over TLS) is not supported by the probe yet; use icap://.'));
  if (values.preview !== undefined && values['no-preview']) throw new UsageError(t('Use either --preview N or --no-preview.'));
  let preview: number | 'none' | undefined;
  if (values['no-preview']) preview = 'none';
  else if (values.preview !== undefined) {
    if (!/^\d+$/.test(values.preview) || Number(values.preview) > 1 << 20) throw new UsageError(t('--preview must be a whole number of bytes up to 1048576, not "{0}".', values.preview));
    preview = Number(values.preview);
  }
  const method = values.method?.toUpperCase();
  if (method !== undefined && method !== 'RESPMOD' && method !== 'REQMOD') throw new UsageError(t('--method must be respmod or reqmod, not "{0}".', values.method ?? ''));
  if (values['file-name'] !== undefined && (!values['file-name'] || /[/\\\0]/.test(values['file-name']))) throw new UsageError(t('--file-name must be a plain file name.'));
  let file: { name: string; content: Buffer } | undefined;
  if (values.file !== undefined) {
    try {
      const content = values.file === '-' ? await streamBuffer(process.stdin) : await readFile(values.file);
      file = { name: values['file-name'] ?? (values.file === '-' ? 'stdin' : basename(values.file)), content };
    } catch (err) {
      io.err(t('Cannot read {0}: {1}', values.file, (err as NodeJS.ErrnoException).code ?? (err as Error).message) + '\n');
      return ExitCode.failure;
    }
  }
  if (values.url !== undefined && !/^https?:\/\/\S+$/i.test(values.url)) throw new UsageError(t('--url must be an http:// or https:// URL.'));

  const jsonl = values.jsonl === true;
  const json = values.json === true;
  if (!json && !jsonl) io.out(t('Probing {0}', uri.href) + '\n');
  const prober = new IcapProber(uri, {
    eicar: values.eicar === true,
    file,
    url: values.url,
    preview,
    timeoutMs,
    ...(method && { method: method as 'RESPMOD' | 'REQMOD' }),
    onStep(step) {
      if (jsonl) io.out(JSON.stringify({ type: 'step', step }) + '\n');
      else if (!json) io.out(formatStep(step));
    },
  });
  const report = await prober.probe();
  // Kept for the support request; a failure to keep it does not change the probe's outcome.
  if (!values['no-save']) await saveProbeReport(defaultProbeReportPath(), report).catch(() => undefined);
  if (jsonl) io.out(JSON.stringify({ type: 'report', report }) + '\n');
  else if (json) io.out(JSON.stringify(report, null, 2) + '\n');
  else io.out(formatConclusion(report));
  return report.exitCode;
}

const mark = { ok: '✓', warning: '!', failed: '✗' } as const;

function ms(v: number | undefined): string {
  return v === undefined ? '-' : `${v} ms`;
}

/** The text a step prints: a headline, then its facts indented. */
export function formatStep(step: ProbeStep): string {
  const lines: string[] = [];
  const status = step.status !== undefined ? `ICAP ${step.status} ${step.reason ?? ''}`.trim() : t('no answer');
  lines.push(`${mark[step.outcome]} ${t(step.title)}: ${status}`);
  if (step.error && step.status === undefined) lines.push(`    ${step.error}`);
  if (step.options && step.status === 200) {
    const o = step.options;
    const row = (k: string, v: string | number | undefined) => lines.push(`    ${k.padEnd(18)} ${v === undefined ? t('(absent)') : v}`);
    row('ISTag', o.istag);
    row('Methods', o.methods);
    row('Service', o.service);
    row('Preview', o.preview);
    row('Transfer-Preview', o.transferPreview);
    row('Transfer-Ignore', o.transferIgnore);
    row('Transfer-Complete', o.transferComplete);
    row('Allow 204', o.allow204 ? t('yes') : t('no'));
    row('Max-Connections', o.maxConnections);
    row('Options-TTL', o.optionsTtl);
    row('Encapsulated', o.encapsulated);
  }
  if (step.method !== 'OPTIONS' && step.status !== undefined) {
    const verdict = Object.entries(step.verdict);
    lines.push(`    ${t('verdict')}: ${verdict.length ? verdict.map(([k, v]) => `${k}: ${v.replace(/\n/g, ' / ')}`).join(' | ') : t('(no verdict headers)')}`);
    lines.push(`    ${t('HTTP message')}: ${describeModification(step)}`);
    const pv = step.previewBytes !== undefined ? t('preview {0} bytes', step.previewBytes) + (step.ieof ? ', ieof' : step.continued ? ', 100 Continue' : '') : t('no preview');
    lines.push(`    ${t('time to first byte {0}, total {1}; {2}; {3}', ms(step.ttfbMs), ms(step.totalMs), pv, step.newConnection ? t('new connection') : t('connection reused'))}`);
  }
  for (const w of step.warnings) lines.push(`    ${t('warning')}: ${w}`);
  return lines.join('\n') + '\n';
}

function describeModification(step: ProbeStep): string {
  switch (step.modification) {
    case 'unchanged-204':
      return t('unchanged (204 No Content)');
    case 'unchanged-echo':
      return t('returned unchanged');
    case 'blocked':
      return t('replaced: HTTP {0} (blocked)', step.httpStatus ?? '?');
    case 'modified':
      return t('modified by the service');
    default:
      return t('not returned');
  }
}

export function formatConclusion(report: ProbeReport): string {
  return `\n${report.exitCode === 0 ? t('Conclusion') : t('Conclusion (failure)')}: ${report.uri}: ${report.conclusion.text}\n${nextStep(report.conclusion)}`;
}

function nextStep(c: Conclusion): string {
  return c.next ? `${t('Next step')}: ${c.next}\n` : '';
}

async function runDiscover(host: string, port: number, timeoutMs: number, json: boolean, jsonl: boolean, io: CommandIo): Promise<number> {
  const hostText = host.includes(':') ? `[${host}]` : host;
  if (!json && !jsonl) io.out(t('Trying {0} service paths on {1}:{2}', DISCOVER_PATHS.length, hostText, port === ICAP_DEFAULT_PORT ? '1344' : port) + '\n');
  const { results, fatal } = await discover(host, port, {
    timeoutMs,
    onResult(r) {
      if (jsonl) io.out(JSON.stringify({ type: 'discover', result: r }) + '\n');
      else if (!json) io.out(formatDiscover(r));
    },
  });
  const found = results.filter((r) => r.status === 200);
  if (json) io.out(JSON.stringify({ host, port, results, found: found.map((r) => r.uri), fatal }, null, 2) + '\n');
  else if (jsonl) io.out(JSON.stringify({ type: 'discovered', found: found.map((r) => r.uri), fatal }) + '\n');
  else if (fatal) io.out(`\n${t('Conclusion (failure)')}: ${fatal.text}\n${nextStep(fatal)}`);
  else if (found.length) io.out(`\n${t('Services that answer OPTIONS')}:\n${found.map((r) => `  ${r.uri}  (${r.methods ?? '?'})`).join('\n')}\n`);
  else io.out(`\n${t('Conclusion (failure)')}: ${t('the server speaks ICAP but none of the known service paths answered OPTIONS with 200')}\n${t('Next step')}: ${t('Look up the service paths in the KATA web console (Sensor servers, ICAP integration with proxy server) and probe that path.')}\n`);
  return found.length && !fatal ? ExitCode.ok : ExitCode.failure;
}

function formatDiscover(r: DiscoverResult): string {
  if (r.status === undefined) return `  ✗ ${r.path.padEnd(16)} ${r.error ?? ''}\n`;
  return `  ${r.status === 200 ? '✓' : '·'} ${r.path.padEnd(16)} ICAP ${r.status}${r.methods ? `  Methods: ${r.methods}` : ''}${r.service ? `  Service: ${r.service}` : ''}\n`;
}
