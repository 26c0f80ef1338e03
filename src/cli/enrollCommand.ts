import { t } from '../common/l10n';
import { KataClient } from '../kata/client';
import { KataCredentialsError, kataClientOptions, loadKataCredentials } from '../engine/kataClientFromConfig';
import { KataError } from '../kata/errors';
import { collectTestScan, submitIntegrationRequest } from '../kata/integrationRequest';
import { loadConfigForCommand, reportMissingConfig } from './cliConfig';
import { type CliCommand, type CommandIo, UsageError, stdio, parseOptions } from './command';
import { ExitCode } from '../common/exitCode';

const help = `Usage: kds enroll --config FILE [--wait SECONDS]

Starts the integration of this external system with KATA the way the original set-up
does: one tiny scan request with a fresh UUID as scanId, sent with the client
certificate. Prints the system_id and the certificate's SHA-256 fingerprint: the KATA
administrator finds the request with these values in the KATA web console (External
systems) and accepts it.

If KATA has already approved this system, the scan is accepted: KDS waits up to
SECONDS (default 10) for its result and then deletes the result, so nothing is left
behind.

Options:
  --config FILE     kata_dir_scanner.conf (required)
  --wait SECONDS    how long to wait for the test scan's result when approved (0 = do not wait)

Exit codes: 0 already approved, 1 failure (network, TLS, certificate files),
2 configuration error, 3 the request is pending or was rejected.`;

export const command: CliCommand = {
  name: 'enroll',
  summary: 'Send the integration request to KATA and show what the administrator must approve',
  help,
  run: (argv) => runEnroll(argv, stdio),
};

export interface EnrollOptions {
  requestTimeoutMs?: number;
  /** Pause between polls of the test scan's state; default 2 s. */
  pollDelayMs?: number;
}

export async function runEnroll(argv: string[], io: CommandIo, options: EnrollOptions = {}): Promise<number> {
  const { values } = parseOptions(argv, { config: { type: 'string' }, wait: { type: 'string' } });
  // Checked before --wait, so a missing --config is what is reported when both are wrong.
  if (!values.config) return reportMissingConfig(io);
  const waitS = values.wait === undefined ? 10 : Number(values.wait);
  if (!Number.isFinite(waitS) || waitS < 0 || waitS > 600) throw new UsageError(t('--wait must be a number of seconds from 0 to 600'));

  const loaded = await loadConfigForCommand(values.config, io);
  if (!loaded) return ExitCode.usage;
  const { config } = loaded;
  let credentials;
  try {
    credentials = await loadKataCredentials(config);
  } catch (err) {
    if (!(err instanceof KataCredentialsError)) throw err;
    io.err(err.message + '\n');
    return ExitCode.failure;
  }

  const where = `${config.kata_cn_addr}:${config.kata_cn_port}`;
  const out = (line: string) => io.out(line + '\n');
  out(t('Sending the integration request to KATA at {0}', where));
  out(`  ${t('system_id:')} ${config.system_id}`);
  out(`  ${t('client certificate SHA-256:')} ${credentials.fingerprint256}`);
  out(t('The KATA administrator accepts the request in the KATA web console (External systems) after checking that both values match.'));
  if (config.insecure) out(t('WARNING: "insecure" is true: the Central Node\'s certificate is not verified.'));

  const client = new KataClient(kataClientOptions(config, credentials, { requestTimeoutMs: options.requestTimeoutMs ?? 30_000 }));
  try {
    let scanId: string;
    try {
      ({ scanId } = await submitIntegrationRequest(client));
    } catch (err) {
      if (!(err instanceof KataError)) throw err;
      return reportRefusal(err, config.system_id, credentials.fingerprint256, values.config, io);
    }
    out(t('KATA has already approved this external system: the test scan {0} was accepted.', scanId));
    const scan = await collectTestScan(client, scanId, { waitMs: waitS * 1000, delayMs: options.pollDelayMs ?? 2_000 });
    if (scan.stateError) out(t('Could not read the state of the test scan: {0}', scan.stateError));
    if (scan.state !== undefined) out(t('Result of the test scan: {0}', scan.state));
    else if (waitS > 0 && !scan.stateError) out(t('The test scan has no result yet; it is deleted from KATA anyway.'));
    if (scan.deleteError) out(t('Could not delete the test scan result {0}: {1}', scanId, scan.deleteError));
    else out(t('The test scan result was deleted from KATA.'));
    return ExitCode.ok;
  } finally {
    await client.close();
  }
}

function reportRefusal(err: KataError, systemId: string, fingerprint: string, configFile: string, io: CommandIo): number {
  const out = (line: string) => io.out(line + '\n');
  switch (err.kind) {
    case 'unauthorized':
      out(t('Integration request sent; it is pending (HTTP 401).'));
      out(t('Ask the KATA administrator to accept system_id {0} with certificate fingerprint {1}, then run: kds check --config {2}', systemId, fingerprint, configFile));
      return ExitCode.notApproved;
    case 'forbidden':
      out(t('KATA rejected the integration of system_id {0} with certificate fingerprint {1} (HTTP 403).', systemId, fingerprint));
      out(t('Ask the KATA administrator to accept it, or enroll with a new system_id.'));
      return ExitCode.notApproved;
    case 'tls':
      io.err(err.message + '\n');
      io.err(t('Run "kds check --config {0}" to see the server certificate\'s fingerprint; pin it with kata_cert_sha256 or set kata_ca.', configFile) + '\n');
      return ExitCode.failure;
    default:
      io.err(t('The integration request failed: {0}', err.message) + '\n');
      return ExitCode.failure;
  }
}
