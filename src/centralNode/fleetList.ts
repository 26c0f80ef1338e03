/**
 * The saved Central Nodes: the `kds.centralNodes` setting of VS Code (User/Machine level only) and
 * the file `kds fleet status --file` reads, in one form. Each entry is checked on its own, so one
 * wrong entry is shown with its problem while the others are still watched.
 */
import { userInfo } from 'node:os';
import { t } from '../common/l10n';
import { expandUserPath } from '../ssh/userPaths';

export const defaultCnConfigPath = '/opt/kata-dir-scanner/kata_dir_scanner.conf';
export const defaultServiceName = 'kata-dir-scanner';

/** One saved Central Node, with the defaults applied and `~` expanded. */
export interface CentralNodeEntry {
  /** What the person calls it ("Moscow primary"); unique in the list. */
  name: string;
  host: string;
  port: number;
  user: string;
  identityFile?: string;
  useAgent: boolean;
  sudo: 'auto' | 'never';
  /** Read, never written, before the default ones; KDS's trust store is read too. */
  knownHostsFiles: string[];
  configPath: string;
  serviceName: string;
  engineCommand?: string[];
  /** Tests only: every path of Set Up on the CN is taken under this folder (kds remote setup --prefix). */
  setupPrefix?: string;
}

export interface InvalidEntry {
  /** Position in the list, from 0. */
  index: number;
  /** The entry's name or host when it has one, for the message. */
  label: string;
  problem: string;
}

export interface CentralNodeList {
  entries: CentralNodeEntry[];
  invalid: InvalidEntry[];
}

/** user@host:port — the key of a CN's connection, secrets and trusted host key; the same for an entry renamed. */
export function cnId(e: Pick<CentralNodeEntry, 'user' | 'host' | 'port'>): string {
  return `${e.user}@${e.host}:${e.port}`;
}

/** user@host, with :port when it is not 22: how a CN is shown. */
export function cnLabel(e: Pick<CentralNodeEntry, 'user' | 'host' | 'port'>): string {
  return `${e.user}@${e.host}${e.port === 22 ? '' : ':' + e.port}`;
}

export function localUserName(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? process.env.USERNAME ?? 'root';
  }
}

// Nothing an argv or a log line could take for something else: no controls, no leading dash.
const hostPattern = /^(?!-)[A-Za-z0-9._:%-]{1,253}$|^\[[0-9A-Fa-f:.%]{2,60}\]$/;
const userPattern = /^(?!-)[^\s@:/\\\u0000-\u001f\u007f]{1,64}$/;
const unitPattern = /^(?!-)[A-Za-z0-9:_.@-]{1,200}$/;
const maxNameLength = 64;

/** A name for a CN: 1–64 visible characters, without controls. Undefined when fine, else why not. */
export function nameProblem(name: string): string | undefined {
  const n = name.trim();
  if (!n) return t('the name is empty');
  if (n.length > maxNameLength) return t('the name is longer than {0} characters', maxNameLength);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/.test(n)) return t('the name holds control characters');
  return undefined;
}

/** Parses `user@host[:port]` (IPv6 in brackets); undefined when it is not that. */
export function parseUserHost(text: string): { user?: string; host: string; port?: number } | undefined {
  const m = /^(?:([^@\s]+)@)?(\[[^\]\s]+\]|[^@\s:[\]]+)(?::(\d{1,5}))?$/.exec(text.trim());
  if (!m) return undefined;
  const host = m[2]!.startsWith('[') ? m[2]!.slice(1, -1) : m[2]!;
  const port = m[3] === undefined ? undefined : Number(m[3]);
  if (port !== undefined && (port < 1 || port > 65535)) return undefined;
  if (!hostPattern.test(host) && !hostPattern.test(`[${host}]`)) return undefined;
  if (m[1] !== undefined && !userPattern.test(m[1])) return undefined;
  return { ...(m[1] !== undefined && { user: m[1] }), host, ...(port !== undefined && { port }) };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

const knownKeys = new Set(['name', 'host', 'port', 'user', 'identityFile', 'useAgent', 'sudo', 'knownHostsFiles', 'configPath', 'serviceName', 'engineCommand', 'setupPrefix']);

