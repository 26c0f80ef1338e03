import type { EngineEvent } from '../../src/engine/events';
import type { EngineSnapshot, EngineSource } from '../../src/viewModel/contracts';

/** What the view models' contract is for: they need only onEvent and snapshot; a test emits the events. */
export class FakeEngineSource implements EngineSource {
  listeners = new Set<(e: EngineEvent) => void>();
  constructor(public snap: EngineSnapshot = { running: true, approval: 'approved', files: [] }) {}
  onEvent(listener: (e: EngineEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  snapshot(): EngineSnapshot {
    return this.snap;
  }
  emit(e: EngineEvent): void {
    for (const l of this.listeners) l(e);
  }
}
