import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../common/log';
import { t } from '../common/l10n';
import { renderConsole } from './consolePage';
import { readSmallBody, reply } from './httpReply';
import type { RunningIcapServer } from './icapServer';
import { ICAP_MODES, type IcapMode } from './icapServiceLog';
import type { ScanStore } from './scanStore';
import { canonicalFingerprint, type SystemsRegistry } from './systemsRegistry';

export const CONSOLE_PATH = '/console';
export const ADMIN_USER = 'admin';
const SHOWN_ALERTS = 200;

export interface ConsoleContext {
  password: string;
  /** Random per server start; a cross-site form cannot know it, although the browser sends the Basic credentials. */
  csrfToken: string;
  registry: SystemsRegistry;
  store: ScanStore;
  logger: Logger;
  apiUrl: string;
  icap?: RunningIcapServer;
  /** Switches the ICAP mode and records it in the data folder (icapModeFile.ts); without it, the server alone. */
  setIcapMode?: (mode: IcapMode, by: string) => Promise<void>;
}

function securityHeaders(nonce?: string): Record<string, string> {
  return {
    'Content-Security-Policy': `default-src 'none'; style-src ${nonce ? `'nonce-${nonce}'` : "'none'"}; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
    'X-Frame-Options': 'DENY',
    'X-Content-Type-Options': 'nosniff',
    // same-origin (not no-referrer): browsers then send the real Origin with the console's forms,
    // which the CSRF check requires; other sites still get nothing.
    'Referrer-Policy': 'same-origin',
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Resource-Policy': 'same-origin',
    'Cache-Control': 'no-store',
  };
}

/** Equal strings in constant time; hashing first makes the lengths equal too. */
function sameSecret(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a, 'utf8').digest();
  const hb = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(ha, hb);
}

function authorised(req: IncomingMessage, password: string): boolean {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(req.headers.authorization ?? '');
  if (!m) return false;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return false;
  // Evaluate both so the time taken does not tell which one was wrong.
  const userOk = sameSecret(decoded.slice(0, colon), ADMIN_USER);
  const passwordOk = sameSecret(decoded.slice(colon + 1), password);
  return userOk && passwordOk;
}

/** A form may only come from a page of this server; browsers say where it came from. */
function sameOrigin(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (!origin || origin === 'null') return origin === undefined;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}

export async function handleConsole(req: IncomingMessage, res: ServerResponse, ctx: ConsoleContext, path: string): Promise<void> {
  if (!authorised(req, ctx.password)) {
    if (req.headers.authorization) ctx.logger.warn('emulator.console', t('Console login refused.'), { remoteAddress: req.socket.remoteAddress });
    return reply(res, 401, t('Log in as "admin" with the password from the admin-password file.'), {
      ...securityHeaders(),
      'WWW-Authenticate': 'Basic realm="KDS KATA emulator", charset="UTF-8"',
    });
  }
  if (path === CONSOLE_PATH || path === `${CONSOLE_PATH}/`) {
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(res, 405, '', { ...securityHeaders(), Allow: 'GET, HEAD' });
    await ctx.registry.refresh();
    const nonce = randomBytes(16).toString('base64');
    const html = renderConsole({
      systems: ctx.registry.list(),
      alerts: ctx.store.recentAlerts(SHOWN_ALERTS),
      csrfToken: ctx.csrfToken,
      nonce,
      apiUrl: ctx.apiUrl,
      icap: ctx.icap ? { respmodUrl: ctx.icap.respmodUrl, reqmodUrl: ctx.icap.reqmodUrl, mode: ctx.icap.mode(), logPath: ctx.icap.logPath } : undefined,
    });
    return reply(res, 200, req.method === 'HEAD' ? '' : html, { ...securityHeaders(nonce), 'Content-Type': 'text/html; charset=utf-8' });
  }
  if (path === `${CONSOLE_PATH}/systems`) {
    if (req.method !== 'POST') return reply(res, 405, '', { ...securityHeaders(), Allow: 'POST' });
    return decide(req, res, ctx);
  }
  if (path === `${CONSOLE_PATH}/icap-mode` && ctx.icap) {
    if (req.method !== 'POST') return reply(res, 405, '', { ...securityHeaders(), Allow: 'POST' });
    return changeIcapMode(req, res, ctx, ctx.icap);
  }
  return reply(res, 404, t('Not found.'), securityHeaders());
}

/** Reads a console form, checking its origin and CSRF token; undefined when already answered. */
async function readForm(req: IncomingMessage, res: ServerResponse, ctx: ConsoleContext): Promise<URLSearchParams | undefined> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') {
    reply(res, 415, t('Expected a form.'), securityHeaders());
    return undefined;
  }
  const body = await readSmallBody(req, 8192);
  if (body === undefined) return undefined;
  const form = new URLSearchParams(body);
  if (!sameOrigin(req) || !sameSecret(form.get('csrf') ?? '', ctx.csrfToken)) {
    ctx.logger.warn('emulator.console', t('Console form refused: missing or wrong CSRF token.'), { remoteAddress: req.socket.remoteAddress });
    reply(res, 403, t('The form is out of date or did not come from this console. Reload the page and try again.'), securityHeaders());
    return undefined;
  }
  return form;
}

async function changeIcapMode(req: IncomingMessage, res: ServerResponse, ctx: ConsoleContext, icap: RunningIcapServer): Promise<void> {
  const form = await readForm(req, res, ctx);
  if (!form) return;
  const mode = form.get('mode') as IcapMode;
  if (!ICAP_MODES.includes(mode)) return reply(res, 400, t('Incomplete form.'), securityHeaders());
  if (ctx.setIcapMode) await ctx.setIcapMode(mode, 'console');
  else icap.setMode(mode, 'console');
  reply(res, 303, '', { ...securityHeaders(), Location: CONSOLE_PATH });
}

async function decide(req: IncomingMessage, res: ServerResponse, ctx: ConsoleContext): Promise<void> {
  const form = await readForm(req, res, ctx);
  if (!form) return;
  const action = form.get('action');
  const sensorId = form.get('sensorId') ?? '';
  const fingerprint = canonicalFingerprint(form.get('fingerprint') ?? '');
  if ((action !== 'accept' && action !== 'reject') || !sensorId || !fingerprint) {
    return reply(res, 400, t('Incomplete form.'), securityHeaders());
  }
  await ctx.registry.decide(sensorId, fingerprint, action === 'accept' ? 'accepted' : 'rejected');
  ctx.logger.info('emulator.integration', action === 'accept' ? t('Integration request accepted in the console.') : t('Integration request rejected in the console.'), {
    sensorId,
    fingerprint,
  });
  // Post/redirect/get: reloading the page does not send the decision again.
  reply(res, 303, '', { ...securityHeaders(), Location: CONSOLE_PATH });
}
