import type { ErrorObject } from 'ajv';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { t } from '../common/l10n';
import { locateJsonError } from '../common/jsonSyntax';
import { type ListenAddress, parseListenAddress } from '../common/listenAddress';
import { samePathName } from '../common/platform';
import { normaliseFingerprint } from '../pki/pemText';
import { defaultShareName } from './shareName';
// The schema compiled at build time (scripts/configValidator.mjs): compiling it here cost each start ~70 ms of CPU.
import validateGenerated from './configValidator.generated';
// Bundled at build time; the same file ships in schemas/ for the editor's jsonValidation.
import schemaJson from '../../schemas/kata_dir_scanner.schema.json';

/** One folder triple the service serves, with what it may set for itself. */
export interface ShareConfig {
  /** A short identifier, unique in the file (case-insensitively); `default` for the top-level folders. */
  name: string;
  /** Absolute, without a trailing slash; relative paths resolve against the config file's folder. */
  in_dir: string;
  out_dir: string;
  qrnt_dir: string;
  /** Absolute; default exclude_list.txt beside the config (the default share) or exclude_list.<name>.txt (a listed one). */
  exclude_list: string;
  /** The share's own value, or the top-level one. */
  max_file_size_mb: number;
  stable_ms: number;
}

export interface KdsConfig {
  /** Absolute path of the file read. */
  configPath: string;
  /**
   * Every share this service serves, at least one: the top-level in_dir/out_dir/qrnt_dir as the
   * share `default` (first), then the entries of `shares` in the order of the file. No folder
   * belongs to two shares.
   */
  shares: ShareConfig[];
  /** Absolute; may name the same file as cert_key when it holds certificate and key. */
  cert_pem: string;
  cert_key: string;
  /** Host name or IP address; an IPv6 address comes without brackets (add them when building a URL). */
  kata_cn_addr: string;
  system_id: string;
  kata_cn_port: number;
  /** Absolute path of a PEM with the Central Node's certificate or CA. */
  kata_ca?: string;
  /** Upper-case hex without separators. */
  kata_cert_sha256?: string;
  insecure: boolean;
  sensor_instance_id?: string;
  exclude_case_sensitive: boolean;
  /** Defaults of the shares that do not set their own. */
  max_file_size_mb: number;
  stable_ms: number;
  poll_interval_s: number;
  scan_timeout_s: number;
  max_inflight: number;
  use_polling: 'auto' | boolean;
  /** Absolute; default kds-state beside the config. */
  state_dir: string;
  /** Absolute. */
  log_file: string;
  log_format: 'text' | 'json';
  /** Where /metrics, /healthz and /readyz are served; absent: no endpoint. */
  metrics_listen?: ListenAddress;
  /** Where SIEM events go; absent: none are sent (siem.host empty or not set). */
  siem?: SiemSettings;
}

export type SiemTransport = 'tcp' | 'tls' | 'udp';
export type SiemFormat = 'cef' | 'rfc5424-json';

export interface SiemSettings {
  /** Without brackets for an IPv6 address. */
  host: string;
  port: number;
  transport: SiemTransport;
  format: SiemFormat;
  /** Absolute path of a PEM (tls). */
  ca?: string;
  /** tls: present cert_pem / cert_key to the receiver. */
  client_cert: boolean;
  framing: 'octet-counting' | 'lf';
  /** The syslog facility's number (RFC 5424). */
  facility: number;
  queue_size: number;
}

/** RFC 5424 facility names, in the order of their numbers. */
export const syslogFacilities = ['kern', 'user', 'mail', 'daemon', 'auth', 'syslog', 'lpr', 'news', 'uucp', 'cron', 'authpriv', 'ftp', 'ntp', 'audit', 'alert', 'clock', 'local0', 'local1', 'local2', 'local3', 'local4', 'local5', 'local6', 'local7'] as const;

export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(
    message: string,
    /** The file as the user named it. */
    readonly file: string,
    readonly key?: string,
  ) {
    super(message);
  }
}

