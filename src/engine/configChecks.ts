/**
 * The checklist of `kds check` as data: what the CLI prints and the configuration editor's
 * "Test connection" shows, without either of them importing the other.
 */
import { constants } from 'node:fs';
import { access, readFile, stat } from 'node:fs/promises';
import { t, tn } from '../common/l10n';
import { ConfigError, type KdsConfig, type ShareConfig, loadConfig, parseConfigText } from './config';
import { parseExcludeList } from './excludes';
import { KataClient } from '../kata/client';
import { type ClientIdentity, KataCredentialsError, kataClientOptions, loadClientIdentity, loadKataCa, privateKeyFileProblems } from './kataClientFromConfig';
import { KataError } from '../kata/errors';
import { colonHex } from '../kata/tls';
import { isNetworkFs, mountOf, shouldPoll } from './mounts';
import { networkShareOf } from '../common/platform';
import { normaliseFingerprint } from '../pki/pemText';
import { ExitCode } from '../common/exitCode';

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface CheckItem {
  /** Stable identifier for scripts (--json): config, in_dir, exclude_list, client_cert, kata_tls, kata_approval… */
  id: string;
  /** The share a folder or exclude-list item is about (`default` for the top-level folders). */
  share?: string;
  status: CheckStatus;
  title: string;
  details: string[];
  /** Set on the approval item when KATA answered 401/403: it alone gives exit code 3. */
  notApproved?: boolean;
}

export interface CheckOptions {
  /** Per-request limit for the KATA calls; the CLI uses 15 s. */
  requestTimeoutMs?: number;
  /** Items of other layers (the metrics endpoint and the SIEM, src/observability), checked after the rest. */
  more?: (config: KdsConfig) => Promise<CheckItem[]>;
}

const day = 86_400_000;

export interface CheckResult {
  /** The absolute path when the configuration validated, otherwise the file as given. */
  configPath: string;
  exitCode: number;
  items: CheckItem[];
}

/**
 * The checklist of `kds check` as data: what the CLI prints and the configuration editor's
 * "Test connection" shows. `text`, when given, is checked instead of the file's content
 * (relative paths still resolve against the folder of `configFile`).
 */
export async function collectChecks(configFile: string, options: CheckOptions & { text?: string } = {}): Promise<CheckResult> {
  const items: CheckItem[] = [];
  let config: KdsConfig | undefined;
  try {
    const loaded = options.text !== undefined ? parseConfigText(options.text, configFile) : await loadConfig(configFile);
    config = loaded.config;
    items.push({ id: 'config', status: loaded.warnings.length ? 'warn' : 'ok', title: t('Configuration {0} is valid', config.configPath), details: loaded.warnings });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    items.push({ id: 'config', status: 'fail', title: t('Configuration {0} does not validate', configFile), details: [err.message] });
  }
  if (config) {
    await checkAll(config, items, options);
    if (options.more) items.push(...(await options.more(config)));
  }
  return { configPath: config?.configPath ?? configFile, exitCode: exitCodeOf(items, config !== undefined), items };
}

function exitCodeOf(items: CheckItem[], configValid: boolean): number {
  if (!configValid) return ExitCode.usage;
  const failed = items.filter((i) => i.status === 'fail');
  if (failed.length === 0) return ExitCode.ok;
  // "Waiting for approval" is its own answer only when nothing else needs fixing.
  return failed.every((i) => i.notApproved) ? ExitCode.notApproved : ExitCode.failure;
}

