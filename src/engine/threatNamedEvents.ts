import type { EngineEvent } from './events';
import type { ThreatNameLookup } from '../kata/threatNames';

/** Threat name wait for a detected file: KATA's alert may trail its verdict a little. */
const threatWaitMs = 3000;

/**
 * The engine's events as the service publishes them (event stream, SIEM): a `routed` detection
 * carries the threat name from KATA's alerts when it can be had within a few seconds. Events keep
 * their order; only those behind a detection whose name is being looked up wait.
 */
export class ThreatNamedEvents {
  private tail: Promise<void> = Promise.resolve();
  private waiting = 0;

  constructor(
    private readonly threats: ThreatNameLookup,
    private readonly publish: (e: EngineEvent) => void,
  ) {}

  push(e: EngineEvent): void {
    if (this.waiting === 0 && !isDetect(e)) {
      this.publish(e);
      return;
    }
    this.waiting++;
    this.tail = this.tail
      .then(() => withThreatName(e, this.threats))
      .then((ev) => this.publish(ev))
      .finally(() => {
        this.waiting--;
      });
  }

  /** Resolves once every event pushed so far was published. */
  drained(): Promise<void> {
    return this.tail;
  }
}

function isDetect(e: EngineEvent): e is Extract<EngineEvent, { type: 'routed' }> {
  return e.type === 'routed' && e.file.verdict === 'detect' && !!e.file.sha256;
}

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
