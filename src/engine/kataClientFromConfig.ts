import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { t } from '../common/l10n';
import { splitPem } from '../pki/pemText';
import type { KdsConfig } from './config';
import { KataClient, type KataClientOptions } from '../kata/client';

/** A certificate, key or CA file named in the configuration cannot be used. */
export class KataCredentialsError extends Error {
  override name = 'KataCredentialsError';
  constructor(
    message: string,
    /** The file at fault, absolute. */
    readonly file: string,
    /** The configuration key that names it. */
    readonly configKey: 'cert_pem' | 'cert_key' | 'kata_ca',
  ) {
    super(message);
  }
}

export interface KataCredentials {
  /** Every certificate of cert_pem, leaf first: the chain presented to KATA. */
  certPem: string;
  keyPem: string;
  /** The certificates of kata_ca, when configured. */
  caPem?: string;
  /** The client (leaf) certificate, for its fingerprint and validity. */
  certificate: X509Certificate;
  /** `AA:BB:…`: what the KATA administrator sees in the integration request. */
  fingerprint256: string;
}

async function readPemFile(file: string, configKey: KataCredentialsError['configKey']): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new KataCredentialsError(t('{0} ({1}) does not exist', file, configKey), file, configKey);
    if (code === 'EACCES' || code === 'EPERM') throw new KataCredentialsError(t('{0} ({1}) cannot be read: permission denied', file, configKey), file, configKey);
    if (code === 'EISDIR') throw new KataCredentialsError(t('{0} ({1}) is a folder, not a PEM file', file, configKey), file, configKey);
    throw new KataCredentialsError(t('{0} ({1}) cannot be read: {2}', file, configKey, (err as Error).message), file, configKey);
  }
}

function parseKey(pem: string, file: string): KeyObject {
  if (/ENCRYPTED/.test(pem)) {
    throw new KataCredentialsError(t('{0} (cert_key): the private key is protected by a passphrase; KDS needs an unencrypted key (openssl … -nodes)', file), file, 'cert_key');
  }
  try {
    return createPrivateKey(pem);
  } catch (err) {
    throw new KataCredentialsError(t('{0} (cert_key): the private key cannot be parsed: {1}', file, (err as Error).message), file, 'cert_key');
  }
}

export interface ClientIdentity {
  certPem: string;
  keyPem: string;
  certificate: X509Certificate;
  fingerprint256: string;
}

/**
 * Reads the client certificate and key as the original set-up makes them: cert_pem may be
 * `cat server.crt server.key` (certificate and key together); the key is taken from cert_key.
 * Every failure names the file and the configuration key.
 */
export async function loadClientIdentity(config: Pick<KdsConfig, 'cert_pem' | 'cert_key'>): Promise<ClientIdentity> {
  const certText = await readPemFile(config.cert_pem, 'cert_pem');
  const certs = splitPem(certText).certificates;
  if (certs.length === 0) {
    throw new KataCredentialsError(t('{0} (cert_pem) holds no PEM certificate (-----BEGIN CERTIFICATE-----)', config.cert_pem), config.cert_pem, 'cert_pem');
  }
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(certs[0]!);
  } catch (err) {
    throw new KataCredentialsError(t('{0} (cert_pem): the certificate cannot be parsed: {1}', config.cert_pem, (err as Error).message), config.cert_pem, 'cert_pem');
  }

  const keyText = config.cert_key === config.cert_pem ? certText : await readPemFile(config.cert_key, 'cert_key');
  const keyPem = splitPem(keyText).privateKey;
  if (!keyPem) {
    throw new KataCredentialsError(t('{0} (cert_key) holds no PEM private key (-----BEGIN PRIVATE KEY-----)', config.cert_key), config.cert_key, 'cert_key');
  }
  const key = parseKey(keyPem, config.cert_key);
  if (!certificate.checkPrivateKey(key)) {
    throw new KataCredentialsError(
      t('{0} (cert_key) does not hold the private key of the certificate in {1} (cert_pem)', config.cert_key, config.cert_pem),
      config.cert_key,
      'cert_key',
    );
  }
  return { certPem: certs.join(''), keyPem, certificate, fingerprint256: certificate.fingerprint256 };
}

