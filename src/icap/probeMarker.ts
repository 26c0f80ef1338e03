/**
 * How KDS marks the ICAP requests it sends itself (`kds icap probe`, `--discover`, KDS: Probe ICAP
 * Service), so that a capture or a log taken at the same time can tell them from the proxy's:
 *
 * - every request carries the ICAP header `X-KDS-Probe: probe <run>` or `X-KDS-Probe: discover <run>`
 *   (RFC 3507 leaves X- headers to extensions; servers ignore what they do not know), `<run>` being
 *   8 hex digits shared by the requests of one run;
 * - its User-Agent is `kds-icap-probe`;
 * - the encapsulated HTTP messages name the host `kds-probe.invalid` (a name that never resolves,
 *   RFC 2606), with the run in the path: `http://kds-probe.invalid/r-<run>/eicar.com`.
 *
 * A capture counts a request as KDS's own when any of the three is there (older KDS versions sent
 * only the last two).
 */

export const PROBE_HEADER = 'X-KDS-Probe';
export const PROBE_USER_AGENT = 'kds-icap-probe';
export const PROBE_HOST = 'kds-probe.invalid';

export type ProbeTrafficKind = 'probe' | 'discover';

/** The header's value for a run. */
export function probeHeaderValue(kind: ProbeTrafficKind, run: string): string {
  return `${kind} ${run}`;
}

/** The path prefix of the run's encapsulated URLs ("r-1a2b3c4d/"). */
export function probeRunPath(run: string): string {
  return `r-${run}/`;
}

/**
 * Whether an ICAP request (its head as captured, and the request line of the encapsulated HTTP
 * request) is KDS's own, and which kind. Undefined for everything else.
 */
export function probeTraffic(icapHead: string | null | undefined, httpRequestLine: string | null | undefined): ProbeTrafficKind | undefined {
  const head = icapHead ?? '';
  const marked = /^x-kds-probe[ \t]*:[ \t]*(\S+)/im.exec(head);
  if (marked) return marked[1]!.toLowerCase() === 'discover' ? 'discover' : 'probe';
  const agent = /^user-agent[ \t]*:[ \t]*kds-icap-probe\b/im.test(head);
  const host = /^[A-Z]+ [a-z]+:\/\/kds-probe\.invalid[/:\s]/i.test(httpRequestLine ?? '');
  // Without the header (older KDS) a discovery's OPTIONS cannot be told from a probe's.
  return agent || host ? 'probe' : undefined;
}

/**
 * A regular expression for the ICAP log viewer that finds one probe run's lines: its URLs
 * (`r-<run>/`) and, where the server gave them (the embedded KATA's X-KDS-Scan-ID), the verdict
 * lines of its scans (`scan_id=…`).
 */
export function probeLogSearch(run: string, scanIds: string[] = []): string {
  const ids = [...new Set(scanIds.filter((id) => /^[A-Za-z0-9-]{1,64}$/.test(id)))];
  const parts = [`${PROBE_HOST.replace(/\./g, '\\.')}/${probeRunPath(run)}`];
  if (ids.length) parts.push(`scan_id=(${ids.join('|')})`);
  return parts.join('|');
}
