import { t } from '../common/l10n';
import type { Logger } from '../common/log';
import { ThreatNameLookup } from '../kata/threatNames';
import type { KdsConfig } from './config';
import type { ConfiguredEngine } from './engineFromConfig';
import { EventStreamWriter } from './eventStream';
import type { EngineEvent } from './events';

/** A running engine's events written to <state_dir>/events.jsonl; see attachEventStream. */
export interface AttachedEventStream {
  /** After engine.start(): the state as it is now, then heartbeats. */
  started(): void;
  /** After engine.stop() and before the engine's client is closed: waits for pending threat names, then closes the file. */
  close(): Promise<void>;
  /** Closes at once (the engine did not start). */
  abort(): void;
}

/**
 * Writes every event of `built.engine` to its state_dir's event stream, so whoever follows that
 * stream — the extension over SSH on a Central Node, or a VS Code window on this machine while
 * `kds run`, `kds demo` or another window scans — sees what the engine's own host sees. One
 * writer for every host (`kds run`, `kds demo`, the extension), so they cannot drift apart.
 * A detected file's `routed` event waits (briefly) for KATA's threat name, in order: the
 * follower has no KATA client of its own.
 */
export function attachEventStream(built: ConfiguredEngine, config: KdsConfig, logger: Logger, o: { version?: string } = {}): AttachedEventStream {
  const engine = built.engine;
  const events = EventStreamWriter.open(config.state_dir, {
    coalesce: true,
    snapshot: () => engine.snapshot(),
    ...(o.version !== undefined && { version: o.version }),
    onError: (err) => logger.warn('event-stream', t('cannot write the event stream in {0}: {1}', config.state_dir, err.message)),
  });
  const threats = new ThreatNameLookup(built.client, { minIntervalMs: 500, logger });
  // Events wait here only behind a detected file whose threat name is being looked up (order kept).
  let tail: Promise<void> = Promise.resolve();
  let waiting = 0;
  const unsubscribe = engine.onEvent((e) => {
    if (waiting === 0 && !isDetect(e)) {
      events.append(e);
      return;
    }
    waiting++;
    tail = tail
      .then(() => withThreatName(e, threats))
      .then((ev) => events.append(ev))
      .finally(() => {
        waiting--;
      });
  });
  return {
    started() {
      events.writeSnapshot();
      events.startHeartbeat();
    },
    async close() {
      unsubscribe();
      await tail;
      events.close();
    },
    abort() {
      unsubscribe();
      events.close();
    },
  };
}

function isDetect(e: EngineEvent): e is Extract<EngineEvent, { type: 'routed' }> {
  return e.type === 'routed' && e.file.verdict === 'detect' && !!e.file.sha256;
}

/** Threat name wait for a detected file: KATA's alert may trail its verdict a little. */
const threatWaitMs = 3000;

/** A `routed` detect event with the threat name from KATA's alerts when it can be had within threatWaitMs; other events as they are. */
async function withThreatName(e: EngineEvent, threats: ThreatNameLookup): Promise<EngineEvent> {
  if (!isDetect(e)) return e;
  const end = Date.now() + threatWaitMs;
  for (;;) {
    const name = threats.lookup(e.file.sha256);
    if (name) return { ...e, file: { ...e.file, threat: name } };
    if (Date.now() >= end) return e;
    await threats.refresh();
    if (threats.lookup(e.file.sha256)) continue;
    await new Promise((r) => setTimeout(r, 600));
  }
}
