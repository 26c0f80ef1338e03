import { t } from '../common/l10n';
import type { CaptureProblem } from './capturedPacket';
import type { IcapTransaction } from './icapTransactions';
import type { ConnectionSummary } from './tcpReassembly';

export interface Finding {
  code: string;
  severity: 'error' | 'warning' | 'info';
  text: string;
}

export interface DiagnosisFacts {
  /** The port the analysis looked at, or the ports where ICAP was found. */
  ports: number[];
  packets: number;
  /** The connections that are (or were meant to be) ICAP. */
  connections: ConnectionSummary[];
  transactions: IcapTransaction[];
  totalTransactions: number;
  problems: CaptureProblem[];
  /** An answer slower than this is reported (ms). */
  slowMs: number;
}

function countBy<T>(items: T[], key: (x: T) => string): string {
  const m = new Map<string, number>();
  for (const x of items) m.set(key(x), (m.get(key(x)) ?? 0) + 1);
  return [...m].map(([k, n]) => (n > 1 ? `${k} ×${n}` : k)).join(', ');
}

/** What each 4xx answer means for the proxy's configuration; codes not listed get no explanation. */
function clientErrorMeaning(status: number): string | undefined {
  switch (status) {
    case 400:
      return t('400: the server could not read the request');
    case 403:
      return t('403: the server refuses this client');
    case 404:
      return t("404: the service URI in the proxy's icap_service line is wrong");
    case 405:
      return t('405: the method does not match the service (RESPMOD sent to a REQMOD path, or the reverse)');
    case 408:
      return t('408: the request did not arrive whole in time');
    default:
      return undefined;
  }
}

/**
 * What a support engineer would write after reading the capture, most important first. KDS's own
 * probe and discovery requests (probeMarker.ts) are named once and kept out of the findings: a
 * 404 from a discovery says nothing about the proxy.
 */
