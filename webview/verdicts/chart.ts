/** Stacked bars of verdicts per time bucket, plain SVG coloured by CSS classes (theme variables). */
import { svg } from '../components/dom';
import type { VerdictBucket, VerdictKey } from '../../src/webviewProtocol/verdictsQuery';

const order: VerdictKey[] = ['not detected', 'detect', 'error', 'timeout', 'unknown'];
export const verdictClass = (k: VerdictKey) => `v-${k.replace(' ', '-')}`;

export function verdictChart(buckets: VerdictBucket[], label: string, describe: (b: VerdictBucket) => string): SVGSVGElement {
  const width = 480;
  const height = 64;
  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: 'none', role: 'img', 'aria-label': label, class: 'chart' });
  const max = Math.max(1, ...buckets.map((b) => order.reduce((s, k) => s + b.counts[k], 0)));
  const slot = width / Math.max(1, buckets.length);
  buckets.forEach((b, i) => {
    let y = height;
    const g = svg('g', {}, svg('title', {}, describe(b)));
    for (const k of order) {
      const n = b.counts[k];
      if (!n) continue;
      const hgt = Math.max(1, (n / max) * (height - 2));
      y -= hgt;
      g.append(svg('rect', { x: (i * slot + 1).toFixed(1), y: y.toFixed(1), width: Math.max(1, slot - 2).toFixed(1), height: hgt.toFixed(1), class: verdictClass(k) }));
    }
    // A full-height transparent rect so the tooltip shows anywhere in the slot.
    g.append(svg('rect', { x: (i * slot).toFixed(1), y: 0, width: slot.toFixed(1), height, class: 'hit' }));
    root.append(g);
  });
  root.append(svg('line', { x1: 0, y1: height - 0.5, x2: width, y2: height - 0.5, class: 'axis' }));
  return root;
}
