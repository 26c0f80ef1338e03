import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { t } from '../common/l10n';
import { locateJsonError } from '../common/jsonSyntax';
import { samePathName } from '../common/platform';
import { normaliseFingerprint } from '../pki/pemText';
// Bundled at build time; the same file ships in schemas/ for the editor's jsonValidation.
import schemaJson from '../../schemas/kata_dir_scanner.schema.json';

export interface KdsConfig {
  /** Absolute path of the file read. */
  configPath: string;
  /** Absolute, without a trailing slash; relative paths resolve against the config file's folder. */
  in_dir: string;
  out_dir: string;
  qrnt_dir: string;
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
  /** Absolute; default exclude_list.txt beside the config. */
  exclude_list: string;
  exclude_case_sensitive: boolean;
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
}

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
}

const schema = schemaJson as unknown as {
  required: string[];
  properties: Record<string, ConfigPropertySchema>;
};

/** The schema's properties by key, in the schema's order. */
export function configProperties(): Record<string, ConfigPropertySchema> {
  return schema.properties;
}

export const knownKeys: readonly string[] = Object.keys(schema.properties);
export const requiredKeys: readonly string[] = schema.required;

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

let compiled: ValidateFunction | undefined;

function validator(): ValidateFunction {
  if (!compiled) {
    const ajv = new Ajv({ allErrors: true, strict: true });
    // VS Code's extensions of JSON Schema: shown by the editor, meaningless to validation.
    ajv.addVocabulary(['patternErrorMessage', 'markdownDescription']);
    compiled = ajv.compile(schemaJson);
  }
  return compiled;
}