/** The certificates of kata_ca (the Central Node's certificate or its CA), PEM. */
export async function loadKataCa(file: string): Promise<{ caPem: string; certificates: X509Certificate[] }> {
  const caCerts = splitPem(await readPemFile(file, 'kata_ca')).certificates;
  if (caCerts.length === 0) {
    throw new KataCredentialsError(t('{0} (kata_ca) holds no PEM certificate (-----BEGIN CERTIFICATE-----)', file), file, 'kata_ca');
  }
  const certificates = caCerts.map((c) => {
    try {
      return new X509Certificate(c);
    } catch (err) {
      throw new KataCredentialsError(t('{0} (kata_ca): a certificate cannot be parsed: {1}', file, (err as Error).message), file, 'kata_ca');
    }
  });
  return { caPem: caCerts.join(''), certificates };
}

/** Client identity plus kata_ca; throws KataCredentialsError naming the first unusable file. */
export async function loadKataCredentials(config: Pick<KdsConfig, 'cert_pem' | 'cert_key' | 'kata_ca'>): Promise<KataCredentials> {
  const identity = await loadClientIdentity(config);
  const out: KataCredentials = { ...identity };
  if (config.kata_ca) out.caPem = (await loadKataCa(config.kata_ca)).caPem;
  return out;
}

/** Client options from the configuration and already loaded credentials. */
export function kataClientOptions(config: KdsConfig, credentials: KataCredentials, extra: { requestTimeoutMs?: number } = {}): KataClientOptions {
  return {
    host: config.kata_cn_addr,
    port: config.kata_cn_port,
    systemId: config.system_id,
    certPem: credentials.certPem,
    keyPem: credentials.keyPem,
    insecure: config.insecure,
    ...(config.sensor_instance_id ? { sensorInstanceId: config.sensor_instance_id } : {}),
    ...(credentials.caPem ? { caPem: credentials.caPem } : {}),
    ...(config.kata_cert_sha256 ? { pinSha256: config.kata_cert_sha256 } : {}),
    ...(extra.requestTimeoutMs !== undefined ? { requestTimeoutMs: extra.requestTimeoutMs } : {}),
  };
}

/** The KATA client for a loaded configuration; throws KataCredentialsError for unusable PEM files. */
export async function createKataClient(config: KdsConfig, extra: { requestTimeoutMs?: number } = {}): Promise<KataClient> {
  return new KataClient(kataClientOptions(config, await loadKataCredentials(config), extra));
}

/** A private key file others could read, change or own, and the command that fixes it. */
export interface KeyFileProblem {
  file: string;
  problem: string;
  /** Exact shell commands, e.g. `chmod 600 /opt/kata-dir-scanner/server.key`. */
  fix: string[];
}

/**
 * The files holding the client's private key (cert_key, and cert_pem when it carries the key
 * too) must belong to the user the service runs as and be neither readable nor writable by group
 * or others: a readable key lets anyone pose as this scanner to KATA, a writable one lets them
 * swap in their own identity. `kds run` refuses to start on any problem; `kds check` reports it.
 */
export async function privateKeyFileProblems(config: Pick<KdsConfig, 'cert_pem' | 'cert_key'>, uid = process.getuid?.()): Promise<KeyFileProblem[]> {
  if (uid === undefined) return []; // no POSIX owners (Windows)
  const files = new Set([config.cert_key]);
  if (config.cert_pem !== config.cert_key && splitPem(await readFile(config.cert_pem, 'utf8').catch(() => '')).privateKey) files.add(config.cert_pem);
  const out: KeyFileProblem[] = [];
  for (const file of files) {
    const st = await stat(file).catch(() => undefined);
    if (!st) continue; // a missing or unreadable file is reported by loadClientIdentity
    const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
    const problems: string[] = [];
    const fix: string[] = [];
    if (st.uid !== uid) {
      problems.push(t('it belongs to uid {0}, not to the user the service runs as (uid {1})', st.uid, uid));
      fix.push(`chown ${quoteArg(uid === 0 ? 'root' : String(safeUserName(uid)))}: ${quoteArg(file)}`);
    }
    if (st.mode & 0o066) {
      const how = st.mode & 0o022 ? (st.mode & 0o044 ? t('readable and writable by group or others') : t('writable by group or others')) : t('readable by group or others');
      problems.push(t('it is {0} (mode {1})', how, mode));
      fix.push(`chmod 600 ${quoteArg(file)}`);
    }
    if (problems.length) out.push({ file, problem: t('{0} holds the private key, but {1}', file, problems.join('; ')), fix });
  }
  return out;
}

/** A word for the printed chmod/chown command line (POSIX shell single quotes when needed). */
function quoteArg(s: string): string {
  return /^[A-Za-z0-9_@%+:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

function safeUserName(uid: number): string | number {
  try {
    const me = userInfo();
    return me.uid === uid ? me.username : uid;
  } catch {
    return uid;
  }
}
