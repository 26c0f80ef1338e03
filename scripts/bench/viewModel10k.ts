import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EngineEvent, FileRecord } from '../../src/engine/events';
import type { EngineSnapshot, EngineSource } from '../../src/viewModel/contracts';
import { DestinationFolderModel } from '../../src/viewModel/destinationFolderModel';
import { InputFolderModel } from '../../src/viewModel/inputFolderModel';

const count = 10_000;

class BenchSource implements EngineSource {
  private listener: ((e: EngineEvent) => void) | undefined;
  onEvent(listener: (e: EngineEvent) => void): () => void {
    this.listener = listener;
    return () => (this.listener = undefined);
  }
  snapshot(): EngineSnapshot {
    return { running: true, approval: 'approved', files: [] };
  }
  emit(e: EngineEvent): void {
    this.listener?.(e);
  }
}

const ms = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e6;
const fmt = (v: number) => `${v.toFixed(1)} ms`;

/**
 * What the views cost with 10 000 files: the input model under a burst of engine events, and a
 * full listing of a destination folder. Figures only; tests assert no timings.
 */
export async function benchViewModel10k(): Promise<Array<{ name: string; value: string }>> {
  const results: Array<{ name: string; value: string }> = [];

  const source = new BenchSource();
  const input = new InputFolderModel(source, '/bench/in');
  const now = Date.now();
  const records: FileRecord[] = Array.from({ length: count }, (_, i) => ({
    name: `file-${i}.bin`, size: 1000 + i, mtimeMs: now - ((i * 7919) % count) * 1000, stage: 'queued', firstSeen: now, changedAt: now, attempts: 0,
  }));
  let t0 = process.hrtime.bigint();
  for (const file of records) source.emit({ type: 'file', file });
  results.push({ name: 'InputFolderModel: 10 000 file events', value: fmt(ms(t0)) });
  t0 = process.hrtime.bigint();
  const first = input.items();
  results.push({ name: 'InputFolderModel: first items() after them (build + sort)', value: fmt(ms(t0)) });
  source.emit({ type: 'file', file: { ...records[0]!, stage: 'uploading' } });
  t0 = process.hrtime.bigint();
  input.items();
  results.push({ name: 'InputFolderModel: items() after one change', value: fmt(ms(t0)) });
  if (first.length !== count) throw new Error(`expected ${count} items, got ${first.length}`);
  input.dispose();

  const root = mkdtempSync(join(tmpdir(), 'kds-bench-vm-'));
  try {
    const dir = join(root, 'qrnt');
    mkdirSync(dir);
    for (let i = 0; i < count; i++) writeFileSync(join(dir, `file-${i}.bin`), 'x');
    const model = new DestinationFolderModel({ folder: 'qrnt', dir, stateDir: join(root, 'state') });
    t0 = process.hrtime.bigint();
    await model.refresh();
    results.push({ name: 'DestinationFolderModel.refresh(): 10 000 files, first listing', value: fmt(ms(t0)) });
    t0 = process.hrtime.bigint();
    await model.refresh();
    results.push({ name: 'DestinationFolderModel.refresh(): 10 000 files, again (warm cache)', value: fmt(ms(t0)) });
    if (model.items().length !== count) throw new Error(`expected ${count} items, got ${model.items().length}`);
    model.dispose();
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  return results;
}

if (require.main === module) {
  void benchViewModel10k().then((rows) => {
    for (const r of rows) console.log(`${r.name}: ${r.value}`);
  });
}
