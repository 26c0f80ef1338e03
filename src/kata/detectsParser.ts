import { t } from '../common/l10n';
import { KataError } from './errors';
import { snippet } from './stateParser';

/** Hashes and name of a file object inside an alert; hashes lower-case hex for comparison. */
export interface DetectObject {
  sha256?: string;
  md5?: string;
  fileName?: string;
  fileType?: string;
  fileSize?: number;
}

/**
 * One alert from GET detects. The scanner API's state answer has no threat names, so these
 * are matched to submitted files by SHA-256 (whether alerts carry the scanId is undocumented).
 */
export interface Detect {
  alertId?: string;
  technology?: string;
  importance?: string;
  objectSource?: string;
  objectType?: string;
  eventTimestamp?: string;
  detectTimestamp?: string;
  /** Threat names from detection.detect, e.g. `HEUR:Trojan.Win32.Generic`. */
  threats: string[];
  databaseVersion?: string;
  processedObject?: DetectObject;
  detectedObject?: DetectObject;
  /** The alert as received, for fields this type does not model. */
  raw: Record<string, unknown>;
}

export interface DetectsPage {
  detects: Detect[];
  /** Cursor for the next call; alerts already returned are not repeated when it is passed back. */
  token?: string;
}

function str(v: unknown): string | undefined {
  if (typeof v === 'string') return v.trim() === '' ? undefined : v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return undefined;
}

function num(v: unknown): number | undefined {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) ? n : undefined;
}

function obj(v: unknown): Record<string, unknown> | undefined {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

/** Field lookup that ignores case, since the docs spell the same key SHA256, sha256 and Sha256. */
function field(rec: Record<string, unknown> | undefined, ...names: string[]): unknown {
  if (!rec) return undefined;
  for (const name of names) if (name in rec) return rec[name];
  const lower = new Map(Object.keys(rec).map((k) => [k.toLowerCase(), k]));
  for (const name of names) {
    const key = lower.get(name.toLowerCase());
    if (key !== undefined) return rec[key];
  }
  return undefined;
}

function hex(v: unknown): string | undefined {
  const s = str(v)?.replace(/[^0-9a-f]/gi, '').toLowerCase();
  return s || undefined;
}

function detectObject(v: unknown): DetectObject | undefined {
  const rec = obj(v);
  if (!rec) return undefined;
  const out: DetectObject = {};
  const sha256 = hex(field(rec, 'SHA256', 'sha256'));
  const md5 = hex(field(rec, 'MD5', 'md5'));
  const fileName = str(field(rec, 'fileName', 'filename', 'name'));
  const fileType = str(field(rec, 'fileType', 'type'));
  const fileSize = num(field(rec, 'fileSize', 'size'));
  if (sha256) out.sha256 = sha256;
  if (md5) out.md5 = md5;
  if (fileName) out.fileName = fileName;
  if (fileType) out.fileType = fileType;
  if (fileSize !== undefined) out.fileSize = fileSize;
  return Object.keys(out).length ? out : undefined;
}

function threatNames(detection: Record<string, unknown> | undefined): string[] {
  const raw = field(detection, 'detect', 'detects', 'threats', 'name');
  const list = Array.isArray(raw) ? raw : raw === undefined ? [] : [raw];
  return list.map((x) => str(x) ?? str(obj(x)?.name)).filter((x): x is string => x !== undefined);
}

export function parseDetect(rec: Record<string, unknown>): Detect {
  const object = obj(field(rec, 'object'));
  const detection = obj(field(rec, 'detection'));
  const d: Detect = { threats: threatNames(detection), raw: rec };
  const set = <K extends keyof Detect>(key: K, value: Detect[K] | undefined): void => {
    if (value !== undefined) d[key] = value;
  };
  set('alertId', str(field(rec, 'alertID', 'alertId', 'id')));
  set('technology', str(field(rec, 'technology')));
  set('importance', str(field(rec, 'importance')));
  set('objectSource', str(field(rec, 'objectSource')));
  set('objectType', str(field(rec, 'objectType')));
  set('eventTimestamp', str(field(rec, 'eventTimeStamp', 'eventTimestamp')));
  set('detectTimestamp', str(field(rec, 'detectTimestamp', 'detectTimeStamp')));
  set('databaseVersion', str(field(detection, 'dataBaseVersion', 'databaseVersion')));
  // Some answers put the file fields straight into `object` instead of processedObject.
  set('processedObject', detectObject(field(object, 'processedObject')) ?? detectObject(object));
  set('detectedObject', detectObject(field(object, 'detectedObject')));
  return d;
}

/** Parses GET detects: `{"detects":[…],"token":"…"}`, or a bare array from a looser server. */
export function parseDetectsBody(text: string): DetectsPage {
  if (text.trim() === '') return { detects: [] };
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw new KataError('protocol', t('KATA sent an alert list that is not valid JSON: {0}', snippet(text)), { cause: err });
  }
  const rec = obj(body);
  const list = Array.isArray(body) ? body : field(rec, 'detects', 'alerts', 'items', 'data');
  if (list !== undefined && list !== null && !Array.isArray(list)) {
    throw new KataError('protocol', t('KATA sent an alert list of an unknown shape: {0}', snippet(text)));
  }
  if (body !== null && !Array.isArray(body) && !rec) {
    throw new KataError('protocol', t('KATA sent an alert list of an unknown shape: {0}', snippet(text)));
  }
  const page: DetectsPage = { detects: ((list as unknown[] | undefined) ?? []).map(obj).filter((x) => x !== undefined).map(parseDetect) };
  const token = str(field(rec, 'token'));
  if (token !== undefined) page.token = token;
  return page;
}
