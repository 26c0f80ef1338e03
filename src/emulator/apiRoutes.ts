import { randomUUID } from 'node:crypto';
import { unlink } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { basename, join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from '../common/log';
import { t } from '../common/l10n';
import type { EmulatorCounters } from './counters';
import { SLOW_FACTOR, testMarkerOf } from './detection';
import { drawFault, type FaultPlan } from './faults';
import { reply, replyJson } from './httpReply';
import { receiveUpload, UploadError } from './multipartUpload';
import { type AlertRecord, type ScanRecord, type ScanState, scanKey, scanStates, type ScanStore } from './scanStore';
import type { SystemsRegistry } from './systemsRegistry';
import type { VerdictScheduler } from './verdictScheduler';

export const API_PREFIX = '/kata/scanner/v1/sensors/';

export type StateShape = 'array' | 'scans';

export interface ApiSettings {
  autoApprove: boolean;
  stateShape: StateShape;
  verdictDelayMs: number;
  maxObjectSize: number;
  maxProcessing: number;
}

export interface ApiContext {
  settings: ApiSettings;
  faults(): FaultPlan;
  store: ScanStore;
  registry: SystemsRegistry;
  scheduler: VerdictScheduler;
  objectsDir: string;
  logger: Logger;
  counters: EmulatorCounters;
  version: string;
}

/** Objects up to this size are kept in the scan record (and its journal line), not in a file. */
const INLINE_MAX = 16 * 1024;

/** The form framing around the content; a Content-Length beyond max + this is refused unread. */
const MULTIPART_OVERHEAD = 64 * 1024;
/** The documentation asks for no spaces or special characters; dashes are common in the field. */
const SCAN_ID = /^[A-Za-z0-9._-]{1,256}$/;
const DETECT_TYPES = new Set(['am', 'sb', 'yara', 'url_reputation', 'ids', 'taa']);

type Handler = (req: IncomingMessage, res: ServerResponse, ctx: ApiContext, call: ApiCall) => Promise<void> | void;

interface ApiCall {
  sensorId: string;
  /** What follows the sensorId, e.g. `scans/state`. */
  rest: string;
  query: URLSearchParams;
}

/** Every documented call under /kata/scanner/v1/sensors/<sensorId>/. */
export async function handleApi(req: IncomingMessage, res: ServerResponse, ctx: ApiContext, path: string, query: URLSearchParams): Promise<void> {
  ctx.counters.apiRequests++;
  const plan = ctx.faults();
  if (plan.latencyMs > 0) {
    ctx.counters.faults.delayed++;
    await delay(plan.latencyMs);
  }

  const m = /^([^/]+)\/(.*)$/.exec(path.slice(API_PREFIX.length));
  let sensorId = '';
  try {
    sensorId = m ? decodeURIComponent(m[1]!) : '';
  } catch {
    /* stays empty: 404 below */
  }
  if (!m || !sensorId) return reply(res, 404, 'Not found');

  // KATA identifies an external system by its certificate, so none means not authorised.
  const peer = peerOf(req.socket as TLSSocket);
  if (!peer) {
    ctx.logger.warn('emulator.auth', t('Request without a client certificate refused.'), { sensorId, remoteAddress: req.socket.remoteAddress });
    return reply(res, 401, 'Authorization required');
  }
  const { fingerprint } = peer;
  const { state, created } = await ctx.registry.check(sensorId, fingerprint, {
    subject: peer.subject,
    remoteAddress: req.socket.remoteAddress ?? '',
    autoApprove: ctx.settings.autoApprove,
  });
  if (created) {
    ctx.logger.info(
      'emulator.integration',
      state === 'accepted' ? t('New external system accepted automatically.') : t('New integration request: accept it in the console or with "kds emulate approve".'),
      { sensorId, fingerprint },
    );
  }
  if (state === 'pending') return reply(res, 401, 'Authorization required');
  if (state === 'rejected') return reply(res, 403, 'Forbidden');

  const fault = drawFault(plan);
  if (fault) {
    ctx.counters.faults[fault]++;
    ctx.logger.debug('emulator.fault', t('Injected fault: {0}', fault), { sensorId, path });
    if (fault === 'reset') {
      req.socket.destroy();
      return;
    }
    return reply(res, Number(fault), fault === '429' ? 'Too many requests' : 'Internal server error');
  }

  const call: ApiCall = { sensorId, rest: m[2]!, query };
  const route = routeOf(call.rest);
  if (!route) return reply(res, 404, 'Not found');
  const handler = route[req.method ?? ''];
  if (!handler) return reply(res, 405, 'Method not allowed', { Allow: Object.keys(route).join(', ') });
  await handler(req, res, ctx, call);
}

interface Peer {
  fingerprint: string;
  subject: string;
}

const peers = new WeakMap<TLSSocket, Peer | null>();

/**
 * The client certificate of a keep-alive connection, decoded once per connection rather than
 * per request (getPeerCertificate builds a new object with the whole parsed certificate).
 */
function peerOf(socket: TLSSocket): Peer | undefined {
  let peer = peers.get(socket);
  if (peer === undefined) {
    const cert = socket.getPeerCertificate?.();
    peer = cert && cert.raw ? { fingerprint: cert.fingerprint256, subject: typeof cert.subject?.CN === 'string' ? cert.subject.CN : '' } : null;
    // Before the handshake finished there is nothing to remember.
    if (socket.encrypted) peers.set(socket, peer);
  }
  return peer ?? undefined;
}

function routeOf(rest: string): Record<string, Handler> | undefined {
  switch (rest) {
    case 'scans':
      return { POST: submit, DELETE: deleteAll };
    case 'scans/':
      // The documentation does not show which "delete all" URL KATA expects; both work here.
      return { DELETE: deleteAll };
    case 'scans/state':
      return { GET: listStates };
    case 'scans/filters':
      return { GET: filters };
    case 'detects':
      return { GET: detects };
    default:
      return rest.startsWith('scans/') && !rest.slice(6).includes('/') ? { DELETE: deleteOne } : undefined;
  }
}

async function submit(req: IncomingMessage, res: ServerResponse, ctx: ApiContext, call: ApiCall): Promise<void> {
  const { settings, counters } = ctx;
  if (ctx.store.countProcessing() + counters.uploadsInFlight >= settings.maxProcessing) {
    return reply(res, 429, 'Too many requests');
  }
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > settings.maxObjectSize + MULTIPART_OVERHEAD) {
    // Answered before the body; Node reads and discards the rest, so the client sees the 413.
    return reply(res, 413, `The object is larger than ${settings.maxObjectSize} bytes`);
  }

  counters.uploadsInFlight++;
  let upload;
  try {
    upload = await receiveUpload(req, { dir: ctx.objectsDir, maxObjectSize: settings.maxObjectSize, inlineMax: INLINE_MAX });
  } catch (err) {
    if (err instanceof UploadError) return reply(res, err.status, err.message);
    // The client went away mid-upload, or the disk failed.
    ctx.logger.warn('emulator.upload', t('Upload failed: {0}', (err as Error).message), { sensorId: call.sensorId });
    return reply(res, 500, 'Internal server error');
  } finally {
    counters.uploadsInFlight--;
  }

  const { fields, content } = upload;
  const refuse = async (message: string) => {
    if (content.path) await unlink(content.path).catch(() => undefined);
    reply(res, 400, message);
  };
  const objectType = fields.get('objectType');
  if (objectType !== 'file') return refuse(`Unsupported objectType "${objectType ?? ''}": only "file" is accepted`);
  const scanId = fields.get('scanId') ?? '';
  if (scanId && !SCAN_ID.test(scanId)) return refuse('scanId must be 1-256 letters, digits, ".", "_" or "-"');
  if (!scanId) ctx.logger.warn('emulator.upload', t('Object sent without a scanId: its result cannot be polled.'), { sensorId: call.sensorId });

  const now = Date.now();
  const slow = testMarkerOf(content.head) === 'slow';
  const scan: ScanRecord = {
    key: scanKey(call.sensorId, scanId || `#${randomUUID()}`),
    sensorId: call.sensorId,
    scanId,
    sensorInstanceId: call.query.get('sensorInstanceId') ?? '',
    state: 'processing',
    submittedAt: new Date(now).toISOString(),
    dueAt: now + settings.verdictDelayMs * (slow ? SLOW_FACTOR : 1),
    ...(slow ? { slow } : {}),
    fileName: content.fileName,
    size: content.size,
    sha256: content.sha256,
    ...(content.data ? { inline: content.data.toString('base64') } : { objectFile: basename(content.path) }),
    threats: [],
  };
  let replaced: ScanRecord | undefined;
  try {
    replaced = ctx.store.put(scan);
  } catch (err) {
    ctx.logger.error('emulator.store', t('Cannot save the scan list: {0}', (err as Error).message));
    return reply(res, 500, 'Internal server error');
  }
  if (replaced) await discard(ctx, [replaced]);
  ctx.scheduler.schedule(scan, content.head);
  counters.countUpload(content.sha256);
  // Debug: the verdict line that follows says the same and more; two lines an object would
  // double what a busy emulator writes to the terminal.
  ctx.logger.debug('emulator.scan', t('Object queued for scanning.'), {
    scanId,
    sensorId: call.sensorId,
    size: content.size,
    sha256: content.sha256,
    file: content.fileName,
  });
  reply(res, 200, 'OK');
}

