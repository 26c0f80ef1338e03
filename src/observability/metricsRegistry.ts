import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { kdsVersion } from '../common/version';

/**
 * Every metric KDS exposes, in one registry of its own (never prom-client's global one, so tests
 * and several engines in one process cannot mix). Labels stay bounded: share names, folder and
 * stage names, outcomes, KATA operations and status codes — never a file name or a scan id.
 * Per-file and per-folder metrics carry `share` (always "default" while a configuration has one
 * folder triple); the KATA connection, the journal, the SIEM queue and the process are one per
 * service and carry none.
 */
export class KdsMetrics {
  readonly registry = new Registry();

  readonly files = new Counter({
    name: 'kds_files_total',
    help: 'Files by outcome: routed with a verdict (not_detected, detected, error, timeout, unknown), or left in input (too_large, excluded).',
    labelNames: ['share', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly scannedBytes = new Counter({
    name: 'kds_scanned_bytes_total',
    help: 'Bytes of the files routed to output or quarantine with a verdict.',
    labelNames: ['share'] as const,
    registers: [this.registry],
  });

  readonly retries = new Counter({
    name: 'kds_retries_total',
    help: 'Uploads and deliveries that failed for a reason that is not a verdict and will be retried.',
    labelNames: ['share', 'operation'] as const,
    registers: [this.registry],
  });

  readonly routeLatency = new Histogram({
    name: 'kds_file_latency_seconds',
    help: 'From a file being complete in input to its delivery to output or quarantine.',
    labelNames: ['share'] as const,
    buckets: [0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600],
    registers: [this.registry],
  });

  readonly filesWaiting = new Gauge({
    name: 'kds_files_waiting',
    help: 'Files in input by stage (settling, queued, uploading, submitted, routing, retrying, awaiting-approval, excluded, too-large, unreadable, missing).',
    labelNames: ['share', 'stage'] as const,
    registers: [this.registry],
  });

  readonly oldestWaiting = new Gauge({
    name: 'kds_oldest_waiting_file_age_seconds',
    help: 'Age of the oldest file on its way through KDS (not counting excluded, too large, unreadable or missing files); 0 when none.',
    labelNames: ['share'] as const,
    registers: [this.registry],
  });

  readonly folderUp = new Gauge({
    name: 'kds_folder_up',
    help: '1 while the folder is usable, 0 while KDS waits for it (unmounted, missing, not writable).',
    labelNames: ['share', 'folder'] as const,
    registers: [this.registry],
  });

  readonly kataRequests = new Counter({
    name: 'kds_kata_requests_total',
    help: 'Requests to the KATA scanner API by operation and HTTP status code (or the failure when KATA did not answer: network, tls, …).',
    labelNames: ['operation', 'code'] as const,
    registers: [this.registry],
  });

  readonly kataDuration = new Histogram({
    name: 'kds_kata_request_duration_seconds',
    help: 'Duration of requests to the KATA scanner API, upload included.',
    labelNames: ['operation'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });

  readonly kataUp = new Gauge({
    name: 'kds_kata_up',
    help: '1 while KATA answers, 0 when it has not answered (network, TLS, 5xx) for a while or not yet since the start.',
    registers: [this.registry],
  });

  readonly kataLastSuccess = new Gauge({
    name: 'kds_kata_last_success_timestamp_seconds',
    help: 'When KATA last answered a request successfully (Unix time); 0 before the first success.',
    registers: [this.registry],
  });

  readonly approval = new Gauge({
    name: 'kds_kata_approval_state',
    help: 'The integration approval as KATA answered last: 1 for the current state (approved, pending, rejected, unknown), 0 for the others.',
    labelNames: ['state'] as const,
    registers: [this.registry],
  });

  readonly running = new Gauge({
    name: 'kds_running',
    help: '1 while the engine scans, 0 while it starts or stops.',
    registers: [this.registry],
  });

  readonly journalBytes = new Gauge({
    name: 'kds_journal_bytes',
    help: 'Size of the scan journal (state_dir/journal.jsonl).',
    registers: [this.registry],
  });

  readonly siemSent = new Counter({
    name: 'kds_siem_events_sent_total',
    help: 'SIEM events handed to the network.',
    registers: [this.registry],
  });

  readonly siemDropped = new Counter({
    name: 'kds_siem_events_dropped_total',
    help: 'SIEM events dropped because the queue was full while the receiver was unreachable.',
    registers: [this.registry],
  });

  readonly siemQueued = new Gauge({
    name: 'kds_siem_queue_length',
    help: 'SIEM events waiting to be sent.',
    registers: [this.registry],
  });

  readonly siemConnected = new Gauge({
    name: 'kds_siem_connected',
    help: '1 while KDS has a connection to the SIEM receiver (tcp, tls; always 1 for udp).',
    registers: [this.registry],
  });

  constructor() {
    new Gauge({ name: 'kds_build_info', help: 'The KDS version (value 1).', labelNames: ['version'] as const, registers: [this.registry] }).set({ version: kdsVersion }, 1);
    // process_cpu_seconds_total, process_resident_memory_bytes, nodejs_eventloop_lag_seconds…
    collectDefaultMetrics({ register: this.registry });
  }

  /** The exposition text (Prometheus text format 0.0.4). */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
