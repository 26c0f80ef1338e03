/*
 * Two builds of `kds run` at the same time, each on its own files (1 KiB) against its own minimal
 * KATA stand-in, several times (the two swap sites every pair); prints each build's CPU per file
 * and the ratio of the pair. A change of a few per cent is lost in the bench's sequential rounds
 * on a machine others use (a round of the same build moves by ±15 % with the load); two runs in
 * the same seconds see the same load, so their ratio moves by a few per cent only.
 *
 *   node --import tsx scripts/bench/sideBySide.ts A/bin/kds.js B/bin/kds.js [pairs=6] [files=5000]
 *   KDS_SIDE_PINNED=1 …   both engines on core 1, both stand-ins on core 0 (taskset)
 *   KDS_SIDE_A_NODE_ARGS='--flag …' …   options for node itself before A's bin/kds.js (likewise _B_):
 *                                      what a service unit's ExecStart could give
 *   KDS_SIDE_SIZE=1048576 …   bytes per file (default 1024)
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { type Site, kdsMoves, makeSite, placeFiles } from './site';

const [aBin, bBin] = process.argv.slice(2, 4);
if (!aBin || !bBin) throw new Error('usage: sideBySide.ts A/bin/kds.js B/bin/kds.js [pairs] [files]');
const pairs = Number(process.argv[4] ?? 6);
const count = Number(process.argv[5] ?? 5000);
const pinned = process.env.KDS_SIDE_PINNED === '1';
const size = Number(process.env.KDS_SIDE_SIZE ?? 1024);

function place(site: Site, prefix: string): void {
  placeFiles(site, Array.from({ length: count }, (_, k) => ({ name: `${prefix}${k}.bin`, body: randomBytes(size) })));
}

const nodeArgs = (side: 'A' | 'B') => (process.env[`KDS_SIDE_${side}_NODE_ARGS`] ?? '').split(' ').filter(Boolean);

async function run(site: Site, prefix: string, bin: string, side: 'A' | 'B'): Promise<{ msPerFile: number; rate: number }> {
  const r = await kdsMoves(site, prefix, count, 150_000, { probeMs: 0, bin, nodeArgs: nodeArgs(side), ...(pinned ? { cpu: 1 } : {}) });
  await r.proc.stop();
  for (const d of [site.dirs.out, site.dirs.qrnt]) for (const f of readdirSync(d)) rmSync(join(d, f), { force: true });
  if (!r.complete) throw new Error(`${bin} delivered ${r.delivered} of ${count}`);
  return { msPerFile: (r.cpu.user + r.cpu.system) / r.delivered, rate: r.delivered / r.wallS };
}

async function main(): Promise<void> {
  const sites = [await makeSite({ minimal: true, ...(pinned ? { kataCpu: 0 } : {}) }), await makeSite({ minimal: true, ...(pinned ? { kataCpu: 0 } : {}) })];
  const ratios: number[] = [];
  try {
    for (let p = 0; p < pairs; p++) {
      const [sa, sb] = p % 2 ? [sites[1]!, sites[0]!] : [sites[0]!, sites[1]!];
      // Both sets of files first: writing them takes the machine for a moment, and neither engine may run meanwhile.
      place(sa, `a${p}-`);
      place(sb, `b${p}-`);
      const [a, b] = await Promise.all(p % 2 ? [run(sa, `a${p}-`, aBin!, 'A'), run(sb, `b${p}-`, bBin!, 'B')] : [run(sb, `b${p}-`, bBin!, 'B'), run(sa, `a${p}-`, aBin!, 'A')].reverse());
      ratios.push(a.msPerFile / b.msPerFile);
      console.log(`pair ${p + 1}: A ${a.msPerFile.toFixed(3)} ms a file (${a.rate.toFixed(0)} files/s), B ${b.msPerFile.toFixed(3)} ms (${b.rate.toFixed(0)} files/s), A/B ${ratios.at(-1)!.toFixed(3)}`);
    }
  } finally {
    for (const s of sites) await s.close();
  }
  const sorted = [...ratios].sort((x, y) => x - y);
  const median = sorted.length % 2 ? sorted[sorted.length >> 1]! : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2;
  console.log(`A/B CPU per file over ${pairs} pairs: median ${median.toFixed(3)} (${sorted[0]!.toFixed(3)}–${sorted.at(-1)!.toFixed(3)})`);
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
