import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { KdsLogger, formatText, streamSink } from '../common/log';
import { t } from '../common/l10n';
import { EmulatorOptionError, emulatorDefaults, resolveOptions } from '../emulator/emulatorOptions';
import { type IcapMode, startEmulator } from '../emulator/server';
import { portIsFree } from '../common/portIsFree';
import { canonicalFingerprint, type IntegrationRequest, SystemsRegistry } from '../emulator/systemsRegistry';
import { icapModeStatus, isIcapMode, requestIcapMode } from '../emulator/icapModeFile';
import { ICAP_MODES } from '../emulator/icapServiceLog';
import { type CliCommand, UsageError, parseOptions } from './command';
import { ExitCode } from '../common/exitCode';

export const command: CliCommand = {
  name: 'emulate',
  summary: 'Run the embedded KATA Central Node emulator (scanner API, verdicts, web console)',
  help: `Usage: kds emulate [options]
       kds emulate approve --data DIR SENSOR_ID [--fingerprint FP]
       kds emulate reject --data DIR SENSOR_ID [--fingerprint FP]
       kds emulate list --data DIR
       kds emulate mode [monitoring|blocking_simple|blocking_advanced] --data DIR

Runs a KATA Central Node emulator that speaks the scanner API over mutual TLS, until Ctrl-C
or SIGTERM. On first start it creates its CA (DIR/ca.pem, which clients must trust), a
server certificate and the console password, printed that one time (kept in
DIR/admin-password). Approvals, scans and detections survive restarts.

Options:
  --host ADDR              address to listen on (default 127.0.0.1)
  --port N                 port (default 8443; 0 picks a free one)
  --data DIR               data folder (default ./kds-emulator-data)
  --auto-approve           accept new external systems at once
  --state-shape SHAPE      scans/state body: "array" (documented) or "scans" (seen in the field)
  --verdict-delay-ms N     time a scan stays "processing" (default 300)
  --max-object-size BYTES  larger objects get 413 (default 104857600, 100 MiB)
  --max-processing N       more scans processing than this get 429 (default 1000)
  --faults SPEC            inject failures, e.g. 429=0.1,500=0.05,reset=0.02,latency=200
  --debug                  log every request

ICAP server (KATA's proxy integration; services icap://HOST:PORT/respmod and /reqmod):
  --icap-port N            ICAP port (default 1344, another free one if taken; 0 picks a free one)
  --icap-host ADDR         ICAP address (default: the same as --host)
  --icap-mode MODE         monitoring, blocking_simple (default) or blocking_advanced; also
                           switched while running (console, VS Code, kds emulate mode); the
                           mode switched last is kept for the next start
  --icap-advanced-wait-ms N  how long blocking_advanced waits for a slow verdict (default 2000)
  --no-icap                no ICAP server
  It writes DATA/preprocessor_icap.log (docs/icap-kit.md).

approve / reject decide integration requests from the shell, also while the emulator runs.
Without --fingerprint, approve takes the pending requests of SENSOR_ID and reject takes all
of its requests. With --fingerprint, that certificate is decided even before its first use.
list prints the external systems table.

mode prints the ICAP mode of the emulator on DIR (the one running there, else the one it starts
with) or, given a mode, switches it: a running emulator switches within a second (the command
waits for it to confirm), a stopped one starts in that mode. The console and VS Code switch the
same way. KATA's modes: monitoring (objects pass, detections become alerts), blocking_simple
(blocks what KATA knows at once), blocking_advanced (also waits a while for slower verdicts).

Details: docs/emulator.md. Exit codes: 0 success, 1 failure, 2 usage error.`,
  async run(argv) {
    const action = argv[0];
    if (action === 'approve' || action === 'reject') return decide(action, argv.slice(1));
    if (action === 'list') return list(argv.slice(1));
    if (action === 'mode') return mode(argv.slice(1));
    return serve(argv);
  },
};