async function checkAll(config: KdsConfig, items: CheckItem[], options: CheckOptions): Promise<void> {
  // Every folder of every share: one share's missing folder is its own failed item.
  const several = config.shares.length > 1;
  for (const share of config.shares) {
    for (const key of ['in_dir', 'out_dir', 'qrnt_dir'] as const) items.push(await checkFolder(config, share, key, several));
    items.push(await checkExcludeList(config, share, several));
  }
  const identity = await checkClientCertificate(config, items);
  const ca = await checkKataCa(config, items);
  if (config.insecure) {
    items.push({
      id: 'insecure',
      status: 'warn',
      title: t('INSECURE: "insecure" is true, so the Central Node\'s certificate is NOT verified'),
      details: [t('Anyone on the network path can pretend to be KATA, read every scanned file and forge verdicts. Set "kata_cert_sha256" (the fingerprint printed below) or "kata_ca" and remove "insecure".')],
    });
  }
  if (!identity || ca === null) {
    items.push({ id: 'kata_tls', status: 'fail', title: t('Connection to KATA not checked: fix the certificate files first'), details: [] });
    return;
  }
  const client = new KataClient(
    kataClientOptions(config, { ...identity, ...(ca ? { caPem: ca } : {}) }, { requestTimeoutMs: options.requestTimeoutMs ?? 15_000 }),
  );
  try {
    const trusted = await checkServer(config, client, items);
    if (trusted) await checkApproval(config, identity, client, items);
  } finally {
    await client.close();
  }
}

/** How a share's key is named in a check's title: `hr: in_dir` when there are several shares. */
function shareLabel(share: ShareConfig, key: string, several: boolean): string {
  return several ? `${share.name}: ${key}` : key;
}

async function checkFolder(config: KdsConfig, share: ShareConfig, key: 'in_dir' | 'out_dir' | 'qrnt_dir', several: boolean): Promise<CheckItem> {
  const path = share[key];
  const label = shareLabel(share, key, several);
  const fail = (title: string, details: string[] = []): CheckItem => ({ id: key, share: share.name, status: 'fail', title, details });
  let st;
  try {
    st = await stat(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return fail(t('{0} {1} does not exist', label, path), key === 'in_dir' ? [] : [t('Create it, or mount the share there.')]);
    return fail(t('{0} {1} cannot be examined: {2}', label, path, (err as Error).message));
  }
  if (!st.isDirectory()) return fail(t('{0} {1} is not a folder', label, path));
  try {
    // Input files are read and removed, output and quarantine files created and replaced.
    await access(path, constants.R_OK | constants.W_OK | constants.X_OK);
  } catch {
    return fail(t('{0} {1} is not readable and writable by this user (uid {2})', label, path, process.getuid?.() ?? '?'));
  }
  const details: string[] = [];
  const mount = await mountOf(path);
  if (mount) {
    const network = isNetworkFs(mount.fsType);
    details.push(
      network
        ? t('on {0} ({1} from {2}), a network file system', mount.mountPoint, mount.fsType, mount.device)
        : t('on {0} ({1})', mount.mountPoint, mount.fsType),
    );
    if (key === 'in_dir') {
      details.push(
        shouldPoll(config.use_polling, mount)
          ? t('new files are found by polling (use_polling: {0})', String(config.use_polling))
          : t('new files are found through file-system events (use_polling: {0})', String(config.use_polling)),
      );
    }
  } else {
    const share = await networkShareOf(path);
    if (share) details.push(t('on the network share {0}', share));
  }
  return { id: key, share: share.name, status: 'ok', title: t('{0} {1} exists and is writable', label, path), details };
}

async function checkExcludeList(config: KdsConfig, share: ShareConfig, several: boolean): Promise<CheckItem> {
  const file = share.exclude_list;
  // With several shares the title names the share first: "hr: Exclude list …".
  const named = (title: string) => (several ? `${share.name}: ${title}` : title);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { id: 'exclude_list', share: share.name, status: 'warn', title: named(t('Exclude list {0} does not exist: no file is excluded', file)), details: [] };
    return { id: 'exclude_list', share: share.name, status: 'fail', title: named(t('Exclude list {0} cannot be read: {1}', file, (err as Error).message)), details: [] };
  }
  const list = parseExcludeList(text, { caseSensitive: config.exclude_case_sensitive });
  const details = list.invalid.map((i) => t('line {0}: {1} — {2}', i.line, JSON.stringify(i.text), i.reason));
  return {
    id: 'exclude_list',
    share: share.name,
    status: list.invalid.length ? 'warn' : 'ok',
    title: named(
      list.invalid.length
        ? tn(list.entries.length, 'Exclude list {1}: {0} entry; invalid lines ignored: {2}', 'Exclude list {1}: {0} entries; invalid lines ignored: {2}', file, list.invalid.length)
        : tn(list.entries.length, 'Exclude list {1}: {0} entry', 'Exclude list {1}: {0} entries', file),
    ),
    details,
  };
}

