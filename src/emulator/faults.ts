import { t } from '../common/l10n';

/** What `--faults` asks for; probabilities are per API request, latency is added to each. */
export interface FaultPlan {
  p429: number;
  p500: number;
  pReset: number;
  latencyMs: number;
}

export type FaultKind = '429' | '500' | 'reset';

export const noFaults: FaultPlan = Object.freeze({ p429: 0, p500: 0, pReset: 0, latencyMs: 0 });

export class FaultSpecError extends Error {}

const probability = /^(?:0(?:\.\d+)?|1(?:\.0+)?|\.\d+)$/;
const MAX_LATENCY_MS = 60_000;

/**
 * Parses `429=0.1,500=0.05,reset=0.02,latency=200`. Strict on purpose: a typo in a fault spec
 * would otherwise silently run a test without the faults it was meant to exercise.
 */
export function parseFaults(spec: string | undefined): FaultPlan {
  if (spec === undefined || spec.trim() === '') return { ...noFaults };
  const plan: FaultPlan = { ...noFaults };
  const seen = new Set<string>();
  for (const item of spec.split(',')) {
    const m = /^\s*([a-z0-9]+)\s*=\s*([^\s]+)\s*$/i.exec(item);
    if (!m) throw new FaultSpecError(t('Bad fault "{0}": expected NAME=VALUE (429, 500, reset, latency).', item.trim()));
    const name = m[1]!.toLowerCase();
    const value = m[2]!;
    if (seen.has(name)) throw new FaultSpecError(t('Fault "{0}" is given twice.', name));
    seen.add(name);
    if (name === 'latency') {
      if (!/^\d+$/.test(value) || Number(value) > MAX_LATENCY_MS) {
        throw new FaultSpecError(t('Fault latency must be a whole number of milliseconds from 0 to {0}, not "{1}".', MAX_LATENCY_MS, value));
      }
      plan.latencyMs = Number(value);
      continue;
    }
    if (name !== '429' && name !== '500' && name !== 'reset') {
      throw new FaultSpecError(t('Unknown fault "{0}": use 429, 500, reset or latency.', name));
    }
    if (!probability.test(value)) throw new FaultSpecError(t('Fault {0} needs a probability from 0 to 1, not "{1}".', name, value));
    const p = Number(value);
    if (name === '429') plan.p429 = p;
    else if (name === '500') plan.p500 = p;
    else plan.pReset = p;
  }
  if (plan.p429 + plan.p500 + plan.pReset > 1 + 1e-9) {
    throw new FaultSpecError(t('The fault probabilities add up to more than 1.'));
  }
  return plan;
}

/** One draw decides at most one failure, so the probabilities are exactly what was asked for. */
export function drawFault(plan: FaultPlan, random: () => number = Math.random): FaultKind | undefined {
  const r = random();
  if (r < plan.p429) return '429';
  if (r < plan.p429 + plan.p500) return '500';
  if (r < plan.p429 + plan.p500 + plan.pReset) return 'reset';
  return undefined;
}

export function describeFaults(plan: FaultPlan): string {
  const parts: string[] = [];
  if (plan.p429) parts.push(`429=${plan.p429}`);
  if (plan.p500) parts.push(`500=${plan.p500}`);
  if (plan.pReset) parts.push(`reset=${plan.pReset}`);
  if (plan.latencyMs) parts.push(`latency=${plan.latencyMs}`);
  return parts.join(',');
}
