import type { EngineEvent } from '../engine/events';
import { type DetectsSource, ThreatNameLookup } from '../kata/threatNames';

/**
 * Threat names in remote mode. The VS Code side has no KATA client; the CN's service looks the
 * names up and writes them into its event stream (`routed` events of detected files carry
 * `file.threat`). This turns those events into the DetectsSource a ThreatNameLookup reads, so
 * the Quarantine view labels remote files exactly as local ones.
 */
export function threatsFromEvents(onEvent: (listener: (e: EngineEvent) => void) => () => void): { threats: ThreatNameLookup; dispose: () => void } {
  let pending: Array<{ threats: string[]; processedObject: { sha256: string } }> = [];
  let cursor = 0;
  const source: DetectsSource = {
    async detects() {
      const detects = pending;
      pending = [];
      if (detects.length) cursor++;
      return { detects, token: String(cursor) };
    },
  };
  const dispose = onEvent((e) => {
    if (e.type === 'routed' && e.file.threat && e.file.sha256) pending.push({ threats: e.file.threat.split(', '), processedObject: { sha256: e.file.sha256 } });
  });
  return { threats: new ThreatNameLookup(source, { minIntervalMs: 0 }), dispose };
}