export function diagnose(f: DiagnosisFacts): Finding[] {
  const out: Finding[] = [];
  const add = (code: string, severity: Finding['severity'], text: string) => out.push({ code, severity, text });
  for (const p of f.problems) add(`file-${p.code}`, p.code === 'snaplen-cut' ? 'warning' : 'error', p.message);
  const portText = f.ports.join(', ') || '1344';
  if (f.problems.some((p) => p.code === 'not-a-capture' || p.code === 'empty')) return out;

  if (f.connections.length === 0) {
    add(
      'no-packets',
      'error',
      t(
        'No packets on port {0}: the proxy is not sending ICAP to this server. Check the proxy\'s icap_service lines (address, port {0}, service URI), that ICAP is enabled (icap_enable on, adaptation_access), and the firewall between the proxy and the server.',
        portText,
      ),
    );
    return out;
  }

  const own = f.transactions.filter((x) => x.kdsProbe);
  const theirs = f.transactions.filter((x) => !x.kdsProbe);
  // Connections that carried only KDS's own requests say nothing about the proxy either.
  const proxyClients = new Set(theirs.map((x) => x.client));
  const ownClients = new Set(own.map((x) => x.client).filter((c) => !proxyClients.has(c)));
  const connections = f.connections.filter((c) => !ownClients.has(c.a) && !ownClients.has(c.b));
  const refused = connections.filter((c) => c.synSeen && !c.synAckSeen && c.resetBy.includes('b'));
  const unanswered = connections.filter((c) => c.synSeen && !c.synAckSeen && !c.resetBy.includes('b'));
  if (unanswered.length) {
    add(
      'syn-unanswered',
      'error',
      t(
        '{0} connection attempt(s) to {1} got no answer (SYN without SYN-ACK): the ICAP server is not listening there or a firewall drops the packets.',
        unanswered.length,
        countBy(unanswered, (c) => c.b),
      ),
    );
  }
  if (refused.length) {
    add('refused', 'error', t('{0} connection attempt(s) to {1} were refused (RST): nothing listens on that port.', refused.length, countBy(refused, (c) => c.b)));
  }
  const reset = connections.filter((c) => c.resetBy.length && !refused.includes(c));
  if (reset.length) {
    const byServer = reset.filter((c) => c.resetBy.includes('b')).length;
    const byClient = reset.filter((c) => c.resetBy.includes('a')).length;
    add(
      'resets',
      'warning',
      t(
        '{0} connection(s) were reset ({1} by the server, {2} by the client). A reset by the server during a transaction means the ICAP service failed or refused more connections (Max-Connections); by the client, that the proxy gave up (icap_io_timeout) or restarted.',
        reset.length,
        byServer,
        byClient,
      ),
    );
  }
  const midway = connections.filter((c) => c.startedMidway);
  if (midway.length) {
    add('started-midway', 'info', t('{0} connection(s) were already open when the capture began: their first messages may be missing.', midway.length));
  }

  if (own.length) {
    const kinds = [...new Set(own.map((x) => x.kdsProbe))];
    add(
      'kds-probe',
      'info',
      kinds.includes('discover')
        ? t("{0} transaction(s) are KDS's own probe and discovery (X-KDS-Probe, kds-probe.invalid): they are left out of the findings.", own.length)
        : t("{0} transaction(s) are KDS's own probe (X-KDS-Probe, kds-probe.invalid): they are left out of the findings.", own.length),
    );
    if (!theirs.length) {
      add('only-kds-probe', 'warning', t('No ICAP traffic from the proxy: every transaction in the capture is KDS\'s own. Capture again while something is downloaded through the proxy.'));
      return out;
    }
  }
  const tx = theirs;
  const withData = connections.some((c) => c.synAckSeen || c.packets > 3);
  if (tx.length === 0) {
    if (withData) add('no-icap', 'error', t('There is TCP traffic on port {0} but no ICAP message could be read: is it ICAP over TLS, or another protocol on that port?', portText));
    return out;
  }

  const methods = new Set(tx.map((x) => x.method).filter((m): m is string => !!m));
  if (methods.size === 1 && methods.has('OPTIONS')) {
    add(
      'options-only',
      'warning',
      t(
        'Only OPTIONS requests ({0}): the proxy checks the service but sends nothing to scan. Check adaptation_access and the icap_service vectoring point (respmod_precache / reqmod_precache), and that the traffic really passes through this proxy.',
        tx.length,
      ),
    );
  }
  const respmods = tx.filter((x) => x.method === 'RESPMOD' && x.status !== null);
  if (respmods.length && respmods.every((x) => x.status === 204)) {
    add(
      'respmod-all-204',
      'info',
      t('Every RESPMOD ({0}) was answered 204 No Content: the server let everything through. KATA is in monitoring mode (it does not block) or nothing was detected.', respmods.length),
    );
  }
  const serverErrors = tx.filter((x) => x.status !== null && x.status >= 500);
  if (serverErrors.length) {
    add(
      'server-errors',
      'error',
      t('{0} answer(s) were server errors ({1}): look at preprocessor_icap.log on the server for the reason.', serverErrors.length, countBy(serverErrors, (x) => `${x.status} ${x.reason ?? ''}`.trim())),
    );
  }
  const clientErrors = tx.filter((x) => x.status !== null && x.status >= 400 && x.status < 500);
  if (clientErrors.length) {
    add(
      'client-errors',
      'error',
      t(
        '{0} answer(s) were request errors ({1}). {2}',
        clientErrors.length,
        countBy(clientErrors, (x) => `${x.status} ${x.reason ?? ''}`.trim()),
        [...new Set(clientErrors.map((x) => x.status!))]
          .sort((a, b) => a - b)
          .map(clientErrorMeaning)
          .filter((m): m is string => !!m)
          .map((m) => `${m}.`)
          .join(' '),
      ).trim(),
    );
  }
  const noAnswer = tx.filter((x) => x.method && x.status === null);
  if (noAnswer.length) {
    add('unanswered', 'warning', t('{0} request(s) have no answer in the capture: the server did not answer, or the capture stopped too early.', noAnswer.length));
  }
  const slow = tx.filter((x) => x.latencyMs !== null && x.latencyMs > f.slowMs);
  if (slow.length) {
    const slowest = Math.max(...slow.map((x) => x.latencyMs!));
    add(
      'slow',
      'warning',
      t(
        '{0} answer(s) took longer than {1} s (slowest {2} s): the proxy waits only icap_io_timeout for an answer, then bypasses the service or fails the request.',
        slow.length,
        (f.slowMs / 1000).toString(),
        (slowest / 1000).toFixed(1),
      ),
    );
  }
  const blocked = tx.filter((x) => Object.keys(x.verdict).some((k) => /infection|virus|violation|threat|block/i.test(k)) || /^HTTP\/\S+ 403\b/.test(x.adaptedHttpStatus ?? ''));
  if (blocked.length) add('blocked', 'info', t('{0} answer(s) carried a detection or a block page.', blocked.length));
  const incomplete = tx.filter((x) => x.notes.includes('bytes-missing'));
  if (incomplete.length) add('bytes-missing', 'warning', t('{0} transaction(s) lack bytes the capture did not keep (snaplen or lost packets): their sizes and bodies are partial.', incomplete.length));
  if (f.totalTransactions > f.transactions.length) add('list-capped', 'info', t('Only the first {0} of {1} transactions are listed.', f.transactions.length, f.totalTransactions));
  if (!out.some((x) => x.severity !== 'info')) {
    add('ok', 'info', t('No problem found: {0} transaction(s), all answered.', f.totalTransactions - own.length));
  }
  return out;
}
