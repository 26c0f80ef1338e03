import { randomUUID, X509Certificate } from 'node:crypto';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { t } from '../common/l10n';
import { CertificateFilesExist, writeClientCertificate } from '../pki/clientCertificateFiles';
import { type CliCommand, UsageError, parseOptions } from './command';
import { ExitCode } from '../common/exitCode';

const help = `Usage: kds cert --out DIR [--days N] [--cn NAME] [--force]

Creates the client key and self-signed certificate KDS presents to KATA, like the
original set-up's openssl command (RSA 2048, no passphrase):
  DIR/server.key   private key
  DIR/server.crt   certificate
  DIR/cert.pem     certificate followed by the key (cat server.crt server.key)
All three are created with mode 0600. Existing files are not replaced without --force.

Options:
  --out DIR    folder for the files (created if missing)
  --days N     validity in days (default 365)
  --cn NAME    common name of the certificate (default kds-<host name>)
  --force      replace existing files

Prints the certificate's SHA-256 fingerprint, which KATA shows with the integration
request, and a fresh UUID to use as system_id. A new certificate needs a new approval
in the KATA web console.`;

export const command: CliCommand = {
  name: 'cert',
  summary: 'Create the client key and self-signed certificate for KATA',
  help,
  run,
};

function parseDays(text: string | undefined): number {
  if (text === undefined) return 365;
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= 36500)) throw new UsageError(t('--days must be a whole number of days from 1 to 36500 (got {0})', text));
  return n;
}

/** Writes the three files; false (after saying so) when one appeared meanwhile and force is off. */

async function run(argv: string[]): Promise<number> {
  const { values } = parseOptions(argv, {
    out: { type: 'string' },
    days: { type: 'string' },
    cn: { type: 'string' },
    force: { type: 'boolean', default: false },
  });
  if (!values.out) throw new UsageError(t('--out DIR is required: the folder for server.key, server.crt and cert.pem'));
  const days = parseDays(values.days);
  const commonName = (values.cn ?? `kds-${hostname()}`).trim();
  if (commonName === '' || commonName.length > 64) throw new UsageError(t('--cn must have 1 to 64 characters'));
  const dir = resolve(values.out);
  let written;
  try {
    written = await writeClientCertificate(dir, { commonName, days, force: values.force === true });
  } catch (err) {
    if (err instanceof CertificateFilesExist) {
      process.stderr.write(t('Not replacing existing files: {0}. Use --force to replace them (KATA will then ask for a new approval).', err.paths.join(', ')) + '\n');
      return ExitCode.failure;
    }
    const e = err as NodeJS.ErrnoException;
    if (!e.code) throw err;
    process.stderr.write(t('Cannot write the files into {0}: {1}', dir, e.message) + '\n');
    return ExitCode.failure;
  }
  const { paths, made } = written;

  const cert = new X509Certificate(made.certPem);
  const out = [
    t('Created (mode 0600):'),
    `  ${paths['server.key']}  ${t('private key')}`,
    `  ${paths['server.crt']}  ${t('certificate')}`,
    `  ${paths['cert.pem']}  ${t('certificate and private key')}`,
    t('Subject: {0}, valid until {1}', cert.subject.replace(/\n/g, ', '), new Date(cert.validTo).toISOString()),
    t('SHA-256 fingerprint: {0}', made.fingerprint256),
    t('Suggested system_id: {0}', randomUUID()),
    '',
    t('Next: set "cert_pem" and "cert_key" in kata_dir_scanner.conf (cert.pem holds both, so it may serve as each), set "system_id", start KDS, then approve the integration request in the KATA web console; check that it shows the fingerprint above.'),
  ];
  process.stdout.write(out.join('\n') + '\n');
  return ExitCode.ok;
}
