import { t } from '../common/l10n';

/**
 * What went wrong talking to KATA, coarse enough for the scanner to choose a reaction
 * (retry later, back off, stop and ask for approval, quarantine, re-read the file).
 */
export type KataErrorKind =
  | 'unauthorized' // 401: integration request pending (or never sent)
  | 'forbidden' // 403: integration rejected
  | 'too-large' // 413: object exceeds maxObjectSize
  | 'busy' // 429: too many concurrent scan requests
  | 'server' // 5xx
  | 'not-found' // 404 where it is not a normal answer
  | 'bad-request' // 400
  | 'tls' // certificate, pin or handshake failure
  | 'network' // refused, reset, timeout, DNS
  | 'protocol' // unexpected status or body
  | 'changed'; // the local file changed (size, vanished) while it was being sent

export class KataError extends Error {
  override readonly name = 'KataError';
  readonly kind: KataErrorKind;
  readonly status?: number;
  /** From Retry-After on 429/503, when the server sent one. */
  readonly retryAfterMs?: number;

  constructor(kind: KataErrorKind, message: string, extra: { status?: number; retryAfterMs?: number; cause?: unknown } = {}) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.kind = kind;
    if (extra.status !== undefined) this.status = extra.status;
    if (extra.retryAfterMs !== undefined) this.retryAfterMs = extra.retryAfterMs;
  }
}

export function isKataError(err: unknown, kind?: KataErrorKind): err is KataError {
  return err instanceof KataError && (kind === undefined || err.kind === kind);
}

/** Retry-After is either delta-seconds or an HTTP date; anything else is ignored. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!text) return undefined;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/** Maps a non-2xx status the caller did not handle itself. `what` names the call for the message. */
export function errorFromStatus(status: number, what: string, detail: string, retryAfter?: string | string[]): KataError {
  const suffix = detail ? `: ${detail}` : '';
  switch (true) {
    case status === 400:
      return new KataError('bad-request', t('KATA rejected the request {0} as invalid (HTTP 400){1}', what, suffix), { status });
    case status === 401:
      return new KataError('unauthorized', t('KATA has not approved this external system yet (HTTP 401 on {0}); ask the KATA administrator to accept the integration request', what), { status });
    case status === 403:
      return new KataError('forbidden', t('KATA refused access (HTTP 403 on {0}); the integration request may have been rejected', what), { status });
    case status === 404:
      return new KataError('not-found', t('KATA answered "not found" (HTTP 404) to {0}', what), { status });
    case status === 413:
      return new KataError('too-large', t('KATA refused the object as too large (HTTP 413)'), { status });
    case status === 429: {
      const retryAfterMs = parseRetryAfter(retryAfter);
      return new KataError('busy', t('KATA is busy: too many scan requests (HTTP 429 on {0})', what), retryAfterMs === undefined ? { status } : { status, retryAfterMs });
    }
    case status >= 500 && status <= 599: {
      const retryAfterMs = parseRetryAfter(retryAfter);
      const message = t('KATA server error (HTTP {0} on {1}){2}', status, what, suffix);
      return new KataError('server', message, retryAfterMs === undefined ? { status } : { status, retryAfterMs });
    }
    default:
      return new KataError('protocol', t('Unexpected HTTP status {0} from KATA on {1}{2}', status, what, suffix), { status });
  }
}

// OpenSSL verification results (X509_V_ERR_* as Node names them) and Node's own TLS codes.
const tlsCodes = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_CHAIN_TOO_LONG',
  'INVALID_CA',
  'INVALID_PURPOSE',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_TLS_HANDSHAKE_TIMEOUT',
  'EPROTO',
]);

const networkCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EAI_FAIL',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_DESTROYED',
  'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
]);

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Walks `cause` because undici and tls wrap the interesting error one or two levels down. */
function causes(err: unknown): unknown[] {
  const out: unknown[] = [];
  for (let e = err, i = 0; e && i < 5; e = (e as { cause?: unknown }).cause, i++) out.push(e);
  return out;
}

/**
 * Classifies a transport failure (anything thrown by undici or tls) so callers never see raw
 * ECONNRESET/UND_ERR_* errors. The original error stays available as `cause`.
 */
export function errorFromTransport(err: unknown, where: string): KataError {
  if (err instanceof KataError) return err;
  const chain = causes(err);
  const found = chain.find((e) => e instanceof KataError);
  if (found) return found as KataError;
  const messages = chain.map((e) => (e instanceof Error ? e.message : String(e))).filter(Boolean);
  const detail = [...new Set(messages)].join(': ') || String(err);
  for (const e of chain) {
    const code = codeOf(e);
    if (!code) continue;
    if (tlsCodes.has(code) || code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_') || code.startsWith('ERR_OSSL_')) {
      return new KataError('tls', t('TLS failure talking to KATA at {0} ({1}): {2}', where, code, detail), { cause: err });
    }
  }
  for (const e of chain) {
    const code = codeOf(e);
    if (!code) continue;
    if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ETIMEDOUT') {
      return new KataError('network', t('Timed out connecting to KATA at {0}', where), { cause: err });
    }
    if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
      return new KataError('network', t('KATA at {0} did not answer in time', where), { cause: err });
    }
    if (networkCodes.has(code)) {
      return new KataError('network', t('Network failure talking to KATA at {0} ({1}): {2}', where, code, detail), { cause: err });
    }
  }
  // TLS alerts sometimes surface with only a message (e.g. "alert certificate required").
  if (/certificate|handshake|ssl|tls/i.test(detail)) {
    return new KataError('tls', t('TLS failure talking to KATA at {0} ({1}): {2}', where, 'TLS', detail), { cause: err });
  }
  return new KataError('network', t('Network failure talking to KATA at {0} ({1}): {2}', where, codeOf(err) ?? 'ERROR', detail), { cause: err });
}