/** The default ICAP port when free, else 0 (a free one) with a note: a second emulator still starts. */
async function freeOrZero(host: string, port: number): Promise<number> {
  if (await portIsFree(host, port)) return port;
  process.stderr.write(t('Port {0} is in use: the ICAP server takes a free port instead.', port) + '\n');
  return 0;
}

function wholeNumber(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new UsageError(t('{0} must be a whole number, not "{1}".', name, value));
  return Number(value);
}

async function serve(argv: string[]): Promise<number> {
  const { values } = parseOptions(argv, {
    host: { type: 'string' },
    port: { type: 'string' },
    data: { type: 'string' },
    'auto-approve': { type: 'boolean' },
    'state-shape': { type: 'string' },
    'verdict-delay-ms': { type: 'string' },
    'max-object-size': { type: 'string' },
    'max-processing': { type: 'string' },
    faults: { type: 'string' },
    debug: { type: 'boolean' },
    'icap-port': { type: 'string' },
    'icap-host': { type: 'string' },
    'icap-mode': { type: 'string' },
    'icap-advanced-wait-ms': { type: 'string' },
    'no-icap': { type: 'boolean' },
  });
  const logger = new KdsLogger({ level: values.debug ? 'debug' : 'info', sinks: [streamSink(process.stderr, formatText)] });
  const opts = {
    host: values.host,
    port: wholeNumber('--port', values.port),
    dataDir: values.data ?? emulatorDefaults.dataDir,
    autoApprove: values['auto-approve'] === true,
    stateShape: values['state-shape'] as 'array' | 'scans' | undefined,
    verdictDelayMs: wholeNumber('--verdict-delay-ms', values['verdict-delay-ms']),
    maxObjectSize: wholeNumber('--max-object-size', values['max-object-size']),
    maxProcessing: wholeNumber('--max-processing', values['max-processing']),
    faults: values.faults,
    icapPort: values['no-icap'] ? undefined : (wholeNumber('--icap-port', values['icap-port']) ?? (await freeOrZero(values['icap-host'] ?? values.host ?? '127.0.0.1', emulatorDefaults.icapPort))),
    icapHost: values['icap-host'],
    icapMode: values['icap-mode'] as IcapMode | undefined,
    icapAdvancedWaitMs: wholeNumber('--icap-advanced-wait-ms', values['icap-advanced-wait-ms']),
    logger,
  };
  try {
    resolveOptions(opts);
  } catch (err) {
    if (err instanceof EmulatorOptionError) throw new UsageError(err.message);
    throw err;
  }

  let emulator;
  try {
    emulator = await startEmulator(opts);
  } catch (err) {
    process.stderr.write(t('The emulator could not start: {0}', (err as Error).message) + '\n');
    return ExitCode.failure;
  }
  const lines = [
    t('KATA emulator: {0}', emulator.url),
    t('Scanner API:   {0}/kata/scanner/v1/sensors/<sensorId>/', emulator.url),
    t('CA certificate (clients must trust it): {0}', emulator.caPemPath),
    t('Console:       {0}  (user admin, password in {1})', emulator.consoleUrl, resolve(emulator.dataDir, 'admin-password')),
  ];
  if (emulator.icap) {
    lines.push(t('ICAP server:   {0}  ({1} mode; RESPMOD {2}, REQMOD {3})', emulator.icap.url, emulator.icap.mode(), emulator.icap.respmodUrl, emulator.icap.reqmodUrl));
    lines.push(t('ICAP log:      {0}', emulator.icap.logPath));
  }
  if (emulator.adminPasswordCreated) lines.push(t('Console password (shown only this once): {0}', emulator.adminPassword));
  lines.push(t('Press Ctrl-C to stop.'));
  process.stdout.write(lines.join('\n') + '\n');

  return new Promise<number>((done) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      emulator.close().then(
        () => done(ExitCode.ok),
        (err: Error) => {
          process.stderr.write(t('The emulator did not stop cleanly: {0}', err.message) + '\n');
          done(ExitCode.failure);
        },
      );
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

function registryFor(data: string | undefined): SystemsRegistry {
  if (!data) throw new UsageError(t('Missing --data DIR.'));
  const dir = resolve(data);
  if (!existsSync(resolve(dir, 'ca.pem'))) throw new UsageError(t('{0} is not an emulator data folder (no ca.pem in it).', dir));
  return new SystemsRegistry(dir);
}

async function decide(action: 'approve' | 'reject', argv: string[]): Promise<number> {
  const { values, positionals } = parseOptions(argv, { data: { type: 'string' }, fingerprint: { type: 'string' } }, true);
  if (positionals.length !== 1 || !positionals[0]) throw new UsageError(t('Give exactly one SENSOR_ID.'));
  const sensorId = positionals[0];
  let fingerprint: string | undefined;
  if (values.fingerprint !== undefined) {
    fingerprint = canonicalFingerprint(values.fingerprint);
    if (!fingerprint) throw new UsageError(t('"{0}" is not a SHA-256 certificate fingerprint.', values.fingerprint));
  }
  const registry = registryFor(values.data);
  const changed = await registry.decide(sensorId, fingerprint, action === 'approve' ? 'accepted' : 'rejected');
  if (changed.length === 0) {
    process.stderr.write(t('No matching integration request for sensor {0}.', sensorId) + '\n');
    return ExitCode.failure;
  }
  for (const row of changed) {
    process.stdout.write(
      (action === 'approve' ? t('Accepted: {0} {1}', row.sensorId, row.fingerprint) : t('Rejected: {0} {1}', row.sensorId, row.fingerprint)) + '\n',
    );
  }
  return ExitCode.ok;
}

async function list(argv: string[]): Promise<number> {
  const { values } = parseOptions(argv, { data: { type: 'string' } });
  const registry = registryFor(values.data);
  await registry.refresh();
  const rows = registry.list();
  if (rows.length === 0) {
    process.stdout.write(t('No integration requests yet.') + '\n');
    return ExitCode.ok;
  }
  process.stdout.write(rows.map(formatRow).join('\n') + '\n');
  return ExitCode.ok;
}

async function mode(argv: string[]): Promise<number> {
  const { values, positionals } = parseOptions(argv, { data: { type: 'string' } }, true);
  if (positionals.length > 1) throw new UsageError(t('Give at most one mode: {0}.', ICAP_MODES.join(', ')));
  const wanted = positionals[0];
  if (wanted !== undefined && !isIcapMode(wanted)) throw new UsageError(t('"{0}" is not an ICAP mode; use one of {1}.', wanted, ICAP_MODES.join(', ')));
  registryFor(values.data);
  const dir = resolve(values.data!);
  if (wanted === undefined) {
    const now = await icapModeStatus(dir);
    const shown = now.mode ?? emulatorDefaults.icapMode;
    if (now.pid && now.icap) process.stdout.write(t('{0} (the emulator running on {1}, pid {2})', shown, dir, now.pid) + '\n');
    else if (now.pid) process.stdout.write(t('{0} (the emulator running on {1}, pid {2}, has no ICAP server; it is the mode of its next start)', shown, dir, now.pid) + '\n');
    else process.stdout.write(t('{0} (no emulator runs on {1}; it starts in this mode)', shown, dir) + '\n');
    return ExitCode.ok;
  }
  const outcome = await requestIcapMode(dir, wanted, 'kds emulate mode');
  if (outcome === 'applied') process.stdout.write(t('ICAP mode is now {0}.', wanted) + '\n');
  else if (outcome === 'saved') process.stdout.write(t('No emulator runs on {0}: it starts in {1} mode.', dir, wanted) + '\n');
  else {
    process.stderr.write(t('The emulator running on {0} did not switch to {1} (does it run an ICAP server?); it starts in that mode next time.', dir, wanted) + '\n');
    return ExitCode.failure;
  }
  return ExitCode.ok;
}

function formatRow(row: IntegrationRequest): string {
  return [row.state.padEnd(8), row.sensorId, row.fingerprint, row.firstSeen].join('  ');
}