/** What the loader and the form editor read of one key's schema (the texts and limits it shows). */
export interface ConfigPropertySchema {
  title?: string;
  description?: string;
  type?: string;
  enum?: unknown[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  pattern?: string;
  patternErrorMessage?: string;
  minLength?: number;
  maxLength?: number;
  examples?: unknown[];
  /** Only `shares`: what one share may hold (its keys refer to the top-level ones). */
  items?: { required: string[]; properties: Record<string, ConfigPropertySchema & { $ref?: string }> };
}

const schema = schemaJson as unknown as {
  required: string[];
  anyOf: Array<{ required: string[] }>;
  properties: Record<string, ConfigPropertySchema & { properties?: Record<string, ConfigPropertySchema> }>;
};
const shareSchema = schema.properties.shares!.items!;

/** The sub-keys of an object-valued key (siem), in the schema's order; {} for other keys. */
export function configSubProperties(key: string): Record<string, ConfigPropertySchema> {
  return schema.properties[key]?.properties ?? {};
}

/** The schema's properties by key, in the schema's order. */
export function configProperties(): Record<string, ConfigPropertySchema> {
  return schema.properties;
}

export const knownKeys: readonly string[] = Object.keys(schema.properties);
/** The keys the original file must have: the folder triple (unless `shares` lists the folders) and the identity. */
export const requiredKeys: readonly string[] = [...schema.anyOf[0]!.required, ...schema.required];
/** Keys of one entry of `shares`. */
export const shareKeys: readonly string[] = Object.keys(shareSchema.properties);

/** The schema of a key of one share (the top-level key's, except `name`). */
export function sharePropertySchema(key: string): ConfigPropertySchema | undefined {
  const p = shareSchema.properties[key];
  const ref = p?.$ref?.replace('#/properties/', '');
  return ref ? schema.properties[ref] : p;
}

/** The original kata_dir_scanner.conf, key for key; system_id still has to be filled in. */
export const originalTemplate = {
  in_dir: '/mnt/in/',
  out_dir: '/mnt/out/',
  qrnt_dir: '/mnt/qrnt/',
  cert_pem: '/opt/kata-dir-scanner/cert.pem',
  cert_key: '/opt/kata-dir-scanner/server.key',
  kata_cn_addr: 'localhost',
  system_id: '',
} as const;

/**
 * Defaults of the optional keys as they are written in a file (paths relative to the config
 * folder). Read from the schema so the docs, the form editor and the loader cannot disagree.
 */
export const configDefaults: Readonly<Record<string, unknown>> = Object.freeze(
  Object.fromEntries(knownKeys.filter((k) => !requiredKeys.includes(k)).map((k) => [k, schema.properties[k]!.default])),
);

export function configSchema(): object {
  return schemaJson;
}

/** ajv's validate function: true, or false with `errors` set. */
type ValidateFunction = ((data: unknown) => boolean) & { errors?: ErrorObject[] | null };

const validateSchema = validateGenerated as ValidateFunction;

const pathKeys = ['cert_pem', 'cert_key', 'state_dir', 'log_file'] as const;
const folderKeys = ['in_dir', 'out_dir', 'qrnt_dir'] as const;

/** Parses and validates the text of kata_dir_scanner.conf. `file` names it in messages. */
export function parseConfigText(text: string, file: string): { config: KdsConfig; warnings: string[] } {
  const body = text.replace(/^\uFEFF/, '');
  let data: unknown;
  try {
    data = JSON.parse(body);
  } catch (err) {
    throw jsonSyntaxError(body, file, err as Error);
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new ConfigError(t('{0}: the configuration must be a JSON object such as {"in_dir": "/mnt/in/", …} (got {1})', file, shown(data)), file);
  }
  const raw = data as Record<string, unknown>;
  const warnings: string[] = [];

  const validate = validateSchema;
  if (!validate(raw)) {
    const errors = validate.errors ?? [];
    for (const e of errors) {
      if (e.keyword !== 'additionalProperties') continue;
      const share = shareIndex(e.instancePath);
      const parent = share === undefined ? e.instancePath.split('/')[1] : undefined;
      const key = parent ? `${parent}.${String(e.params.additionalProperty)}` : String(e.params.additionalProperty);
      const near = closestKey(key, share !== undefined ? shareKeys : parent ? Object.keys(configSubProperties(parent)).map((k) => `${parent}.${k}`) : knownKeys);
      const named = share === undefined ? key : `shares[${share}].${key}`;
      warnings.push(
        near
          ? t('{0}: unknown key "{1}" is ignored (did you mean "{2}"?)', file, named, share === undefined ? near : `shares[${share}].${near}`)
          : t('{0}: unknown key "{1}" is ignored', file, named),
      );
    }
    const first = rankedProblems(errors, raw)[0];
    if (first) throw describeError(first, raw, file);
  }

  const configPath = resolve(file);
  const base = dirname(configPath);
  const value = <T>(key: string): T => (key in raw ? raw[key] : schema.properties[key]!.default) as T;
  const pathOf = (v: string): string => stripTrailingSlash(resolve(base, v));
  const path = (key: string): string => pathOf(value<string>(key));
  const optional = (key: string): string | undefined => {
    const v = value<string>(key).trim();
    return v === '' ? undefined : v;
  };

  const paths = Object.fromEntries(pathKeys.map((k) => [k, path(k)])) as Record<(typeof pathKeys)[number], string>;
  const maxFileSizeMb = value<number>('max_file_size_mb');
  const stableMs = value<number>('stable_ms');
  const shares: ShareConfig[] = [];
  if ('in_dir' in raw) {
    shares.push({
      name: defaultShareName,
      in_dir: path('in_dir'),
      out_dir: path('out_dir'),
      qrnt_dir: path('qrnt_dir'),
      exclude_list: path('exclude_list'),
      max_file_size_mb: maxFileSizeMb,
      stable_ms: stableMs,
    });
  }
  for (const entry of (raw.shares ?? []) as Array<Record<string, unknown>>) {
    const name = entry.name as string;
    shares.push({
      name,
      in_dir: pathOf(entry.in_dir as string),
      out_dir: pathOf(entry.out_dir as string),
      qrnt_dir: pathOf(entry.qrnt_dir as string),
      exclude_list: pathOf((entry.exclude_list as string | undefined) ?? `exclude_list.${name}.txt`),
      max_file_size_mb: (entry.max_file_size_mb as number | undefined) ?? maxFileSizeMb,
      stable_ms: (entry.stable_ms as number | undefined) ?? stableMs,
    });
  }
  checkShares(shares, 'in_dir' in raw, file);

  const kataCa = optional('kata_ca');
  const pin = optional('kata_cert_sha256');
  const instance = optional('sensor_instance_id');
  const config: KdsConfig = {
    configPath,
    shares,
    ...paths,
    kata_cn_addr: value<string>('kata_cn_addr').replace(/^\[(.*)\]$/, '$1'),
    system_id: value<string>('system_id'),
    kata_cn_port: value<number>('kata_cn_port'),
    ...(kataCa !== undefined && { kata_ca: stripTrailingSlash(resolve(base, kataCa)) }),
    ...(pin !== undefined && { kata_cert_sha256: normaliseFingerprint(pin) }),
    insecure: value<boolean>('insecure'),
    ...(instance !== undefined && { sensor_instance_id: instance }),
    exclude_case_sensitive: value<boolean>('exclude_case_sensitive'),
    max_file_size_mb: maxFileSizeMb,
    stable_ms: stableMs,
    poll_interval_s: value<number>('poll_interval_s'),
    scan_timeout_s: value<number>('scan_timeout_s'),
    max_inflight: value<number>('max_inflight'),
    use_polling: value<'auto' | boolean>('use_polling'),
    log_format: value<'text' | 'json'>('log_format'),
  };
  const listen = value<string>('metrics_listen').trim();
  if (listen !== '') {
    const parsed = parseListenAddress(listen);
    if ('problem' in parsed) throw new ConfigError(t('{0}: "{1}" is not usable: {2} (got {3})', file, 'metrics_listen', parsed.problem, shown(listen)), file, 'metrics_listen');
    config.metrics_listen = parsed;
  }
  const siem = siemSettings(raw.siem, base, file, warnings);
  if (siem) config.siem = siem;

  if (config.insecure) {
    warnings.push(
      config.kata_ca || config.kata_cert_sha256
        ? t('{0}: "insecure" is true, so the Central Node is not verified and "kata_ca" / "kata_cert_sha256" are ignored', file)
        : t('{0}: "insecure" is true: the Central Node\'s certificate is not verified; set "kata_cert_sha256" or "kata_ca" instead', file),
    );
  }
  return { config, warnings };
}

/** The `siem` object as settings, or undefined while its host is empty (off). */
function siemSettings(raw: unknown, base: string, file: string, warnings: string[]): SiemSettings | undefined {
  const o = (raw ?? {}) as Record<string, unknown>;
  const sub = configSubProperties('siem');
  const value = <T>(key: string): T => (key in o ? o[key] : sub[key]!.default) as T;
  const host = value<string>('host').trim().replace(/^\[(.*)\]$/, '$1');
  if (host === '') {
    if (Object.keys(o).length > 0) warnings.push(t('{0}: "siem.host" is empty, so no SIEM events are sent', file));
    return undefined;
  }
  const transport = value<SiemTransport>('transport');
  const ca = value<string>('ca').trim();
  const clientCert = value<boolean>('client_cert');
  if (transport !== 'tls' && (ca !== '' || clientCert)) warnings.push(t('{0}: "siem.ca" and "siem.client_cert" apply to "transport": "tls" only; they are ignored with "{1}"', file, transport));
  return {
    host,
    port: typeof o.port === 'number' ? o.port : transport === 'tls' ? 6514 : 514,
    transport,
    format: value<SiemFormat>('format'),
    ...(ca !== '' && transport === 'tls' && { ca: stripTrailingSlash(resolve(base, ca)) }),
    client_cert: clientCert && transport === 'tls',
    framing: value<'octet-counting' | 'lf'>('framing'),
    facility: syslogFacilities.indexOf(value<(typeof syslogFacilities)[number]>('facility')),
    queue_size: value<number>('queue_size'),
  };
}

/** How a share's key is named in messages: the top-level key for the default share, shares[i].key for a listed one. */
function shareKeyName(i: number, key: string, hasDefault: boolean): string {
  if (hasDefault && i === 0) return key;
  return `shares[${hasDefault ? i - 1 : i}].${key}`;
}

/**
 * What the schema cannot say: names unique (case-insensitively, as they also name files), and no
 * folder in two roles or two shares — the same folder twice would route a file back into an
 * input, or into another share's folders.
 */
function checkShares(shares: ShareConfig[], hasDefault: boolean, file: string): void {
  if (shares.length === 0) throw new ConfigError(t('{0}: "shares" lists no share: add one, or set in_dir, out_dir and qrnt_dir', file), file, 'shares');
  const names = new Map<string, number>();
  shares.forEach((s, i) => {
    const before = names.get(s.name.toLowerCase());
    if (before !== undefined) {
      const key = shareKeyName(i, 'name', hasDefault);
      const message =
        hasDefault && before === 0
          ? t('{0}: "{1}" is "{2}", the name of the share made of the top-level in_dir, out_dir and qrnt_dir; choose another name', file, key, s.name)
          : t('{0}: "{1}" is "{2}", a name another share has already; every share needs a name of its own', file, key, s.name);
      throw new ConfigError(message, file, hasDefault && i === 0 ? 'name' : 'shares');
    }
    names.set(s.name.toLowerCase(), i);
  });
  // By spelling, case folded where the platform's names are (samePathName): a few folders, a plain scan.
  const owners: Array<{ path: string; key: string }> = [];
  shares.forEach((s, i) => {
    for (const f of folderKeys) {
      const key = shareKeyName(i, f, hasDefault);
      const other = owners.find((o) => samePathName(o.path, s[f]));
      if (other !== undefined) throw new ConfigError(t('{0}: "{1}" and "{2}" must be different folders (both are {3})', file, other.key, key, s[f]), file, hasDefault && i === 0 ? f : 'shares');
      owners.push({ path: s[f], key });
    }
  });
}

/** The index of the share an error of the schema is about (its path is /shares/<i>/…), if any. */
function shareIndex(instancePath: string): number | undefined {
  const m = /^\/shares\/(\d+)(?:\/|$)/.exec(instancePath);
  return m ? Number(m[1]) : undefined;
}

/**
 * The schema's errors that are problems, most important first: a missing key, then the first
 * wrong key in the order of the file. Unknown keys are warnings; of the two ways to name the
 * folders (the top-level triple or `shares`), the missing triple is what is reported, as for the
 * original file.
 */
function rankedProblems(errors: ErrorObject[], raw: Record<string, unknown>): ErrorObject[] {
  const order = Object.keys(raw);
  const missing = (e: ErrorObject) => (e.keyword === 'required' || e.keyword === 'dependencies') && e.instancePath === '';
  const rank = (e: ErrorObject) => (missing(e) ? -1 : order.indexOf(e.instancePath.split('/')[1] ?? ''));
  return errors
    .filter((e) => e.keyword !== 'additionalProperties' && e.keyword !== 'anyOf' && !e.schemaPath.startsWith('#/anyOf/1'))
    .sort((a, b) => rank(a) - rank(b));
}

/** One problem of a configuration object, for the form editor: the key it concerns and the engine's message. */
export interface ConfigProblem {
  /** The key; '' when the problem concerns the whole object. */
  key: string;
  message: string;
}

/**
 * Validates a configuration object the way parseConfigText does, but reports every wrong key
 * (the first problem of each, missing keys first, then in the order of the object) instead of
 * stopping at the first. The messages are exactly those of the ConfigError parseConfigText
 * would throw for the same mistake. Unknown keys are not problems (the engine only warns).
 */
export function validateConfigObject(obj: unknown, file: string): ConfigProblem[] {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
    return [{ key: '', message: t('{0}: the configuration must be a JSON object such as {"in_dir": "/mnt/in/", …} (got {1})', file, shown(obj)) }];
  }
  const raw = obj as Record<string, unknown>;
  const validate = validateSchema;
  if (!validate(raw)) {
    const problems: ConfigProblem[] = [];
    const seen = new Set<string>();
    for (const e of rankedProblems(validate.errors ?? [], raw)) {
      const err = describeError(e, raw, file);
      const key = err.key ?? '';
      if (seen.has(key)) continue;
      seen.add(key);
      problems.push({ key, message: err.message });
    }
    if (problems.length) return problems;
  }
  // The checks after the schema (distinct folders, unique share names) run in parseConfigText itself.
  try {
    parseConfigText(JSON.stringify(raw), file);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return [{ key: err.key ?? '', message: err.message }];
  }
  return [];
}