const pathKeys = ['in_dir', 'out_dir', 'qrnt_dir', 'cert_pem', 'cert_key', 'exclude_list', 'state_dir', 'log_file'] as const;

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

  const validate = validator();
  if (!validate(raw)) {
    const errors = validate.errors ?? [];
    for (const e of errors) {
      if (e.keyword !== 'additionalProperties') continue;
      const key = String(e.params.additionalProperty);
      const near = closestKey(key);
      warnings.push(
        near
          ? t('{0}: unknown key "{1}" is ignored (did you mean "{2}"?)', file, key, near)
          : t('{0}: unknown key "{1}" is ignored', file, key),
      );
    }
    // One message: a missing key first, otherwise the first wrong key in the order of the file.
    const order = Object.keys(raw);
    const rank = (e: ErrorObject) => (e.keyword === 'required' ? -1 : order.indexOf(e.instancePath.split('/')[1] ?? ''));
    const first = errors.filter((e) => e.keyword !== 'additionalProperties').sort((a, b) => rank(a) - rank(b))[0];
    if (first) throw describeError(first, raw, file);
  }

  const configPath = resolve(file);
  const base = dirname(configPath);
  const value = <T>(key: string): T => (key in raw ? raw[key] : schema.properties[key]!.default) as T;
  const path = (key: string): string => stripTrailingSlash(resolve(base, value<string>(key)));
  const optional = (key: string): string | undefined => {
    const v = value<string>(key).trim();
    return v === '' ? undefined : v;
  };

  const paths = Object.fromEntries(pathKeys.map((k) => [k, path(k)])) as Record<(typeof pathKeys)[number], string>;
  const kataCa = optional('kata_ca');
  const pin = optional('kata_cert_sha256');
  const instance = optional('sensor_instance_id');
  const config: KdsConfig = {
    configPath,
    ...paths,
    kata_cn_addr: value<string>('kata_cn_addr').replace(/^\[(.*)\]$/, '$1'),
    system_id: value<string>('system_id'),
    kata_cn_port: value<number>('kata_cn_port'),
    ...(kataCa !== undefined && { kata_ca: stripTrailingSlash(resolve(base, kataCa)) }),
    ...(pin !== undefined && { kata_cert_sha256: normaliseFingerprint(pin) }),
    insecure: value<boolean>('insecure'),
    ...(instance !== undefined && { sensor_instance_id: instance }),
    exclude_case_sensitive: value<boolean>('exclude_case_sensitive'),
    max_file_size_mb: value<number>('max_file_size_mb'),
    stable_ms: value<number>('stable_ms'),
    poll_interval_s: value<number>('poll_interval_s'),
    scan_timeout_s: value<number>('scan_timeout_s'),
    max_inflight: value<number>('max_inflight'),
    use_polling: value<'auto' | boolean>('use_polling'),
    log_format: value<'text' | 'json'>('log_format'),
  };

  // The same folder twice would route a file back into the input, or make verdicts indistinguishable.
  const folders = ['in_dir', 'out_dir', 'qrnt_dir'] as const;
  for (let i = 0; i < folders.length; i++) {
    for (let j = i + 1; j < folders.length; j++) {
      const a = folders[i]!;
      const b = folders[j]!;
      if (samePathName(config[a], config[b])) {
        throw new ConfigError(t('{0}: "{1}" and "{2}" must be different folders (both are {3})', file, a, b, config[a]), file, b);
      }
    }
  }

  if (config.insecure) {
    warnings.push(
      config.kata_ca || config.kata_cert_sha256
        ? t('{0}: "insecure" is true, so the Central Node is not verified and "kata_ca" / "kata_cert_sha256" are ignored', file)
        : t('{0}: "insecure" is true: the Central Node\'s certificate is not verified; set "kata_cert_sha256" or "kata_ca" instead', file),
    );
  }
  return { config, warnings };
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
  const validate = validator();
  if (!validate(raw)) {
    const order = Object.keys(raw);
    const rank = (e: ErrorObject) => (e.keyword === 'required' ? -1 : order.indexOf(e.instancePath.split('/')[1] ?? ''));
    const problems: ConfigProblem[] = [];
    const seen = new Set<string>();
    for (const e of (validate.errors ?? []).filter((e) => e.keyword !== 'additionalProperties').sort((a, b) => rank(a) - rank(b))) {
      const err = describeError(e, raw, file);
      const key = err.key ?? '';
      if (seen.has(key)) continue;
      seen.add(key);
      problems.push({ key, message: err.message });
    }
    if (problems.length) return problems;
  }
  // The checks after the schema (distinct folders) run in parseConfigText itself.
  try {
    parseConfigText(JSON.stringify(raw), file);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return [{ key: err.key ?? '', message: err.message }];
  }
  return [];
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
  if (e.keyword === 'required') {
    const key = String(e.params.missingProperty);
    if (key === 'system_id') return emptySystemId(file);
    const example = JSON.stringify(schema.properties[key]?.default);
    return new ConfigError(t('{0}: "{1}" is missing; add it, for example "{1}": {2}', file, key, example), file, key);
  }
  const key = e.instancePath.split('/')[1] ?? '';
  const got = shown(raw[key]);
  const prop = schema.properties[key] ?? {};
  const fail = (message: string) => new ConfigError(message, file, key);

  if (key === 'system_id') {
    if (raw[key] === '') return emptySystemId(file);
    if (typeof raw[key] !== 'string') return fail(t('{0}: "{1}" must be a string such as a UUID (got {2})', file, key, got));
    return fail(t('{0}: "{1}" goes into the API URL, so it must not contain /, \\, ?, #, %, spaces or control characters, be "." or "..", or be longer than 200 characters (got {2})', file, key, got));
  }
  if (prop.type === 'integer') {
    return prop.maximum !== undefined
      ? fail(t('{0}: "{1}" must be an integer from {2} to {3} (got {4})', file, key, prop.minimum ?? 0, prop.maximum, got))
      : fail(t('{0}: "{1}" must be an integer of at least {2} (got {3})', file, key, prop.minimum ?? 0, got));
  }
  if (prop.type === 'number') {
    return fail(t('{0}: "{1}" must be a number greater than {2} and at most {3} (got {4})', file, key, prop.exclusiveMinimum ?? 0, prop.maximum ?? Infinity, got));
  }
  if (prop.type === 'boolean') return fail(t('{0}: "{1}" must be true or false, without quotes (got {2})', file, key, got));
  if (prop.enum) return fail(t('{0}: "{1}" must be one of {2} (got {3})', file, key, prop.enum.map((v) => JSON.stringify(v)).join(', '), got));
  switch (key) {
    case 'kata_cn_addr':
      return fail(t('{0}: "{1}" must be a host name or IP address, without scheme, port or path (got {2})', file, key, got));
    case 'kata_cert_sha256':
      return fail(t('{0}: "{1}" must be a SHA-256 fingerprint: 64 hexadecimal digits, optionally in pairs separated by colons, or empty (got {2})', file, key, got));
    case 'kata_ca':
      return fail(t('{0}: "{1}" must be the path of a PEM file, or empty (got {2})', file, key, got));
    case 'sensor_instance_id':
      return fail(t('{0}: "{1}" must be a string of at most 200 characters without control characters, or empty (got {2})', file, key, got));
    default:
      return fail(t('{0}: "{1}" must be a non-empty path without control characters (got {2})', file, key, got));
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
function closestKey(key: string): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const k of knownKeys) {
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