/** One entry as written (setting or file) → the entry with defaults, or why it cannot be used. */
export function parseEntry(raw: unknown): CentralNodeEntry | { problem: string; label: string } {
  if (!isObject(raw)) return { problem: t('an entry must be an object with at least "name" and "host"'), label: '?' };
  const label = typeof raw.name === 'string' && raw.name.trim() ? raw.name.trim() : typeof raw.host === 'string' ? raw.host : '?';
  const fail = (problem: string) => ({ problem, label });
  const unknown = Object.keys(raw).filter((k) => !knownKeys.has(k));
  if (unknown.length) return fail(t('unknown key(s): {0}', unknown.join(', ')));
  if (typeof raw.name !== 'string') return fail(t('"name" is missing'));
  const np = nameProblem(raw.name);
  if (np) return fail(np);
  if (typeof raw.host !== 'string' || !raw.host.trim()) return fail(t('"host" is missing'));
  const host = raw.host.trim().replace(/^\[(.*)\]$/, '$1');
  if (!hostPattern.test(host) && !hostPattern.test(`[${host}]`)) return fail(t('"host" is not a host name or IP address: {0}', raw.host));
  const port = raw.port === undefined ? 22 : raw.port;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) return fail(t('"port" must be a TCP port number (1–65535)'));
  const user = raw.user === undefined || raw.user === '' ? localUserName() : raw.user;
  if (typeof user !== 'string' || !userPattern.test(user)) return fail(t('"user" is not a user name'));
  if (raw.identityFile !== undefined && (typeof raw.identityFile !== 'string')) return fail(t('"{0}" must be a string', 'identityFile'));
  if (raw.useAgent !== undefined && typeof raw.useAgent !== 'boolean') return fail(t('"useAgent" must be true or false'));
  if (raw.sudo !== undefined && raw.sudo !== 'auto' && raw.sudo !== 'never') return fail(t('"sudo" must be "auto" or "never"'));
  for (const k of ['knownHostsFiles', 'engineCommand'] as const) {
    if (raw[k] !== undefined && !isStringArray(raw[k])) return fail(t('"{0}" must be a list of strings', k));
  }
  for (const k of ['configPath', 'setupPrefix'] as const) {
    const v = raw[k];
    if (v === undefined || v === '') continue;
    if (typeof v !== 'string' || !v.startsWith('/') || /[\0\n]/.test(v)) return fail(t('"{0}" must be an absolute path on the Central Node', k));
  }
  const serviceName = raw.serviceName === undefined || raw.serviceName === '' ? defaultServiceName : raw.serviceName;
  if (typeof serviceName !== 'string' || !unitPattern.test(serviceName)) return fail(t('"serviceName" may hold only letters, digits and : _ . @ - (and must not start with -)'));
  const identity = typeof raw.identityFile === 'string' ? raw.identityFile.trim() : '';
  const engineCommand = (raw.engineCommand as string[] | undefined)?.filter((x) => x !== '');
  return {
    name: raw.name.trim(),
    host,
    port,
    user,
    ...(identity && { identityFile: expandUserPath(identity) }),
    useAgent: raw.useAgent !== false,
    sudo: raw.sudo === 'never' ? 'never' : 'auto',
    knownHostsFiles: ((raw.knownHostsFiles as string[] | undefined) ?? []).filter((x) => x.trim()).map((x) => expandUserPath(x.trim())),
    configPath: typeof raw.configPath === 'string' && raw.configPath ? raw.configPath : defaultCnConfigPath,
    serviceName,
    ...(engineCommand?.length && { engineCommand }),
    ...(typeof raw.setupPrefix === 'string' && raw.setupPrefix && { setupPrefix: raw.setupPrefix }),
  };
}

/**
 * The list as written: an array of entries (the setting), or an object holding one under
 * "kds.centralNodes" or "centralNodes" (a copy of settings.json). Names and user@host:port must be
 * unique: a second entry with either is invalid, the first is kept.
 */
export function parseCentralNodeList(value: unknown): CentralNodeList {
  let list: unknown = value;
  if (isObject(value)) list = value['kds.centralNodes'] ?? value.centralNodes ?? (isObject(value.kds) ? value.kds.centralNodes : undefined);
  const out: CentralNodeList = { entries: [], invalid: [] };
  if (list === undefined || list === null) return out;
  if (!Array.isArray(list)) {
    out.invalid.push({ index: 0, label: '?', problem: t('the list of Central Nodes must be a JSON array of objects') });
    return out;
  }
  const names = new Set<string>();
  const ids = new Set<string>();
  list.forEach((raw, index) => {
    const e = parseEntry(raw);
    if ('problem' in e) {
      out.invalid.push({ index, label: e.label, problem: e.problem });
      return;
    }
    if (names.has(e.name.toLowerCase())) {
      out.invalid.push({ index, label: e.name, problem: t('another entry has the name "{0}"', e.name) });
      return;
    }
    if (ids.has(cnId(e))) {
      out.invalid.push({ index, label: e.name, problem: t('another entry connects to {0} already', cnId(e)) });
      return;
    }
    names.add(e.name.toLowerCase());
    ids.add(cnId(e));
    out.entries.push(e);
  });
  return out;
}

/**
 * The entry as it is saved in the setting: only what differs from the defaults, so that a later
 * change of a default reaches it (and the setting stays short to read).
 */
export function entryToSetting(e: CentralNodeEntry): Record<string, unknown> {
  return {
    name: e.name,
    host: e.host,
    ...(e.port !== 22 && { port: e.port }),
    user: e.user,
    ...(e.identityFile && { identityFile: e.identityFile }),
    ...(!e.useAgent && { useAgent: false }),
    ...(e.sudo !== 'auto' && { sudo: e.sudo }),
    ...(e.knownHostsFiles.length && { knownHostsFiles: e.knownHostsFiles }),
    ...(e.configPath !== defaultCnConfigPath && { configPath: e.configPath }),
    ...(e.serviceName !== defaultServiceName && { serviceName: e.serviceName }),
    ...(e.engineCommand?.length && { engineCommand: e.engineCommand }),
    ...(e.setupPrefix && { setupPrefix: e.setupPrefix }),
  };
}