async function checkClientCertificate(config: KdsConfig, items: CheckItem[]): Promise<ClientIdentity | undefined> {
  let identity: ClientIdentity;
  try {
    identity = await loadClientIdentity(config);
  } catch (err) {
    if (!(err instanceof KataCredentialsError)) throw err;
    items.push({ id: 'client_cert', status: 'fail', title: t('Client certificate unusable'), details: [err.message] });
    return undefined;
  }
  const cert = identity.certificate;
  const now = Date.now();
  const notAfter = Date.parse(cert.validTo);
  const notBefore = Date.parse(cert.validFrom);
  const details = [
    t('subject: {0}', cert.subject.replace(/\n/g, ', ')),
    t('SHA-256 fingerprint: {0}', identity.fingerprint256),
    t('valid from {0} to {1}', cert.validFrom, cert.validTo),
  ];
  let status: CheckStatus = 'ok';
  let title = t('Client certificate {0} and key {1} are readable and match', config.cert_pem, config.cert_key);
  if (notAfter < now) {
    status = 'fail';
    title = t('Client certificate {0} expired on {1}', config.cert_pem, cert.validTo);
    details.push(t('Make a new one (kds cert) and have the new integration request approved in KATA.'));
  } else if (notBefore > now) {
    status = 'fail';
    title = t('Client certificate {0} is not valid before {1} (check the clock)', config.cert_pem, cert.validFrom);
  } else if (notAfter - now < 30 * day) {
    status = 'warn';
    title = t('Client certificate {0} expires in {1} days ({2})', config.cert_pem, Math.floor((notAfter - now) / day), cert.validTo);
    details.push(t('A new certificate needs a new approval in KATA: plan it before it expires.'));
  }
  items.push({ id: 'client_cert', status, title, details });

  for (const k of await privateKeyFileProblems(config)) {
    // `kds run` refuses to start on this, so it is a failure here too.
    items.push({ id: 'key_permissions', status: 'fail', title: k.problem, details: [t('Fix it with: {0}', k.fix.join(' && '))] });
  }
  return identity;
}

/** The CA PEM, undefined when kata_ca is not set, null when it is set but unusable. */
async function checkKataCa(config: KdsConfig, items: CheckItem[]): Promise<string | undefined | null> {
  if (!config.kata_ca) return undefined;
  try {
    const ca = await loadKataCa(config.kata_ca);
    items.push({
      id: 'kata_ca',
      status: 'ok',
      title: t('kata_ca {0}: {1} certificates', config.kata_ca, ca.certificates.length),
      details: ca.certificates.map((c) => t('{0} (valid to {1})', c.subject.replace(/\n/g, ', '), c.validTo)),
    });
    return ca.caPem;
  } catch (err) {
    if (!(err instanceof KataCredentialsError)) throw err;
    items.push({ id: 'kata_ca', status: 'fail', title: t('kata_ca unusable'), details: [err.message] });
    return null;
  }
}