/** Stops a scan's pending verdict and removes its stored content. */
async function discard(ctx: ApiContext, scans: ScanRecord[]): Promise<void> {
  for (const scan of scans) {
    ctx.scheduler.cancel(scan.key);
    if (scan.objectFile) await unlink(join(ctx.objectsDir, scan.objectFile)).catch(() => undefined);
  }
}

function listStates(_req: IncomingMessage, res: ServerResponse, ctx: ApiContext, call: ApiCall): void {
  const wanted = (call.query.get('state') ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = wanted.find((s) => !scanStates.includes(s as ScanState));
  if (unknown !== undefined) return reply(res, 400, `Unknown state "${unknown}"`);
  const instance = call.query.get('sensorInstanceId');
  const scans: ScanRecord[] = [];
  for (const s of ctx.store.ofSensor(call.sensorId)) {
    if (s.scanId !== '' && (!instance || s.sensorInstanceId === instance) && (wanted.length === 0 || wanted.includes(s.state))) scans.push(s);
  }
  if (scans.length === 0) return reply(res, 204);
  if (ctx.settings.stateShape === 'scans') {
    return replyJson(res, 200, { scans: scans.map((s) => ({ scanId: s.scanId, state: s.state })) });
  }
  return replyJson(res, 200, scans.map((s) => ({ scanId: documentedScanId(s.scanId), state: [s.state] })));
}

/**
 * The 6.x+ documentation types scanId as an integer in this response. Digits become a number
 * only when that is lossless (no leading zero, within 2^53); anything else stays a string.
 */
export function documentedScanId(scanId: string): number | string {
  if (/^(0|[1-9]\d*)$/.test(scanId)) {
    const n = Number(scanId);
    if (Number.isSafeInteger(n)) return n;
  }
  return scanId;
}

async function deleteOne(_req: IncomingMessage, res: ServerResponse, ctx: ApiContext, call: ApiCall): Promise<void> {
  let scanId: string;
  try {
    scanId = decodeURIComponent(call.rest.slice('scans/'.length));
  } catch {
    return reply(res, 404, 'No scan results found for the specified ID');
  }
  const scan = ctx.store.get(scanKey(call.sensorId, scanId));
  const instance = call.query.get('sensorInstanceId');
  if (!scanId || !scan || (instance && scan.sensorInstanceId !== instance)) {
    return reply(res, 404, 'No scan results found for the specified ID');
  }
  await removeScans(ctx, [scan]);
  reply(res, 200, 'OK');
}

async function deleteAll(_req: IncomingMessage, res: ServerResponse, ctx: ApiContext, call: ApiCall): Promise<void> {
  const instance = call.query.get('sensorInstanceId');
  const scans = [...ctx.store.ofSensor(call.sensorId)].filter((s) => !instance || s.sensorInstanceId === instance);
  await removeScans(ctx, scans);
  reply(res, 200, 'OK');
}

async function removeScans(ctx: ApiContext, scans: ScanRecord[]): Promise<void> {
  ctx.store.remove(scans);
  await discard(ctx, scans);
  ctx.counters.deleteRequests++;
  ctx.counters.scansDeleted += scans.length;
}

function filters(_req: IncomingMessage, res: ServerResponse, ctx: ApiContext): void {
  replyJson(res, 200, { maxObjectSize: ctx.settings.maxObjectSize, version: ctx.version });
}

/** The cursor KATA's example shows: hex of `{"offset": n}`; here n is the last alertID returned. */
export function encodeDetectsToken(offset: number): string {
  return Buffer.from(`{"offset": ${offset}}`, 'utf8').toString('hex');
}

export function decodeDetectsToken(token: string): number | undefined {
  if (!/^(?:[0-9a-f]{2})+$/i.test(token)) return undefined;
  try {
    const offset = (JSON.parse(Buffer.from(token, 'hex').toString('utf8')) as { offset?: unknown }).offset;
    return typeof offset === 'number' && Number.isSafeInteger(offset) && offset >= 0 ? offset : undefined;
  } catch {
    return undefined;
  }
}

function detects(_req: IncomingMessage, res: ServerResponse, ctx: ApiContext, call: ApiCall): void {
  const typesParam = call.query.get('detect_type');
  const types = typesParam ? typesParam.split(',').map((s) => s.trim()).filter(Boolean) : [];
  const badType = types.find((x) => !DETECT_TYPES.has(x));
  if (badType !== undefined) return reply(res, 400, `Unknown detect_type "${badType}"`);
  const limitParam = call.query.get('limit');
  const limit = limitParam === null ? 1000 : /^\d{1,5}$/.test(limitParam) ? Number(limitParam) : NaN;
  if (!(limit >= 1 && limit <= 10_000)) return reply(res, 400, 'limit must be an integer from 1 to 10000');
  const tokenParam = call.query.get('token');
  const offset = tokenParam === null || tokenParam === '' ? 0 : decodeDetectsToken(tokenParam);
  if (offset === undefined) return reply(res, 400, 'Bad token');

  const candidates = ctx.store.alertsAfter(call.sensorId, offset);
  const out: AlertRecord[] = [];
  let last = offset;
  for (const alert of candidates) {
    if (out.length >= limit) break;
    // The cursor is a position in the sensor's alert sequence, as KATA's {"offset": n} suggests,
    // so alerts of other technologies that it passes are not returned later under this token.
    last = alert.alertID;
    if (types.length === 0 || types.includes(alert.technology)) out.push(alert);
  }
  replyJson(res, 200, { detects: out.map(alertJson), token: encodeDetectsToken(last) });
}

function alertJson(a: AlertRecord): unknown {
  return {
    alertID: a.alertID,
    eventTimeStamp: a.eventTime,
    detectTimestamp: a.detectTime,
    importance: a.importance,
    objectSource: 'external',
    technology: a.technology,
    objectType: 'file',
    object: { processedObject: { MD5: a.md5, SHA256: a.sha256, fileName: a.fileName, fileSize: a.size } },
    detection: { detect: a.threats, dataBaseVersion: DATABASE_VERSION },
  };
}

/** Stands in for the anti-malware database release a real KATA reports. */
export const DATABASE_VERSION = 'kds-emulator-1';
