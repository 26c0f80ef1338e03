import { t } from '../common/l10n';
import type { IcapFailureKind } from './icapClient';

/**
 * What a probe's steps mean, in one sentence, and what to do next — the two lines a support
 * engineer reads first. What a peer sent stays a placeholder argument (never part of the wording),
 * so the output's escaping of peer text applies to it.
 */

/** What a conclusion reads of a probe step (icapProbe.ts's ProbeStep). */
export interface ProbeStep {
  title: string;
  method: 'OPTIONS' | 'RESPMOD' | 'REQMOD';
  outcome: 'ok' | 'failed' | 'warning';
  status?: number;
  error?: string;
  failure?: IcapFailureKind;
  peerText?: string;
  waitedOutMs?: number;
  modification: 'unchanged-204' | 'unchanged-echo' | 'modified' | 'blocked' | 'none';
  httpStatus?: number;
  expectsDetection: boolean;
  detected: boolean;
}

export type ConclusionKind =
  | 'reachable'
  | 'detects-eicar'
  | 'does-not-block'
  | 'passed-after-wait'
  | 'not-icap'
  | 'service-not-found'
  | 'method-not-allowed'
  | 'timed-out'
  | 'unreachable'
  | 'error';

/** What answered instead of an ICAP service, when something did. */
export type PeerKind = 'http' | 'tls' | 'other' | 'silent';

export interface Conclusion {
  kind: ConclusionKind;
  /** One line: what the probe found. */
  text: string;
  /** One line: what to do about it. */
  next: string;
  /** For `not-icap`: what the peer is. */
  peer?: PeerKind;
}

export interface ConclusionContext {
  host: string;
  port: number;
  /** The mode the server named (the embedded KATA's X-KDS-Mode): monitoring, blocking_simple, blocking_advanced. */
  mode?: string;
}

const NOT_ICAP: IcapFailureKind[] = ['tls', 'http', 'not-icap', 'closed-without-answer', 'protocol'];
const UNREACHABLE: IcapFailureKind[] = ['refused', 'dns', 'unreachable', 'connect-timeout', 'reset'];

/** Failures after which there is no ICAP service to talk to at that address at all. */
export function fatalFailure(kind: IcapFailureKind | undefined): boolean {
  return kind !== undefined && (UNREACHABLE.includes(kind) || NOT_ICAP.includes(kind) || kind === 'no-answer');
}

const CHECK_ICAP_SERVICE_LINE = (): string => t("KATA's ICAP service is plain ICAP on port 1344: check the address, the port and the scheme icap:// in the proxy's icap_service line.");

function hostPort(c: ConclusionContext): string {
  return c.host.includes(':') ? `[${c.host}]:${c.port}` : `${c.host}:${c.port}`;
}

function modeWords(mode: string | undefined): string {
  switch (mode) {
    case 'monitoring':
      return t('monitoring mode');
    case 'blocking_simple':
      return t('blocking_simple mode (standard real-time scanning: a slow verdict does not hold traffic)');
    case 'blocking_advanced':
      return t('blocking_advanced mode (extended real-time scanning: traffic waits for the verdict)');
    default:
      return mode ?? '';
  }
}

/** The next step for a service that is not where the proxy is told to look. */
function unreachable(opt: ProbeStep, c: ConclusionContext): Conclusion {
  const text = t('unreachable: {0}', opt.error ?? '');
  switch (opt.failure) {
    case 'dns':
      return { kind: 'unreachable', text, next: t("The host name does not resolve here: use the KATA server's address, or fix the name, in the proxy's icap_service line.") };
    case 'refused':
      return {
        kind: 'unreachable',
        text,
        next: t('Nothing accepts connections on {0}: check that ICAP integration is enabled on the KATA Central Node or Sensor (web console: Sensor servers, ICAP integration with proxy server), that this is its address and that the port is 1344.', hostPort(c)),
      };
    default:
      return {
        kind: 'unreachable',
        text,
        next: t('A firewall drops the packets or the host is down: check the route and the firewall between the proxy and KATA on port {0}, with a capture on both sides (KDS: Capture ICAP Traffic).', c.port),
      };
  }
}

function notIcap(opt: ProbeStep, c: ConclusionContext): Conclusion {
  const where = hostPort(c);
  if (opt.failure === 'http') {
    return {
      kind: 'not-icap',
      peer: 'http',
      text: opt.peerText ? t('{0} is an HTTP server, not an ICAP service (it answered “{1}”)', where, opt.peerText) : t('{0} is an HTTP server, not an ICAP service', where),
      next: CHECK_ICAP_SERVICE_LINE(),
    };
  }
  if (opt.failure === 'tls') {
    return {
      kind: 'not-icap',
      peer: 'tls',
      text: t("{0} speaks TLS: it is an HTTPS server — KATA's web console or scanner API, for example — or an ICAP-over-TLS (icaps://) service", where),
      next: t("KATA's ICAP service is plain ICAP on port 1344, not TLS: check the port and the scheme in the proxy's icap_service line (icap://HOST:1344/…). The probe does not speak icaps://."),
    };
  }
  if (opt.failure === 'closed-without-answer') {
    return {
      kind: 'not-icap',
      peer: 'silent',
      text: t('{0} accepts connections but closes them without answering', where),
      next: t('The server refuses this client (check the addresses allowed to use ICAP on the KATA server), or another service listens there. ') + CHECK_ICAP_SERVICE_LINE(),
    };
  }
  return {
    kind: 'not-icap',
    peer: 'other',
    text: opt.peerText ? t('{0} is not an ICAP service: it answered “{1}”', where, opt.peerText) : t('{0} is not an ICAP service: {1}', where, opt.error ?? ''),
    next: t('Another service listens on that port. ') + CHECK_ICAP_SERVICE_LINE(),
  };
}