/** True when requests may go ahead (certificate verified, or insecure). */
async function checkServer(config: KdsConfig, client: KataClient, items: CheckItem[]): Promise<boolean> {
  const where = `${config.kata_cn_addr}:${config.kata_cn_port}`;
  let report;
  try {
    report = await client.probeServerCertificate();
  } catch (err) {
    if (!(err instanceof KataError)) throw err;
    items.push({ id: 'kata_tls', status: 'fail', title: t('KATA at {0} is not reachable', where), details: [err.message] });
    return false;
  }
  const pinHex = normaliseFingerprint(report.fingerprint256);
  const details = [
    t('server certificate: {0}', report.subject),
    t('issued by: {0}', report.issuer),
    t('valid to: {0}', report.validTo),
    t('SHA-256 fingerprint: {0}', report.fingerprint256),
  ];
  if (Date.parse(report.validTo) < Date.now()) details.push(t('The server certificate has expired.'));
  const pinAdvice = t(
    'If this is your Central Node (compare the fingerprint with the certificate on the Central Node), pin it: "kata_cert_sha256": "{0}" in {1}; or set "kata_ca" to the PEM file of its certificate or CA.',
    pinHex,
    config.configPath,
  );
  if (config.insecure) {
    items.push({ id: 'kata_tls', status: 'warn', title: t('KATA at {0} is reachable; its certificate is not verified (insecure)', where), details: [...details, pinAdvice] });
    return true;
  }
  if (report.verified) {
    const title = config.kata_cert_sha256
      ? t('KATA at {0} is reachable; its certificate matches kata_cert_sha256', where)
      : config.kata_ca
        ? t('KATA at {0} is reachable; its certificate is verified with kata_ca', where)
        : t('KATA at {0} is reachable; its certificate is verified with the system CAs', where);
    items.push({ id: 'kata_tls', status: 'ok', title, details });
    return true;
  }
  const title = config.kata_cert_sha256
    ? t('KATA at {0}: the server certificate does not match kata_cert_sha256 {1}', where, colonHex(config.kata_cert_sha256))
    : t('KATA at {0}: the server certificate is not trusted', where);
  items.push({ id: 'kata_tls', status: 'fail', title, details: [...(report.verifyError ? [report.verifyError] : []), ...details, pinAdvice] });
  return false;
}

async function checkApproval(config: KdsConfig, identity: ClientIdentity, client: KataClient, items: CheckItem[]): Promise<void> {
  try {
    const filters = await client.filters();
    const details: string[] = [];
    if (filters.version) details.push(t('KATA version: {0}', filters.version));
    if (filters.maxObjectSize !== undefined) {
      details.push(t('largest object KATA accepts (maxObjectSize): {0} bytes ({1} MB)', filters.maxObjectSize, (filters.maxObjectSize / 1048576).toFixed(1)));
    }
    items.push({ id: 'kata_approval', status: 'ok', title: t('KATA has approved system_id {0}', config.system_id), details });
    const limit = config.max_file_size_mb * 1024 * 1024;
    if (filters.maxObjectSize !== undefined && filters.maxObjectSize < limit) {
      items.push({
        id: 'max_object_size',
        status: 'warn',
        title: t('KATA accepts objects up to {0} MB, but max_file_size_mb is {1}', (filters.maxObjectSize / 1048576).toFixed(1), config.max_file_size_mb),
        details: [t('Files between the two sizes will be refused by KATA as too large; lower max_file_size_mb to keep them in input untouched.')],
      });
    }
  } catch (err) {
    if (!(err instanceof KataError)) throw err;
    if (err.kind === 'unauthorized') {
      items.push({
        id: 'kata_approval',
        status: 'fail',
        notApproved: true,
        title: t('Integration request pending: ask the KATA administrator to accept system_id {0} with certificate fingerprint {1}', config.system_id, identity.fingerprint256),
        details: [t('The request is in the KATA web console under External systems. "kds enroll" sends it if it is not listed.')],
      });
    } else if (err.kind === 'forbidden') {
      items.push({
        id: 'kata_approval',
        status: 'fail',
        notApproved: true,
        title: t('KATA rejected system_id {0} with certificate fingerprint {1} (HTTP 403)', config.system_id, identity.fingerprint256),
        details: [t('Ask the KATA administrator to accept it in the KATA web console (External systems), or enroll with a new system_id.')],
      });
    } else {
      items.push({ id: 'kata_approval', status: 'fail', title: t('KATA did not answer the approval check (GET scans/filters)'), details: [err.message] });
    }
  }
}