/** The share of that name (names are unique case-insensitively, so the case need not match). */
export function shareNamed(config: Pick<KdsConfig, 'shares'>, name: string): ShareConfig | undefined {
  return config.shares.find((s) => s.name === name) ?? config.shares.find((s) => s.name.toLowerCase() === name.toLowerCase());
}

/** Reads and validates a configuration file; every failure, reading included, is a ConfigError. */
export async function loadConfig(file: string): Promise<{ config: KdsConfig; warnings: string[] }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ConfigError(t('{0}: the configuration file does not exist', file), file);
    if (code === 'EACCES' || code === 'EPERM') throw new ConfigError(t('{0}: cannot read the configuration file: permission denied', file), file);
    if (code === 'EISDIR') throw new ConfigError(t('{0}: this is a folder; give the path of the configuration file', file), file);
    throw new ConfigError(t('{0}: cannot read the configuration file: {1}', file, (err as Error).message), file);
  }
  return parseConfigText(text, file);
}

function stripTrailingSlash(p: string): string {
  return p.length > 1 ? p.replace(/\/+$/, '') || '/' : p;
}

/** The offending value as the user wrote it, short enough for one line. */
function shown(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 57)}…` : s;
}

function describeError(e: ErrorObject, raw: Record<string, unknown>, file: string): ConfigError {
  const share = shareIndex(e.instancePath);
  if (e.keyword === 'required' || e.keyword === 'dependencies') {
    const key = String(e.params.missingProperty);
    if (share !== undefined) {
      const example = key === 'name' ? '"hr"' : JSON.stringify(schema.properties[key]?.default);
      return new ConfigError(t('{0}: "{1}" is missing; add it, for example "{1}": {2}', file, `shares[${share}].${key}`, example), file, 'shares');
    }
    if (key === 'system_id') return emptySystemId(file);
    const example = JSON.stringify(schema.properties[key]?.default);
    return new ConfigError(t('{0}: "{1}" is missing; add it, for example "{1}": {2}', file, key, example), file, key);
  }
  const parts = e.instancePath.split('/');
  const key = parts[1] ?? '';
  if (key === 'siem') {
    const sub = parts[2];
    if (sub === undefined) return new ConfigError(t('{0}: "{1}" must be an object such as {2} (got {3})', file, key, '{"host": "siem.example.local", "transport": "tls"}', shown(raw[key])), file, key);
    const label = `siem.${sub}`;
    return keyError(label, configSubProperties('siem')[sub] ?? {}, shown((raw.siem as Record<string, unknown>)[sub]), file, label);
  }
  const fail = (message: string) => new ConfigError(message, file, key);
  if (key === 'shares') {
    const entries = raw.shares;
    if (share === undefined) return fail(t('{0}: "{1}" must be a list of shares such as [{"name": "hr", "in_dir": "/mnt/hr/in/", "out_dir": "/mnt/hr/out/", "qrnt_dir": "/mnt/hr/qrnt/"}] (got {2})', file, key, shown(entries)));
    const entry = (entries as unknown[])[share];
    const inner = parts[3];
    if (inner === undefined) return fail(t('{0}: "{1}" must be an object such as {"name": "hr", "in_dir": "/mnt/hr/in/", …} (got {2})', file, `shares[${share}]`, shown(entry)));
    const label = `shares[${share}].${inner}`;
    const got = shown((entry as Record<string, unknown>)[inner]);
    if (inner === 'name') return fail(t('{0}: "{1}" must be a short name: letters, digits, _ and -, at most 32 characters, starting with a letter or digit (got {2})', file, label, got));
    return keyError(label, sharePropertySchema(inner) ?? {}, got, file, key);
  }
  const got = shown(raw[key]);
  if (key === 'system_id') {
    if (raw[key] === '') return emptySystemId(file);
    if (typeof raw[key] !== 'string') return fail(t('{0}: "{1}" must be a string such as a UUID (got {2})', file, key, got));
    return fail(t('{0}: "{1}" goes into the API URL, so it must not contain /, \\, ?, #, %, spaces or control characters, be "." or "..", or be longer than 200 characters (got {2})', file, key, got));
  }
  return keyError(key, schema.properties[key] ?? {}, got, file, key);
}

/** The message for a wrong value of a key whose schema is `prop`; `label` names it as the user sees it. */
function keyError(label: string, prop: ConfigPropertySchema, got: string, file: string, key: string): ConfigError {
  const fail = (message: string) => new ConfigError(message, file, key);
  if (prop.type === 'integer') {
    return prop.maximum !== undefined
      ? fail(t('{0}: "{1}" must be an integer from {2} to {3} (got {4})', file, label, prop.minimum ?? 0, prop.maximum, got))
      : fail(t('{0}: "{1}" must be an integer of at least {2} (got {3})', file, label, prop.minimum ?? 0, got));
  }
  if (prop.type === 'number') {
    return fail(t('{0}: "{1}" must be a number greater than {2} and at most {3} (got {4})', file, label, prop.exclusiveMinimum ?? 0, prop.maximum ?? Infinity, got));
  }
  if (prop.type === 'boolean') return fail(t('{0}: "{1}" must be true or false, without quotes (got {2})', file, label, got));
  if (prop.enum) return fail(t('{0}: "{1}" must be one of {2} (got {3})', file, label, prop.enum.map((v) => JSON.stringify(v)).join(', '), got));
  switch (label) {
    case 'kata_cn_addr':
    case 'siem.host':
      return fail(t('{0}: "{1}" must be a host name or IP address, without scheme, port or path (got {2})', file, label, got));
    case 'kata_cert_sha256':
      return fail(t('{0}: "{1}" must be a SHA-256 fingerprint: 64 hexadecimal digits, optionally in pairs separated by colons, or empty (got {2})', file, label, got));
    case 'metrics_listen':
      return fail(t('{0}: "{1}" must be a port (9464), an address and port (127.0.0.1:9464, [::1]:9464), the absolute path of a Unix socket, or empty (got {2})', file, label, got));
    case 'kata_ca':
    case 'siem.ca':
      return fail(t('{0}: "{1}" must be the path of a PEM file, or empty (got {2})', file, label, got));
    case 'sensor_instance_id':
      return fail(t('{0}: "{1}" must be a string of at most 200 characters without control characters, or empty (got {2})', file, label, got));
    default:
      return fail(t('{0}: "{1}" must be a non-empty path without control characters (got {2})', file, label, got));
  }
}

function emptySystemId(file: string): ConfigError {
  return new ConfigError(
    t('{0}: "system_id" is empty: set it to the ID of this external system in KATA, for example a UUID ("kds cert" and "kds demo" print a fresh one)', file),
    file,
    'system_id',
  );
}

/** A known key one or two typos away, for the unknown-key warning. */
function closestKey(key: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const k of candidates) {
    const d = editDistance(key.toLowerCase(), k);
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

function jsonSyntaxError(text: string, file: string, parseError: Error): ConfigError {
  const found = locateJsonError(text);
  if (!found) return new ConfigError(t('{0}: invalid JSON: {1}', file, parseError.message), file);
  return new ConfigError(t('{0}: invalid JSON at line {1}, column {2}: {3}', file, found.line, found.column, found.message), file);
}