const LOG_HINT = (): string => t("KATA's preprocessor_icap.log says why (KDS: View ICAP Log, or kds remote icap-log).");

/** The conclusion for a service, from its steps. */
export function conclude(steps: ProbeStep[], eicarTested: boolean, c: ConclusionContext = { host: '?', port: 1344 }): Conclusion {
  const opt = steps[0];
  if (!opt) return { kind: 'error', text: t('no step ran'), next: '' };
  const discoverNext = () => t('Find the paths that answer: kds icap probe --discover {0} (in VS Code: Discover), and put the right one in the proxy\'s icap_service line.', hostPort(c));
  if (opt.outcome === 'failed') {
    if (opt.failure && UNREACHABLE.includes(opt.failure)) return unreachable(opt, c);
    if (opt.failure && NOT_ICAP.includes(opt.failure)) return notIcap(opt, c);
    if (opt.failure === 'no-answer' || opt.failure === 'answer-stalled') {
      return { kind: 'timed-out', text: t('timed out: {0}', opt.error ?? ''), next: t('The server accepted the connection but does not answer: look at its load and at preprocessor_icap.log; if it is only slow, probe with a longer --timeout.') };
    }
    if (opt.status === 404) return { kind: 'service-not-found', text: t('service not found (ICAP 404): the server speaks ICAP but has no service at this path'), next: discoverNext() };
    if (opt.status === 405) return { kind: 'method-not-allowed', text: t('method not allowed (ICAP 405)'), next: t('Use the path of the service that takes this method (respmod_precache with the RESPMOD path, reqmod_precache with the REQMOD path).') };
    return { kind: 'error', text: t('OPTIONS failed: {0}', opt.error ?? ''), next: LOG_HINT() };
  }
  const failed = steps.find((s) => s.outcome === 'failed');
  if (failed) {
    if (failed.failure === 'no-answer' || failed.failure === 'answer-stalled') {
      return { kind: 'timed-out', text: t('timed out in {0}: {1}', t(failed.title), failed.error ?? ''), next: t('The service answers OPTIONS but not a real transaction in time: look at the KATA server\'s load and preprocessor_icap.log; the proxy would bypass or fail the same way (icap_io_timeout).') };
    }
    if (failed.status === 405) {
      return {
        kind: 'method-not-allowed',
        text: t('method not allowed (ICAP 405) in {0}', t(failed.title)),
        next: t('This path takes the other method: pair respmod_precache with the RESPMOD path and reqmod_precache with the REQMOD path in the proxy\'s icap_service lines.'),
      };
    }
    if (failed.status === 404) return { kind: 'service-not-found', text: t('service not found (ICAP 404) in {0}', t(failed.title)), next: discoverNext() };
    return { kind: 'error', text: t('{0} failed: {1}', t(failed.title), failed.error ?? ''), next: LOG_HINT() };
  }
  const mode = c.mode ? ` — ${t('the server says it is in {0}', modeWords(c.mode))}` : '';
  const waited = steps.find((s) => s.waitedOutMs !== undefined);
  if (waited) {
    return {
      kind: 'passed-after-wait',
      text: t('{0}: the object was let through because the verdict wait expired after {1} ms (blocking_advanced mode), not because it is clean', t(waited.title), waited.waitedOutMs!),
      next: t("A verdict that comes later than the wait lets a malicious object through too: look at the KATA server's load, and at the verdict=timeout lines of preprocessor_icap.log (the probe's requests name kds-probe.invalid)."),
    };
  }
  if (eicarTested) {
    const eicarSteps = steps.filter((s) => s.expectsDetection);
    const blocked = eicarSteps.filter((s) => s.modification === 'blocked' || s.modification === 'modified');
    const flagged = eicarSteps.filter((s) => s.detected);
    if (eicarSteps.length && blocked.length === eicarSteps.length) {
      const how = blocked.map((s) => (s.httpStatus ? `HTTP ${s.httpStatus}` : s.modification)).join(', ');
      return {
        kind: 'detects-eicar',
        text: t('detects EICAR and blocks it ({0})', how) + mode,
        next: t("The ICAP side works. If people behind the proxy still get malicious files, check that the proxy's icap_service line has bypass=off and that adaptation_access sends all traffic to it."),
      };
    }
    if (c.mode === 'monitoring') {
      return {
        kind: 'does-not-block',
        text: (flagged.length ? t('detects EICAR but does not block it') : t('EICAR was not blocked')) + mode,
        next: t('Expected in monitoring mode: KATA never changes traffic; the detection shows in the KATA console (Alerts) and in preprocessor_icap.log. Switch KATA to a blocking mode if the proxy should block.'),
      };
    }
    if (flagged.length) {
      return {
        kind: 'does-not-block',
        text: t('detects EICAR but does not block it (monitoring mode)') + mode,
        next: t('KATA reports the detection without blocking: the service is in monitoring mode. Switch KATA to a blocking mode if the proxy should block.'),
      };
    }
    if (eicarSteps.length) {
      return {
        kind: 'does-not-block',
        text: t('EICAR was not blocked') + mode,
        next: t("The service is in monitoring mode, or KATA did not detect it — check Detections in the KATA console or preprocessor_icap.log (the probe's requests name kds-probe.invalid)."),
      };
    }
  }
  const methods = steps.slice(1).map((s) => s.method);
  return {
    kind: 'reachable',
    text: t('reachable: answers {0} as an ICAP service', ['OPTIONS', ...new Set(methods)].join(', ')) + mode,
    next: eicarTested ? t('Nothing to fix on the ICAP path.') : t('Probe again with EICAR (--eicar) to see whether KATA detects and blocks it.'),
  };
}
